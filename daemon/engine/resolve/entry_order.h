// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The boot menu order (discovery.h describes it); compareVersions() and
// parseTriesCounter() are declared in boot_entry.h.

#include "boot_entry.h"

namespace kexecd::detail {

/* systemd-boot's boot_entry_compare() over every kind of entry, plus a
 * total order on ties so the result never depends on readdir. */
bool menuOrder(const UkiEntry &a, const UkiEntry &b);

} // namespace kexecd::detail
