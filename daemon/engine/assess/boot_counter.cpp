// SPDX-License-Identifier: LGPL-2.1-or-later
#include "boot_counter.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <fmt/format.h>

#include "fd.h"
#include <strings.h>

namespace kexecd {

namespace {

/* Digits only, as systemd-boot's parse_number16() with its INT_MAX bound. */
bool parseCount(std::string_view s, int &out)
{
	if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
		return false;
	long long v = 0;
	for (char c : s)
		v = v * 10 + (c - '0');
	if (v > INT_MAX)
		return false;
	out = static_cast<int>(v);
	return true;
}

bool endsWithNoCase(std::string_view s, std::string_view suffix)
{
	if (s.size() < suffix.size())
		return false;
	return strncasecmp(s.data() + s.size() - suffix.size(), suffix.data(), suffix.size()) == 0;
}

} // namespace

std::optional<BootCounter> parseBootCounter(std::string_view fileName, std::string_view suffix)
{
	if (!endsWithNoCase(fileName, suffix))
		return std::nullopt;
	const std::string_view stem = fileName.substr(0, fileName.size() - suffix.size());
	const size_t plus = stem.rfind('+');
	if (plus == std::string_view::npos)
		return std::nullopt;
	const std::string_view counter = stem.substr(plus + 1);
	const size_t dash = counter.find('-');
	BootCounter c;
	if (!parseCount(counter.substr(0, dash), c.left))
		return std::nullopt;
	if (dash != std::string_view::npos && !parseCount(counter.substr(dash + 1), c.done))
		return std::nullopt;
	c.prefix = std::string(stem.substr(0, plus + 1));
	c.suffix = std::string(fileName.substr(stem.size()));
	return c;
}

std::string nextTryName(const BootCounter &c)
{
	return fmt::format("{}{}-{}{}", c.prefix, c.left > 0 ? c.left - 1 : 0, c.done < INT_MAX ? c.done + 1 : INT_MAX,
			   c.suffix);
}

std::string blessedName(const BootCounter &c)
{
	return c.prefix.substr(0, c.prefix.size() - 1) + c.suffix;
}

std::string badName(const BootCounter &c)
{
	return fmt::format("{}0-{}{}", c.prefix, c.done, c.suffix);
}

Result<void> renameEntryFile(const std::string &dir, const std::string &from, const std::string &to)
{
	if (from.find('/') != std::string::npos || to.find('/') != std::string::npos || from.empty() || to.empty())
		return makeError(Code::InvalidArgument, fmt::format("'{}' -> '{}': not file names", from, to));
	UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
	if (!dfd.valid())
		return makeError(Code::Io, fmt::format("cannot open '{}': {}", dir, strerror(errno)), errno);
	/* RENAME_NOREPLACE: another entry of that name must survive. vfat
	 * has it; where a file system lacks it the check below stands in. */
	if (::renameat2(dfd.get(), from.c_str(), dfd.get(), to.c_str(), RENAME_NOREPLACE) != 0) {
		int err = errno;
		if (err == EINVAL) {
			if (::faccessat(dfd.get(), to.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				err = EEXIST;
			else if (::renameat(dfd.get(), from.c_str(), dfd.get(), to.c_str()) == 0)
				err = 0;
			else
				err = errno;
		}
		if (err != 0)
			return makeError(Code::Io, fmt::format("cannot rename '{}/{}' to '{}': {}", dir, from, to,
							       strerror(err)), err);
	}
	if (::fsync(dfd.get()) != 0)
		return makeError(Code::Io, fmt::format("renamed '{}/{}' to '{}' but cannot sync '{}': {}", dir, from, to,
						       dir, strerror(errno)), errno);
	return {};
}

} // namespace kexecd
