// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Authorization of a bus caller (systemd bus-polkit pattern, over D-Bus
// rather than libpolkit): root passes without asking, everyone else needs
// polkit's CheckAuthorization for the action. Unreachable polkit = deny.
// Every call is asynchronous; callbacks run on the event loop thread.

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "result.h"

namespace sdbus {
class IConnection;
class IProxy;
}

namespace kexecd {

class Authorizer
{
public:
	using Done = std::function<void(Result<void>)>;
	using UidDone = std::function<void(Result<uid_t>)>;

	explicit Authorizer(sdbus::IConnection &connection);
	~Authorizer();

	/* org.freedesktop.DBus.GetConnectionUnixUser. */
	void callerUid(const std::string &sender, UidDone done);
	/* uid 0 → ok; else polkit CheckAuthorization for action. */
	void authorize(const std::string &sender, const std::string &action, bool interactive,
		       Done done);

private:
	void checkPolkit(const std::string &sender, const std::string &action, bool interactive,
			 Done done);

	std::unique_ptr<sdbus::IProxy> bus_;
	std::unique_ptr<sdbus::IProxy> polkit_;
};

} // namespace kexecd
