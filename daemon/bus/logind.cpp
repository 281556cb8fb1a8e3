// SPDX-License-Identifier: LGPL-2.1-or-later
#include "logind.h"

#include <string>

#include <sdbus-c++/sdbus-c++.h>

namespace kexecd {

Logind::Logind(sdbus::IConnection &connection)
	: proxy_(sdbus::createProxy(connection, "org.freedesktop.login1", "/org/freedesktop/login1"))
{
}

Logind::~Logind() = default;

void Logind::rebootWithFlags(uint64_t flags, std::function<void(Result<void>)> done)
{
	(void)proxy_->callMethodAsync("RebootWithFlags")
		.onInterface("org.freedesktop.login1.Manager")
		.withArguments(flags)
		.uponReplyInvoke([done = std::move(done)](const sdbus::Error *error) {
			if (!error) {
				done({});
				return;
			}
			const std::string &name = error->getName();
			std::string detail = name + ": " + error->getMessage();
			if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
			    name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
				done(makeError(Code::Unsupported,
					       "systemd-logind is not running (" + detail +
						       "); Reboot with force=true kexecs directly"));
			} else if (name == "org.freedesktop.DBus.Error.UnknownMethod" ||
				   name == "org.freedesktop.DBus.Error.InvalidArgs") {
				done(makeError(Code::Unsupported,
					       "systemd-logind lacks RebootWithFlags kexec/soft-reboot "
					       "(needs systemd >= 254): " + detail));
			} else if (name == "org.freedesktop.DBus.Error.AccessDenied" ||
				   name == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired") {
				done(makeError(Code::AccessDenied, "systemd-logind refused: " + detail));
			} else {
				done(makeError(Code::Internal, "systemd-logind failed: " + detail));
			}
		});
}

} // namespace kexecd
