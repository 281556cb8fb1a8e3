// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The reboot goes through systemd-logind so that inhibitors, shutdown
// ordering and the journal flush all happen; the daemon only asks for the
// kexec (0x02) or soft-reboot (0x04) flavour, and passes
// ROOT_CHECK_INHIBITORS (0x01) when the real caller is not root, so logind
// applies the inhibitors it would apply to that caller.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "result.h"

namespace sdbus {
class IConnection;
class IProxy;
}

namespace kexecd {

/* systemd src/systemd/sd-login.h / logind-dbus.h SD_LOGIND_*. */
constexpr uint64_t kLogindRootCheckInhibitors = 0x01;
constexpr uint64_t kLogindKexec = 0x02;
constexpr uint64_t kLogindSoftReboot = 0x04;

/* What this logind can do, found once without side effects: logind
 * checks the flags before anything else, and 0x06 (kexec and soft-reboot
 * at once) is refused by every version, with a message that says whether
 * it knows soft-reboot (systemd >= 254) or not (252/253). */
struct LogindCapabilities {
	bool probed = false;     // an answer came
	bool available = false;  // logind is on the bus
	bool kexec = false;      // RebootWithFlags(0x02) kexecs (systemd >= 252)
	bool softReboot = false; // RebootWithFlags(0x04) (systemd >= 254)
	std::string detail;      // logind's answer to the probe, for status
};

struct Inhibitor {
	std::string what, who, why, mode;
	uint32_t uid = 0, pid = 0;
};

class Logind
{
public:
	explicit Logind(sdbus::IConnection &connection);
	~Logind();

	/* All asynchronous; callbacks run on the event loop thread. */
	void rebootWithFlags(uint64_t flags, std::function<void(Result<void>)> done);
	/* Probes once; later calls answer from the cache unless logind was
	 * absent (it may be started later). */
	void capabilities(std::function<void(const LogindCapabilities &)> done);
	const LogindCapabilities &cachedCapabilities() const { return caps_; }
	/* Block-mode shutdown inhibitors only: the ones that refuse a reboot. */
	void shutdownBlockers(std::function<void(Result<std::vector<Inhibitor>>)> done);
	/* PrepareForShutdown(active): false means a shutdown was cancelled or
	 * failed. */
	void onPrepareForShutdown(std::function<void(bool active)> fn);

private:
	std::unique_ptr<sdbus::IProxy> proxy_;
	LogindCapabilities caps_;
	std::vector<std::function<void(const LogindCapabilities &)>> waiting_;
	std::function<void(bool)> prepareForShutdown_;
};

/* "'who' (uid U, pid P): why" for each, joined by "; ". */
std::string describeInhibitors(const std::vector<Inhibitor> &inhibitors);
/* Classifies logind's answer to RebootWithFlags(0x06). */
LogindCapabilities capabilitiesFromProbe(const std::string &errorName, const std::string &message);

} // namespace kexecd
