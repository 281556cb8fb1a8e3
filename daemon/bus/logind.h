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

#include "logind_facts.h"
#include "result.h"

namespace sdbus {
class IConnection;
class IProxy;
}

namespace kexecd {

/* What this logind can do (LogindCapabilities, logind_facts.h) is found
 * once without side effects: logind checks the flags before anything
 * else, and 0x06 (kexec and soft-reboot at once) is refused by every
 * version, with a message that says whether it knows soft-reboot (systemd
 * >= 254) or not (252/253). */

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
	/* Whether the shutdown under way kexecs: systemd's job queue holds
	 * kexec.target (true), or another shutdown target (false). With no
	 * such job yet (logind may still wait for delay inhibitors) or no
	 * answer, true: systemd kexecs whatever is loaded on a reboot. */
	void shutdownKexecs(std::function<void(bool kexecs, const std::string &detail)> done);

private:
	std::unique_ptr<sdbus::IProxy> proxy_;
	std::unique_ptr<sdbus::IProxy> systemd_;
	LogindCapabilities caps_;
	std::vector<std::function<void(const LogindCapabilities &)>> waiting_;
	std::function<void(bool)> prepareForShutdown_;
};

/* "'who' (uid U, pid P): why" for each, joined by "; ". */
/* Classifies logind's answer to RebootWithFlags(0x06). */
LogindCapabilities capabilitiesFromProbe(const std::string &errorName, const std::string &message);

} // namespace kexecd
