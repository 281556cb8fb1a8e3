// SPDX-License-Identifier: LGPL-2.1-or-later
// The reboot half of org.kexecd1.Manager: Reboot, SoftReboot, PlanReboot,
// the bound on "rebooting", and the fleet's reboot-required sentinel. The
// decision itself is the engine's planReboot(); this file gathers the
// facts, asks polkit, applies inhibitors for the real caller and talks to
// logind.
#include "manager_adaptor.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "adaptor_util.h"
#include "event_loop.h"
#include "log.h"
#include "logind.h"
#include "polkit.h"
#include "text.h"

namespace kexecd {

namespace {

/* Re-reading kexec_loaded is one small sysfs read; the kernel offers no
 * notification for it, so a slow timer catches changes nobody asked
 * about (readers re-check on every read). */
constexpr auto kRecheckInterval = std::chrono::seconds(15);

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

} // namespace

ManagerAdaptor::RebootCall ManagerAdaptor::parseRebootOptions(const VariantMap &options,
							      RebootMode fallback, bool allowForce)
{
	if (allowForce)
		checkKnownOptions(options, { "interactive", "force", "mode", "require_staged",
					     "ignore_inhibitors" });
	else
		checkKnownOptions(options, { "interactive", "mode", "require_staged", "ignore_inhibitors" });
	RebootCall call;
	call.mode = fallback;
	if (auto m = option<std::string>(options, "mode")) {
		auto mode = parseRebootMode(*m);
		if (!mode)
			throw toDbusError(mode.error());
		call.mode = *mode;
	}
	call.requireStaged = option<bool>(options, "require_staged").value_or(false);
	call.ignoreInhibitors = option<bool>(options, "ignore_inhibitors").value_or(false);
	call.interactive = interactiveOption(options);
	call.force = allowForce && option<bool>(options, "force").value_or(false);
	if (call.force && call.mode != RebootMode::Kexec)
		throw invalid("force=true only applies to mode 'kexec'");
	return call;
}

RebootFacts ManagerAdaptor::rebootFacts(const RebootCall &call, const LogindCapabilities &caps)
{
	RebootFacts f;
	f.mode = call.mode;
	f.requireStaged = call.requireStaged;
	f.state = stateName(stager_.state());
	f.staged = stager_.staged();
	f.running = readRunningSystem(reboot_.procRoot, reboot_.runRoot);
	f.running.linuxSha256 = booted_.sha256;
	f.running.linuxWhy = booted_.why;
	f.logindKexec = caps.available && caps.kexec;
	f.logindSoftReboot = caps.available && caps.softReboot;
	f.logindDetail = caps.available ? caps.detail : "systemd-logind is not running: " + caps.detail;
	return f;
}

void ManagerAdaptor::Reboot(sdbus::Result<> &&result, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
	guarded(reply, "Reboot", [&] {
		RebootCall call = parseRebootOptions(options, RebootMode::Kexec, true);
		if (call.force) {
			/* Before anything else: nobody should wait for a reboot
			 * that cannot be a kexec. */
			if (auto r = stager_.checkRebootable(); !r)
				throw toDbusError(r.error());
			forceReboot(reply, sender());
			return;
		}
		startReboot(reply, call);
	});
}

void ManagerAdaptor::SoftReboot(sdbus::Result<> &&result, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
	guarded(reply, "SoftReboot", [&] {
		checkKnownOptions(options, { "interactive", "ignore_inhibitors" });
		RebootCall call = parseRebootOptions(options, RebootMode::Soft, false);
		call.what = "SoftReboot";
		startReboot(reply, call);
	});
}

void ManagerAdaptor::PlanReboot(sdbus::Result<std::string> &&result, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<std::string>>(std::move(result));
	guarded(reply, "PlanReboot", [&] {
		RebootCall call = parseRebootOptions(options, RebootMode::Kexec, false);
		logind_.capabilities([this, reply, call](const LogindCapabilities &caps) {
			guarded(reply, "PlanReboot", [&] {
				(void)stager_.refresh();
				auto facts = std::make_shared<RebootFacts>(rebootFacts(call, caps));
				auto plan = std::make_shared<Result<RebootPlan>>(planReboot(*facts));
				logind_.shutdownBlockers([reply, facts, plan](Result<std::vector<Inhibitor>> blockers) {
					guarded(reply, "PlanReboot", [&] {
						nlohmann::json doc = planJson(*facts, *plan);
						nlohmann::json list = nlohmann::json::array();
						if (blockers)
							for (const Inhibitor &i : *blockers)
								list.push_back({ { "who", displayText(i.who) },
										 { "why", displayText(i.why) },
										 { "uid", i.uid },
										 { "pid", i.pid } });
						doc["block_inhibitors"] = list;
						doc["inhibitors_note"] =
							"they refuse a caller other than root and its own inhibitors, unless "
							"ignore_inhibitors is granted (org.kexecd1.reboot-ignore-inhibit)";
						reply->returnResults(jsonText(doc));
					});
				});
			});
		});
	});
}

void ManagerAdaptor::startReboot(VoidReply reply, RebootCall call)
{
	std::string caller = sender();
	logind_.capabilities([this, reply, call, caller](const LogindCapabilities &caps) {
		guarded(reply, call.what, [&] {
			/* Planned before authorization: nobody should type a
			 * password for a reboot that will be refused. */
			(void)stager_.refresh();
			RebootFacts facts = rebootFacts(call, caps);
			auto plan = planReboot(facts);
			if (!plan)
				throw toDbusError(plan.error());
			authorizeReboot(reply, call, std::move(*plan), caller);
		});
	});
}

void ManagerAdaptor::authorizeReboot(VoidReply reply, RebootCall call, RebootPlan plan,
				     std::string caller)
{
	authorizer_.authorize(caller, rebootAction(plan.action), call.interactive,
			      [this, reply, call, plan, caller](Result<void> allowed) {
		guarded(reply, call.what, [&] {
			if (!allowed)
				throw toDbusError(allowed.error());
			auto withUid = [this, reply, call, plan](Result<uid_t> uid) {
				guarded(reply, call.what, [&] {
					if (!uid)
						throw toDbusError(uid.error());
					const bool check = *uid != 0 && !call.ignoreInhibitors;
					if (!check) {
						rebootVia(reply, call, plan, false);
						return;
					}
					/* logind ignores inhibitors held by its caller's
					 * uid, and kexecd calls as root: it applies the
					 * caller's view itself, then logind checks again. */
					const uid_t callerUid = *uid;
					logind_.shutdownBlockers([this, reply, call, plan, callerUid](
									 Result<std::vector<Inhibitor>> list) {
						guarded(reply, call.what, [&] {
							if (!list)
								throw toDbusError(list.error());
							std::vector<Inhibitor> blocking;
							for (const Inhibitor &i : *list)
								if (i.uid != callerUid)
									blocking.push_back(i);
							if (!blocking.empty())
								throw toDbusError(Code::Inhibited,
										  "The reboot is blocked by " +
											  describeInhibitors(blocking));
							rebootVia(reply, call, plan, true);
						});
					});
				});
			};
			if (!call.ignoreInhibitors) {
				authorizer_.callerUid(caller, withUid);
				return;
			}
			authorizer_.authorize(caller, "org.kexecd1.reboot-ignore-inhibit", call.interactive,
					      [this, reply, call, caller, withUid](Result<void> ignore) {
				guarded(reply, call.what, [&] {
					if (!ignore)
						throw toDbusError(ignore.error());
					authorizer_.callerUid(caller, withUid);
				});
			});
		});
	});
}

void ManagerAdaptor::rebootVia(VoidReply reply, RebootCall call, RebootPlan plan, bool checkInhibitors)
{
	if (plan.action == RebootAction::Kexec) {
		/* The state may have changed while polkit was asking. */
		if (auto r = stager_.checkRebootable(); !r)
			throw toDbusError(r.error());
	}
	if (plan.unloadFirst) {
		if (auto r = stager_.unstage(); !r && r.error().code != Code::NotStaged)
			throw toDbusError(r.error());
		emitChanges();
	}
	const uint64_t flags = plan.logindFlags | (checkInhibitors ? kLogindRootCheckInhibitors : 0);
	log::info({ { "KEXECD_REBOOT", rebootActionName(plan.action) } },
		  "Asking systemd-logind to {} (RebootWithFlags {:#x}): {}", rebootActionName(plan.action),
		  flags, fmt::join(plan.reasons, "; "));
	logind_.rebootWithFlags(flags, [this, reply, call, plan, checkInhibitors](Result<void> done) {
		guarded(reply, call.what, [&] {
			if (!done) {
				log::error("Reboot through systemd-logind failed: {}", done.error().message);
				rebootRefused(reply, call, done.takeError(), checkInhibitors);
				return;
			}
			if (plan.action == RebootAction::Kexec)
				rebootStarted();
			emitChanges();
			reply->returnResults();
		});
	});
}

void ManagerAdaptor::rebootRefused(VoidReply reply, const RebootCall &call, Error error,
				   bool checkedInhibitors)
{
	if (!checkedInhibitors || !inhibitorRefusal(error))
		throw toDbusError(error);
	/* logind says "active block inhibitor" without naming it. */
	logind_.shutdownBlockers([reply, call, error](Result<std::vector<Inhibitor>> list) {
		guarded(reply, call.what, [&] {
			if (!list || list->empty())
				throw toDbusError(error);
			throw toDbusError(Code::Inhibited, "The reboot is blocked by " + describeInhibitors(*list));
		});
	});
}

void ManagerAdaptor::rebootStarted()
{
	(void)stager_.setRebooting();
	loop_.cancel(rebootTimer_);
	rebootTimer_ = loop_.after(std::chrono::seconds(reboot_.timeoutSec), [this] {
		rebootTimer_ = 0;
		log::warning("No shutdown {} s after systemd-logind accepted the reboot; the staged kernel "
			     "stays staged", reboot_.timeoutSec);
		stager_.rebootAborted(fmt::format("no shutdown within {} s of logind accepting it",
						  reboot_.timeoutSec));
	});
}

void ManagerAdaptor::forceReboot(VoidReply reply, const std::string &caller)
{
	authorizer_.callerUid(caller, [this, reply](Result<uid_t> uid) {
		guarded(reply, "Reboot", [&] {
			if (!uid)
				throw toDbusError(uid.error());
			/* Skipping logind skips inhibitors and a clean shutdown:
			 * root only, never granted through polkit. */
			if (*uid != 0)
				throw toDbusError(Code::AccessDenied,
						  "Reboot with force=true is reserved to root");
			if (auto r = stager_.setRebooting(); !r)
				throw toDbusError(r.error());
			emitChanges();
			log::info("Rebooting into the staged kernel with reboot(LINUX_REBOOT_CMD_KEXEC)");
			auto r = kernel_.rebootKexec();
			if (!r) {
				log::error("reboot(LINUX_REBOOT_CMD_KEXEC) failed: {}", r.error().message);
				stager_.rebootAborted("reboot(LINUX_REBOOT_CMD_KEXEC) failed");
				throw toDbusError(r.error());
			}
			/* Only a fake kernel returns here. */
			reply->returnResults();
		});
	});
}

void ManagerAdaptor::scheduleRecheck()
{
	loop_.after(kRecheckInterval, [this] {
		(void)refreshSlots();
		scheduleRecheck();
	});
}

void ManagerAdaptor::updateRebootRequired()
{
	if (reboot_.requiredFile.empty())
		return;
	/* kured and friends reboot when the file exists; its text says why. */
	std::string reason;
	if (stager_.state() == StageState::Foreign) {
		reason = "kexecd: a kernel staged by another tool is loaded\n";
	} else if (stager_.state() == StageState::Staged) {
		/* Only "the same kernel or not" matters: with soft-reboot
		 * possible, auto plans kexec exactly for another kernel. */
		RebootCall call;
		call.mode = RebootMode::Auto;
		LogindCapabilities any;
		any.available = any.kexec = any.softReboot = true;
		auto plan = planReboot(rebootFacts(call, any));
		if (plan && plan->action == RebootAction::Kexec && !plan->reasons.empty())
			reason = "kexecd: " + plan->reasons.front() + "\n";
	}
	if (reason == rebootRequired_)
		return;
	rebootRequired_ = reason;
	const std::string &path = reboot_.requiredFile;
	if (reason.empty()) {
		if (unlink(path.c_str()) < 0 && errno != ENOENT)
			log::warning("Cannot remove {}: {}", path, strerror(errno));
		else
			log::info("Removed {}: the staged kernel is the running one, or none is staged", path);
		return;
	}
	const std::string tmp = path + ".kexecd-tmp";
	UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
	if (!fd.valid() || write(fd.get(), reason.data(), reason.size()) != static_cast<ssize_t>(reason.size()) ||
	    rename(tmp.c_str(), path.c_str()) < 0) {
		log::warning("Cannot write {}: {}", path, strerror(errno));
		(void)unlink(tmp.c_str());
		rebootRequired_.clear();
		return;
	}
	log::info("Wrote {}: {}", path, reason.substr(0, reason.size() - 1));
}

} // namespace kexecd
