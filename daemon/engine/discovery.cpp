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
#include <map>
#include <utility>

#include "fd.h"
#include "file_util.h"
#include "esp_fs.h"
#include "uki.h"

namespace kexecd {

namespace {

using namespace detail;

constexpr size_t kMaxLoaderConfSize = 64 * 1024;

bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool isAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

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

/* What systemd-boot reads from a Type #2 entry, per profile. */
struct ProfileProbe {
	unsigned index = 0;
	std::string profileId, profileTitle;
	std::string title, sortKey, osVersion;
	bool hasLinux = false;
};

struct Probe {
	enum Kind { NotPe, Pe } kind = NotPe;
	bool hasProfiles = false;
	std::string uname;
	std::vector<ProfileProbe> profiles; // those with an .osrel naming the OS
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

struct SectionRef {
	uint32_t offset = 0, size = 0;
};

/*
 * Only the section table and the small text sections are read, with
 * pread() rather than mmap(): a UKI rewritten in place (cp truncates)
 * while it is probed must not SIGBUS the daemon. Full validation is the
 * stager's, on its sealed copy.
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
	probe.kind = Probe::Pe;

	/* Base sections, then one set per .profile (pe_locate_profile_sections()). */
	using Set = std::map<std::string, SectionRef, std::less<>>;
	Set base;
	std::vector<Set> profiles;
	for (unsigned i = 0; i < nSections; i++) {
		const uint8_t *h = table.data() + size_t{ i } * 40;
		const char *raw = reinterpret_cast<const char *>(h);
		const std::string name(raw, ::strnlen(raw, 8));
		const uint32_t virtualSize = le32(h + 8);
		const uint32_t rawSize = le32(h + 16);
		const SectionRef ref{ le32(h + 20), virtualSize && virtualSize <= rawSize ? virtualSize : rawSize };
		if (name == ".profile")
			profiles.emplace_back();
		Set &target = profiles.empty() ? base : profiles.back();
		target.emplace(name, ref);
	}
	probe.hasProfiles = !profiles.empty();

	auto text = [&](const SectionRef &ref) -> std::optional<std::string> {
		std::vector<uint8_t> data(std::min(ref.size, kMaxTextSection));
		if (!preadAll(fd.get(), data.data(), data.size(), ref.offset))
			return std::nullopt;
		return sectionText(data);
	};
	auto find = [](const Set &base, const Set *profile, std::string_view name) -> const SectionRef * {
		if (profile)
			if (auto it = profile->find(name); it != profile->end())
				return &it->second;
		auto it = base.find(name);
		return it == base.end() ? nullptr : &it->second;
	};

	if (const SectionRef *u = find(base, nullptr, ".uname"))
		probe.uname = text(*u).value_or("");
	const size_t count = std::max<size_t>(profiles.size(), 1);
	for (size_t p = 0; p < count; p++) {
		const Set *profile = profiles.empty() ? nullptr : &profiles[p];
		ProfileProbe pp;
		pp.index = static_cast<unsigned>(p);
		const SectionRef *osrel = find(base, profile, ".osrel");
		if (!osrel)
			continue;
		const auto fields = parseOsRelease(text(*osrel).value_or(""));
		auto first = [&](std::initializer_list<const char *> keys) {
			for (const char *k : keys)
				if (auto it = fields.find(k); it != fields.end() && !it->second.empty())
					return it->second;
			return std::string();
		};
		pp.title = first({ "PRETTY_NAME", "IMAGE_ID", "NAME", "ID" });
		pp.sortKey = first({ "IMAGE_ID", "ID" });
		pp.osVersion = first({ "IMAGE_VERSION", "VERSION", "VERSION_ID", "BUILD_ID" });
		if (pp.title.empty())
			continue;
		if (profile) {
			const auto info = parseOsRelease(text(profile->at(".profile")).value_or(""));
			if (auto it = info.find("ID"); it != info.end())
				pp.profileId = it->second;
			if (auto it = info.find("TITLE"); it != info.end())
				pp.profileTitle = it->second;
		}
		const SectionRef *linux = find(base, profile, ".linux");
		pp.hasLinux = linux && linux->size > 0;
		probe.profiles.push_back(std::move(pp));
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
		if (!endsWithNoCase(name, ".efi") || startsWithNoCase(name, "auto-"))
			continue;
		const std::string path = dir + "/" + name;
		const Probe probe = probeUki(path);
		if (probe.kind == Probe::NotPe) {
			note(notes, "'" + path + "' is not a PE image, ignoring");
			continue;
		}
		if (probe.profiles.empty()) {
			note(notes, "'" + path + "' has no .osrel naming the OS, ignoring");
			continue;
		}
		const TriesCounter tc = parseTriesCounter(name, ".efi");
		const std::string baseId = asciiLowerString(tc.id);
		for (const ProfileProbe &pp : probe.profiles) {
			UkiEntry e;
			e.path = path;
			e.profile = probe.hasProfiles ? static_cast<int>(pp.index) : -1;
			e.idWithoutProfile = baseId;
			e.id = baseId;
			if (pp.index > 0)
				e.id += "@" + asciiLowerString(pp.profileId.empty() ? std::to_string(pp.index) : pp.profileId);
			if (!pp.hasLinux) {
				note(notes, "'" + e.id + "' (" + path + ") has no .linux section, ignoring");
				continue;
			}
			e.version = probe.uname.empty() ? versionFromId(tc.id) : probe.uname;
			e.title = pp.title;
			if (!pp.profileTitle.empty())
				e.title += " (" + pp.profileTitle + ")";
			else if (pp.index > 0)
				e.title += pp.profileId.empty() ? " (Profile #" + std::to_string(pp.index + 1) + ")"
								: " (" + pp.profileId + ")";
			e.sortKey = pp.sortKey;
			e.osVersion = pp.osVersion;
			e.triesLeft = tc.left;
			e.triesDone = tc.done;
			e.source = source;
			e.root = root;
			out.push_back(std::move(e));
		}
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
			const Probe probe = probeUki(e.path);
			if (!probe.profiles.empty())
				e.title = probe.profiles.front().title;
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
	if (int r = compareVersions(a.idWithoutProfile, b.idWithoutProfile))
		return r > 0;
	if (a.profile != b.profile)
		return a.profile < b.profile;
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

std::string_view trim(std::string_view s)
{
	while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
		s.remove_prefix(1);
	while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
		s.remove_suffix(1);
	return s;
}

} // namespace

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

namespace {

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
	if (!paths.xbootldr.empty() && !isDirectory(paths.xbootldr))
		return makeError(Code::Unsupported, "configured XBOOTLDR '" + paths.xbootldr + "' is not a directory");
	/* /boot may be the ESP itself: list its entries once. */
	if (const std::string xbootldr = findXbootldr(paths, esp); !xbootldr.empty() && !sameFile(esp, xbootldr))
		KEXECD_TRY(scanLoaderDir(xbootldr, "xbootldr", entries, notes));
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

Result<UkiEntry> defaultUki(const DiscoveryPaths &paths, std::string *why, std::string *rule)
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
		if (const std::string x = findXbootldr(paths, *esp); !x.empty())
			where += ", " + x + "/EFI/Linux";
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
		if (rule)
			*rule = label.substr(0, label.find(' '));
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
	if (rule)
		*rule = "order";
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

} // namespace kexecd
