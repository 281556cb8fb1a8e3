// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Orchestration of the staging pipeline (DESIGN.md §2):
//   read once -> seal -> parse -> verify -> compose -> load -> record.
// No D-Bus here: the bus adaptor converts arguments into StageRequest and
// the JSON record into D-Bus types.

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "compose.h"
#include "discovery.h"
#include "fd.h"
#include "kernel.h"
#include "pe.h"
#include "result.h"
#include "scheme.h"
#include "state_file.h"
#include "trust_sources.h"

namespace kexecd {

enum class StageState { Idle, Staging, Staged, Foreign, Failed, Rebooting };

const char *stateName(StageState state);

/* dbus-daemon's default max_message_unix_fds (16), less the UKI's fd. */
inline constexpr unsigned kMaxAddonsOnBus = 15;

/* What a staging is made of: a UKI (with addons), or a plain kernel
 * image with initrds and a command line (kernel_image.h). */
enum class InputKind { Uki, Kernel };

const char *inputKindName(InputKind kind);

/* Every limit on user-controlled input, in one place. */
struct Limits {
	PeLimits pe;                           // per file: size and section count
	/* Stage passes the UKI and each addon as an fd, and the system bus
	 * carries at most 16 fds in one message (dbus-daemon's
	 * max_message_unix_fds). */
	unsigned maxAddons = kMaxAddonsOnBus;
	/* A plain kernel's initrds travel as fds too, with the kernel's. */
	unsigned maxInitrds = kMaxAddonsOnBus;
	size_t maxCmdline = 4096;              // composed command line, bytes
	size_t maxCmdlineExtra = 1024;
	size_t maxProfileName = 64;
	uint64_t maxTotalInput = uint64_t{ 4 } << 30; // all inputs together (container < 4 GiB)
};

struct EngineConfig {
	std::string trustDir;        // *.pem|*.crt trusted for Authenticode
	std::string efivarsDir = "/sys/firmware/efi/efivars";
	bool useFirmwareDb = true;   // read db, dbx, MokListRT, MokListXRT, SbatLevelRT
	std::string mokVariablesDir = "/sys/firmware/efi/mok-variables";
	std::string procKeys = "/proc/keys"; // the kernel's builtin/secondary keyrings
	/* Under 'enforce', also refuse what shim would refuse (the firmware
	 * verdict), not only what the kernel would: in the classic scheme the
	 * kernel checks .linux alone, so this is what covers initrd, cmdline
	 * and addons. */
	bool enforceFirmwareVerdict = true;
	std::string parserPath;      // signed parser container (BPF scheme)
	std::string statePath;       // staged.json
	SignaturePolicy policy = SignaturePolicy::Auto;
	Scheme scheme = Scheme::Auto;
	bool allowSchemeFallback = false; // auto: BPF refused -> try classic
	DiscoveryPaths discovery;    // ESP/XBOOTLDR/modules for StageDefault and addon discovery
	Limits limits;
	/* Tests only (kexecd's KEXECD_TEST_HOOK_DIR): called at each phase
	 * of a staging, so a test can kill the daemon exactly there. */
	std::function<void(std::string_view phase)> testHook;
};

struct InputFile {
	UniqueFd fd;
	std::string origin; // a path for messages and the record
};

struct StageRequest {
	InputKind kind = InputKind::Uki;
	InputFile uki;
	std::vector<InputFile> addons;
	std::string profile;       // "" = default profile (@0 or base)
	/* The loader's options: replace the UKI's .cmdline, as systemd-stub
	 * takes them; refused under Secure Boot when the UKI has a .cmdline. */
	std::string cmdlineExtra;
	std::optional<Scheme> scheme;
	std::optional<SignaturePolicy> policy;
	/* Add the addons systemd-stub would find for uki.origin (global,
	 * then <uki>.extra.d/) before the explicit ones. Needs a path. */
	bool discoverAddons = false;
	/* Credentials, sysext and confext images systemd-stub would pack
	 * for this UKI; read by discovery from under the configured roots. */
	std::optional<SidecarFiles> sidecars;
	/* kind Kernel: the kernel image, its initrds in the order they are
	 * concatenated, and the whole command line (nothing is composed). */
	InputFile kernel;
	std::vector<InputFile> initrds;
	std::string cmdline;
	/* Where cmdline came from, for the record: "append", "reuse",
	 * "entry" (Type #1 options), "debian-layout". */
	std::string cmdlineSource;
	/* Set by stageDefault(): which entry discovery chose and why. */
	std::string discoveredId;
	std::string discoveredWhy;
	std::string discoveredType;  // UkiEntry::type
	std::string discoveredEntry; // the Type #1 entry file
	std::string discoveredDevicetree; // its devicetree, which kexec_file_load cannot apply
};

/* The record's "discovery" object; null when discovery chose nothing. */
nlohmann::json discoveryRecord(const StageRequest &request);
/* Discovered addons of request.uki go before the explicit ones, as
 * systemd-stub loads them (stage_default.cpp). */
Result<void> addDiscoveredAddons(StageRequest &request, const DiscoveryPaths &paths,
				 std::vector<std::string> *notes);

using ProgressFn = std::function<void(std::string_view phase, double fraction)>;

/* Local, read-only analysis (kexecctl inspect): no kernel, no state. */
Result<nlohmann::json> inspectImage(InputFile uki, std::vector<InputFile> addons,
				    const std::string &profile, const EngineConfig &config,
				    bool showContainer);

/* The crash slot's record lives next to the reboot slot's:
 * staged.json -> staged-crash.json. */
std::string slotStatePath(const std::string &statePath, Slot slot);

/* One Stager per kernel slot (kernel.h): each has its own record, state
 * and lock, and never loads or unloads the other slot. */
class Stager
{
public:
	Stager(KexecKernel &kernel, EngineConfig config, Slot slot = Slot::Reboot);

	Slot slot() const { return slot_; }

	/* Probe the kernel and reconcile the state file with kexec_loaded. */
	Result<void> start();

	/* Fails with Code::Busy when a staging is already running. On any
	 * failure the previously staged kernel stays as it was. */
	Result<nlohmann::json> stage(StageRequest request, const ProgressFn &progress);
	/* Discovery (DESIGN.md §4) picks the UKI and its addons; request.uki
	 * and request.addons must be empty, the other fields apply. */
	Result<nlohmann::json> stageDefault(StageRequest request, const ProgressFn &progress);
	Result<void> unstage();
	/* Checks before a reboot/soft-reboot: something of ours is staged and
	 * the kernel still has it. */
	Result<void> checkRebootable();
	Result<void> setRebooting();
	/* A reboot that did not happen (logind's PrepareForShutdown(false),
	 * or no shutdown within the bound): back to what is loaded. */
	void rebootAborted(const std::string &why);
	/* Re-reads kexec_loaded and makes state() say what the kernel has,
	 * whoever changed it (kexec -u, another tool). Returns whether
	 * anything changed. Never waits: skipped while a staging runs. */
	bool refresh();

	StageState state() const;
	nlohmann::json staged() const;       // {} when nothing is staged
	nlohmann::json kernelSupport() const;
	std::string lastError() const;

	/* Called (from the thread that changed it) after any of state(),
	 * staged(), lastError() or kernelSupport() changed. */
	void setChangeCallback(std::function<void()> callback);

private:
	/* Clears the busy flag on every way out of a staging. */
	class BusyGuard
	{
	public:
		explicit BusyGuard(std::atomic<bool> &busy) : busy_(busy) {}
		~BusyGuard() { busy_ = false; }
		BusyGuard(const BusyGuard &) = delete;
		BusyGuard &operator=(const BusyGuard &) = delete;

	private:
		std::atomic<bool> &busy_;
	};

	/* What a failed staging leaves behind when it is not simply what was
	 * there before (the load happened, then something failed). */
	struct Outcome {
		std::optional<StageState> stateOnFailure;
	};

	Result<nlohmann::json> stageLocked(StageRequest request, const ProgressFn &progress,
					   Outcome &outcome);
	/* stage_kernel.cpp: the plain kernel kind. */
	Result<nlohmann::json> stageKernelLocked(StageRequest request, const ProgressFn &progress,
						 Outcome &outcome);
	/* Step 4's trust sources, and the "verify" hook and progress. */
	Result<TrustSources> trustSourcesForVerify(const ProgressFn &progress);
	/* The kernel's support, refreshed; refuses when kexec cannot work. */
	Result<KernelSupport> probeForStaging();
	/* After a successful load: kexec_loaded confirmed, record written. */
	Result<nlohmann::json> recordLoad(nlohmann::json record, Outcome &outcome,
					  std::chrono::steady_clock::time_point startTime,
					  const ProgressFn &progress);
public:
	/* EngineConfig::testHook, for the phases outside the engine. */
	void hook(std::string_view phase) const;

private:
	void setState(StageState state, std::optional<nlohmann::json> staged = std::nullopt,
		      std::optional<std::string> lastError = std::nullopt);
	/* The crash slot needs crashkernel= memory, and enough of it. */
	Result<void> checkCrashMemory(const KernelSupport &support, uint64_t bytes) const;
	/* KEXEC_FILE_ON_CRASH for the crash slot, 0 for the reboot slot. */
	unsigned long slotLoadFlags() const { return slot_ == Slot::Crash ? kKexecFileOnCrash : 0; }
	/* The crash slot's refusals for want of memory get their own name. */
	void nameCrashMemoryError(Error &error, const KernelSupport &support) const;
	/* The sysfs flag of this slot, for messages. */
	const char *loadedFlag() const;
	/* Drops a staging's inputs and memfds on another thread: freeing 256
	 * MiB of shmem costs ~60 ms, which the caller need not wait for
	 * (issue 16). The previous drop is waited for first, so at most one
	 * staging's memory is ever left over. */
	template<class... T>
	void retire(T &&...objects)
	{
		auto bag = std::make_unique<std::tuple<std::decay_t<T>...>>(std::forward<T>(objects)...);
		if (reaper_.joinable())
			reaper_.join();
		reaper_ = std::jthread([bag = std::move(bag)]() mutable { bag.reset(); });
	}

	KexecKernel &kernel_;
	const Slot slot_;
	const EngineConfig config_;
	const StateFile stateFile_;
	std::atomic<bool> busy_ = false;
	/* Held by stage() and unstage() while kernel and record change;
	 * refresh() only tries it, so it never blocks the bus loop. */
	std::mutex opMutex_;

	mutable std::mutex mutex_;
	StageState state_ = StageState::Idle;
	nlohmann::json staged_ = nlohmann::json::object();
	KernelSupport support_;
	std::string lastError_;
	std::function<void()> changed_;
	std::jthread reaper_; // last: joined before anything else goes
};

} // namespace kexecd
