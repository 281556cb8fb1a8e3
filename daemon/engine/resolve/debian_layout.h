// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The Debian/Ubuntu layout, for machines without any Boot Loader Spec
// entry: the kernel package's symlinks, as Debian's kexec-tools
// `kexec-load` uses them (/etc/default/kexec: KERNEL_IMAGE="/vmlinuz",
// INITRD="/initrd.img", the running command line when APPEND is empty):
//
//  - /vmlinuz with /initrd.img; else /boot/vmlinuz with /boot/initrd.img
//    (linux-update-symlinks puts them in /boot with link_in_boot = yes).
//    No initrd link: the kernel alone.
//  - The command line: /proc/cmdline less BOOT_IMAGE= and initrd=
//    (reusableCmdline()).
//  - The links are followed inside the tree only (RESOLVE_IN_ROOT).
//
// Off unless kexecd.conf says DebianLayout=yes; then it is the default
// entry whenever discovery finds no other.

#include <optional>
#include <string>
#include <vector>

#include "discovery.h"

namespace kexecd {

/* The entry, or nullopt (with a note) when the tree has no kernel link. */
std::optional<UkiEntry> debianLayoutEntry(const DiscoveryPaths &paths, std::vector<std::string> *notes);

/* The reason list and status give for it. */
std::string debianLayoutWhy(const UkiEntry &entry);

} // namespace kexecd
