// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// org.kexecd1.Manager on /org/kexecd1: converts arguments, authorizes,
// calls the Stager and converts errors (STYLE 2). The generated PascalCase
// virtuals stay in this class. Threading: every sdbus-c++ call happens on
// the EventLoop thread, and every sdbus-c++ object (replies included) is
// created and destroyed there. Staging runs on one long-lived Worker that
// sees only the engine's request and an id; it hands its result, its
// progress and the engine's change notifications back through
// EventLoop::post(). A caller's request waits in pending_ (within the
// CallerBudget) from the call to its reply, and is dropped with its fds
// when the caller leaves the bus.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sdbus-c++/sdbus-c++.h>

#include "manager_adaptor_glue.h"

#include "booted_kernel.h"
#include "caller_budget.h"
#include "convert.h"
#include "daemon_config.h"
#include "reboot_plan.h"
#include "kernel.h"
#include "stager.h"
#include "worker.h"

namespace kexecd {

class Authorizer;
class EventLoop;
class Logind;
struct LogindCapabilities;

class ManagerAdaptor final : public sdbus::AdaptorInterfaces<org::kexecd1::Manager_adaptor>
{
public:
	static constexpr const char *kObjectPath = "/org/kexecd1";
	static constexpr const char *kBusName = "org.kexecd1";

	/* stager: the reboot slot; crash: the crash kernel's slot. */
	ManagerAdaptor(sdbus::IConnection &connection, EventLoop &loop, Stager &stager,
		       Stager &crash, KexecKernel &kernel, Authorizer &authorizer, Logind &logind,
		       const Limits &limits, RebootSettings reboot);
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
		std::shared_ptr<StageRequest> request; // handed to the worker when authorized
		bool discover = false;
		bool crash = false;    // the crash slot (option "crash")
		size_t fds = 0;        // counted against the sender's budget until authorized
	};

	std::string sender();
	void fillCommonOptions(StageRequest &request, const VariantMap &options);
	void queueStaging(StageReply reply, std::shared_ptr<StageRequest> request, bool discover,
			  bool crash, size_t fds, bool interactive);
	Stager &slotStager(bool crash) { return crash ? crash_ : stager_; }
	/* Both slots re-read what the kernel has; true when either changed. */
	bool refreshSlots();
	std::string slotState(Stager &slot);
	VariantMap slotStaged(Stager &slot, const char *property);
	void authorized(uint64_t id, Result<void> allowed);
	void finishStaging(uint64_t id, Result<nlohmann::json> result);
	void callerVanished(const std::string &name);
	/* manager_reboot.cpp: the reboot half of the adaptor. */
	struct RebootCall {
		RebootMode mode = RebootMode::Kexec;
		bool requireStaged = false;
		bool ignoreInhibitors = false;
		bool interactive = false;
		bool force = false;
		const char *what = "Reboot";
	};
	RebootCall parseRebootOptions(const VariantMap &options, RebootMode fallback, bool allowForce);
	void startReboot(VoidReply reply, RebootCall call);
	RebootFacts rebootFacts(const RebootCall &call, const LogindCapabilities &caps);
	void authorizeReboot(VoidReply reply, RebootCall call, RebootPlan plan, std::string caller);
	void rebootVia(VoidReply reply, RebootCall call, RebootPlan plan, bool checkInhibitors);
	void rebootRefused(VoidReply reply, const RebootCall &call, Error error, bool checkedInhibitors);
	void forceReboot(VoidReply reply, const std::string &sender);
	void rebootStarted();
	void scheduleRecheck();
	void updateRebootRequired();
	void progress(std::string_view phase, double fraction);
	void engineChanged();
	void emitChanges();

	EventLoop &loop_;
	Stager &stager_;
	Stager &crash_;
	KexecKernel &kernel_;
	Authorizer &authorizer_;
	Logind &logind_;
	const Limits limits_;
	const RebootSettings reboot_;

	/* Loop thread only. */
	bool staging_ = false;
	uint64_t nextId_ = 1;
	std::map<uint64_t, PendingStage> pending_;
	CallerBudget budget_;
	std::unique_ptr<sdbus::IProxy> busWatch_; // NameOwnerChanged: callers leaving
	std::map<std::string, std::string> published_; // property → last emitted value (serialized)
	uint64_t rebootTimer_ = 0;   // bounds "rebooting" (EventLoop::after)
	std::string rebootRequired_; // what the sentinel file says now ("" absent)
	BootedKernel booted_;        // found once at start, on the worker

	/* Worker thread → loop: coalesce change notifications and progress. */
	std::atomic<bool> changePending_ = false;
	std::string lastPhase_;  // worker thread only
	double lastFraction_ = -1;

	/* Last: destroyed first, so a job still running finishes while
	 * everything it touches exists. */
	Worker worker_;
};

} // namespace kexecd
