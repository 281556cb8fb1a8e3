// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stager.h"

#include <fmt/format.h>

#include "stage_input.h"
#include "text.h"

namespace kexecd {

const char *stateName(StageState state)
{
	switch (state) {
	case StageState::Idle: return "idle";
	case StageState::Staging: return "staging";
	case StageState::Staged: return "staged";
	case StageState::Foreign: return "foreign";
	case StageState::Failed: return "failed";
	case StageState::Rebooting: return "rebooting";
	}
	return "idle";
}

/* ---- Stager ---------------------------------------------------------- */

std::string slotStatePath(const std::string &statePath, Slot slot)
{
	if (slot == Slot::Reboot)
		return statePath;
	const std::string suffix = ".json";
	if (statePath.size() > suffix.size() &&
	    statePath.compare(statePath.size() - suffix.size(), suffix.size(), suffix) == 0)
		return statePath.substr(0, statePath.size() - suffix.size()) + "-crash" + suffix;
	return statePath + "-crash";
}

Stager::Stager(KexecKernel &kernel, EngineConfig config, Slot slot)
	: kernel_(kernel), slot_(slot), config_(std::move(config)),
	  stateFile_(slotStatePath(config_.statePath, slot))
{
}

const char *Stager::loadedFlag() const
{
	return slot_ == Slot::Crash ? "/sys/kernel/kexec_crash_loaded" : "/sys/kernel/kexec_loaded";
}

Result<void> Stager::checkCrashMemory(const KernelSupport &support, uint64_t bytes) const
{
	if (slot_ != Slot::Crash)
		return {};
	if (support.crashSize == 0)
		return makeError(Code::NoCrashMemory,
				 "no memory is reserved for a crash kernel (/sys/kernel/kexec_crash_size is 0): "
				 "boot the running kernel with crashkernel= (e.g. crashkernel=256M)");
	auto size = [](uint64_t n) {
		return n < (1 << 20) ? fmt::format("{} KiB", (n + 1023) >> 10)
				     : fmt::format("{} MiB", (n + (1 << 20) - 1) >> 20);
	};
	if (bytes > support.crashSize)
		return makeError(Code::NoCrashMemory,
				 fmt::format("the crash kernel's images are {}, more than the {} "
					     "crashkernel= reserved: reserve more", size(bytes), size(support.crashSize)));
	return {};
}

void Stager::nameCrashMemoryError(Error &e, const KernelSupport &support) const
{
	if (slot_ != Slot::Crash || (e.errnum != ENOMEM && e.errnum != EADDRNOTAVAIL))
		return;
	e.code = Code::NoCrashMemory;
	e.message += fmt::format("; the crash kernel does not fit in the {} MiB crashkernel= reserved: "
				 "reserve more", support.crashSize >> 20);
}

void Stager::setChangeCallback(std::function<void()> callback)
{
	std::lock_guard lock(mutex_);
	changed_ = std::move(callback);
}

void Stager::setState(StageState state, std::optional<nlohmann::json> staged,
		      std::optional<std::string> lastError)
{
	std::function<void()> notify;
	{
		std::lock_guard lock(mutex_);
		state_ = state;
		if (staged)
			staged_ = std::move(*staged);
		if (lastError)
			lastError_ = std::move(*lastError);
		notify = changed_;
	}
	if (notify)
		notify();
}

StageState Stager::state() const
{
	std::lock_guard lock(mutex_);
	return state_;
}

nlohmann::json Stager::staged() const
{
	std::lock_guard lock(mutex_);
	return staged_;
}

nlohmann::json Stager::kernelSupport() const
{
	std::lock_guard lock(mutex_);
	return { { "kexec_file", support_.kexecFile },
		 { "bpf_parser", support_.bpfParser },
		 { "generation", support_.generation },
		 { "sig_mode", support_.sigMode },
		 { "lockdown", support_.lockdown },
		 { "secure_boot", support_.secureBoot },
		 { "load_disabled", support_.loadDisabled },
		 { "crash_size", support_.crashSize },
		 { "detail", support_.detail } };
}

std::string Stager::lastError() const
{
	std::lock_guard lock(mutex_);
	return lastError_;
}

Result<nlohmann::json> Stager::stage(StageRequest request, const ProgressFn &progress)
{
	if (busy_.exchange(true))
		return makeError(Code::Busy, "another staging operation is in progress");
	BusyGuard guard(busy_);
	/* Held while the kernel and the record change; refresh() only
	 * tries it. */
	std::lock_guard op(opMutex_);
	const StageState before = state();
	if (before == StageState::Rebooting)
		return makeError(Code::Busy, "a reboot into the staged kernel is in progress");
	setState(StageState::Staging);

	Outcome outcome;
	Result<nlohmann::json> result = makeError(Code::Internal, "staging did not run");
	try {
		result = stageLocked(std::move(request), progress, outcome);
	} catch (const std::exception &e) {
		/* A bug, but never a wedge: the kernel swaps images only after a
		 * complete load, so the previous stage is intact unless the
		 * outcome says the load happened. */
		result = makeError(Code::Internal, std::string("staging failed unexpectedly: ") + e.what());
	} catch (...) {
		result = makeError(Code::Internal, "staging failed unexpectedly");
	}

	if (!result) {
		Error e = result.takeError();
		/* The display rule (text.h), once, for everything a staging
		 * can say: error names, LastError and the journal. */
		e.message = displayText(e.message);
		if (outcome.stateOnFailure)
			setState(*outcome.stateOnFailure, nlohmann::json::object(), e.message);
		else /* nothing we did changed the kernel: report what was there */
			setState(before == StageState::Staging ? StageState::Idle : before, std::nullopt,
				 e.message);
		return e;
	}
	setState(StageState::Staged, *result, "");
	return result;
}

void Stager::hook(std::string_view phase) const
{
	if (config_.testHook)
		config_.testHook(phase);
}

Result<KernelSupport> Stager::probe()
{
	auto support = kernel_.probe();
	if (!support)
		return support.takeError();
	std::lock_guard lock(mutex_);
	support_ = *support;
	return support;
}

Result<KernelSupport> Stager::probeForStaging()
{
	auto support = probe();
	if (!support)
		return support.takeError();
	if (support->loadDisabled)
		return makeError(Code::Unsupported, "kexec is disabled on this system (kernel.kexec_load_disabled = 1)");
	if (!support->kexecFile)
		return makeError(Code::Unsupported, "the running kernel has no kexec_file_load");
	/* Before any reading: without crashkernel= there is nothing to do. */
	KEXECD_TRY(checkCrashMemory(*support, 0));
	return support;
}

Result<TrustSources> Stager::trustSourcesForVerify(const ProgressFn &progress)
{
	auto sources = loadTrustSources(trustSourcePaths(config_));
	if (!sources)
		return sources.takeError();
	hook("verify");
	if (progress)
		progress("verify", 0.55);
	return sources;
}

} // namespace kexecd
