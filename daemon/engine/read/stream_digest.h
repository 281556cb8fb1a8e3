// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Hashing while the bytes land (issue 16): the thread that copies a file
// into its memfds publishes how far it has got, and two hashers, one for
// the record's SHA-256 of the whole file and one for the Authenticode
// digest, follow it on the other cores. Each byte is read from memory
// once per digest, while it is still in the cache, and no digest costs a
// pass of its own after the copy.

#include <atomic>
#include <cstdint>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "authenticode.h"
#include "pe.h"

namespace kexecd {

/* How far a file's copy has got: bytes [0, done) are in place for good. */
class CopyProgress
{
public:
	void advance(uint64_t done);
	/* The copy stopped early: waiters give up. Idempotent. */
	void fail();
	/* Wait until [0, end) is in place; false if the copy failed. */
	bool waitFor(uint64_t end) const;

private:
	std::atomic<uint64_t> done_{ 0 };
	std::atomic<bool> failed_{ false };
};

/* Both digests of one file, computed on two threads that follow progress
 * through view. The memory behind view and progress must outlive the
 * object, whose destructor waits for the threads; the copier ends every
 * wait (progress at the end, or failed: CopyGuard). */
class FileHashers
{
public:
	FileHashers(FileView view, std::optional<std::vector<ByteRange>> authenticodeRanges,
		    const CopyProgress &progress);
	FileHashers(const FileHashers &) = delete;
	FileHashers &operator=(const FileHashers &) = delete;
	~FileHashers();
	/* Both threads done. Sealing a memfd (F_SEAL_WRITE) fails with EBUSY
	 * while its pages are being faulted in, so the copier seals after. */
	void wait() const;

	/* Lower-case hex SHA-256 of the whole file; "" if the copy failed. */
	std::string sha256Hex() const;
	/* Gives pe the Authenticode digest being computed, if the ranges
	 * hashed are pe's (authenticode.h waits for it when it needs it). */
	void lendAuthenticode(PeFile &pe) const;

private:
	FileView view_;
	std::optional<std::vector<ByteRange>> ranges_;
	std::shared_future<std::string> sha256_;
	PeFile::PendingDigest authenticode_;
};

/* Fails progress unless done() was called: no early return of the copier
 * leaves a hasher waiting. */
class CopyGuard
{
public:
	explicit CopyGuard(CopyProgress &progress) : progress_(progress) {}
	~CopyGuard()
	{
		if (!done_)
			progress_.fail();
	}
	void done() { done_ = true; }

private:
	CopyProgress &progress_;
	bool done_ = false;
};

} // namespace kexecd
