// SPDX-License-Identifier: LGPL-2.1-or-later
#include "bls_type1.h"

#include <fmt/format.h>

#include "esp_fs.h"
#include "file_util.h"
#include "text.h"

namespace kexecd {

namespace {

using detail::asciiLowerString;
using detail::endsWithNoCase;
using detail::note;

constexpr size_t kMaxEntryPath = 4096;

} // namespace

std::string_view efiMachineTypeName()
{
#if defined(__x86_64__)
	return "x64";
#elif defined(__i386__)
	return "ia32";
#elif defined(__aarch64__)
	return "aa64";
#elif defined(__arm__)
	return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#elif defined(__loongarch64)
	return "loongarch64";
#else
	return "";
#endif
}

Result<std::string> entryRelativePath(std::string_view value, const std::string &entryFile, const char *key)
{
	if (value.empty() || value.size() > kMaxEntryPath)
		return makeError(Code::InvalidEntry,
				 fmt::format("'{}': '{}' is {} bytes, not a path (1 to {} bytes)", entryFile, key,
					     value.size(), kMaxEntryPath));
	std::string out;
	size_t i = 0;
	while (i < value.size()) {
		size_t j = value.find('/', i);
		if (j == std::string_view::npos)
			j = value.size();
		const std::string_view part = value.substr(i, j - i);
		i = j + 1;
		if (part.empty() || part == ".")
			continue;
		/* The boot loader resolves nothing either: a ".." is meant to
		 * leave the partition, and kexecd reads only beneath it. */
		if (part == "..")
			return makeError(Code::InvalidEntry,
					 fmt::format("'{}': {} '{}' has a '..' component; entry paths stay beneath "
						     "the partition", entryFile, key, displayText(value)));
		if (!out.empty())
			out += '/';
		out += part;
	}
	if (out.empty())
		return makeError(Code::InvalidEntry, fmt::format("'{}': {} '{}' names no file", entryFile, key,
								  displayText(value)));
	return out;
}

Result<Type1Parse> parseType1Entry(std::string_view text, std::string_view fileName, const std::string &root,
				   const std::string &entryFile, std::string_view efiArchitecture)
{
	Type1Parse result;
	if (const size_t at = invalidUtf8At(text); at != std::string_view::npos)
		return makeError(Code::InvalidEntry, fmt::format("'{}' is not UTF-8 (byte {})", entryFile, at));
	UkiEntry e;
	std::string linux, uki, efi;
	std::vector<std::string> initrds;
	std::string_view key, value;
	while (detail::nextKeyValue(text, key, value)) {
		const std::string v(value);
		if (key == "title")
			e.title = v;
		else if (key == "version")
			e.osVersion = v;
		else if (key == "machine-id")
			e.machineId = v;
		else if (key == "sort-key")
			e.sortKey = v;
		else if (key == "architecture")
			e.architecture = v;
		else if (key == "linux")
			linux = v;
		else if (key == "uki")
			uki = v;
		else if (key == "efi")
			efi = v;
		else if (key == "devicetree")
			e.devicetree = v;
		else if (key == "initrd") {
			if (initrds.size() == kMaxEntryInitrds)
				return makeError(Code::InvalidEntry,
						 fmt::format("'{}' has more than {} initrds", entryFile, kMaxEntryInitrds));
			initrds.push_back(v);
		} else if (key == "options") {
			if (!value.empty())
				e.options += (e.options.empty() ? "" : " ") + v;
		}
		/* Other keys (devicetree-overlay, uki-url, ...) change nothing
		 * kexec can honour; systemd-boot ignores unknown ones too. */
	}

	if (!efiArchitecture.empty() && !e.architecture.empty() &&
	    asciiLowerString(e.architecture) != asciiLowerString(efiArchitecture)) {
		result.skipped = fmt::format("'{}' is for architecture '{}', not '{}'", entryFile,
					     displayText(e.architecture), efiArchitecture);
		return result;
	}
	if (linux.empty() && uki.empty()) {
		result.skipped = fmt::format("'{}' has no 'linux' or 'uki'{}: nothing kexec can start", entryFile,
					     efi.empty() ? "" : " (an 'efi' program)");
		return result;
	}
	/* A bad path does not drop the entry: systemd-boot would still show
	 * it (and fail to boot it), so it keeps its place in the order and
	 * staging it says why it cannot be. */
	const auto absolute = [&](std::string_view value, const char *key) {
		auto rel = entryRelativePath(value, entryFile, key);
		if (!rel) {
			if (e.problem.empty())
				e.problem = rel.error().message;
			return std::string{};
		}
		return root + "/" + *rel;
	};
	/* A "uki" wins over "linux" in systemd-boot (LOADER_UKI). */
	if (!uki.empty()) {
		e.path = absolute(uki, "uki");
	} else {
		e.kind = "kernel";
		e.linux = e.path = absolute(linux, "linux");
		for (const std::string &i : initrds)
			e.initrds.push_back(absolute(i, "initrd"));
	}

	const TriesCounter tc = parseTriesCounter(fileName, ".conf");
	e.id = e.idWithoutProfile = asciiLowerString(tc.id);
	e.triesLeft = tc.left;
	e.triesDone = tc.done;
	if (e.title.empty())
		e.title = tc.id.substr(0, tc.id.size() - 5);
	e.version = e.osVersion;
	e.type = "type1";
	e.entryFile = entryFile;
	e.root = root;
	result.entry = std::move(e);
	return result;
}

Result<void> scanType1Entries(const std::string &root, const char *source, std::string_view efiArchitecture,
			      std::vector<UkiEntry> &out, std::vector<std::string> *notes)
{
	const std::string dir = root + "/loader/entries";
	auto names = detail::listDirectory(dir, detail::Want::Files, notes);
	if (!names)
		return names.takeError();
	for (const std::string &name : *names) {
		if (!endsWithNoCase(name, ".conf"))
			continue;
		const std::string path = dir + "/" + name;
		auto text = detail::readSmallFile(path, kMaxEntryFileSize);
		if (!text) {
			note(notes, fmt::format("'{}' cannot be read or is larger than {} bytes, ignoring", path,
						kMaxEntryFileSize));
			continue;
		}
		auto parsed = parseType1Entry(*text, name, root, path, efiArchitecture);
		if (!parsed) {
			note(notes, parsed.error().message + ", ignoring");
			continue;
		}
		if (parsed->entry && !parsed->entry->problem.empty())
			note(notes, parsed->entry->problem);
		if (!parsed->entry) {
			note(notes, parsed->skipped + ", ignoring");
			continue;
		}
		parsed->entry->source = source;
		out.push_back(std::move(*parsed->entry));
	}
	return {};
}

} // namespace kexecd
