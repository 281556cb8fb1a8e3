// SPDX-License-Identifier: LGPL-2.1-or-later
// Steps 6 and 7 for every kind of staging: the record's common fields,
// the intent recorded before the load, the load, kexec_loaded confirmed,
// the record written (or the new kernel unloaded again when it cannot be).
#include "stager.h"

#include <chrono>

#include <fmt/format.h>

#include "config.h"
#include "efi_vars.h"
#include "record.h"
#include "stage_default.h"
#include "text.h"

namespace kexecd {

nlohmann::json Stager::recordBase(InputKind kind, SignaturePolicy policy, const std::string &cmdline,
				  const StageRequest &request) const
{
	nlohmann::json record;
	record["kind"] = inputKindName(kind);
	record["slot"] = slotName(slot_);
	record["signature_policy"] = policyName(policy);
	record["cmdline"] = cmdline;
	if (!request.discoveredId.empty())
		record["discovery"] = discoveryRecord(request);
	/* What the firmware path would follow if the reboot went through it:
	 * a change before the reboot is the user's request to go that way
	 * (firmware_state.h). */
	const auto entryDefault = readLoaderVariable(config_.discovery.efivarsDir, "LoaderEntryDefault");
	record["loader"] = { { "entry_default", entryDefault ? nlohmann::json(*entryDefault) : nlohmann::json() } };
	return record;
}

Result<nlohmann::json> Stager::loadAndRecord(LoadRequest load, nlohmann::json record, const KernelSupport &support,
					     Outcome &outcome, std::chrono::steady_clock::time_point startTime,
					     const ProgressFn &progress, const Refused &refused)
{
	record["flags"] = kexecFileFlags(load);
	/* Intent first: if we die between load and record, the next start
	 * knows the loaded kernel is not the one staged.json describes. */
	KEXECD_TRY(stateFile_.writePending(record));
	hook("pending");

	/* No unload first: the kernel swaps images only after the new one is
	 * fully loaded, so a refused load keeps the previous kernel staged. */
	auto loaded = kernel_.load(load);
	if (!loaded && refused) {
		auto next = refused(loaded.error());
		if (!next) {
			stateFile_.removePending();
			return next.takeError();
		}
		if (*next) {
			load = std::move((*next)->first);
			record = std::move((*next)->second);
			record["flags"] = kexecFileFlags(load);
			loaded = kernel_.load(load);
		}
	}
	if (!loaded) {
		stateFile_.removePending();
		Error e = loaded.takeError();
		nameCrashMemoryError(e, support);
		return e;
	}
	return recordLoad(std::move(record), outcome, startTime, progress);
}

Result<nlohmann::json> Stager::recordLoad(nlohmann::json record, Outcome &outcome,
					  std::chrono::steady_clock::time_point startTime,
					  const ProgressFn &progress)
{
	hook("loaded");
	if (progress)
		progress("load", 0.9);
	if (auto k = kernel_.loaded(slot_); k && !*k) {
		/* Whatever was staged before is gone with the swap. */
		stateFile_.removePending();
		stateFile_.remove();
		outcome.stateOnFailure = StageState::Idle;
		return makeError(Code::KernelRefused,
				 fmt::format("kexec_file_load succeeded but {} is still 0", loadedFlag()));
	}

	const auto now = std::chrono::system_clock::now();
	record["staged_at"] = isoTime(now);
	record["staged_at_usec"] =
		std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
	record["duration_usec"] = std::chrono::duration_cast<std::chrono::microseconds>(
					  std::chrono::steady_clock::now() - startTime).count();
	record["version"] = KEXECD_VERSION;
	if (auto written = stateFile_.write(record); !written) {
		/* The previous kernel was replaced by the load, so the old record
		 * must go. Without a record the new kernel is one we cannot
		 * vouch for: unload it, and say so. */
		stateFile_.remove();
		Error e = written.takeError();
		if (auto unloaded = kernel_.unload(slot_); unloaded) {
			stateFile_.removePending();
			outcome.stateOnFailure = StageState::Idle;
			e.message = "the state file could not be written (" + e.message +
				    "), so the new kernel was unloaded again; nothing is staged";
		} else {
			/* The pending marker stays: a restart comes back foreign. */
			outcome.stateOnFailure = StageState::Foreign;
			e.message = "the state file could not be written (" + e.message +
				    ") and unloading the new kernel failed (" + unloaded.error().message +
				    "); the loaded kernel is not described";
		}
		return e;
	}
	stateFile_.removePending();
	hook("recorded");
	if (progress)
		progress("record", 1.0);
	return record;
}

} // namespace kexecd
