// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 2 for the UKI, with each byte copied once (issue 16): from
// the caller's file straight to where the kernel will read it, hashed on
// the other cores while it lands.
//
// - BPF scheme: into the image container, as its first section (.pe.1 is
//   at offset 64 whatever follows: elf_container.h).
// - Classic scheme, in two steps: first everything but the payloads of
//   .linux, .initrd and .ucode, into a memfd of the file's size with holes
//   there (the "skeleton"), enough to parse the UKI and its profiles; then,
//   once the addons and the profile are known, each payload into the
//   kernel memfd or at its offset in the initrd memfd, and the payloads
//   nobody loads (other profiles') into the skeleton's holes.
//
// Everything is parsed and verified from these copies, never from the
// caller's file again: the file changing underneath changes nothing but
// the copy, and a file that shrinks is a named error.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compose.h"
#include "elf_container.h"
#include "memfd.h"
#include "pe.h"
#include "stream_digest.h"

namespace kexecd {

class UkiInPlace
{
public:
	/* Offset of .pe.1 in an image container: right after the ELF header. */
	static constexpr uint64_t kContainerDataOffset = 64;

	/* fd: the caller's regular file of size bytes (a dup is kept). */
	static Result<std::unique_ptr<UkiInPlace>> intoContainer(int fd, const std::string &origin, uint64_t size,
								uint64_t capacity, const PeLimits &limits);
	static Result<std::unique_ptr<UkiInPlace>> skeleton(int fd, const std::string &origin, uint64_t size,
							    const PeLimits &limits);
	UkiInPlace(const UkiInPlace &) = delete;
	UkiInPlace &operator=(const UkiInPlace &) = delete;
	/* Stops the hashers before any memory they read goes. */
	~UkiInPlace();

	/* What to parse now: the UKI in the container, or the skeleton (holes
	 * read as zeros until placeClassic()). */
	FileView view() const;
	uint64_t size() const { return size_; }
	/* The UKI's SHA-256, computed while it was copied; "" if the copy
	 * failed. Waits for it. */
	std::string sha256Hex();
	/* pe (parsed from view()) gets the Authenticode digest being computed. */
	void lendAuthenticode(PeFile &pe) const;

	/* BPF: lay out the rest of the container around the UKI (sections as
	 * composeImageContainer() takes them, the first being this UKI) and
	 * seal it. */
	Result<void> finishContainer(std::span<const ElfSection> sections);
	const SealedMemfd &container() const { return memfd_; }
	bool isContainer() const { return base_ == kContainerDataOffset; }
	/* Classic: payloads still wait for placeClassic(). */
	bool needsPlacing() const { return !isContainer() && !deferred_.empty() && !hashers_; }

	/* Classic, step two: resolved and initrd are what the stager composes
	 * from the images parsed so far. After it, view() has the payloads. */
	Result<void> placeClassic(const SectionSet &resolved, const InitrdComposition &initrd);
	/* Seal every memfd, once the hashers are done reading them. */
	Result<void> seal();
	/* The kernel and initrd memfds placeClassic() filled (null if none). */
	const SealedMemfd *kernel() const { return kernel_ ? &*kernel_ : nullptr; }
	const SealedMemfd *initrd() const { return initrd_ ? &*initrd_ : nullptr; }

private:
	struct Copy {
		ByteRange from;    // in the caller's file
		SealedMemfd *to;
		uint64_t at;       // offset in to
	};

	UkiInPlace(int fd, std::string origin, uint64_t size);
	/* Copies in file order, advancing progress_ as each piece lands; the
	 * bytes between the copies are in place already. */
	Result<void> copyAll(std::vector<Copy> copies);
	void startHashers(FileView view);
	const ByteRange *deferredAt(std::span<const uint8_t> bytes) const;

	UniqueFd fd_;
	std::string origin_;
	uint64_t size_ = 0;
	SealedMemfd memfd_;   // the container, or the skeleton
	uint64_t base_ = 0;   // the file's offset in memfd_
	std::vector<ByteRange> deferred_; // classic: payloads not read yet, by offset
	std::vector<FileView::Redirect> redirects_; // classic: the payloads placed
	std::optional<std::vector<ByteRange>> authenticodeRanges_;
	std::optional<SealedMemfd> kernel_;
	std::optional<SealedMemfd> initrd_;
	CopyProgress progress_;
	std::unique_ptr<FileHashers> hashers_; // last: goes first
};

} // namespace kexecd
