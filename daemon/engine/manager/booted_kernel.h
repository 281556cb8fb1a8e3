// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Which kernel this boot started, as a digest comparable with a staged
// record's kernel.sha256: `reboot --auto` soft-reboots only into the same
// kernel (issue 14), and the uname plus command line are only a stand-in
// for that. systemd-boot says which entry it booted (LoaderEntrySelected);
// the entry's kernel is then what staging it would hand the kernel: a
// UKI's .linux (of the entry's profile), or a Type #1 entry's linux, each
// unpacked when it is a zboot image.

#include <stop_token>
#include <string>

#include "boot_entry.h"
#include "request.h"
#include "result.h"

namespace kexecd {

struct BootedKernel {
	std::string sha256; // "" when it cannot be known
	std::string entry;  // LoaderEntrySelected
	std::string why;    // how it was found, or why not
};

/* Reads beneath the ESP/XBOOTLDR only (boot_files.h), within the limits
 * a staging has. Never fails: what cannot be known says why. Between its
 * steps (copy, parse, hash; each a fraction of a second on hardware, and
 * more under emulation) it gives up once stop is requested: a daemon
 * stopping on a reboot's path must not wait for it. */
BootedKernel findBootedKernel(const DiscoveryPaths &paths, const Limits &limits, std::stop_token stop = {});

} // namespace kexecd
