// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The engine speaks JSON, the bus speaks a{sv}. One conversion, used for
// the Staged and KernelSupport properties and the Stage reply.

#include <map>
#include <string>

#include <nlohmann/json.hpp>
#include <sdbus-c++/Types.h>

namespace kexecd {

using VariantMap = std::map<std::string, sdbus::Variant>;

/* objects → a{sv}, arrays of objects → aa{sv}, arrays of strings → as,
 * arrays of numbers → at/ax/ad (ax only when every value fits int64_t), other arrays → av; strings s, unsigned t,
 * negative x, bools b, doubles d; null members are left out. An empty
 * "addons" array is aa{sv}, other empty arrays as. */
VariantMap jsonToVariantMap(const nlohmann::json &object);
sdbus::Variant jsonToVariant(const nlohmann::json &value);

} // namespace kexecd
