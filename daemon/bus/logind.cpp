// SPDX-License-Identifier: LGPL-2.1-or-later
#include "logind.h"

#include <string>
#include <tuple>

#include <fmt/format.h>
#include <sdbus-c++/sdbus-c++.h>

#include "log.h"
#include "sdbus_compat.h"

namespace kexecd {

namespace {

const dbus::InterfaceName kManager{ "org.freedesktop.login1.Manager" };
constexpr uint64_t kProbeFlags = kLogindKexec | kLogindSoftReboot;

bool absent(const std::string &name)
{
	return name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
	       name == "org.freedesktop.DBus.Error.NameHasNoOwner";
}

} // namespace

LogindCapabilities capabilitiesFromProbe(const std::string &errorName, const std::string &message)
{
	LogindCapabilities caps;
	caps.probed = true;
	caps.available = true;
	caps.detail = errorName.empty() ? "accepted" : errorName + ": " + message;
	if (errorName.empty()) {
		/* No logind has ever accepted both; one that does knows both. */
		caps.kexec = caps.softReboot = true;
	} else if (absent(errorName)) {
		caps.available = false;
	} else if (errorName == "org.freedesktop.DBus.Error.UnknownMethod") {
		/* systemd < 248: no RebootWithFlags at all. */
	} else if (errorName == "org.freedesktop.DBus.Error.InvalidArgs") {
		/* 254+: "Both reboot via kexec and soft reboot selected, which is
		 * not supported"; 252/253: "Invalid flags parameter". */
		caps.kexec = true;
		caps.softReboot = message.find("soft") != std::string::npos;
	} else {
		/* An unexpected refusal says nothing about the flags: assume
		 * the kexec flag (252 is the oldest systemd kexecd supports)
		 * and let a soft-reboot ask logind itself. */
		caps.kexec = true;
		caps.softReboot = true;
	}
	return caps;
}

Logind::Logind(sdbus::IConnection &connection)
	: proxy_(sdbus::createProxy(connection, dbus::ServiceName{ "org.freedesktop.login1" },
				     dbus::ObjectPath{ "/org/freedesktop/login1" }))
{
	proxy_->uponSignal(dbus::SignalName{ "PrepareForShutdown" }).onInterface(kManager).call([this](bool active) {
		if (prepareForShutdown_)
			prepareForShutdown_(active);
	});
	dbus::finishRegistration(*proxy_);
	systemd_ = sdbus::createProxy(connection, dbus::ServiceName{ "org.freedesktop.systemd1" },
				      dbus::ObjectPath{ "/org/freedesktop/systemd1" });
	dbus::finishRegistration(*systemd_);
}

void Logind::shutdownKexecs(std::function<void(bool kexecs, const std::string &detail)> done)
{
	/* (id, unit, type, state, job path, unit path) */
	using Job = sdbus::Struct<uint32_t, std::string, std::string, std::string, sdbus::ObjectPath, sdbus::ObjectPath>;
	(void)systemd_->callMethodAsync(dbus::MethodName{ "ListJobs" })
		.onInterface(dbus::InterfaceName{ "org.freedesktop.systemd1.Manager" })
		.uponReplyInvoke([done = std::move(done)](dbus::ReplyError error, std::vector<Job> jobs) {
			if (error) {
				done(true, "systemd's jobs cannot be listed (" + error->getName() + ")");
				return;
			}
			for (const Job &j : jobs) {
				const std::string &unit = std::get<1>(j);
				if (unit == "kexec.target")
					return done(true, "systemd queued kexec.target");
				if (unit == "reboot.target" || unit == "poweroff.target" || unit == "halt.target" ||
				    unit == "soft-reboot.target")
					return done(false, "systemd queued " + unit);
			}
			done(true, "no shutdown target queued yet");
		});
}

Logind::~Logind() = default;

void Logind::onPrepareForShutdown(std::function<void(bool active)> fn)
{
	prepareForShutdown_ = std::move(fn);
}

void Logind::capabilities(std::function<void(const LogindCapabilities &)> done)
{
	if (caps_.probed && caps_.available) {
		done(caps_);
		return;
	}
	waiting_.push_back(std::move(done));
	if (waiting_.size() > 1)
		return; // a probe is on its way
	(void)proxy_->callMethodAsync(dbus::MethodName{ "RebootWithFlags" })
		.onInterface(kManager)
		.withArguments(kProbeFlags)
		.uponReplyInvoke([this](dbus::ReplyError error) {
			caps_ = error ? capabilitiesFromProbe(error->getName(), error->getMessage())
				      : capabilitiesFromProbe("", "");
			log::info("systemd-logind reboot flags: kexec {}, soft-reboot {} ({})",
				  caps_.kexec ? "yes" : "no", caps_.softReboot ? "yes" : "no", caps_.detail);
			auto waiting = std::move(waiting_);
			waiting_.clear();
			for (auto &fn : waiting)
				fn(caps_);
		});
}

void Logind::shutdownBlockers(std::function<void(Result<std::vector<Inhibitor>>)> done)
{
	using Row = sdbus::Struct<std::string, std::string, std::string, std::string, uint32_t, uint32_t>;
	(void)proxy_->callMethodAsync(dbus::MethodName{ "ListInhibitors" })
		.onInterface(kManager)
		.uponReplyInvoke([done = std::move(done)](dbus::ReplyError error, std::vector<Row> rows) {
			if (error) {
				done(makeError(Code::Internal, "systemd-logind ListInhibitors failed: " +
								       error->getName() + ": " + error->getMessage()));
				return;
			}
			std::vector<Inhibitor> blockers;
			for (const Row &r : rows) {
				Inhibitor i{ std::get<0>(r), std::get<1>(r), std::get<2>(r), std::get<3>(r),
					     std::get<4>(r), std::get<5>(r) };
				/* what is a colon-separated list. */
				bool shutdown = (":" + i.what + ":").find(":shutdown:") != std::string::npos;
				if (shutdown && i.mode == "block")
					blockers.push_back(std::move(i));
			}
			done(std::move(blockers));
		});
}

void Logind::rebootWithFlags(uint64_t flags, std::function<void(Result<void>)> done)
{
	(void)proxy_->callMethodAsync(dbus::MethodName{ "RebootWithFlags" })
		.onInterface(kManager)
		.withArguments(flags)
		.uponReplyInvoke([done = std::move(done)](dbus::ReplyError error) {
			if (!error) {
				done({});
				return;
			}
			const std::string &name = error->getName();
			std::string detail = name + ": " + error->getMessage();
			if (absent(name)) {
				done(makeError(Code::Unsupported,
					       "systemd-logind is not running (" + detail +
						       "); Reboot with force=true kexecs directly"));
			} else if (name == "org.freedesktop.DBus.Error.UnknownMethod" ||
				   name == "org.freedesktop.DBus.Error.InvalidArgs") {
				done(makeError(Code::Unsupported,
					       "systemd-logind does not support these reboot flags (kexec needs "
					       "systemd >= 252, soft-reboot >= 254): " + detail));
			} else if (name == "org.freedesktop.DBus.Error.AccessDenied" ||
				   name == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired") {
				done(makeError(Code::AccessDenied, "systemd-logind refused: " + detail));
			} else {
				done(makeError(Code::Internal, "systemd-logind failed: " + detail));
			}
		});
}

} // namespace kexecd
