// SPDX-License-Identifier: LGPL-2.1-or-later
#include "reboot_plan.h"

#include <sys/stat.h>

#include <sstream>

#include <fmt/format.h>

#include "file_util.h"
#include "text.h"

namespace kexecd {

namespace {

constexpr uint64_t kFlagKexec = 0x02;
constexpr uint64_t kFlagSoft = 0x04;

/* /proc/cmdline and osrelease, without the trailing newline. */
std::string readProcText(const std::string &path)
{
	std::string s = detail::readSmallFile(path, 64 * 1024).value_or("");
	while (!s.empty() && (s.back() == '\n' || s.back() == '\0'))
		s.pop_back();
	return s;
}

/* Whether the staged kernel is the running one, and the reason either way. */
bool sameKernel(const RebootFacts &f, std::vector<std::string> &reasons)
{
	const std::string stagedLinux = jsonString(f.staged, "/kernel/sha256");
	if (!stagedLinux.empty() && !f.running.linuxSha256.empty()) {
		bool same = stagedLinux == f.running.linuxSha256;
		reasons.push_back(same ? "the staged kernel image is the booted one (same SHA-256)"
				       : "the staged kernel image differs from the booted one (SHA-256)");
		return same;
	}
	/* A UKI's .uname, or a plain kernel's version from its setup header. */
	std::string uname = jsonString(f.staged, "/uki/uname");
	if (uname.empty())
		uname = jsonString(f.staged, "/image/version");
	if (uname.empty() || f.running.uname.empty()) {
		reasons.push_back("the staged kernel's version is not known (no .uname, no version string "
				  "in the kernel image), so it is "
				  "treated as a different kernel");
		return false;
	}
	if (uname != f.running.uname) {
		reasons.push_back(fmt::format("the staged kernel {} is not the running {}", uname,
					      f.running.uname));
		return false;
	}
	const std::string staged = normalizeCmdline(jsonString(f.staged, "/cmdline"));
	const std::string running = normalizeCmdline(f.running.cmdline);
	if (staged != running) {
		reasons.push_back(fmt::format("the staged kernel is the running {}, but its command line "
					      "differs", uname));
		return false;
	}
	reasons.push_back(fmt::format("the staged kernel is the running {} with the same command line "
				      "(the booted image's digest is not known: {})", uname,
				      f.running.linuxWhy.empty() ? "not looked up" : f.running.linuxWhy));
	return true;
}

} // namespace

Error refusal(Code code, const std::string &head, const std::vector<std::string> &reasons)
{
	std::string message = head;
	for (const auto &r : reasons)
		message += "; " + r;
	return makeError(code, message);
}

std::vector<std::string> unlockLockouts(const std::vector<VolumeAssessment> &assessments)
{
	std::vector<std::string> out;
	for (const VolumeAssessment &a : assessments) {
		if (!blocksKexec(a.verdict))
			continue;
		std::string reason = a.reason;
		if (a.decidingPcr && reason.find(fmt::format("PCR {}", *a.decidingPcr)) == std::string::npos)
			reason += fmt::format(" (PCR {} decides)", *a.decidingPcr);
		out.push_back(fmt::format("volume '{}' ({}) would not unlock after a kexec: {}", displayText(a.volume),
					  displayText(a.device), displayText(reason)));
	}
	return out;
}

const char *rebootModeName(RebootMode mode)
{
	switch (mode) {
	case RebootMode::Auto: return "auto";
	case RebootMode::Kexec: return "kexec";
	case RebootMode::Soft: return "soft";
	case RebootMode::Cold: return "cold";
	}
	return "auto";
}

const char *rebootActionName(RebootAction action)
{
	switch (action) {
	case RebootAction::Kexec: return "kexec";
	case RebootAction::Soft: return "soft-reboot";
	case RebootAction::Cold: return "cold";
	}
	return "cold";
}

Result<RebootMode> parseRebootMode(const std::string &name)
{
	for (RebootMode m : { RebootMode::Auto, RebootMode::Kexec, RebootMode::Soft, RebootMode::Cold })
		if (name == rebootModeName(m))
			return m;
	return makeError(Code::InvalidArgument,
			 fmt::format("unknown reboot mode '{}' (auto, kexec, soft or cold)", displayText(name)));
}

std::string normalizeCmdline(const std::string &cmdline)
{
	std::istringstream in(cmdline);
	std::string word, out;
	while (in >> word) {
		if (word.rfind("BOOT_IMAGE=", 0) == 0 || word.rfind("initrd=", 0) == 0)
			continue;
		if (!out.empty())
			out += ' ';
		out += word;
	}
	return out;
}

RunningSystem readRunningSystem(const std::string &procRoot, const std::string &runRoot)
{
	RunningSystem r;
	r.uname = readProcText(procRoot + "/sys/kernel/osrelease");
	r.cmdline = readProcText(procRoot + "/cmdline");
	struct stat st;
	/* systemd switches into /run/nextroot when it is a directory with
	 * an os-release of its own (systemd-soft-reboot.service(8)). */
	const std::string nextroot = runRoot + "/nextroot";
	r.nextroot = lstat(nextroot.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
		     (access((nextroot + "/etc/os-release").c_str(), F_OK) == 0 ||
		      access((nextroot + "/usr/lib/os-release").c_str(), F_OK) == 0);
	return r;
}

namespace {

Result<RebootPlan> decide(const RebootFacts &f);

} // namespace

Result<RebootPlan> planReboot(const RebootFacts &f)
{
	auto plan = decide(f);
	/* What the reboot does besides, after what decided it (the first
	 * reason is the one the reboot-required sentinel shows). */
	if (plan && plan->action == RebootAction::Kexec && !f.bootCountingNote.empty())
		plan->reasons.push_back(f.bootCountingNote);
	if (plan && plan->action != RebootAction::Soft && !f.firmwareBootNote.empty())
		plan->reasons.push_back(f.firmwareBootNote);
	return plan;
}

namespace {

Result<RebootPlan> decide(const RebootFacts &f)
{
	RebootPlan plan;
	auto &why = plan.reasons;
	const bool staged = f.state == "staged";
	const bool foreign = f.state == "foreign";
	const bool loaded = staged || foreign;

	if (f.state == "staging")
		return makeError(Code::Busy, "a staging operation is in progress; reboot when it has finished");
	if (f.state == "rebooting")
		return makeError(Code::Busy, "a reboot into the staged kernel is already in progress");

	auto kexec = [&]() -> Result<RebootPlan> {
		if (!f.logindKexec)
			return refusal(Code::Unsupported,
				       "systemd-logind cannot reboot via kexec (RebootWithFlags 0x02 needs "
				       "systemd >= 252); force=true kexecs directly",
				       { f.logindDetail });
		plan.action = RebootAction::Kexec;
		plan.logindFlags = kFlagKexec;
		return plan;
	};
	auto soft = [&]() -> Result<RebootPlan> {
		if (!f.logindSoftReboot)
			return refusal(Code::Unsupported,
				       "systemd-logind cannot soft-reboot (RebootWithFlags 0x04 needs "
				       "systemd >= 254)",
				       { "logind answered the capability probe with: " + f.logindDetail });
		plan.action = RebootAction::Soft;
		plan.logindFlags = kFlagSoft;
		return plan;
	};
	auto cold = [&]() -> Result<RebootPlan> {
		plan.action = RebootAction::Cold;
		plan.logindFlags = 0;
		if (loaded) {
			/* systemd >= 255 kexecs on a plain reboot when a kernel is
			 * loaded; a cold reboot must go through the firmware. */
			plan.unloadFirst = true;
			why.push_back("the staged kernel is unloaded first, so the reboot goes through the "
				      "firmware (systemd >= 255 would otherwise kexec into it)");
		}
		return plan;
	};

	/* A kexec would drop what the user asked the firmware for, or skip
	 * the boot assessment the entry needs: cold for auto, refused for
	 * kexec. A soft-reboot keeps the firmware's state for the next real
	 * reboot, so it is not affected. */
	auto blocked = [&]() -> std::optional<Error> {
		if (!f.firmwareRequests.empty())
			return refusal(Code::FirmwareRequest, "the next boot was asked to go through the firmware",
				       f.firmwareRequests);
		if (staged && !f.bootCountingRefusal.empty())
			return refusal(Code::BootAssessment, f.bootCountingRefusal, {});
		return std::nullopt;
	};
	/* A kexec resets no PCR: a volume bound to what a firmware boot
	 * measures would wait for a passphrase (issue 27). ignore_tpm kexecs
	 * anyway, and says so. */
	const std::vector<std::string> lockedOut = unlockLockouts(f.unlock);
	auto tpmBlocked = [&]() -> std::optional<Error> {
		if (lockedOut.empty())
			return std::nullopt;
		if (f.ignoreTpm) {
			for (const auto &l : lockedOut)
				why.push_back("ignore_tpm: " + l);
			return std::nullopt;
		}
		return refusal(Code::WouldNotUnlock,
			       "a volume the next boot needs would not unlock without a passphrase after a kexec",
			       lockedOut);
	};
	/* auto: a kexec only when no volume would lock out, else cold. */
	auto kexecOrCold = [&]() -> Result<RebootPlan> {
		if (auto e = tpmBlocked()) {
			why.push_back(e->message);
			return cold();
		}
		return kexec();
	};

	switch (f.mode) {
	case RebootMode::Kexec:
		if (!loaded)
			return makeError(Code::NotStaged, "no kernel is staged");
		if (auto e = blocked())
			return *e;
		why.push_back(foreign ? "kexec requested; a kernel staged by another tool is loaded"
				      : "kexec requested");
		if (auto e = tpmBlocked())
			return *e;
		return kexec();
	case RebootMode::Soft:
		why.push_back("soft-reboot requested: userspace restarts, the kernel stays");
		if (f.running.nextroot)
			why.push_back("/run/nextroot is prepared: systemd switches into it");
		if (loaded)
			why.push_back("the staged kernel stays loaded for a later reboot");
		return soft();
	case RebootMode::Cold:
		why.push_back("cold reboot requested");
		return cold();
	case RebootMode::Auto:
		break;
	}

	if (!loaded) {
		why.push_back("nothing is staged");
		if (f.requireStaged)
			return refusal(Code::NotStaged, "no kernel is staged (require_staged)", {});
		return cold();
	}
	if (auto e = blocked()) {
		why.push_back(e->message);
		return cold();
	}
	if (foreign) {
		why.push_back("a kernel staged by another tool is loaded; kexecd cannot tell whether it is "
			      "the running one");
		return kexecOrCold();
	}
	if (!sameKernel(f, why))
		return kexecOrCold();
	if (!f.logindSoftReboot) {
		why.push_back("systemd-logind cannot soft-reboot (systemd < 254), so the same kernel is "
			      "kexec'ed");
		return kexecOrCold();
	}
	why.push_back(f.running.nextroot
			      ? "/run/nextroot is prepared: a soft-reboot switches into it"
			      : "restarting userspace gives what a kexec into the same kernel would, faster");
	return soft();
}

} // namespace

nlohmann::json planJson(const RebootFacts &f, const Result<RebootPlan> &plan)
{
	nlohmann::json j = {
		{ "mode", rebootModeName(f.mode) },
		{ "state", f.state },
		{ "running", { { "uname", f.running.uname },
			       { "cmdline", displayText(f.running.cmdline) },
			       { "nextroot", f.running.nextroot },
			       { "kernel_sha256", f.running.linuxSha256 },
			       { "kernel_sha256_source", displayText(f.running.linuxWhy) } } },
		{ "logind", { { "kexec", f.logindKexec },
			      { "soft_reboot", f.logindSoftReboot },
			      { "detail", f.logindDetail } } },
		{ "firmware_requests", f.firmwareRequests },
		{ "boot_counting", f.bootCounting },
		{ "booted", f.booted.is_null() ? nlohmann::json::object() : f.booted },
		{ "tpm2", unlockJson(f.unlock) },
		{ "tpm2_checked", f.unlockChecked },
		{ "ignore_tpm", f.ignoreTpm },
	};
	if (plan) {
		j["decision"] = rebootActionName(plan->action);
		j["logind_flags"] = plan->logindFlags;
		j["unload_first"] = plan->unloadFirst;
		j["reasons"] = plan->reasons;
	} else {
		j["decision"] = "refuse";
		j["error"] = { { "name", codeName(plan.error().code) },
			       { "message", displayText(plan.error().message) } };
		j["reasons"] = nlohmann::json::array({ displayText(plan.error().message) });
	}
	return j;
}

} // namespace kexecd
