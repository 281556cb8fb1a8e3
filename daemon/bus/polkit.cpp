// SPDX-License-Identifier: LGPL-2.1-or-later
#include "polkit.h"

#include <chrono>
#include <map>

#include <sdbus-c++/sdbus-c++.h>

#include "log.h"
#include "sdbus_compat.h"

namespace kexecd {

namespace {

const dbus::ServiceName kPolkitName{ "org.freedesktop.PolicyKit1" };
const dbus::ObjectPath kPolkitPath{ "/org/freedesktop/PolicyKit1/Authority" };
const dbus::InterfaceName kPolkitInterface{ "org.freedesktop.PolicyKit1.Authority" };
constexpr uint32_t kAllowUserInteraction = 0x1;

} // namespace

Authorizer::Authorizer(sdbus::IConnection &connection)
	: bus_(sdbus::createProxy(connection, dbus::ServiceName{ "org.freedesktop.DBus" },
				  dbus::ObjectPath{ "/org/freedesktop/DBus" })),
	  polkit_(sdbus::createProxy(connection, kPolkitName, kPolkitPath))
{
}

Authorizer::~Authorizer() = default;

void Authorizer::callerUid(const std::string &sender, UidDone done)
{
	(void)bus_->callMethodAsync(dbus::MethodName{ "GetConnectionUnixUser" })
		.onInterface(dbus::InterfaceName{ "org.freedesktop.DBus" })
		.withArguments(sender)
		.uponReplyInvoke([done = std::move(done), sender](dbus::ReplyError error, uint32_t uid) {
			if (error) {
				done(makeError(Code::AccessDenied,
					       "Cannot identify caller '" + sender + "': " +
						       error->getMessage()));
				return;
			}
			done(static_cast<uid_t>(uid));
		});
}

void Authorizer::authorize(const std::string &sender, const std::string &action, bool interactive,
			   Done done)
{
	callerUid(sender, [this, sender, action, interactive, done = std::move(done)](Result<uid_t> uid) {
		if (!uid) {
			done(uid.takeError());
			return;
		}
		/* systemd's rule: root needs no polkit, and polkit may not
		 * even run yet (early boot, initramfs). */
		if (*uid == 0) {
			done({});
			return;
		}
		checkPolkit(sender, action, interactive, done);
	});
}

void Authorizer::checkPolkit(const std::string &sender, const std::string &action,
			     bool interactive, Done done)
{
	using Subject = sdbus::Struct<std::string, std::map<std::string, sdbus::Variant>>;
	using Reply = sdbus::Struct<bool, bool, std::map<std::string, std::string>>;

	Subject subject{ "system-bus-name", { { "name", sdbus::Variant(sender) } } };
	std::map<std::string, std::string> details;
	uint32_t flags = interactive ? kAllowUserInteraction : 0;
	/* A password prompt takes human time; a plain check should not. */
	auto timeout = interactive ? std::chrono::microseconds(std::chrono::minutes(5))
				   : std::chrono::microseconds(std::chrono::seconds(25));

	(void)polkit_->callMethodAsync(dbus::MethodName{ "CheckAuthorization" })
		.onInterface(kPolkitInterface)
		.withTimeout(timeout)
		.withArguments(subject, action, details, flags, std::string())
		.uponReplyInvoke([done = std::move(done), action, sender](dbus::ReplyError error,
									   Reply reply) {
			if (error) {
				log::warning("polkit check of '{}' for {} failed: {}", action, sender,
					     error->getMessage());
				done(makeError(Code::AccessDenied,
					       "Authorization failed: polkit is not available (" +
						       error->getName() + ")"));
				return;
			}
			bool authorized = std::get<0>(reply);
			bool challenge = std::get<1>(reply);
			if (authorized) {
				done({});
				return;
			}
			done(makeError(Code::AccessDenied,
				       challenge ? "Interactive authentication required for polkit action " + action
						 : "Not authorized for polkit action " + action));
		});
}

} // namespace kexecd
