// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The reboot goes through systemd-logind so that inhibitors, shutdown
// ordering and the journal flush all happen; the daemon only asks for the
// kexec (0x02) or soft-reboot (0x04) flavour.

#include <cstdint>
#include <functional>
#include <memory>

#include "result.h"

namespace sdbus {
class IConnection;
class IProxy;
}

namespace kexecd {

/* systemd src/login/logind-dbus.h SD_LOGIND_* (systemd >= 254). */
constexpr uint64_t kLogindKexec = 0x02;
constexpr uint64_t kLogindSoftReboot = 0x04;

class Logind
{
public:
	explicit Logind(sdbus::IConnection &connection);
	~Logind();

	/* Asynchronous; done runs on the event loop thread. */
	void rebootWithFlags(uint64_t flags, std::function<void(Result<void>)> done);

private:
	std::unique_ptr<sdbus::IProxy> proxy_;
};

} // namespace kexecd
