// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace kexecd {

/* Lower-case hex SHA-256, as sha256sum prints it. */
std::string sha256Hex(std::span<const uint8_t> data);

} // namespace kexecd
