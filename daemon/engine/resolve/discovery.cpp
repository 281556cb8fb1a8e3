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
#include "bls_type1.h"
#include "debian_layout.h"
#include "entry_order.h"
#include "esp_fs.h"
#include "uki.h"

namespace kexecd {

namespace {

using namespace detail;

constexpr size_t kMaxLoaderConfSize = 64 * 1024;

bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }

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

} // namespace

/* systemd-boot's loader.conf syntax: "key value", whole-line '#'
 * comments, value optionally in double quotes; the last "default" wins. */
std::optional<std::string> parseLoaderConfDefault(std::string_view text)
{
	std::optional<std::string> value;
	std::string_view key, v;
	while (nextKeyValue(text, key, v))
		if (key == "default" && !v.empty())
			value = std::string(v);
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

} // namespace

bool defaultIsSaved(const DiscoveryPaths &paths)
{
	if (auto v = readLoaderVariable(paths.efivarsDir, "LoaderEntryDefault"))
		return *v == "@saved";
	auto esp = findEsp(paths);
	return esp && loaderConfDefault(*esp) == std::optional<std::string>("@saved");
}

namespace {

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


namespace {

Result<std::vector<UkiEntry>> listUkisOn(const std::string &esp, const DiscoveryPaths &paths,
					 std::vector<std::string> *notes)
{
	std::vector<UkiEntry> entries;
	const std::string arch = paths.efiArchitecture.empty() ? std::string(efiMachineTypeName())
								: paths.efiArchitecture;
	/* Type #1 and Type #2 entries of both partitions go into one list
	 * sorted once, as systemd-boot's config_load_all_entries() does. */
	KEXECD_TRY(scanType1Entries(esp, "esp", arch, entries, notes));
	KEXECD_TRY(scanLoaderDir(esp, "esp", entries, notes));
	if (!paths.xbootldr.empty() && !isDirectory(paths.xbootldr))
		return makeError(Code::Unsupported, "configured XBOOTLDR '" + paths.xbootldr + "' is not a directory");
	/* /boot may be the ESP itself: list its entries once. */
	if (const std::string xbootldr = findXbootldr(paths, esp); !xbootldr.empty() && !sameFile(esp, xbootldr)) {
		KEXECD_TRY(scanType1Entries(xbootldr, "xbootldr", arch, entries, notes));
		KEXECD_TRY(scanLoaderDir(xbootldr, "xbootldr", entries, notes));
	}
	if (!paths.modulesDir.empty())
		KEXECD_TRY(scanModules(paths.modulesDir, entries, notes));

	std::sort(entries.begin(), entries.end(), detail::menuOrder);
	if (entries.size() > kMaxUkis) {
		note(notes, std::to_string(entries.size()) + " entries found, ignoring all but the first " +
				    std::to_string(kMaxUkis));
		entries.resize(kMaxUkis);
	}
	return entries;
}

/* Every entry; the Debian layout's when enabled and there is no other
 * (not even an ESP: a BIOS machine has none). */
Result<std::vector<UkiEntry>> listEntries(const DiscoveryPaths &paths, std::vector<std::string> *notes,
					  std::string *esp)
{
	auto found = findEsp(paths);
	if (!found && !paths.debianLayout)
		return found.takeError();
	std::vector<UkiEntry> entries;
	if (found) {
		auto list = listUkisOn(*found, paths, notes);
		if (!list)
			return list.takeError();
		entries = std::move(*list);
		if (esp)
			*esp = *found;
	} else {
		note(notes, found.error().message);
	}
	if (entries.empty() && paths.debianLayout)
		if (auto debian = debianLayoutEntry(paths, notes))
			entries.push_back(std::move(*debian));
	return entries;
}

} // namespace

Result<std::vector<UkiEntry>> listUkis(const DiscoveryPaths &paths, std::vector<std::string> *notes)
{
	return listEntries(paths, notes, nullptr);
}

Result<UkiEntry> defaultUki(const DiscoveryPaths &paths, std::string *why, std::string *rule)
{
	std::vector<std::string> notes;
	std::string espFound;
	auto list = listEntries(paths, &notes, &espFound);
	if (!list)
		return list.takeError();
	const std::vector<UkiEntry> &entries = *list;
	if (entries.empty()) {
		std::string where;
		if (!espFound.empty()) {
			where = espFound + "/EFI/Linux, " + espFound + "/loader/entries";
			if (const std::string x = findXbootldr(paths, espFound); !x.empty())
				where += ", " + x + "/EFI/Linux, " + x + "/loader/entries";
		} else {
			where = "no ESP";
		}
		if (!paths.modulesDir.empty())
			where += ", " + paths.modulesDir + "/*/";
		if (paths.debianLayout)
			where += ", the Debian layout (" + (notes.empty() ? std::string("none") : notes.back()) + ")";
		return makeError(Code::Unsupported, "no boot entry found (looked in " + where + ")");
	}
	if (entries.front().type == "debian") {
		if (why)
			*why = debianLayoutWhy(entries.front());
		if (rule)
			*rule = "debian-layout";
		return entries.front();
	}
	const std::string esp = espFound;

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
	auto confDefault = resolveSaved(loaderConfDefault(esp), "loader.conf default");
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
