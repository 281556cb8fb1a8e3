// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// systemd-boot's Loader* EFI variables in efivarfs, under a configurable
// root (kexecd.conf EFIVARS=), so tests need no mount tricks.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "result.h"

namespace kexecd {

/* systemd-boot's vendor GUID for the Loader* variables. */
inline constexpr const char *kLoaderVendorGuid = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/* A Loader* string variable from efivarfs (4 attribute bytes, then
 * UTF-16LE up to a NUL). nullopt when absent, empty or malformed. */
std::optional<std::string> readLoaderVariable(const std::string &efivarsDir, const std::string &name);
/* The same from a variable's efivarfs bytes. */
std::optional<std::string> decodeLoaderVariable(std::span<const uint8_t> data);

/* Delete a Loader* variable, as systemd-boot deletes LoaderEntryOneShot
 * once it has read it. efivarfs marks most variables immutable: the flag
 * is cleared first (where the file system has one). Absent is success. */
Result<void> removeLoaderVariable(const std::string &efivarsDir, const std::string &name);

} // namespace kexecd
