// SPDX-License-Identifier: LGPL-2.1-or-later
// The staged slot's life cycle outside a staging: what start-up finds,
// unstaging, the reboot checks, and keeping state() equal to what the
// kernel has when something else changes it.
#include "stager.h"

#include <fmt/format.h>

#include "text.h"

namespace kexecd {

Result<void> Stager::start()
{
	auto support = probe();
	if (!support)
		return support.takeError();
	auto loaded = kernel_.loaded(slot_);
	if (!loaded)
		return loaded.takeError();

	const bool interrupted = stateFile_.pendingExists();
	stateFile_.removePending();

	/* A record we cannot trust is no record: the daemon still starts,
	 * and says why in LastError. */
	nlohmann::json record = nlohmann::json::object();
	std::string problem;
	if (auto read = stateFile_.read(); !read)
		problem = displayText(read.error().message) + "; ignored";
	else if (*read)
		record = std::move(**read);

	if (!*loaded) {
		/* Whatever we recorded is gone (reboot, someone unloaded it). */
		stateFile_.remove();
		setState(StageState::Idle, nlohmann::json::object(), problem);
	} else if (interrupted || record.empty()) {
		/* A kernel is loaded that we cannot vouch for: staged by another
		 * tool, or our staging was cut short between load and record. */
		setState(StageState::Foreign, nlohmann::json::object(),
			 interrupted ? std::string("staging was interrupted; the loaded kernel is unknown")
				     : problem);
	} else {
		setState(StageState::Staged, record, problem);
	}
	return {};
}

Result<void> Stager::unstage()
{
	if (busy_.exchange(true))
		return makeError(Code::Busy, "a staging operation is in progress");
	BusyGuard guard(busy_);
	std::lock_guard op(opMutex_);
	auto loaded = kernel_.loaded(slot_);
	Result<void> r;
	if (loaded && !*loaded && state() != StageState::Staged)
		r = makeError(Code::NotStaged, slot_ == Slot::Crash ? "no crash kernel is staged" : "no kernel is staged");
	else
		r = kernel_.unload(slot_);
	if (r) {
		stateFile_.remove();
		setState(StageState::Idle, nlohmann::json::object(), "");
	} else if (r.error().code != Code::NotStaged) {
		setState(state(), std::nullopt, displayText(r.error().message));
	}
	return r;
}

Result<void> Stager::checkRebootable()
{
	const StageState s = state();
	if (s == StageState::Staging)
		return makeError(Code::Busy, "a staging operation is in progress; reboot when it has finished");
	if (s == StageState::Rebooting)
		return makeError(Code::Busy, "a reboot into the staged kernel is already in progress");
	if (s != StageState::Staged && s != StageState::Foreign)
		return makeError(Code::NotStaged, "no kernel is staged");
	auto loaded = kernel_.loaded(slot_);
	if (!loaded)
		return loaded.takeError();
	if (!*loaded) {
		setState(StageState::Idle, nlohmann::json::object(),
			 fmt::format("the staged kernel is gone ({} is 0)", loadedFlag()));
		return makeError(Code::NotStaged, fmt::format("the staged kernel is gone: {} is 0", loadedFlag()));
	}
	return {};
}

Result<void> Stager::setRebooting()
{
	setState(StageState::Rebooting);
	return {};
}

bool Stager::refresh()
{
	std::unique_lock op(opMutex_, std::try_to_lock);
	if (!op || busy_)
		return false;
	auto loaded = kernel_.loaded(slot_);
	if (!loaded)
		return false;
	const StageState s = state();
	switch (s) {
	case StageState::Staged:
	case StageState::Foreign:
	case StageState::Rebooting:
		if (*loaded)
			return false;
		stateFile_.remove();
		setState(StageState::Idle, nlohmann::json::object(),
			 fmt::format("the staged kernel was unloaded outside kexecd ({} is 0)", loadedFlag()));
		return true;
	case StageState::Idle:
	case StageState::Failed:
		if (!*loaded)
			return false;
		setState(StageState::Foreign, nlohmann::json::object(),
			 fmt::format("a kernel was loaded outside kexecd ({} is 1)", loadedFlag()));
		return true;
	case StageState::Staging:
		break;
	}
	return false;
}

void Stager::rebootAborted(const std::string &why)
{
	if (state() != StageState::Rebooting)
		return;
	const bool ours = !staged().empty();
	setState(ours ? StageState::Staged : StageState::Foreign, std::nullopt,
		 displayText("the reboot did not happen: " + why));
	/* If the kernel lost the image meanwhile, say so at once. */
	(void)refresh();
}

void Stager::noteError(const std::string &message)
{
	std::function<void()> notify;
	{
		std::lock_guard lock(mutex_);
		lastError_ = displayText(message);
		notify = changed_;
	}
	if (notify)
		notify();
}

} // namespace kexecd
