// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace kexecd::detail {

/* Read at most max bytes; nullopt when missing, unreadable or larger.
 * For the small files the engine reads by path (sysfs, efivars,
 * loader.conf, the state file); images go through SealedMemfd. */
std::optional<std::string> readSmallFile(const std::string &path, size_t max);

} // namespace kexecd::detail
