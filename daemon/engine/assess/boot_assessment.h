// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Boot counting through a kexec (kexecd.conf BootCounting=): which file
// of the staged entry carries a counter, what kexecd would rename it to
// before the kexec, or why the kexec must not happen; and the bless of
// the kexec'd boot. boot_counter.h has the rename rules.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kexec_record.h"
#include "result.h"

namespace kexecd {

enum class BootCounting { Emulate, Refuse, Ignore };
const char *bootCountingName(BootCounting mode);
std::optional<BootCounting> parseBootCounting(const std::string &name);

struct CountingPreview {
	std::string file;      // the staged entry's file ("" when staged from a file kexecd did not discover)
	std::string renamedTo; // emulate: its name after the try is taken ("" when not counted)
	std::string refusal;   // set: the kexec must not happen (Code::BootAssessment)
	std::string note;      // what happens, for the plan

	bool counted() const { return !renamedTo.empty(); }
	/* null, or {"file", "renamed_to"} for the plan. */
	nlohmann::json toJson() const;
};

/* From the staged record: only entries kexecd discovered itself
 * (StageDefault) are counted; a file a caller passed by fd is not
 * opened, renamed or trusted by name. */
CountingPreview previewCounting(const nlohmann::json &staged, BootCounting mode);

/* Takes the try (renames file to renamedTo). */
Result<void> takeTry(const CountingPreview &preview);
/* Gives it back (a reboot that did not happen). */
Result<void> giveTryBack(const CountingPreview &preview);

/* The firmware boot's own counter: LoaderBootCountPath names the entry
 * systemd-boot took a try from. While that file still has its counter
 * (systemd-bless-boot status: indeterminate) and this boot came from the
 * firmware, a kexec now leaves it so: "" when there is nothing to say. */
std::string firmwareBootCountingNote(const BootOrigin &origin, const std::string &efivarsDir, const std::string &esp);

/* kexecd-bless-boot good|bad for the kexec'd boot: renames origin.file
 * as systemd-bless-boot would. Returns what was done, for the log. */
enum class BootVerdict { Good, Bad };
Result<std::string> blessKexecBoot(const BootOrigin &origin, BootVerdict verdict);

} // namespace kexecd
