// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// StageDefault's pieces outside the Stager (stage_default.cpp): the
// discovered addons of a UKI, and the record of what discovery chose.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "boot_entry.h"
#include "request.h"
#include "result.h"

namespace kexecd {

/* The record's "discovery" object; null when discovery chose nothing. */
nlohmann::json discoveryRecord(const StageRequest &request);
/* Discovered addons of request.uki go before the explicit ones, as
 * systemd-stub loads them (stage_default.cpp). */
Result<void> addDiscoveredAddons(StageRequest &request, const DiscoveryPaths &paths,
				 std::vector<std::string> *notes);

} // namespace kexecd
