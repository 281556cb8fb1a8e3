// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "config.h"
#include "fd.h"
#include "text.h"

namespace kexecd {

Manager::Manager(Stager &reboot, Stager &crash, KexecKernel &kernel, Timers &timers, RebootSettings settings,
		 LogFn log)
	: reboot_(reboot), crash_(crash), kernel_(kernel), timers_(timers), settings_(std::move(settings)),
	  log_(std::move(log))
{
}

Manager::~Manager()
{
	timers_.cancel(rebootTimer_);
	timers_.cancel(recheckTimer_);
}

void Manager::log(LogLevel level, std::string message, std::string slot) const
{
	if (log_)
		log_(LogLine{ level, std::move(message), std::move(slot) });
}

void Manager::start()
{
	(void)takeChangedProperties(); // records the initial values; nobody listens yet
	updateRebootRequired();
	scheduleRecheck();
}

void Manager::scheduleRecheck()
{
	recheckTimer_ = timers_.after(kRecheckInterval, [this] {
		recheckTimer_ = 0;
		(void)refreshSlots();
		scheduleRecheck();
	});
}

void Manager::setBootedKernel(BootedKernel booted)
{
	log(LogLevel::Info, "Booted kernel: " + (booted.sha256.empty() ? booted.why : booted.sha256 + ", " + booted.why));
	booted_ = std::move(booted);
	updateRebootRequired();
}

Result<void> Manager::beginStaging()
{
	/* The Stagers serialize too (Code::Busy); refusing here keeps the
	 * worker's queue at one staging, across both slots. */
	if (staging_)
		return makeError(Code::Busy, "Another staging operation is running");
	if (rebooting())
		return makeError(Code::Busy, "A reboot into the staged kernel is in progress");
	staging_ = true;
	return {};
}

Result<void> Manager::unstage(Slot which)
{
	if (staging_)
		return makeError(Code::Busy, "A staging operation is running");
	KEXECD_TRY(slot(which).unstage());
	log(LogLevel::Info, fmt::format("Unstaged ({} slot)", slotName(which)), slotName(which));
	return {};
}

bool Manager::refreshSlots()
{
	const bool reboot = reboot_.refresh();
	const bool crash = crash_.refresh();
	return reboot || crash;
}

RebootFacts Manager::rebootFacts(const RebootRequest &request, const LogindCapabilities &caps)
{
	RebootFacts f;
	f.mode = request.mode;
	f.requireStaged = request.requireStaged;
	f.state = stateName(reboot_.state());
	f.staged = reboot_.staged();
	f.running = readRunningSystem(settings_.procRoot, settings_.runRoot);
	f.running.linuxSha256 = booted_.sha256;
	f.running.linuxWhy = booted_.why;
	f.logindKexec = caps.available && caps.kexec;
	f.logindSoftReboot = caps.available && caps.softReboot;
	f.logindDetail = caps.available ? caps.detail : "systemd-logind is not running: " + caps.detail;
	return f;
}

Result<RebootPlan> Manager::planReboot(const RebootRequest &request, const LogindCapabilities &caps,
				       RebootFacts *facts)
{
	(void)reboot_.refresh();
	/* Read once: the plan and what the dry run shows come from one read
	 * of the running system. */
	RebootFacts read = rebootFacts(request, caps);
	if (facts)
		*facts = read;
	if (request.force) {
		/* Nobody should wait for a reboot that cannot be a kexec. */
		KEXECD_TRY(reboot_.checkRebootable());
		RebootPlan plan;
		plan.action = RebootAction::Kexec;
		plan.reasons.push_back("force: reboot(LINUX_REBOOT_CMD_KEXEC) now, without systemd-logind, "
				       "its inhibitors or a clean shutdown (root only)");
		return plan;
	}
	return kexecd::planReboot(read);
}

Result<void> Manager::checkBeforeLogind(const RebootPlan &plan)
{
	if (plan.action == RebootAction::Kexec)
		return reboot_.checkRebootable();
	return {};
}

Result<void> Manager::logindAccepted(const RebootPlan &plan)
{
	if (plan.unloadFirst) {
		/* systemd kexecs whatever is loaded when it reboots: the cold
		 * reboot logind just accepted must find nothing. */
		auto r = reboot_.unstage();
		if (!r && r.error().code != Code::NotStaged) {
			log(LogLevel::Error, "The reboot was accepted but the staged kernel cannot be unloaded, so "
					     "it will be a kexec: " + r.error().message);
			return r;
		}
	}
	if (plan.action != RebootAction::Kexec)
		return {};
	(void)reboot_.setRebooting();
	timers_.cancel(rebootTimer_);
	rebootTimer_ = timers_.after(std::chrono::seconds(settings_.timeoutSec), [this] {
		rebootTimer_ = 0;
		log(LogLevel::Warning, fmt::format("No shutdown {} s after systemd-logind accepted the reboot; "
						   "the staged kernel stays staged", settings_.timeoutSec));
		reboot_.rebootAborted(fmt::format("no shutdown within {} s of logind accepting it",
						  settings_.timeoutSec));
	});
	return {};
}

void Manager::logindRefused(const RebootPlan &plan, const Error &error)
{
	log(LogLevel::Error, "Reboot through systemd-logind failed: " + error.message);
	reboot_.noteError(fmt::format("the {} reboot did not happen: {}", rebootActionName(plan.action),
				      error.message));
}

void Manager::prepareForShutdown(bool active)
{
	if (active || !rebooting())
		return;
	timers_.cancel(rebootTimer_);
	rebootTimer_ = 0;
	log(LogLevel::Info, "systemd-logind reports the shutdown cancelled or failed; still staged");
	reboot_.rebootAborted("systemd-logind reports the shutdown cancelled or failed");
}

Result<void> Manager::checkForceReboot(uint32_t callerUid)
{
	/* Skipping logind skips inhibitors and a clean shutdown: root only,
	 * never granted through polkit. */
	if (callerUid != 0)
		return makeError(Code::AccessDenied, "Reboot with force=true is reserved to root");
	return reboot_.checkRebootable();
}

Result<void> Manager::prepareForceReboot(uint32_t callerUid)
{
	KEXECD_TRY(checkForceReboot(callerUid));
	return reboot_.setRebooting();
}

Result<void> Manager::forceRebootNow()
{
	log(LogLevel::Info, "Rebooting into the staged kernel with reboot(LINUX_REBOOT_CMD_KEXEC)");
	auto r = kernel_.rebootKexec();
	if (!r) {
		log(LogLevel::Error, "reboot(LINUX_REBOOT_CMD_KEXEC) failed: " + r.error().message);
		reboot_.rebootAborted("reboot(LINUX_REBOOT_CMD_KEXEC) failed");
		return r;
	}
	/* Only a fake kernel returns here. */
	return {};
}

void Manager::updateRebootRequired()
{
	if (settings_.requiredFile.empty())
		return;
	/* kured and friends reboot when the file exists; its text says why. */
	std::string reason;
	if (reboot_.state() == StageState::Foreign) {
		reason = "kexecd: a kernel staged by another tool is loaded\n";
	} else if (reboot_.state() == StageState::Staged) {
		/* Only "the same kernel or not" matters: with soft-reboot
		 * possible, auto plans kexec exactly for another kernel. */
		RebootRequest request;
		request.mode = RebootMode::Auto;
		LogindCapabilities any;
		any.available = any.kexec = any.softReboot = true;
		auto plan = kexecd::planReboot(rebootFacts(request, any));
		if (plan && plan->action == RebootAction::Kexec && !plan->reasons.empty())
			reason = "kexecd: " + plan->reasons.front() + "\n";
	}
	if (reason == rebootRequired_)
		return;
	rebootRequired_ = reason;
	const std::string &path = settings_.requiredFile;
	if (reason.empty()) {
		if (unlink(path.c_str()) < 0 && errno != ENOENT)
			log(LogLevel::Warning, fmt::format("Cannot remove {}: {}", path, strerror(errno)));
		else
			log(LogLevel::Info, fmt::format("Removed {}: the staged kernel is the running one, or none "
							"is staged", path));
		return;
	}
	const std::string tmp = path + ".kexecd-tmp";
	UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
	if (!fd.valid() || write(fd.get(), reason.data(), reason.size()) != static_cast<ssize_t>(reason.size()) ||
	    rename(tmp.c_str(), path.c_str()) < 0) {
		log(LogLevel::Warning, fmt::format("Cannot write {}: {}", path, strerror(errno)));
		(void)unlink(tmp.c_str());
		rebootRequired_.clear();
		return;
	}
	log(LogLevel::Info, fmt::format("Wrote {}: {}", path, reason.substr(0, reason.size() - 1)));
}

nlohmann::json Manager::describe(const LogindCapabilities &caps)
{
	(void)refreshSlots();
	nlohmann::json reboot = {
		{ "probed", caps.probed },
		{ "logind", caps.available },
		{ "kexec", caps.available && caps.kexec },
		{ "soft_reboot", caps.available && caps.softReboot },
		{ "detail", displayText(caps.detail) },
		{ "reboot_required_file", settings_.requiredFile },
	};
	return {
		{ "reboot", reboot },
		{ "state", stateName(reboot_.state()) },
		{ "staged", reboot_.staged() },
		{ "kernel_support", reboot_.kernelSupport() },
		{ "last_error", reboot_.lastError() },
		{ "crash", {
			{ "state", stateName(crash_.state()) },
			{ "staged", crash_.staged() },
			{ "last_error", crash_.lastError() },
		} },
		{ "version", KEXECD_VERSION },
	};
}

PropertySnapshot Manager::properties() const
{
	return {
		{ "State", stateName(reboot_.state()) },
		{ "Staged", jsonText(reboot_.staged()) },
		{ "KernelSupport", jsonText(reboot_.kernelSupport()) },
		{ "LastError", reboot_.lastError() },
		{ "CrashState", stateName(crash_.state()) },
		{ "CrashStaged", jsonText(crash_.staged()) },
	};
}

std::vector<std::string> Manager::takeChangedProperties(bool *initial)
{
	PropertySnapshot now = properties();
	std::vector<std::string> changed;
	for (const auto &[name, value] : now) {
		auto it = published_.find(name);
		if (it == published_.end() || it->second != value)
			changed.push_back(name);
	}
	const bool first = published_.empty();
	published_ = std::move(now);
	if (initial)
		*initial = first;
	if (first)
		return {};
	if (!changed.empty())
		updateRebootRequired();
	return changed;
}

} // namespace kexecd
