// SPDX-License-Identifier: LGPL-2.1-or-later
#include "boot_assessment.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "boot_counter.h"
#include "efi_vars.h"
#include "text.h"

namespace kexecd {

namespace {

std::pair<std::string, std::string> splitPath(const std::string &path)
{
	const size_t slash = path.rfind('/');
	if (slash == std::string::npos)
		return { ".", path };
	return { slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1) };
}

std::optional<BootCounter> counterOf(const std::string &name)
{
	if (auto c = parseBootCounter(name, ".efi"))
		return c;
	return parseBootCounter(name, ".conf");
}

bool exists(const std::string &path)
{
	struct stat st;
	return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

} // namespace

const char *bootCountingName(BootCounting mode)
{
	switch (mode) {
	case BootCounting::Emulate: return "emulate";
	case BootCounting::Refuse: return "refuse";
	case BootCounting::Ignore: return "ignore";
	}
	return "emulate";
}

std::optional<BootCounting> parseBootCounting(const std::string &name)
{
	for (BootCounting m : { BootCounting::Emulate, BootCounting::Refuse, BootCounting::Ignore })
		if (name == bootCountingName(m))
			return m;
	return std::nullopt;
}

nlohmann::json CountingPreview::toJson() const
{
	if (!counted())
		return nullptr;
	return { { "file", file }, { "renamed_to", splitPath(file).first + "/" + renamedTo } };
}

CountingPreview previewCounting(const nlohmann::json &staged, BootCounting mode)
{
	CountingPreview p;
	if (!staged.is_object() || !staged.contains("discovery")) {
		p.note = "not boot-counted: staged from a file, not from a discovered entry";
		return p;
	}
	/* The counter is on the Type #1 .conf, or on the Type #2 UKI. */
	p.file = jsonString(staged, "/discovery/entry_file");
	if (p.file.empty())
		p.file = jsonString(staged, "/uki/path");
	if (p.file.empty()) {
		p.note = "not boot-counted: the staged entry has no file";
		return p;
	}
	const auto [dir, name] = splitPath(p.file);
	const auto counter = counterOf(name);
	if (!counter) {
		p.note = fmt::format("'{}' is not boot-counted", name);
		return p;
	}
	switch (mode) {
	case BootCounting::Ignore:
		p.note = fmt::format("'{}' is boot-counted, and BootCounting=ignore: a kexec takes no try", name);
		return p;
	case BootCounting::Refuse:
		p.refusal = fmt::format("'{}' is boot-counted and BootCounting=refuse: its boot assessment needs "
					"the firmware path through systemd-boot", name);
		return p;
	case BootCounting::Emulate:
		break;
	}
	if (!exists(p.file)) {
		p.refusal = fmt::format("the staged entry '{}' was renamed or removed since staging, so its boot "
					"counter cannot be taken", p.file);
		return p;
	}
	p.renamedTo = nextTryName(*counter);
	p.note = fmt::format("'{}' is boot-counted ({} tries left): kexecd renames it to '{}' before the kexec, "
			     "as systemd-boot would", name, counter->left, p.renamedTo);
	return p;
}

Result<void> takeTry(const CountingPreview &preview)
{
	if (!preview.counted())
		return {};
	const auto [dir, name] = splitPath(preview.file);
	auto r = renameEntryFile(dir, name, preview.renamedTo);
	if (!r)
		return makeError(Code::BootAssessment, "cannot take a try from the boot-counted entry: " + r.error().message,
				 r.error().errnum);
	return {};
}

Result<void> giveTryBack(const CountingPreview &preview)
{
	if (!preview.counted())
		return {};
	const auto [dir, name] = splitPath(preview.file);
	return renameEntryFile(dir, preview.renamedTo, name);
}

std::string firmwareBootCountingNote(const BootOrigin &origin, const std::string &efivarsDir, const std::string &esp)
{
	if (origin.via != BootVia::Firmware || esp.empty())
		return {};
	auto path = readLoaderVariable(efivarsDir, "LoaderBootCountPath");
	if (!path || path->empty() || path->find("..") != std::string::npos)
		return {};
	std::string rel = *path;
	for (char &c : rel)
		if (c == '\\')
			c = '/';
	const std::string file = esp + (rel.front() == '/' ? "" : "/") + rel;
	if (!exists(file))
		return {};
	return fmt::format("this firmware boot's entry '{}' is not blessed yet (boot-complete.target not reached): "
			   "a reboot now leaves its try taken, as after a failed boot", file);
}

Result<std::string> blessKexecBoot(const BootOrigin &origin, BootVerdict verdict)
{
	if (origin.via != BootVia::Kexec)
		return std::string("this boot is not a kexec by kexecd: systemd-bless-boot handles it");
	if (origin.file.empty() || !origin.counted)
		return fmt::format("the entry '{}' kexecd booted is not boot-counted: nothing to do", origin.entry);
	const auto [dir, name] = splitPath(origin.file);
	const auto counter = counterOf(name);
	if (!counter)
		return makeError(Code::InvalidEntry, fmt::format("'{}' has no boot counter to bless", origin.file));
	const std::string target = verdict == BootVerdict::Good ? blessedName(*counter) : badName(*counter);
	if (!exists(origin.file)) {
		if (exists(dir + "/" + target))
			return fmt::format("'{}' is already marked {}", dir + "/" + target,
					   verdict == BootVerdict::Good ? "good" : "bad");
		return makeError(Code::InvalidEntry, fmt::format("cannot find the boot counter source file '{}'",
								  origin.file));
	}
	if (target == name)
		return fmt::format("'{}' is already marked bad", origin.file);
	KEXECD_TRY(renameEntryFile(dir, name, target));
	return fmt::format("marked the kexec'd entry {}: '{}' -> '{}'", verdict == BootVerdict::Good ? "good" : "bad",
			   origin.file, target);
}

} // namespace kexecd
