// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The daemon's rules above the two kernel slots, with no D-Bus in sight
// (STYLE: hostnamed's Context, phosphor-state-manager's Host): which slot a
// request goes to, one staging at a time across both and none while
// rebooting, which kernel this boot runs, which reboot a request becomes
// and what happens to the staged kernel around logind's answer, the bound
// on "rebooting", the reboot-required sentinel, and Describe. The bus
// adaptor (daemon/bus/) converts arguments, asks polkit and logind, runs
// stagings on its worker and calls in here; everything here runs on the
// event loop's thread, except the Stagers' own staging.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "boot_assessment.h"
#include "booted_kernel.h"
#include "kexec_record.h"
#include "kernel.h"
#include "logind_facts.h"
#include "reboot_plan.h"
#include "result.h"
#include "stager.h"
#include "timers.h"
#include "unlock_check.h"

namespace kexecd {

struct RebootSettings {
	/* A reboot logind accepted but that never came (a cancelled job, a
	 * delay that ran out) turns "rebooting" back after this long. */
	unsigned timeoutSec = 120;
	/* The sentinel fleet tools (kured) watch; "" writes none. */
	std::string requiredFile;
	/* Where /proc/cmdline, osrelease and /run/nextroot are read. */
	std::string procRoot = "/proc";
	std::string runRoot = "/run";
	/* Where the booted entry's kernel is looked up (booted_kernel.h), and
	 * the EFI variables (discovery.efivarsDir). */
	DiscoveryPaths discovery;
	/* Boot counting through a kexec (boot_assessment.h). */
	BootCounting bootCounting = BootCounting::Emulate;
	/* kexec_record.h: the record written before each kexec (persistent,
	 * StateDirectory) and this boot's origin (RuntimeDirectory); "" keeps
	 * none (then no boot is taken for a kexec by kexecd). */
	std::string kexecRecordPath;
	std::string bootOriginPath;
	/* Issue 27's unlock check: crypttab (CryptTab=), the TPM's PCRs and
	 * the efivars, below KEXECD_SYSFS_ROOT in tests. */
	UnlockPaths unlock;
	/* KexecDespiteTpm=: a reboot someone else started kexecs into the
	 * staged kernel although a volume would not unlock after it. */
	bool kexecDespiteTpm = false;
};

/* What checkUnlock() needs for the kernel staged now (Manager::unlockInput()). */
struct UnlockInput {
	UnlockPaths paths;
	bool targetHasPcrsig = false;
	bool targetHasPcrpkey = false;
};

/* What a Reboot, SoftReboot or PlanReboot call asks for. */
struct RebootRequest {
	RebootMode mode = RebootMode::Kexec;
	bool requireStaged = false;
	bool ignoreInhibitors = false;
	bool interactive = false;
	bool force = false; // reboot(LINUX_REBOOT_CMD_KEXEC) without logind; root only
	bool ignoreTpm = false; // kexec although a volume would not unlock (polkit reboot-ignore-tpm)
	/* checkUnlock() for unlockInput(), run by the caller off the event
	 * loop (it reads devices, up to 5 s each); nullopt: not checked, no
	 * volume speaks against a kexec. */
	std::optional<std::vector<VolumeAssessment>> unlock;
};

/* The properties the bus publishes, by name, as comparable text. */
using PropertySnapshot = std::map<std::string, std::string>;

/* Where the Manager's log lines go (the daemon: the journal); the engine
 * itself does not log. */
enum class LogLevel { Info, Warning, Error };
struct LogLine {
	LogLevel level = LogLevel::Info;
	std::string message;
	std::string slot; // the journal's KEXECD_SLOT=, "" when about no slot
};
using LogFn = std::function<void(const LogLine &line)>;

class Manager
{
public:
	/* Re-reading kexec_loaded is one small sysfs read; the kernel offers
	 * no notification for it, so a slow timer catches changes nobody
	 * asked about (readers re-check on every read). */
	static constexpr std::chrono::seconds kRecheckInterval{ 15 };

	/* The Stagers, the kernel and the timers must outlive the Manager. */
	Manager(Stager &reboot, Stager &crash, KexecKernel &kernel, Timers &timers, RebootSettings settings,
		LogFn log = {});
	~Manager();
	Manager(const Manager &) = delete;
	Manager &operator=(const Manager &) = delete;

	Stager &slot(Slot slot) { return slot == Slot::Crash ? crash_ : reboot_; }
	const RebootSettings &settings() const { return settings_; }

	/* Arms the slow re-check and writes the sentinel for what is staged
	 * now (the Stagers have started). */
	void start();

	/* Which kernel this boot runs (found once, on the worker: file I/O). */
	void setBootedKernel(BootedKernel booted);
	const BootedKernel &bootedKernel() const { return booted_; }
	/* How this boot started (decided once per boot: decideBootOrigin()). */
	void setBootOrigin(BootOrigin origin);
	const BootOrigin &bootOrigin() const { return origin_; }

	/* One staging at a time across both slots, and none while a reboot
	 * into the staged kernel is in progress (Code::Busy). endStaging()
	 * after the worker's result, whatever it was. */
	Result<void> beginStaging();
	void endStaging() { staging_ = false; }
	bool staging() const { return staging_; }
	Result<void> unstage(Slot slot);
	/* Both slots re-read what the kernel has; true when either changed. */
	bool refreshSlots();

	/* Issue 27. What the unlock check reads for the staged kernel; the
	 * caller runs checkUnlock() off the loop and hands the result to
	 * planReboot() (RebootRequest::unlock) or setUnlockAssessment(). The
	 * last result is kept for prepareForShutdown() and Describe. */
	UnlockInput unlockInput() const;
	void setUnlockAssessment(const UnlockInput &input, std::vector<VolumeAssessment> assessment);

	/* The facts a reboot is decided on, and the decision (planReboot()):
	 * the same for Reboot and for PlanReboot, so a dry-run tells what the
	 * call would do. */
	RebootFacts rebootFacts(const RebootRequest &request, const LogindCapabilities &caps);
	/* facts, when given, receives the facts the plan was made from. */
	Result<RebootPlan> planReboot(const RebootRequest &request, const LogindCapabilities &caps,
				      RebootFacts *facts = nullptr);
	/* Just before logind is asked: a kexec still has its kernel (the state
	 * may have changed while polkit was asking), and is committed: the
	 * boot counter taken and the record written (commitKexec()). */
	Result<void> checkBeforeLogind(const RebootPlan &plan);
	/* Before any kexec into the staged kernel: no firmware request, the
	 * entry's try taken (BootCounting=emulate), the KexecRecord written.
	 * Fails with FirmwareRequest, BootAssessment or Io, having undone
	 * what it did. Once per reboot; undoCommit() when it does not come. */
	Result<void> commitKexec();
	/* FirmwareRequest when the firmware was asked for the next boot. */
	Result<void> checkFirmwareRequests() const;
	void undoCommit(const std::string &why);
	/* logind accepted. A cold reboot unloads the staged kernel now, not
	 * before, so a refused reboot never loses it; a kexec is "rebooting"
	 * until the shutdown, or until the bound runs out. */
	Result<void> logindAccepted(const RebootPlan &plan);
	/* logind refused or could not be asked: LastError says so, the staged
	 * kernel stays. */
	void logindRefused(const RebootPlan &plan, const Error &error);
	/* logind's PrepareForShutdown: false means a shutdown cancelled or
	 * failed. true with kexecImminent (systemd queued kexec.target, or
	 * could not say) for a reboot someone else started: systemd kexecs
	 * whatever is loaded, so the kexec is committed now, or, when it must
	 * not happen (a firmware request, a counter that cannot be taken),
	 * the staged kernel is unloaded so the reboot goes through the
	 * firmware. A volume that would not unlock after the kexec unloads it
	 * too, unless KexecDespiteTpm=yes: judged by the last unlock check
	 * (setUnlockAssessment()) when it was made for the kernel staged now,
	 * else by checkUnlock() here, on the loop, bounded per device by
	 * Luks2ReadLimits (the shutdown waits for it rather than kexec
	 * undecided). */
	void prepareForShutdown(bool active, bool kexecImminent = false);
	/* Reboot(force), after planReboot() with force: root only, never
	 * through polkit. prepareForceReboot() marks "rebooting" (so the bus
	 * can publish it), forceRebootNow() calls reboot(); when the kernel
	 * refuses, the staged kernel stays. */
	Result<void> checkForceReboot(uint32_t callerUid);
	Result<void> prepareForceReboot(uint32_t callerUid);
	Result<void> forceRebootNow();
	bool rebooting() const { return reboot_.state() == StageState::Rebooting; }

	/* The reboot-required sentinel kured and friends watch: present with
	 * a reason while a reboot would change the kernel, absent otherwise.
	 * Written when what is staged changes (takeChangedProperties()). */
	void updateRebootRequired();
	const std::string &rebootRequired() const { return rebootRequired_; }

	/* The Describe document (what `kexecctl status --json` shows). */
	nlohmann::json describe(const LogindCapabilities &caps);
	PropertySnapshot properties() const;
	/* The properties that changed since the last call; the first call
	 * only records them (initial). A change also updates the sentinel. */
	std::vector<std::string> takeChangedProperties(bool *initial = nullptr);

private:
	void scheduleRecheck();
	CountingPreview countingPreview() const;
	std::optional<std::string> entryDefaultAtStaging() const;
	void log(LogLevel level, std::string message, std::string slot = {}) const;
	/* A reboot started elsewhere: WouldNotUnlock when a volume would lock
	 * out and KexecDespiteTpm=no. */
	Result<void> checkUnlockAtShutdown();

	Stager &reboot_;
	Stager &crash_;
	KexecKernel &kernel_;
	Timers &timers_;
	const RebootSettings settings_;
	const LogFn log_;

	bool staging_ = false;
	Timers::Id rebootTimer_ = 0;  // bounds "rebooting"
	Timers::Id recheckTimer_ = 0;
	std::string rebootRequired_;  // what the sentinel says now ("" absent)
	BootedKernel booted_;
	BootOrigin origin_;
	/* The kexec committed for the reboot under way, so a reboot that does
	 * not come gives the try back. */
	bool committed_ = false;
	CountingPreview committedCounting_;
	PropertySnapshot published_;
	/* The last unlock check, and what it was made for. */
	std::optional<std::vector<VolumeAssessment>> unlock_;
	UnlockInput unlockFor_;
};

} // namespace kexecd
