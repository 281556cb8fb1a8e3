// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "config.h"
#include "fd.h"
#include "esp_files.h"
#include "firmware_state.h"
#include "record.h"
#include "state_file.h"
#include "text.h"

namespace kexecd {

namespace {

bool sameInput(const UnlockInput &a, const UnlockInput &b)
{
	return a.paths.crypttab == b.paths.crypttab && a.paths.devRoot == b.paths.devRoot &&
	       a.paths.efivarsDir == b.paths.efivarsDir && a.paths.tpmDir == b.paths.tpmDir &&
	       a.targetHasPcrsig == b.targetHasPcrsig && a.targetHasPcrpkey == b.targetHasPcrpkey;
}

} // namespace

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
	/* Before any reboot can be planned: "the running kernel" depends on it. */
	setBootOrigin(establishBootOrigin(settings_.kexecRecordPath, settings_.bootOriginPath, settings_.procRoot,
					  settings_.discovery.efivarsDir));
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

void Manager::setBootOrigin(BootOrigin origin)
{
	log(LogLevel::Info, "This boot: " + origin.summary() + " (" + origin.why + ")");
	origin_ = std::move(origin);
	updateRebootRequired();
}

std::optional<std::string> Manager::entryDefaultAtStaging() const
{
	return jsonOptionalString(reboot_.staged(), "/loader/entry_default");
}

CountingPreview Manager::countingPreview() const
{
	return previewCounting(reboot_.staged(), settings_.bootCounting);
}

Result<void> Manager::checkFirmwareRequests() const
{
	const auto requests = readFirmwareRequests(settings_.discovery.efivarsDir, entryDefaultAtStaging());
	if (!requests.any())
		return {};
	return refusal(Code::FirmwareRequest, "the next boot was asked to go through the firmware", requests.reasons);
}

Result<void> Manager::commitKexec()
{
	if (committed_)
		return {};
	if (reboot_.state() != StageState::Staged && reboot_.state() != StageState::Rebooting)
		return {}; // a foreign kernel: nothing of kexecd's to count or record
	KEXECD_TRY(checkFirmwareRequests());
	CountingPreview counting = countingPreview();
	if (!counting.refusal.empty())
		return makeError(Code::BootAssessment, counting.refusal);

	const nlohmann::json staged = reboot_.staged();
	auto text = [&](const char *pointer) { return jsonString(staged, pointer); };
	const CurrentBoot now = readCurrentBoot(settings_.procRoot, settings_.discovery.efivarsDir);
	KexecRecord record;
	record.bootId = now.bootId;
	record.entry = text("/discovery/id");
	record.file = counting.file;
	record.kernelSha256 = text("/kernel/sha256");
	record.cmdline = text("/cmdline");
	record.time = isoTime(std::chrono::system_clock::now());
	/* A chain of kexecs keeps describing the one firmware boot. */
	record.firmwareBoot = origin_.via == BootVia::Kexec ? origin_.firmwareBoot : now.bootTime;
	record.loader = now.loader;
	if (counting.counted()) {
		KEXECD_TRY(takeTry(counting));
		record.countedFrom = counting.file;
		record.file = counting.file.substr(0, counting.file.rfind('/') + 1) + counting.renamedTo;
		log(LogLevel::Info, "Boot counting: " + counting.note);
	}
	if (!settings_.kexecRecordPath.empty()) {
		auto written = StateFile(settings_.kexecRecordPath).write(record.toJson());
		if (!written) {
			(void)giveTryBack(counting);
			return makeError(Code::Io, "cannot record the kexec in " + settings_.kexecRecordPath + ": " +
							   written.error().message);
		}
	}
	committed_ = true;
	committedCounting_ = std::move(counting);
	return {};
}

void Manager::undoCommit(const std::string &why)
{
	if (!committed_)
		return;
	committed_ = false;
	if (committedCounting_.counted()) {
		auto r = giveTryBack(committedCounting_);
		log(r ? LogLevel::Info : LogLevel::Warning,
		    r ? "Boot counting: gave the try back (" + why + ")"
		      : "Boot counting: cannot give the try back (" + why + "): " + r.error().message);
	}
	committedCounting_ = {};
	if (!settings_.kexecRecordPath.empty())
		(void)StateFile(settings_.kexecRecordPath).remove();
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

UnlockInput Manager::unlockInput() const
{
	UnlockInput in;
	in.paths = settings_.unlock;
	/* The record says whether the UKI carries them (addUkiIdentity); a
	 * plain kernel or a foreign one carries neither. */
	const nlohmann::json staged = reboot_.staged();
	auto flag = [&](const char *pointer) {
		const auto p = nlohmann::json::json_pointer(pointer);
		return staged.contains(p) && staged.at(p).is_boolean() && staged.at(p).get<bool>();
	};
	in.targetHasPcrsig = flag("/uki/pcrsig");
	in.targetHasPcrpkey = flag("/uki/pcrpkey");
	return in;
}

void Manager::setUnlockAssessment(const UnlockInput &input, std::vector<VolumeAssessment> assessment)
{
	unlock_ = std::move(assessment);
	unlockFor_ = input;
}

RebootFacts Manager::rebootFacts(const RebootRequest &request, const LogindCapabilities &caps)
{
	RebootFacts f;
	f.mode = request.mode;
	f.requireStaged = request.requireStaged;
	f.ignoreTpm = request.ignoreTpm;
	if (request.unlock) {
		f.unlock = *request.unlock;
		f.unlockChecked = true;
	}
	f.state = stateName(reboot_.state());
	f.staged = reboot_.staged();
	f.running = readRunningSystem(settings_.procRoot, settings_.runRoot);
	if (origin_.via == BootVia::Kexec && !origin_.kernelSha256.empty()) {
		/* LoaderEntrySelected is the firmware boot's, not this one's. */
		f.running.linuxSha256 = origin_.kernelSha256;
		f.running.linuxWhy = "the kernel kexecd kexec'ed into at " + origin_.since + " (its record)";
	} else {
		f.running.linuxSha256 = booted_.sha256;
		f.running.linuxWhy = booted_.why;
	}
	f.booted = origin_.toJson();
	if (reboot_.state() == StageState::Staged) {
		f.firmwareRequests = readFirmwareRequests(settings_.discovery.efivarsDir, entryDefaultAtStaging()).reasons;
		const CountingPreview counting = countingPreview();
		f.bootCounting = counting.toJson();
		f.bootCountingNote = counting.counted() ? counting.note : "";
		f.bootCountingRefusal = counting.refusal;
	}
	if (auto esp = findEsp(settings_.discovery))
		f.firmwareBootNote = firmwareBootCountingNote(origin_, settings_.discovery.efivarsDir, *esp);
	f.logindKexec = caps.available && caps.kexec;
	f.logindSoftReboot = caps.available && caps.softReboot;
	f.logindDetail = caps.available ? caps.detail : "systemd-logind is not running: " + caps.detail;
	return f;
}

Result<RebootPlan> Manager::planReboot(const RebootRequest &request, const LogindCapabilities &caps,
				       RebootFacts *facts)
{
	(void)reboot_.refresh();
	if (request.unlock)
		setUnlockAssessment(unlockInput(), *request.unlock);
	/* Read once: the plan and what the dry run shows come from one read
	 * of the running system. */
	RebootFacts read = rebootFacts(request, caps);
	if (facts)
		*facts = read;
	if (request.force) {
		/* Nobody should wait for a reboot that cannot be a kexec. */
		KEXECD_TRY(reboot_.checkRebootable());
		/* Without logind no PrepareForShutdown comes: this is the only
		 * check between a headless machine and a passphrase prompt. */
		if (const auto lockedOut = unlockLockouts(read.unlock); !lockedOut.empty() && !request.ignoreTpm)
			return refusal(Code::WouldNotUnlock,
				       "a volume the next boot needs would not unlock without a passphrase after a "
				       "kexec (force=true too)",
				       lockedOut);
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
	if (plan.action != RebootAction::Kexec)
		return {};
	KEXECD_TRY(reboot_.checkRebootable());
	return commitKexec();
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
		undoCommit("no shutdown came");
	});
	return {};
}

void Manager::logindRefused(const RebootPlan &plan, const Error &error)
{
	log(LogLevel::Error, "Reboot through systemd-logind failed: " + error.message);
	reboot_.noteError(fmt::format("the {} reboot did not happen: {}", rebootActionName(plan.action),
				      error.message));
	undoCommit("the reboot did not happen");
}

void Manager::prepareForShutdown(bool active, bool kexecImminent)
{
	if (active) {
		/* A reboot kexecd started is committed already. */
		if (!kexecImminent || rebooting() || committed_ || reboot_.state() != StageState::Staged)
			return;
		/* The firmware request first: it is what the user asked for, and
		 * the reason the journal and LastError should give. */
		auto r = checkFirmwareRequests();
		if (r)
			r = checkUnlockAtShutdown();
		if (r)
			r = commitKexec();
		if (r) {
			log(LogLevel::Info, "A reboot started elsewhere kexecs into the staged kernel; recorded it");
			return;
		}
		/* systemd kexecs whatever is loaded: unloading is the only way to
		 * send this reboot through the firmware. */
		const std::string why = "the reboot goes through the firmware, the staged kernel was unloaded: " +
					r.error().message;
		auto unloaded = reboot_.unstage();
		log(unloaded ? LogLevel::Warning : LogLevel::Error,
		    unloaded ? why : "cannot unload the staged kernel (" + unloaded.error().message + "), so " +
					     "the reboot kexecs although: " + r.error().message);
		reboot_.noteError(why);
		return;
	}
	if (!rebooting())
		return;
	timers_.cancel(rebootTimer_);
	rebootTimer_ = 0;
	log(LogLevel::Info, "systemd-logind reports the shutdown cancelled or failed; still staged");
	reboot_.rebootAborted("systemd-logind reports the shutdown cancelled or failed");
	undoCommit("the shutdown was cancelled");
}

Result<void> Manager::checkUnlockAtShutdown()
{
	if (settings_.kexecDespiteTpm)
		return {};
	const UnlockInput input = unlockInput();
	if (!unlock_ || !sameInput(input, unlockFor_)) {
		/* No check was made for this kernel yet (or it changed since). */
		setUnlockAssessment(input, checkUnlock(input.paths, input.targetHasPcrsig, input.targetHasPcrpkey));
	}
	const std::vector<std::string> lockedOut = unlockLockouts(*unlock_);
	if (lockedOut.empty())
		return {};
	return refusal(Code::WouldNotUnlock,
		       "a volume the next boot needs would not unlock without a passphrase after a kexec "
		       "(KexecDespiteTpm=no)",
		       lockedOut);
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
	KEXECD_TRY(commitKexec());
	return reboot_.setRebooting();
}

Result<void> Manager::forceRebootNow()
{
	log(LogLevel::Info, "Rebooting into the staged kernel with reboot(LINUX_REBOOT_CMD_KEXEC)");
	auto r = kernel_.rebootKexec();
	if (!r) {
		log(LogLevel::Error, "reboot(LINUX_REBOOT_CMD_KEXEC) failed: " + r.error().message);
		reboot_.rebootAborted("reboot(LINUX_REBOOT_CMD_KEXEC) failed");
		undoCommit("reboot(LINUX_REBOOT_CMD_KEXEC) failed");
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
	nlohmann::json booted = origin_.toJson();
	booted["summary"] = origin_.summary();
	booted["boot_counting"] = bootCountingName(settings_.bootCounting);
	return {
		{ "reboot", reboot },
		{ "booted", booted },
		{ "state", stateName(reboot_.state()) },
		{ "staged", reboot_.staged() },
		{ "kernel_support", reboot_.kernelSupport() },
		{ "last_error", reboot_.lastError() },
		/* The last unlock check (null: none yet), for status. */
		{ "tpm2", unlock_ ? unlockJson(*unlock_) : nlohmann::json() },
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
