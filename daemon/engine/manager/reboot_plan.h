// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Which reboot a Reboot call becomes, and why: a pure function of facts
// gathered elsewhere (the staged record, the running system, what logind
// can do), so every decision is table-testable and `reboot --dry-run`
// prints exactly what a real reboot would do.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "result.h"
#include "unlock_check.h"

namespace kexecd {

enum class RebootMode { Auto, Kexec, Soft, Cold };
enum class RebootAction { Kexec, Soft, Cold };

const char *rebootModeName(RebootMode mode);
const char *rebootActionName(RebootAction action);
Result<RebootMode> parseRebootMode(const std::string &name);

/* The running system, as far as it can be known. */
struct RunningSystem {
	std::string uname;        // /proc/sys/kernel/osrelease
	std::string cmdline;      // /proc/cmdline
	std::string linuxSha256;  // the booted image's kernel, "" when unknown
	std::string linuxWhy;     // where linuxSha256 came from, or why it is unknown
	bool nextroot = false;    // /run/nextroot is prepared for a soft-reboot
};

struct RebootFacts {
	RebootMode mode = RebootMode::Auto;
	bool requireStaged = false;  // auto: refuse rather than reboot cold
	std::string state;           // stateName() of the staged slot
	nlohmann::json staged;       // the record ({} when none)
	RunningSystem running;
	bool logindKexec = true;     // logind's RebootWithFlags knows 0x02
	bool logindSoftReboot = false;
	std::string logindDetail;
	/* What would make a kexec betray the firmware path (issue 26): the
	 * user's firmware requests, and the staged entry's boot counter. */
	std::vector<std::string> firmwareRequests;
	nlohmann::json bootCounting;   // null, or {"file", "renamed_to"}
	std::string bootCountingNote;  // what happens to the counter, for the reasons
	std::string bootCountingRefusal; // set: no kexec into this entry
	nlohmann::json booted;         // BootOrigin::toJson() of this boot
	std::string firmwareBootNote;  // the firmware boot's unblessed entry, if any
	/* Issue 27: the unlock check's verdicts for the staged kernel
	 * (gathered off the event loop, checkUnlock()); empty when nothing
	 * was checked. A blocking verdict makes auto cold and kexec refuse
	 * (WouldNotUnlock), unless ignoreTpm. */
	std::vector<VolumeAssessment> unlock;
	bool unlockChecked = false;
	bool ignoreTpm = false;
};

struct RebootPlan {
	RebootAction action = RebootAction::Cold;
	uint64_t logindFlags = 0;          // without ROOT_CHECK_INHIBITORS
	bool unloadFirst = false;          // cold with a kernel loaded
	std::vector<std::string> reasons;  // in the order they decided
};

/* A refusal is an Error (NotStaged, Unsupported) whose message carries
 * the reasons too. */
Result<RebootPlan> planReboot(const RebootFacts &facts);

/* CODE with "HEAD; REASON; REASON…": a refusal and what decided it. */
Error refusal(Code code, const std::string &head, const std::vector<std::string> &reasons);

/* Issue 27: one line per volume whose verdict blocks a kexec
 * (blocksKexec()), naming it and the reason (with the PCR that decides). */
std::vector<std::string> unlockLockouts(const std::vector<VolumeAssessment> &assessments);

nlohmann::json planJson(const RebootFacts &facts, const Result<RebootPlan> &plan);

/* /proc/cmdline without what boot loaders add for themselves
 * (BOOT_IMAGE=, initrd=), whitespace collapsed: kexec-tools'
 * --reuse-cmdline rule, also used to compare command lines. */
std::string normalizeCmdline(const std::string &cmdline);

/* Reads /proc/sys/kernel/osrelease, /proc/cmdline and /run/nextroot
 * below the given roots (tests point them elsewhere). */
RunningSystem readRunningSystem(const std::string &procRoot, const std::string &runRoot);

} // namespace kexecd
