// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// What the Manager needs to know of systemd-logind, as plain data: its
// RebootWithFlags flags, what this logind can do, and who holds a block
// inhibitor. daemon/bus/logind.* fills these in from the bus.

#include <cstdint>
#include <string>
#include <vector>

namespace kexecd {

/* systemd src/systemd/sd-login.h / logind-dbus.h SD_LOGIND_*. */
constexpr uint64_t kLogindRootCheckInhibitors = 0x01;
constexpr uint64_t kLogindKexec = 0x02;
constexpr uint64_t kLogindSoftReboot = 0x04;

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

/* "'who' (uid U, pid P): why; ..." for messages. */
std::string describeInhibitors(const std::vector<Inhibitor> &inhibitors);

/* The block inhibitors that stop a reboot asked for by callerUid: logind
 * ignores those of the uid that calls it, and kexecd calls it as root, so
 * the caller's view is applied here (logind checks again after). */
std::vector<Inhibitor> blockingFor(const std::vector<Inhibitor> &inhibitors, uint32_t callerUid);

} // namespace kexecd
