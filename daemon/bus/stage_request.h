// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The a{sv} options and fds of org.kexecd1.Manager's calls, turned into
// the engine's requests (and the other way round only through errors):
// every option typed and named, every fd checked before the daemon reads
// it (STYLE 2). Throws sdbus::Error for the caller's mistakes.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <sdbus-c++/sdbus-c++.h>

#include "convert.h"
#include "manager.h"
#include "request.h"

namespace kexecd {

/* A staging request as the bus hands it over: which slot, the caller's
 * polkit interactivity, and how many fds the call message pins. */
struct BusStageRequest {
	std::shared_ptr<StageRequest> request;
	Slot slot = Slot::Reboot;
	bool interactive = false;
	bool discover = false; // StageDefault
	size_t fds = 0;
};

BusStageRequest stageRequest(sdbus::UnixFd &uki, std::vector<sdbus::UnixFd> &addons, const VariantMap &options,
			     const Limits &limits);
BusStageRequest stageKernelRequest(sdbus::UnixFd &kernel, std::vector<sdbus::UnixFd> &initrds,
				   std::string cmdline, const VariantMap &options, const Limits &limits);
BusStageRequest stageDefaultRequest(const VariantMap &options, const Limits &limits);

/* Reboot (allowForce), SoftReboot (mode soft), PlanReboot. */
RebootRequest rebootRequest(const VariantMap &options, RebootMode fallback, bool allowForce);

} // namespace kexecd
