// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// kexecctl inspect: what staging a UKI would read, parse and decide,
// without a kernel or a state file.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "request.h"
#include "result.h"

namespace kexecd {

/* Local, read-only analysis (kexecctl inspect): no kernel, no state. */
Result<nlohmann::json> inspectImage(InputFile uki, std::vector<InputFile> addons,
				    const std::string &profile, const EngineConfig &config,
				    bool showContainer);

} // namespace kexecd
