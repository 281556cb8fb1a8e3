// SPDX-License-Identifier: LGPL-2.1-or-later
#include "discovery.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "fd.h"
#include "file_util.h"
#include "uki.h"

namespace kexecd {

namespace {

constexpr size_t kMaxLoaderConfSize = 64 * 1024;
/* 4 attribute bytes and 1 KiB UTF-16 characters: far beyond any entry id. */
constexpr size_t kMaxVariableSize = 4 + 2 * 1024;

bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool isAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

char asciiLower(char c)
{
	return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool endsWithNoCase(std::string_view s, std::string_view suffix)
{
	if (s.size() < suffix.size())
		return false;
	const std::string_view tail = s.substr(s.size() - suffix.size());
	return std::equal(tail.begin(), tail.end(), suffix.begin(), suffix.end(),
			  [](char a, char b) { return asciiLower(a) == asciiLower(b); });
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

void note(std::vector<std::string> *notes, std::string text)
{
	if (notes)
		notes->push_back(std::move(text));
}

enum class Want { Files, Directories };

/* Names in dir of regular files (or directories), not following
 * symlinks so that nothing outside the directory is picked up. A missing
 * directory is empty; any other failure is Code::Io. */
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

/* The version part of a Type #2 file name, "<token>-<version>.efi". */
std::string versionFromId(std::string_view id)
{
	std::string_view stem = id;
	if (endsWithNoCase(stem, ".efi"))
		stem.remove_suffix(4);
	for (size_t i = 0; i + 1 < stem.size(); i++)
		if (stem[i] == '-' && isAsciiDigit(stem[i + 1]))
			return std::string(stem.substr(i + 1));
	return {};
}

/* What systemd-boot reads from a Type #2 entry: .osrel and .uname. */
struct Probe {
	enum Kind { NotPe, NoOsRelease, Uki } kind = NotPe;
	std::string title, sortKey, osVersion, uname;
};

bool preadAll(int fd, void *buf, size_t size, uint64_t offset)
{
	auto *p = static_cast<uint8_t *>(buf);
	while (size) {
		const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		size -= static_cast<size_t>(n);
		offset += static_cast<uint64_t>(n);
	}
	return true;
}

uint16_t le16(const uint8_t *p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t *p)
{
	return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

/*
 * Only the section table and two small sections are read, with pread()
 * rather than mmap(): a UKI rewritten in place (cp truncates) while it is
 * probed must not SIGBUS the daemon. Full validation is the stager's, on
 * its sealed copy.
 */
Probe probeUki(const std::string &path)
{
	constexpr uint32_t kMaxPeOffset = 16 * 1024 * 1024;
	constexpr unsigned kMaxSections = 96;
	constexpr uint32_t kMaxTextSection = 64 * 1024;

	Probe probe;
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (fd.get() < 0)
		return probe;

	uint8_t dos[64];
	if (!preadAll(fd.get(), dos, sizeof(dos), 0) || dos[0] != 'M' || dos[1] != 'Z')
		return probe;
	const uint32_t peOffset = le32(dos + 0x3c);
	uint8_t coff[24];
	if (peOffset > kMaxPeOffset || !preadAll(fd.get(), coff, sizeof(coff), peOffset) ||
	    std::memcmp(coff, "PE\0\0", 4) != 0)
		return probe;
	const unsigned nSections = le16(coff + 6);
	const uint64_t tableOffset = uint64_t{ peOffset } + sizeof(coff) + le16(coff + 20);
	if (nSections == 0 || nSections > kMaxSections)
		return probe;
	std::vector<uint8_t> table(size_t{ nSections } * 40);
	if (!preadAll(fd.get(), table.data(), table.size(), tableOffset))
		return probe;
	probe.kind = Probe::NoOsRelease;

	auto readSection = [&](std::string_view name) -> std::optional<std::string> {
		for (unsigned i = 0; i < nSections; i++) {
			const uint8_t *h = table.data() + size_t{ i } * 40;
			const char *raw = reinterpret_cast<const char *>(h);
			const std::string_view n(raw, ::strnlen(raw, 8));
			if (n != name)
				continue;
			const uint32_t virtualSize = le32(h + 8);
			const uint32_t rawSize = le32(h + 16);
			uint32_t size = virtualSize && virtualSize <= rawSize ? virtualSize : rawSize;
			size = std::min(size, kMaxTextSection);
			std::vector<uint8_t> data(size);
			if (!preadAll(fd.get(), data.data(), data.size(), le32(h + 20)))
				return std::nullopt;
			return sectionText(data);
		}
		return std::nullopt;
	};

	if (auto uname = readSection(".uname"))
		probe.uname = *uname;
	if (auto osrel = readSection(".osrel")) {
		const auto fields = parseOsRelease(*osrel);
		auto first = [&](std::initializer_list<const char *> keys) {
			for (const char *k : keys)
				if (auto it = fields.find(k); it != fields.end() && !it->second.empty())
					return it->second;
			return std::string();
		};
		probe.title = first({ "PRETTY_NAME", "IMAGE_ID", "NAME", "ID" });
		probe.sortKey = first({ "IMAGE_ID", "ID" });
		probe.osVersion = first({ "IMAGE_VERSION", "VERSION", "VERSION_ID", "BUILD_ID" });
		if (!probe.title.empty())
			probe.kind = Probe::Uki;
	}
	return probe;
}

Result<void> scanLoaderDir(const std::string &root, const char *source, std::vector<UkiEntry> &out,
			   std::vector<std::string> *notes)
{
	const std::string dir = root + "/EFI/Linux";
	auto names = listDirectory(dir, Want::Files, notes);
	if (!names)
		return names.takeError();
	for (const auto &name : *names) {
		if (!endsWithNoCase(name, ".efi") || name.rfind("auto-", 0) == 0)
			continue;
		UkiEntry e;
		e.path = dir + "/" + name;
		const Probe probe = probeUki(e.path);
		if (probe.kind == Probe::NoOsRelease) {
			note(notes, "'" + e.path + "' has no .osrel naming the OS, ignoring");
			continue;
		}
		TriesCounter tc = parseTriesCounter(name, ".efi");
		e.version = probe.uname.empty() ? versionFromId(tc.id) : probe.uname;
		e.title = probe.title;
		e.sortKey = probe.sortKey;
		e.osVersion = probe.osVersion;
		e.id = std::move(tc.id);
		e.triesLeft = tc.left;
		e.triesDone = tc.done;
		e.source = source;
		out.push_back(std::move(e));
	}
	return {};
}

Result<void> scanModules(const std::string &modulesDir, std::vector<UkiEntry> &out,
			 std::vector<std::string> *notes)
{
	auto unames = listDirectory(modulesDir, Want::Directories, notes);
	if (!unames)
		return unames.takeError();
	for (const auto &uname : *unames) {
		const std::string dir = modulesDir + "/" + uname;
		auto names = listDirectory(dir, Want::Files, notes);
		if (!names)
			return names.takeError();
		for (const auto &name : *names) {
			if (!endsWithNoCase(name, ".efi"))
				continue;
			UkiEntry e;
			e.id = uname + "/" + name;
			e.path = dir + "/" + name;
			e.version = uname;
			e.title = probeUki(e.path).title;
			e.source = "modules";
			out.push_back(std::move(e));
		}
	}
	return {};
}

int rank(const UkiEntry &e)
{
	if (e.bad())
		return 2;
	return e.source == "modules" ? 1 : 0;
}

/* systemd-boot's config_entry_compare(), plus a total order on ties so
 * the result never depends on readdir. */
bool menuOrder(const UkiEntry &a, const UkiEntry &b)
{
	if (rank(a) != rank(b))
		return rank(a) < rank(b);
	if (a.source == "modules" && b.source == "modules") {
		if (int r = compareVersions(a.version, b.version))
			return r > 0;
		return a.id < b.id;
	}
	if (a.sortKey.empty() != b.sortKey.empty())
		return !a.sortKey.empty();
	if (!a.sortKey.empty()) {
		if (int r = a.sortKey.compare(b.sortKey))
			return r < 0;
		if (int r = compareVersions(a.osVersion, b.osVersion))
			return r > 0;
	}
	if (int r = compareVersions(a.id, b.id))
		return r > 0;
	if (a.triesLeft >= 0 && b.triesLeft >= 0) {
		if (a.triesLeft != b.triesLeft)
			return a.triesLeft > b.triesLeft;
		if (a.triesDone != b.triesDone)
			return a.triesDone < b.triesDone;
	}
	if (a.source != b.source)
		return a.source == "esp";
	return a.path < b.path;
}

/* Decode efivarfs UTF-16LE up to the first NUL into UTF-8. */
std::optional<std::string> utf16leToUtf8(const uint8_t *p, size_t n)
{
	std::string out;
	for (size_t i = 0; i + 1 < n; i += 2) {
		uint32_t c = p[i] | (p[i + 1] << 8);
		if (c == 0)
			break;
		if (c >= 0xd800 && c <= 0xdbff) {
			if (i + 3 >= n)
				return std::nullopt;
			const uint32_t lo = p[i + 2] | (p[i + 3] << 8);
			if (lo < 0xdc00 || lo > 0xdfff)
				return std::nullopt;
			c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
			i += 2;
		} else if (c >= 0xdc00 && c <= 0xdfff) {
			return std::nullopt;
		}
		if (c < 0x80) {
			out += static_cast<char>(c);
		} else if (c < 0x800) {
			out += static_cast<char>(0xc0 | (c >> 6));
			out += static_cast<char>(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out += static_cast<char>(0xe0 | (c >> 12));
			out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
			out += static_cast<char>(0x80 | (c & 0x3f));
		} else {
			out += static_cast<char>(0xf0 | (c >> 18));
			out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
			out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
			out += static_cast<char>(0x80 | (c & 0x3f));
		}
	}
	if (out.empty())
		return std::nullopt;
	return out;
}

std::string_view trim(std::string_view s)
{
	while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
		s.remove_prefix(1);
	while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
		s.remove_suffix(1);
	return s;
}

std::optional<std::string> loaderConfDefault(const std::string &esp)
{
	auto text = detail::readSmallFile(esp + "/loader/loader.conf", kMaxLoaderConfSize);
	if (!text)
		return std::nullopt;
	return parseLoaderConfDefault(*text);
}

/* First boot loader entry (in menu order) whose id matches pattern. */
const UkiEntry *findEntry(const std::vector<UkiEntry> &entries, const std::string &pattern)
{
	for (const auto &e : entries) {
		if (e.source == "modules")
			continue;
		if (::fnmatch(pattern.c_str(), e.id.c_str(), FNM_CASEFOLD) == 0)
			return &e;
	}
	return nullptr;
}

} // namespace

int compareVersions(std::string_view a, std::string_view b)
{
	auto isVersionChar = [](char c) {
		return isAsciiDigit(c) || isAsciiAlpha(c) || c == '~' || c == '-' || c == '^' || c == '.';
	};
	auto cmp = [](auto x, auto y) { return (x > y) - (x < y); };
	size_t i = 0, j = 0;
	auto at = [](std::string_view s, size_t k) { return k < s.size() ? s[k] : '\0'; };

	for (;;) {
		while (i < a.size() && !isVersionChar(a[i]))
			i++;
		while (j < b.size() && !isVersionChar(b[j]))
			j++;

		/* '~' marks a pre-release: older than anything else. */
		if (at(a, i) == '~' || at(b, j) == '~') {
			if (int r = cmp(at(a, i) != '~', at(b, j) != '~'))
				return r;
			i++;
			j++;
		}
		/* Past '~', more segments is newer. */
		if (at(a, i) == '\0' || at(b, j) == '\0')
			return cmp(static_cast<unsigned char>(at(a, i)), static_cast<unsigned char>(at(b, j)));
		/* '-' (release), '^' (patched) and '.' (point release) in
		 * that order of age; a segment without prefix is newest. */
		for (char sep : { '-', '^', '.' }) {
			if (at(a, i) == sep || at(b, j) == sep) {
				if (int r = cmp(at(a, i) != sep, at(b, j) != sep))
					return r;
				i++;
				j++;
			}
		}

		size_t ie = i, je = j;
		if (isAsciiDigit(at(a, i)) || isAsciiDigit(at(b, j))) {
			while (isAsciiDigit(at(a, ie)))
				ie++;
			while (isAsciiDigit(at(b, je)))
				je++;
			/* A number is newer than no number. */
			if (int r = cmp(ie != i, je != j))
				return r;
			while (at(a, i) == '0')
				i++;
			while (at(b, j) == '0')
				j++;
			if (int r = cmp(ie - i, je - j))
				return r;
			if (int r = cmp(a.substr(i, ie - i).compare(b.substr(j, je - j)), 0))
				return r;
		} else {
			while (isAsciiAlpha(at(a, ie)))
				ie++;
			while (isAsciiAlpha(at(b, je)))
				je++;
			const size_t n = std::min(ie - i, je - j);
			if (int r = cmp(a.substr(i, n).compare(b.substr(j, n)), 0))
				return r;
			if (int r = cmp(ie - i, je - j))
				return r;
		}
		i = ie;
		j = je;
	}
}

TriesCounter parseTriesCounter(std::string_view fileName, std::string_view suffix)
{
	TriesCounter tc;
	tc.id = std::string(fileName);
	if (!endsWithNoCase(fileName, suffix))
		return tc;
	const std::string_view stem = fileName.substr(0, fileName.size() - suffix.size());
	const size_t plus = stem.rfind('+');
	if (plus == std::string_view::npos)
		return tc;

	/* Digits only, no sign, no overflow: "+3", "+3-1". */
	auto parseNumber = [](std::string_view s, int &out) {
		if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), isAsciiDigit))
			return false;
		out = 0;
		for (char c : s)
			out = out * 10 + (c - '0');
		return true;
	};
	const std::string_view counter = stem.substr(plus + 1);
	const size_t dash = counter.find('-');
	int left = -1, done = 0;
	if (!parseNumber(counter.substr(0, dash), left))
		return tc;
	if (dash != std::string_view::npos && !parseNumber(counter.substr(dash + 1), done))
		return tc;

	tc.id = std::string(stem.substr(0, plus)) + std::string(fileName.substr(stem.size()));
	tc.left = left;
	tc.done = done;
	return tc;
}

/* systemd-boot's loader.conf syntax: "key value", whole-line '#'
 * comments, value optionally in double quotes; the last "default" wins. */
std::optional<std::string> parseLoaderConfDefault(std::string_view text)
{
	std::optional<std::string> value;
	std::string_view rest(text);
	while (!rest.empty()) {
		const size_t nl = rest.find('\n');
		std::string_view line = trim(rest.substr(0, nl));
		rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
		if (line.empty() || line.front() == '#')
			continue;
		const size_t sep = line.find_first_of(" \t");
		if (sep == std::string_view::npos || line.substr(0, sep) != "default")
			continue;
		std::string_view v = trim(line.substr(sep + 1));
		if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
			v = v.substr(1, v.size() - 2);
		if (!v.empty())
			value = std::string(v);
	}
	return value;
}

std::optional<std::string> decodeLoaderVariable(std::span<const uint8_t> data)
{
	if (data.size() < 4 + 2)
		return std::nullopt;
	return utf16leToUtf8(data.data() + 4, data.size() - 4);
}

std::optional<std::string> readLoaderVariable(const std::string &efivarsDir, const std::string &name)
{
	auto data = detail::readSmallFile(efivarsDir + "/" + name + "-" + kLoaderVendorGuid, kMaxVariableSize);
	if (!data)
		return std::nullopt;
	return decodeLoaderVariable({ reinterpret_cast<const uint8_t *>(data->data()), data->size() });
}

Result<std::string> findEsp(const DiscoveryPaths &paths)
{
	if (!paths.esp.empty()) {
		if (!isDirectory(paths.esp))
			return makeError(Code::Unsupported, "configured ESP '" + paths.esp + "' is not a directory");
		return paths.esp;
	}
	std::string looked;
	for (const auto &candidate : paths.espCandidates) {
		if (isDirectory(candidate + "/EFI") || isDirectory(candidate + "/loader"))
			return candidate;
		looked += (looked.empty() ? "" : ", ") + candidate;
	}
	return makeError(Code::Unsupported, "no ESP found (looked in " + looked + ")");
}

namespace {

Result<std::vector<UkiEntry>> listUkisOn(const std::string &esp, const DiscoveryPaths &paths,
					 std::vector<std::string> *notes)
{
	std::vector<UkiEntry> entries;
	KEXECD_TRY(scanLoaderDir(esp, "esp", entries, notes));
	if (!paths.xbootldr.empty()) {
		if (!isDirectory(paths.xbootldr))
			return makeError(Code::Unsupported,
					 "configured XBOOTLDR '" + paths.xbootldr + "' is not a directory");
		/* /boot may be the ESP itself: list its entries once. */
		if (!sameFile(esp, paths.xbootldr))
			KEXECD_TRY(scanLoaderDir(paths.xbootldr, "xbootldr", entries, notes));
	}
	if (!paths.modulesDir.empty())
		KEXECD_TRY(scanModules(paths.modulesDir, entries, notes));

	std::sort(entries.begin(), entries.end(), menuOrder);
	if (entries.size() > kMaxUkis) {
		note(notes, std::to_string(entries.size()) + " UKIs found, ignoring all but the first " +
				    std::to_string(kMaxUkis));
		entries.resize(kMaxUkis);
	}
	return entries;
}

} // namespace

Result<std::vector<UkiEntry>> listUkis(const DiscoveryPaths &paths, std::vector<std::string> *notes)
{
	auto esp = findEsp(paths);
	if (!esp)
		return esp.takeError();
	return listUkisOn(*esp, paths, notes);
}

Result<UkiEntry> defaultUki(const DiscoveryPaths &paths, std::string *why)
{
	auto esp = findEsp(paths);
	if (!esp)
		return esp.takeError();
	auto list = listUkisOn(*esp, paths, nullptr);
	if (!list)
		return list.takeError();
	const std::vector<UkiEntry> &entries = *list;
	if (entries.empty()) {
		std::string where = *esp + "/EFI/Linux";
		if (!paths.xbootldr.empty())
			where += ", " + paths.xbootldr + "/EFI/Linux";
		if (!paths.modulesDir.empty())
			where += ", " + paths.modulesDir + "/*/";
		return makeError(Code::Unsupported, "no UKI found (looked in " + where + ")");
	}

	std::string missed;
	auto pick = [&](const std::string &label, const std::string &pattern) -> const UkiEntry * {
		const UkiEntry *e = findEntry(entries, pattern);
		if (!e) {
			missed += "; " + label + " '" + pattern + "' matched no entry";
			return nullptr;
		}
		if (why)
			*why = label + " '" + pattern + "'" + missed;
		return e;
	};
	/* "@saved" means the entry booted last (systemd-boot). */
	auto resolveSaved = [&](std::optional<std::string> value, const char *label) {
		std::pair<std::string, std::optional<std::string>> r{ label, value };
		if (value && *value == "@saved") {
			r.first = std::string(label) + " @saved: LoaderEntryLastBooted";
			r.second = readLoaderVariable(paths.efivarsDir, "LoaderEntryLastBooted");
		}
		return r;
	};

	if (auto v = readLoaderVariable(paths.efivarsDir, "LoaderEntryOneShot"))
		if (const UkiEntry *e = pick("LoaderEntryOneShot", *v))
			return *e;
	auto efiDefault = resolveSaved(readLoaderVariable(paths.efivarsDir, "LoaderEntryDefault"),
				       "LoaderEntryDefault");
	if (efiDefault.second)
		if (const UkiEntry *e = pick(efiDefault.first, *efiDefault.second))
			return *e;
	auto confDefault = resolveSaved(loaderConfDefault(*esp), "loader.conf default");
	if (confDefault.second)
		if (const UkiEntry *e = pick(confDefault.first, *confDefault.second))
			return *e;

	const UkiEntry &first = entries.front();
	if (why) {
		if (first.source == "modules")
			*why = entries.back().bad() ? "newest distribution UKI (every boot loader entry is out of tries)"
						    : "newest distribution UKI (no boot loader entry)";
		else if (first.bad())
			*why = "first entry in boot loader order (every entry is out of tries)";
		else
			*why = "newest entry in boot loader order";
		*why += missed;
	}
	return first;
}

std::vector<std::string> findAddons(const DiscoveryPaths &paths, const std::string &ukiPath,
				    std::vector<std::string> *notes)
{
	std::vector<std::string> dirs;
	if (auto esp = findEsp(paths))
		dirs.push_back(*esp + "/loader/addons");
	dirs.push_back(ukiPath + ".extra.d");

	std::vector<std::string> addons;
	for (const auto &dir : dirs) {
		auto names = listDirectory(dir, Want::Files, notes);
		if (!names) {
			note(notes, names.error().message + ", ignoring");
			continue;
		}
		std::vector<std::string> set;
		for (auto &name : *names)
			if (isAscii(name) && endsWithNoCase(name, ".addon.efi"))
				set.push_back(std::move(name));
		std::sort(set.begin(), set.end());
		for (const auto &name : set) {
			if (addons.size() == kMaxAddons) {
				note(notes, "more than " + std::to_string(kMaxAddons) + " addons, ignoring '" +
						    dir + "/" + name + "'");
				continue;
			}
			addons.push_back(dir + "/" + name);
		}
	}
	return addons;
}

} // namespace kexecd
