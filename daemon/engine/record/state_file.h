// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The record of what kexecd staged (staged.json) and its intent marker
// (staged.json.pending), which a reboot or a restart depends on. Whoever
// can write next to it must not be able to make the root daemon follow a
// symlink, block on a FIFO, or overflow its stack with nested JSON, so:
//  - the directory must be a real directory owned by the daemon's user and
//    not writable by others;
//  - files are opened with O_NOFOLLOW (and O_NONBLOCK for reading), and only
//    regular files are read;
//  - a record is read only up to kMaxSize bytes and kMaxDepth nesting;
//  - writes go to a fresh O_EXCL temporary, fsync, then rename (which
//    replaces a symlink rather than following it).

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "result.h"

namespace kexecd {

class StateFile
{
public:
	static constexpr size_t kMaxSize = 1 << 20; // our records are a few KiB
	static constexpr unsigned kMaxDepth = 16;   // ours nest 4 deep

	explicit StateFile(std::string path) : path_(std::move(path)) {}

	const std::string &path() const { return path_; }
	std::string pendingPath() const { return path_ + ".pending"; }

	/* nullopt when there is no record; an error names the file and why
	 * it was not accepted. */
	Result<std::optional<nlohmann::json>> read() const;
	Result<void> write(const nlohmann::json &record) const;
	Result<void> writePending(const nlohmann::json &record) const;
	bool pendingExists() const;
	void remove() const;
	void removePending() const;

private:
	std::string path_;
};

/* Exposed for the fuzzer and the tests: the checks read() applies to the
 * text of a record. */
Result<nlohmann::json> parseStateRecord(const std::string &text, const std::string &origin);

} // namespace kexecd
