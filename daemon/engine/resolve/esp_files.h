// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// What sits on the ESP and XBOOTLDR beside a UKI: the XBOOTLDR partition
// itself, the addons systemd-stub loads and the sidecar files it packs
// (credentials, sysext, confext), all in the stub's order.

#include <string>
#include <vector>

#include "boot_entry.h"
#include "result.h"
#include "stub_cpio.h"

namespace kexecd {

/* Where the ESP is; Code::Unsupported naming the places looked at when
 * there is none. */
Result<std::string> findEsp(const DiscoveryPaths &paths);

/* The XBOOTLDR partition: configured, or detected as bootctl does; ""
 * when there is none. */
std::string findXbootldr(const DiscoveryPaths &paths, const std::string &esp);

/* Addon paths in systemd-stub order for the UKI at ukiPath. Unreadable
 * or missing directories give no addons (as systemd-stub). */
std::vector<std::string> findAddons(const DiscoveryPaths &paths, const std::string &ukiPath,
				    std::vector<std::string> *notes = nullptr);

/* <dir>/<name without tries counter>.extra.d, as the stub looks it up. */
std::string extraDirFor(const std::string &ukiPath);

/* The credentials, sysext and confext images systemd-stub would pack for
 * the UKI at ukiPath, read (regular files only, size-limited) from under
 * the UKI's partition. Only for paths discovery itself found: the daemon
 * never opens a path a caller names. */
SidecarFiles readSidecars(const DiscoveryPaths &paths, const std::string &ukiPath,
			  std::vector<std::string> *notes = nullptr);

} // namespace kexecd
