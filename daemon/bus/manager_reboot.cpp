// SPDX-License-Identifier: LGPL-2.1-or-later
// The reboot half of org.kexecd1.Manager: Reboot, SoftReboot, PlanReboot.
// The Manager decides (planReboot()) and keeps the staged kernel safe
// around logind's answer; this file asks polkit, applies inhibitors for
// the real caller and talks to logind.
#include "manager_adaptor.h"

#include <fmt/format.h>

#include "adaptor_util.h"
#include "event_loop.h"
#include "log.h"
#include "logind.h"
#include "polkit.h"
#include "text.h"

namespace kexecd {

namespace {

bool inhibitorRefusal(const Error &e)
{
	return e.code == Code::AccessDenied &&
	       (e.message.find("inhibitor") != std::string::npos ||
		e.message.find("BlockedByInhibitorLock") != std::string::npos);
}

const char *rebootAction(RebootAction action)
{
	return action == RebootAction::Soft ? "org.kexecd1.soft-reboot" : "org.kexecd1.reboot";
}

nlohmann::json inhibitorsJson(const Result<std::vector<Inhibitor>> &blockers)
{
	nlohmann::json list = nlohmann::json::array();
	if (blockers)
		for (const Inhibitor &i : *blockers)
			list.push_back({ { "who", displayText(i.who) }, { "why", displayText(i.why) },
					 { "uid", i.uid }, { "pid", i.pid } });
	return list;
}

} // namespace

void ManagerAdaptor::Reboot(sdbus::Result<> &&result, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
	guarded(reply, "Reboot", [&] { startReboot(reply, rebootRequest(options, RebootMode::Kexec, true), "Reboot"); });
}

void ManagerAdaptor::SoftReboot(sdbus::Result<> &&result, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
	guarded(reply, "SoftReboot", [&] {
		checkKnownOptions(options, { "interactive", "ignore_inhibitors" });
		startReboot(reply, rebootRequest(options, RebootMode::Soft, false), "SoftReboot");
	});
}

/* The dry run of Reboot: the same plan, the same authorization (with the
 * caller's interactivity), the same inhibitor and force rules, and a
 * refusal where the call would fail, so `reboot --dry-run` exits as the
 * reboot would. Nothing changes. */
void ManagerAdaptor::PlanReboot(sdbus::Result<std::string> &&result, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<std::string>>(std::move(result));
	guarded(reply, "PlanReboot", [&] {
		RebootRequest request = rebootRequest(options, RebootMode::Kexec, true);
		std::string caller = sender();
		logind_.capabilities([this, reply, request, caller](const LogindCapabilities &caps) {
		withUnlockCheck(request, [this, reply, caps, caller](RebootRequest request) {
			guarded(reply, "PlanReboot", [&] {
				auto facts = std::make_shared<RebootFacts>();
				auto plan = std::make_shared<Result<RebootPlan>>(manager_.planReboot(request, caps, facts.get()));
				auto answer = [this, reply, facts, plan]() {
					logind_.shutdownBlockers([reply, facts, plan](Result<std::vector<Inhibitor>> blockers) {
						guarded(reply, "PlanReboot", [&] {
							nlohmann::json doc = planJson(*facts, *plan);
							doc["block_inhibitors"] = inhibitorsJson(blockers);
							doc["inhibitors_note"] =
								"they refuse a caller other than root and its own inhibitors, "
								"unless ignore_inhibitors is granted "
								"(org.kexecd1.reboot-ignore-inhibit)";
							reply->returnResults(jsonText(doc));
						});
					});
				};
				if (!*plan) {
					answer();
					return;
				}
				permitReboot(request, **plan, caller, [plan, answer](Result<bool> permitted) {
					if (!permitted)
						*plan = permitted.takeError();
					answer();
				});
			});
		});
		});
	});
}

void ManagerAdaptor::startReboot(VoidReply reply, RebootRequest request, const char *what)
{
	std::string caller = sender();
	logind_.capabilities([this, reply, request, caller, what](const LogindCapabilities &caps) {
	withUnlockCheck(request, [this, reply, caps, caller, what](RebootRequest request) {
		guarded(reply, what, [&] {
			/* Planned before authorization: nobody should type a
			 * password for a reboot that will be refused. */
			auto plan = manager_.planReboot(request, caps);
			if (!plan)
				throw toDbusError(plan.error());
			/* force asks no polkit: forceReboot() looks up the caller once
			 * and the Manager applies the root rule. */
			if (request.force) {
				forceReboot(reply, caller);
				return;
			}
			permitReboot(request, *plan, caller, [this, reply, plan = *plan, what](Result<bool> permitted) {
				guarded(reply, what, [&] {
					if (!permitted)
						throw toDbusError(permitted.error());
					rebootVia(reply, plan, *permitted, what);
				});
			});
		});
	});
	});
}

void ManagerAdaptor::permitReboot(const RebootRequest &request, const RebootPlan &plan, const std::string &caller,
				  std::function<void(Result<bool>)> done)
{
	if (request.force) {
		/* Root only, never granted through polkit (Manager). */
		authorizer_.callerUid(caller, [this, done](Result<uid_t> uid) {
			if (!uid)
				return done(uid.takeError());
			if (auto r = manager_.checkForceReboot(*uid); !r)
				return done(r.takeError());
			done(false);
		});
		return;
	}
	/* logind ignores inhibitors held by its caller's uid, and kexecd calls
	 * as root: for another caller, kexecd applies the caller's view
	 * itself, then asks logind to check again (ROOT_CHECK_INHIBITORS). */
	auto withUid = [this, request, done](Result<uid_t> uid) {
		if (!uid)
			return done(uid.takeError());
		if (*uid == 0 || request.ignoreInhibitors)
			return done(false);
		const uid_t callerUid = *uid;
		logind_.shutdownBlockers([callerUid, done](Result<std::vector<Inhibitor>> list) {
			if (!list)
				return done(list.takeError());
			if (auto blocking = blockingFor(*list, callerUid); !blocking.empty())
				return done(makeError(Code::Inhibited, "The reboot is blocked by " + describeInhibitors(blocking)));
			done(true);
		});
	};
	/* ignore_tpm needs its own action (auth_admin): it risks a boot that
	 * waits for a passphrase (issue 27). */
	auto ignoreTpm = [this, request, caller, done, withUid]() {
		if (!request.ignoreTpm)
			return authorizer_.callerUid(caller, withUid);
		authorizer_.authorize(caller, "org.kexecd1.reboot-ignore-tpm", request.interactive,
				      [this, caller, done, withUid](Result<void> ignore) {
			if (!ignore)
				return done(ignore.takeError());
			authorizer_.callerUid(caller, withUid);
		});
	};
	authorizer_.authorize(caller, rebootAction(plan.action), request.interactive,
			      [this, request, caller, done, ignoreTpm](Result<void> allowed) {
		if (!allowed)
			return done(allowed.takeError());
		if (!request.ignoreInhibitors)
			return ignoreTpm();
		authorizer_.authorize(caller, "org.kexecd1.reboot-ignore-inhibit", request.interactive,
				      [done, ignoreTpm](Result<void> ignore) {
			if (!ignore)
				return done(ignore.takeError());
			ignoreTpm();
		});
	});
}

void ManagerAdaptor::withUnlockCheck(RebootRequest request, std::function<void(RebootRequest)> then)
{
	/* A soft or cold reboot keeps or resets the TPM as it should; nothing
	 * loaded, nothing to kexec. force is checked too: no PrepareForShutdown
	 * follows it. */
	Stager &slot = manager_.slot(Slot::Reboot);
	(void)slot.refresh();
	const bool loaded = slot.state() == StageState::Staged || slot.state() == StageState::Foreign;
	if (!loaded || request.mode == RebootMode::Soft || request.mode == RebootMode::Cold) {
		if (then)
			then(std::move(request));
		return;
	}
	const uint64_t id = nextId_++;
	if (then)
		unlockWaiters_.emplace(id, std::move(then));
	/* The job holds no sdbus object: the continuation waits here. */
	worker_.submitQuery([this, id, input = manager_.unlockInput(), request](std::stop_token) {
		auto assessed = std::make_shared<std::vector<VolumeAssessment>>(
			checkUnlock(input.paths, input.targetHasPcrsig, input.targetHasPcrpkey));
		loop_.post([this, id, input, request, assessed] {
			manager_.setUnlockAssessment(input, *assessed);
			for (const auto &l : unlockLockouts(*assessed))
				log::info("Unlock check: {}", l);
			auto it = unlockWaiters_.find(id);
			if (it == unlockWaiters_.end())
				return;
			auto next = std::move(it->second);
			unlockWaiters_.erase(it);
			RebootRequest checked = request;
			checked.unlock = std::move(*assessed);
			next(std::move(checked));
		});
	});
}

void ManagerAdaptor::rebootVia(VoidReply reply, RebootPlan plan, bool checkInhibitors, const char *what)
{
	if (auto r = manager_.checkBeforeLogind(plan); !r)
		throw toDbusError(r.error());
	const uint64_t flags = plan.logindFlags | (checkInhibitors ? kLogindRootCheckInhibitors : 0);
	log::info({ { "KEXECD_REBOOT", rebootActionName(plan.action) } },
		  "Asking systemd-logind to {} (RebootWithFlags {:#x}): {}", rebootActionName(plan.action), flags,
		  fmt::join(plan.reasons, "; "));
	logind_.rebootWithFlags(flags, [this, reply, plan, checkInhibitors, what](Result<void> done) {
		guarded(reply, what, [&] {
			if (!done) {
				manager_.logindRefused(plan, done.error());
				emitChanges();
				rebootRefused(reply, done.takeError(), checkInhibitors, what);
				return;
			}
			auto accepted = manager_.logindAccepted(plan);
			emitChanges();
			if (!accepted)
				throw toDbusError(accepted.error());
			reply->returnResults();
		});
	});
}

void ManagerAdaptor::rebootRefused(VoidReply reply, Error error, bool checkedInhibitors, const char *what)
{
	if (!checkedInhibitors || !inhibitorRefusal(error))
		throw toDbusError(error);
	/* logind says "active block inhibitor" without naming it. */
	logind_.shutdownBlockers([reply, error, what](Result<std::vector<Inhibitor>> list) {
		guarded(reply, what, [&] {
			if (!list || list->empty())
				throw toDbusError(error);
			throw toDbusError(Code::Inhibited, "The reboot is blocked by " + describeInhibitors(*list));
		});
	});
}

void ManagerAdaptor::forceReboot(VoidReply reply, const std::string &caller)
{
	authorizer_.callerUid(caller, [this, reply](Result<uid_t> uid) {
		guarded(reply, "Reboot", [&] {
			if (!uid)
				throw toDbusError(uid.error());
			if (auto r = manager_.prepareForceReboot(*uid); !r)
				throw toDbusError(r.error());
			emitChanges();
			if (auto r = manager_.forceRebootNow(); !r)
				throw toDbusError(r.error());
			reply->returnResults(); // only a fake kernel returns here
		});
	});
}

} // namespace kexecd
