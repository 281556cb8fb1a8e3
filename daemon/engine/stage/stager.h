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

#include "kernel.h"
#include "request.h"
#include "result.h"
#include "state_file.h"
#include "trust_sources.h"

namespace kexecd {

enum class StageState { Idle, Staging, Staged, Foreign, Failed, Rebooting };

const char *stateName(StageState state);

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
	/* A failure outside a staging (a reboot logind refused) for
	 * lastError(); state and record stay. */
	void noteError(const std::string &message);
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
	/* The kernel's support, probed and kept for kernelSupport(). */
	Result<KernelSupport> probe();
	/* The kernel's support, refreshed; refuses when kexec cannot work. */
	Result<KernelSupport> probeForStaging();
	/* The fields every record starts with, whatever the kind. */
	nlohmann::json recordBase(InputKind kind, SignaturePolicy policy, const std::string &cmdline,
				  const StageRequest &request) const;
	/* A load the kernel refused and the pipeline may recompose for (the
	 * BPF scheme falling back to classic): the new load and record, or
	 * nullopt to report the refusal as it is. */
	using Refused = std::function<Result<std::optional<std::pair<LoadRequest, nlohmann::json>>>(const Error &)>;
	/* Steps 6 and 7 for both kinds: the intent recorded (staged.json.pending),
	 * the load, kexec_loaded confirmed, the record written. */
	Result<nlohmann::json> loadAndRecord(LoadRequest load, nlohmann::json record, const KernelSupport &support,
					     Outcome &outcome, std::chrono::steady_clock::time_point startTime,
					     const ProgressFn &progress, const Refused &refused = {});
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
