// SPDX-License-Identifier: LGPL-2.1-or-later
#include "esp_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "boot_entry.h"

namespace kexecd::detail {

char asciiLower(char c)
{
	return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string asciiLowerString(std::string_view s)
{
	std::string out(s);
	std::transform(out.begin(), out.end(), out.begin(), asciiLower);
	return out;
}

bool endsWithNoCase(std::string_view s, std::string_view suffix)
{
	if (s.size() < suffix.size())
		return false;
	const std::string_view tail = s.substr(s.size() - suffix.size());
	return std::equal(tail.begin(), tail.end(), suffix.begin(), suffix.end(),
			  [](char a, char b) { return asciiLower(a) == asciiLower(b); });
}

bool startsWithNoCase(std::string_view s, std::string_view prefix)
{
	return s.size() >= prefix.size() && asciiLowerString(s.substr(0, prefix.size())) == asciiLowerString(prefix);
}

bool isAscii(std::string_view s)
{
	return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool isDirectory(const std::string &path)
{
	struct stat st;
	return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool sameFile(const std::string &a, const std::string &b)
{
	struct stat sa, sb;
	if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0)
		return false;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool isMountPoint(const std::string &path)
{
	struct stat self, parent;
	if (::stat(path.c_str(), &self) != 0 || ::stat((path + "/..").c_str(), &parent) != 0)
		return false;
	return self.st_dev != parent.st_dev;
}

void note(std::vector<std::string> *notes, std::string text)
{
	if (notes)
		notes->push_back(std::move(text));
}

Result<std::vector<std::string>> listDirectory(const std::string &dir, Want want,
					       std::vector<std::string> *notes)
{
	DIR *d = ::opendir(dir.c_str());
	if (!d) {
		const int err = errno;
		if (err == ENOENT || err == ENOTDIR)
			return std::vector<std::string>{};
		return makeError(Code::Io, "cannot open directory '" + dir + "': " + std::strerror(err), err);
	}

	std::vector<std::string> names;
	size_t seen = 0;
	for (;;) {
		errno = 0;
		const struct dirent *de = ::readdir(d);
		if (!de) {
			const int err = errno;
			::closedir(d);
			if (err)
				return makeError(Code::Io, "cannot read directory '" + dir + "': " + std::strerror(err), err);
			break;
		}
		if (++seen > kMaxDirEntries) {
			note(notes, "'" + dir + "' has more than " + std::to_string(kMaxDirEntries) +
					    " entries, ignoring the rest");
			::closedir(d);
			break;
		}
		if (de->d_name[0] == '.')
			continue; // hidden, and "." / ".."
		const std::string_view name(de->d_name);
		if (name.size() > kMaxFileNameLength) {
			note(notes, "'" + dir + "': file name longer than 255 bytes, ignoring");
			continue;
		}
		struct stat st;
		if (::fstatat(::dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; // vanished meanwhile
		const bool match = want == Want::Files ? S_ISREG(st.st_mode) : S_ISDIR(st.st_mode);
		if (match)
			names.emplace_back(name);
	}
	return names;
}

bool nextKeyValue(std::string_view &text, std::string_view &key, std::string_view &value)
{
	const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
	const auto trim = [&](std::string_view s) {
		while (!s.empty() && blank(s.front()))
			s.remove_prefix(1);
		while (!s.empty() && blank(s.back()))
			s.remove_suffix(1);
		return s;
	};
	while (!text.empty()) {
		const size_t nl = text.find('\n');
		const std::string_view line = trim(text.substr(0, nl));
		text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
		if (line.empty() || line.front() == '#')
			continue;
		const size_t sep = line.find_first_of(" \t");
		key = line.substr(0, sep);
		value = sep == std::string_view::npos ? std::string_view{} : trim(line.substr(sep + 1));
		if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
			value = value.substr(1, value.size() - 2);
		return true;
	}
	return false;
}

} // namespace kexecd::detail
