// SPDX-License-Identifier: LGPL-2.1-or-later
#include "state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "fd.h"
#include "text.h"

namespace kexecd {

namespace {

struct Location {
	std::string dir;
	std::string name;
};

Location split(const std::string &path)
{
	const size_t slash = path.rfind('/');
	if (slash == std::string::npos)
		return { ".", path };
	return { slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1) };
}

Error ioError(const std::string &what, int e)
{
	return makeError(Code::Io, fmt::format("{}: {}", what, std::strerror(e)), e);
}

/* Creates the directory if needed (as systemd's RuntimeDirectory=
 * would have) and refuses one that someone else controls. Parents are
 * only created, not judged: /tmp is world-writable, and that is fine. */
Result<UniqueFd> openOwnDirectory(const std::string &dir, bool create)
{
	if (create) {
		for (size_t pos = 1; pos != std::string::npos;) {
			pos = dir.find('/', pos + 1);
			const std::string prefix = dir.substr(0, pos);
			if (::mkdir(prefix.c_str(), 0755) < 0 && errno != EEXIST)
				return ioError(fmt::format("state directory '{}'", prefix), errno);
		}
	}
	UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
	if (!fd.valid())
		return ioError(fmt::format("state directory '{}'", dir), errno);
	struct stat st;
	if (::fstat(fd.get(), &st) < 0)
		return ioError(fmt::format("state directory '{}'", dir), errno);
	if (st.st_uid != ::geteuid() || (st.st_mode & 0022))
		return makeError(Code::Io,
				 fmt::format("state directory '{}' is owned by uid {} with mode {:04o}; kexecd keeps "
					     "its record only in a directory it owns that others cannot write",
					     dir, st.st_uid, st.st_mode & 07777));
	return fd;
}

Result<void> writeAtomically(const std::string &path, const std::string &data)
{
	const Location loc = split(path);
	auto dir = openOwnDirectory(loc.dir, true);
	if (!dir)
		return dir.takeError();
	const std::string tmpName = loc.name + ".tmp";
	const std::string tmp = path + ".tmp";
	/* Whatever is there (a leftover, or a planted symlink) goes; O_EXCL
	 * then guarantees a fresh file of ours. */
	if (::unlinkat(dir->get(), tmpName.c_str(), 0) < 0 && errno != ENOENT)
		return ioError(fmt::format("'{}'", tmp), errno);
	UniqueFd fd(::openat(dir->get(), tmpName.c_str(),
			     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
	if (!fd.valid())
		return ioError(fmt::format("'{}'", tmp), errno);
	auto fail = [&](int e) -> Result<void> {
		::unlinkat(dir->get(), tmpName.c_str(), 0);
		return ioError(fmt::format("'{}'", tmp), e);
	};
	const char *d = data.data();
	size_t left = data.size();
	while (left > 0) {
		const ssize_t n = ::write(fd.get(), d, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errno);
		d += n;
		left -= static_cast<size_t>(n);
	}
	/* fsync before rename: after a crash the file is old or new, never empty. */
	if (::fsync(fd.get()) < 0)
		return fail(errno);
	if (::close(fd.release()) < 0)
		return fail(errno);
	if (::renameat(dir->get(), tmpName.c_str(), dir->get(), loc.name.c_str()) < 0)
		return fail(errno);
	return {};
}

/* nlohmann's parser recurses per nesting level: bound it before parsing. */
bool nestingWithin(const std::string &text, unsigned maxDepth)
{
	unsigned depth = 0;
	bool inString = false, escaped = false;
	for (char c : text) {
		if (inString) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				inString = false;
			continue;
		}
		if (c == '"')
			inString = true;
		else if (c == '{' || c == '[') {
			if (++depth > maxDepth)
				return false;
		} else if ((c == '}' || c == ']') && depth > 0)
			depth--;
	}
	return true;
}

void unlinkQuietly(const std::string &path)
{
	::unlink(path.c_str());
}

} // namespace

Result<nlohmann::json> parseStateRecord(const std::string &text, const std::string &origin)
{
	if (text.size() > StateFile::kMaxSize)
		return makeError(Code::InvalidArgument,
				 fmt::format("state file '{}' is larger than {} bytes", origin, StateFile::kMaxSize));
	if (!nestingWithin(text, StateFile::kMaxDepth))
		return makeError(Code::InvalidArgument,
				 fmt::format("state file '{}' nests deeper than {} levels", origin, StateFile::kMaxDepth));
	nlohmann::json record = nlohmann::json::parse(text, nullptr, false);
	if (record.is_discarded() || !record.is_object())
		return makeError(Code::InvalidArgument,
				 fmt::format("state file '{}' is not a JSON object", origin));
	return record;
}

Result<std::optional<nlohmann::json>> StateFile::read() const
{
	UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
	if (!fd.valid()) {
		if (errno == ENOENT)
			return std::optional<nlohmann::json>{};
		if (errno == ELOOP)
			return makeError(Code::Io, fmt::format("state file '{}' is a symlink; not followed", path_),
					 ELOOP);
		return ioError(fmt::format("state file '{}'", path_), errno);
	}
	struct stat st;
	if (::fstat(fd.get(), &st) < 0)
		return ioError(fmt::format("state file '{}'", path_), errno);
	if (!S_ISREG(st.st_mode))
		return makeError(Code::Io, fmt::format("state file '{}' is not a regular file", path_));
	if (static_cast<uint64_t>(st.st_size) > kMaxSize)
		return makeError(Code::Io,
				 fmt::format("state file '{}' is {} bytes, more than {}", path_, st.st_size, kMaxSize));
	std::string text;
	char buf[8192];
	for (;;) {
		const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ioError(fmt::format("state file '{}'", path_), errno);
		if (n == 0)
			break;
		if (text.size() + static_cast<size_t>(n) > kMaxSize)
			return makeError(Code::Io, fmt::format("state file '{}' grew past {} bytes", path_, kMaxSize));
		text.append(buf, static_cast<size_t>(n));
	}
	if (text.empty())
		return std::optional<nlohmann::json>{};
	auto record = parseStateRecord(text, path_);
	if (!record)
		return record.takeError();
	return std::optional<nlohmann::json>(std::move(*record));
}

Result<void> StateFile::write(const nlohmann::json &record) const
{
	return writeAtomically(path_, jsonText(record, 2));
}

Result<void> StateFile::writePending(const nlohmann::json &record) const
{
	return writeAtomically(pendingPath(), jsonText(record));
}

bool StateFile::pendingExists() const
{
	struct stat st;
	return ::lstat(pendingPath().c_str(), &st) == 0;
}

void StateFile::remove() const
{
	unlinkQuietly(path_);
}

void StateFile::removePending() const
{
	unlinkQuietly(pendingPath());
}

} // namespace kexecd
