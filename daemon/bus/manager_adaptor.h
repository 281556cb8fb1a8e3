// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// org.kexecd1.Manager on /org/kexecd1: the D-Bus edge of the engine's
// Manager (STYLE 2). It converts arguments (stage_request.h), counts each
// caller's fds (CallerBudget), asks polkit, runs stagings on its Worker,
// talks to logind and maps errors; the rules are the Manager's.
// Threading: every sdbus-c++ call happens on the EventLoop thread, and
// every sdbus-c++ object (replies included) is created and destroyed
// there. The Worker sees only the engine's request and an id; its result,
// its progress and the engine's change notifications come back through
// EventLoop::post(). A caller's request waits in pending_ from the call to
// its reply, and is dropped with its fds when the caller leaves the bus.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sdbus-c++/sdbus-c++.h>

#include "manager_adaptor_glue.h"

#include "caller_budget.h"
#include "convert.h"
#include "manager.h"
#include "stage_request.h"
#include "worker.h"

namespace kexecd {

class Authorizer;
class EventLoop;
class Logind;

class ManagerAdaptor final : public sdbus::AdaptorInterfaces<org::kexecd1::Manager_adaptor>
{
public:
	static constexpr const char *kObjectPath = "/org/kexecd1";
	static constexpr const char *kBusName = "org.kexecd1";

	ManagerAdaptor(sdbus::IConnection &connection, EventLoop &loop, Manager &manager, Authorizer &authorizer,
		       Logind &logind, const Limits &limits);
	~ManagerAdaptor();

private:
	using StageReply = std::shared_ptr<sdbus::Result<VariantMap>>;
	using VoidReply = std::shared_ptr<sdbus::Result<>>;

	void Stage(sdbus::Result<VariantMap> &&result, sdbus::UnixFd uki,
		   std::vector<sdbus::UnixFd> addons, VariantMap options) override;
	void StageKernel(sdbus::Result<VariantMap> &&result, sdbus::UnixFd kernel,
			 std::vector<sdbus::UnixFd> initrds, std::string cmdline, VariantMap options) override;
	void StageDefault(sdbus::Result<VariantMap> &&result, VariantMap options) override;
	void Unstage(sdbus::Result<> &&result, VariantMap options) override;
	void Reboot(sdbus::Result<> &&result, VariantMap options) override;
	void SoftReboot(sdbus::Result<> &&result, VariantMap options) override;
	void PlanReboot(sdbus::Result<std::string> &&result, VariantMap options) override;
	std::string Describe() override;

	std::string State() override;
	VariantMap Staged() override;
	std::string CrashState() override;
	VariantMap CrashStaged() override;
	VariantMap KernelSupport() override;
	std::string LastError() override;
	std::string Version() override;

	struct PendingStage {
		std::string sender;
		StageReply reply;
		BusStageRequest call; // call.request goes to the worker when authorized
	};

	std::string sender();
	/* Stage, StageKernel, StageDefault after conversion: the same way on. */
	void queueStaging(StageReply reply, BusStageRequest call);
	void authorized(uint64_t id, Result<void> allowed);
	void finishStaging(uint64_t id, Result<nlohmann::json> result);
	void callerVanished(const std::string &name);
	std::string slotState(Slot slot);
	VariantMap slotStaged(Slot slot, const char *property);
	/* manager_reboot.cpp: the reboot half of the adaptor. */
	void startReboot(VoidReply reply, RebootRequest request, const char *what);
	/* Whether caller may have plan, as Reboot and PlanReboot both ask:
	 * polkit (or root for force), then the caller's view of the block
	 * inhibitors. done gets whether logind must check inhibitors too
	 * (ROOT_CHECK_INHIBITORS), or the refusal. */
	void permitReboot(const RebootRequest &request, const RebootPlan &plan, const std::string &caller,
			  std::function<void(Result<bool>)> done);
	void rebootVia(VoidReply reply, RebootPlan plan, bool checkInhibitors, const char *what);
	void rebootRefused(VoidReply reply, Error error, bool checkedInhibitors, const char *what);
	void forceReboot(VoidReply reply, const std::string &caller);
	/* Issue 27: checkUnlock() reads devices (up to 5 s each), so it runs
	 * on the worker; then, on the loop, the Manager keeps the result and
	 * then (when given) gets the request with its unlock set. */
	void withUnlockCheck(RebootRequest request, std::function<void(RebootRequest)> then);
	void progress(std::string_view phase, double fraction);
	void engineChanged();
	void emitChanges();

	EventLoop &loop_;
	Manager &manager_;
	Authorizer &authorizer_;
	Logind &logind_;
	const Limits limits_;

	/* Loop thread only. */
	uint64_t nextId_ = 1;
	std::map<uint64_t, PendingStage> pending_;
	std::map<uint64_t, std::function<void(RebootRequest)>> unlockWaiters_; // withUnlockCheck()
	CallerBudget budget_;
	std::unique_ptr<sdbus::IProxy> busWatch_; // NameOwnerChanged: callers leaving

	/* Worker thread → loop: coalesce change notifications and progress. */
	std::atomic<bool> changePending_ = false;
	std::string lastPhase_;  // worker thread only
	double lastFraction_ = -1;

	/* Last: destroyed first, so a job still running finishes while
	 * everything it touches exists. */
	Worker worker_;
};

} // namespace kexecd
