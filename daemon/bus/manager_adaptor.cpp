// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager_adaptor.h"

#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "config.h"
#include "adaptor_util.h"
#include "errors.h"
#include "event_loop.h"
#include "log.h"
#include "logind.h"
#include "polkit.h"
#include "sdbus_compat.h"
#include "text.h"

namespace kexecd {

namespace {

constexpr const char *kInterface = org::kexecd1::Manager_adaptor::INTERFACE_NAME;

const char *callName(const BusStageRequest &call)
{
	if (call.discover)
		return "StageDefault";
	return call.request->kind == InputKind::Kernel ? "StageKernel" : "Stage";
}

} // namespace

ManagerAdaptor::ManagerAdaptor(sdbus::IConnection &connection, EventLoop &loop, Manager &manager,
			       Authorizer &authorizer, Logind &logind, const Limits &limits)
	: AdaptorInterfaces(connection, dbus::ObjectPath{ kObjectPath }), loop_(loop), manager_(manager), authorizer_(authorizer),
	  logind_(logind), limits_(limits)
{
	for (Slot s : { Slot::Reboot, Slot::Crash })
		manager_.slot(s).setChangeCallback([this] { engineChanged(); });
	/* A caller that leaves while polkit decides must not leave its fds
	 * behind: the bus driver tells us when a unique name goes away. */
	busWatch_ = sdbus::createProxy(connection, dbus::ServiceName{ "org.freedesktop.DBus" },
				       dbus::ObjectPath{ "/org/freedesktop/DBus" });
	busWatch_->uponSignal(dbus::SignalName{ "NameOwnerChanged" })
		.onInterface(dbus::InterfaceName{ "org.freedesktop.DBus" })
		.call([this](const std::string &name, const std::string &, const std::string &newOwner) {
			if (newOwner.empty() && !name.empty() && name.front() == ':')
				callerVanished(name);
		});
	dbus::finishRegistration(*busWatch_);
	/* A shutdown logind started and then cancelled (or that failed)
	 * leaves the staged kernel staged. */
	logind_.onPrepareForShutdown([this](bool active) {
		if (!active || manager_.rebooting() || manager_.slot(Slot::Reboot).state() != StageState::Staged) {
			manager_.prepareForShutdown(active);
			return;
		}
		/* Someone else's reboot with kexecd's kernel loaded: systemd
		 * kexecs into it unless this is a power-off. */
		logind_.shutdownKexecs([this](bool kexecs, const std::string &detail) {
			log::info("Shutdown with a staged kernel: {}", detail);
			manager_.prepareForShutdown(true, kexecs);
		});
	});
	/* Once, without side effects; status shows the answer. */
	logind_.capabilities([](const LogindCapabilities &) {});
	/* Which kernel this boot runs, once: reading the booted UKI is file
	 * I/O, so it happens on the worker, before any staging. */
	worker_.submitQuery([this, paths = manager_.settings().discovery, limits = limits_](std::stop_token stop) {
		auto booted = std::make_shared<BootedKernel>(findBootedKernel(paths, limits, stop));
		loop_.post([this, booted] { manager_.setBootedKernel(std::move(*booted)); });
	});
	/* The unlock check for a kernel staged before kexecd (re)started, so
	 * status and a reboot someone else starts have one (issue 27). */
	withUnlockCheck({}, {});
	registerAdaptor();
	manager_.start();
}

ManagerAdaptor::~ManagerAdaptor()
{
	unregisterAdaptor();
	for (Slot s : { Slot::Reboot, Slot::Crash })
		manager_.slot(s).setChangeCallback({});
	/* worker_ (the last member) finishes a staging in flight when it is
	 * destroyed; its posted reply is dropped with the loop. */
}

std::string ManagerAdaptor::sender()
{
	std::string name = dbus::currentSender(getObject());
	if (name.empty())
		throw toDbusError(Code::Internal, "no current message");
	return name;
}

void ManagerAdaptor::Stage(sdbus::Result<VariantMap> &&result, sdbus::UnixFd uki,
			   std::vector<sdbus::UnixFd> addons, VariantMap options)
{
	/* sdbus-c++ 1.2 keeps async callbacks in std::function, which needs
	 * copyable captures; the move-only Result is shared between them. */
	auto reply = std::make_shared<sdbus::Result<VariantMap>>(std::move(result));
	guarded(reply, "Stage", [&] { queueStaging(reply, stageRequest(uki, addons, options, limits_)); });
}

void ManagerAdaptor::StageKernel(sdbus::Result<VariantMap> &&result, sdbus::UnixFd kernel,
				 std::vector<sdbus::UnixFd> initrds, std::string cmdline, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<VariantMap>>(std::move(result));
	guarded(reply, "StageKernel", [&] {
		queueStaging(reply, stageKernelRequest(kernel, initrds, std::move(cmdline), options, limits_));
	});
}

void ManagerAdaptor::StageDefault(sdbus::Result<VariantMap> &&result, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<VariantMap>>(std::move(result));
	guarded(reply, "StageDefault", [&] { queueStaging(reply, stageDefaultRequest(options, limits_)); });
}

void ManagerAdaptor::queueStaging(StageReply reply, BusStageRequest call)
{
	const std::string caller = sender();
	if (auto r = budget_.admit(caller, call.fds); !r)
		throw toDbusError(r.error());
	const uint64_t id = nextId_++;
	const bool interactive = call.interactive;
	pending_.emplace(id, PendingStage{ caller, reply, std::move(call) });
	/* Only the id travels: if the caller leaves before polkit answers,
	 * the request and its fds are gone and the answer finds nothing. */
	authorizer_.authorize(caller, "org.kexecd1.stage", interactive,
			      [this, id](Result<void> allowed) { authorized(id, std::move(allowed)); });
}

void ManagerAdaptor::authorized(uint64_t id, Result<void> allowed)
{
	auto it = pending_.find(id);
	if (it == pending_.end())
		return; // the caller left the bus; nothing to answer
	PendingStage &p = it->second;
	budget_.release(p.sender, p.call.fds);
	p.call.fds = 0;
	const char *what = callName(p.call);
	bool started = false;
	guarded(p.reply, what, [&] {
		if (!allowed)
			throw toDbusError(allowed.error());
		if (auto r = manager_.beginStaging(); !r)
			throw toDbusError(r.error());
		started = true;
	});
	if (!started) {
		pending_.erase(it);
		return;
	}
	lastPhase_.clear();
	lastFraction_ = -1;
	std::shared_ptr<StageRequest> request = std::move(p.call.request);
	const bool discover = p.call.discover;
	Stager &target = manager_.slot(p.call.slot);
	const char *slot = slotName(p.call.slot);
	if (discover)
		log::info({ { "KEXECD_SLOT", slot } }, "Staging the default boot entry ({} slot)", slot);
	else if (request->kind == InputKind::Kernel)
		log::info({ { "KEXECD_PATH", request->kernel.origin }, { "KEXECD_SLOT", slot } },
			  "Staging kernel '{}' with {} initrd(s) ({} slot)", request->kernel.origin,
			  request->initrds.size(), slot);
	else
		log::info({ { "KEXECD_PATH", request->uki.origin }, { "KEXECD_SLOT", slot } },
			  "Staging '{}' with {} addon(s) ({} slot)", request->uki.origin, request->addons.size(), slot);

	/* Discovery and opening the files happen on the worker too: the
	 * loop thread does no file I/O. The job holds no sdbus object. */
	worker_.submit([this, &target, id, request, discover] {
		auto progressFn = [this](std::string_view phase, double fraction) { progress(phase, fraction); };
		Result<nlohmann::json> result = makeError(Code::Internal, "staging did not run");
		try {
			result = discover ? target.stageDefault(std::move(*request), progressFn)
					  : target.stage(std::move(*request), progressFn);
		} catch (const std::exception &e) {
			result = makeError(Code::Internal, std::string("staging failed: ") + e.what());
		}
		auto shared = std::make_shared<Result<nlohmann::json>>(std::move(result));
		loop_.post([this, id, shared] { finishStaging(id, std::move(*shared)); });
		/* Tests hold the worker here: the loop must not depend on it. */
		target.hook("posted");
	});
}

void ManagerAdaptor::finishStaging(uint64_t id, Result<nlohmann::json> result)
{
	manager_.endStaging();
	/* Publish the new State/Staged before the caller gets its reply. */
	emitChanges();
	if (!result) {
		const Error &error = result.error();
		log::error({ { "ERRNO", std::to_string(error.errnum) } }, "Staging failed: {}: {}",
			   codeName(error.code), error.message);
	} else {
		log::info("Staged: {}", jsonText(*result));
		withUnlockCheck({}, {}); // for the kernel staged now (issue 27)
	}
	auto it = pending_.find(id);
	if (it == pending_.end())
		return;
	StageReply reply = std::move(it->second.reply);
	const char *what = it->second.call.discover ? "StageDefault" : "Stage";
	pending_.erase(it);
	guarded(reply, what, [&] {
		if (!result)
			throw toDbusError(result.error());
		reply->returnResults(jsonToVariantMap(*result));
	});
}

void ManagerAdaptor::callerVanished(const std::string &name)
{
	for (auto it = pending_.begin(); it != pending_.end();) {
		PendingStage &p = it->second;
		/* A request on the worker runs to its end (never half a load);
		 * one still waiting for polkit is dropped with its fds. */
		if (p.sender == name && p.call.request) {
			budget_.release(p.sender, p.call.fds);
			log::info("Caller {} left the bus; dropping its pending request", name);
			it = pending_.erase(it);
		} else {
			++it;
		}
	}
}

void ManagerAdaptor::Unstage(sdbus::Result<> &&result, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
	guarded(reply, "Unstage", [&] {
		checkKnownOptions(options, { "interactive", "crash" });
		const Slot slot = crashOption(options) ? Slot::Crash : Slot::Reboot;
		authorizer_.authorize(sender(), "org.kexecd1.unstage", interactiveOption(options),
				      [this, reply, slot](Result<void> allowed) {
			guarded(reply, "Unstage", [&] {
				if (!allowed)
					throw toDbusError(allowed.error());
				if (auto r = manager_.unstage(slot); !r)
					throw toDbusError(r.error());
				emitChanges();
				reply->returnResults();
			});
		});
	});
}

void ManagerAdaptor::progress(std::string_view phase, double fraction)
{
	/* Worker thread. The engine may report often; a client bar needs
	 * at most every percent. */
	if (phase == lastPhase_ && std::fabs(fraction - lastFraction_) < 0.01 && fraction < 1.0)
		return;
	lastPhase_ = std::string(phase);
	lastFraction_ = fraction;
	loop_.post([this, phase = std::string(phase), fraction] {
		try {
			emitProgress(phase, fraction);
		} catch (const sdbus::Error &e) {
			log::warning("Cannot emit Progress: {}, ignoring", e.getMessage());
		}
	});
}

void ManagerAdaptor::engineChanged()
{
	/* Any thread, possibly with the engine's lock held: only post. */
	if (changePending_.exchange(true))
		return;
	loop_.post([this] {
		changePending_ = false;
		emitChanges();
	});
}

void ManagerAdaptor::emitChanges()
{
	const std::vector<std::string> changed = manager_.takeChangedProperties();
	if (changed.empty())
		return;
	try {
		getObject().emitPropertiesChangedSignal(dbus::InterfaceName{ kInterface },
							std::vector<dbus::PropertyName>(changed.begin(), changed.end()));
	} catch (const sdbus::Error &e) {
		log::warning("Cannot emit PropertiesChanged: {}, ignoring", e.getMessage());
	}
}

std::string ManagerAdaptor::Describe()
{
	try {
		return jsonText(manager_.describe(logind_.cachedCapabilities()));
	} catch (const std::exception &e) {
		throw toDbusError(Code::Internal, std::string("Describe: ") + e.what());
	}
}

/* Readers get what the kernel has now; a change is also announced (the
 * engine's callback posts PropertiesChanged). */
std::string ManagerAdaptor::slotState(Slot slot)
{
	(void)manager_.slot(slot).refresh();
	return stateName(manager_.slot(slot).state());
}

VariantMap ManagerAdaptor::slotStaged(Slot slot, const char *property)
{
	try {
		(void)manager_.slot(slot).refresh();
		return jsonToVariantMap(manager_.slot(slot).staged());
	} catch (const std::exception &e) {
		throw toDbusError(Code::Internal, std::string(property) + ": " + e.what());
	}
}

std::string ManagerAdaptor::State() { return slotState(Slot::Reboot); }
VariantMap ManagerAdaptor::Staged() { return slotStaged(Slot::Reboot, "Staged"); }
std::string ManagerAdaptor::CrashState() { return slotState(Slot::Crash); }
VariantMap ManagerAdaptor::CrashStaged() { return slotStaged(Slot::Crash, "CrashStaged"); }

VariantMap ManagerAdaptor::KernelSupport()
{
	try {
		return jsonToVariantMap(manager_.slot(Slot::Reboot).kernelSupport());
	} catch (const std::exception &e) {
		throw toDbusError(Code::Internal, std::string("KernelSupport: ") + e.what());
	}
}

std::string ManagerAdaptor::LastError() { return displayText(manager_.slot(Slot::Reboot).lastError()); }
std::string ManagerAdaptor::Version() { return KEXECD_VERSION; }

} // namespace kexecd
