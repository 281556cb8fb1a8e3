// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Boot counting (systemd's automatic boot assessment) as systemd-boot and
// systemd-bless-boot do it, for a boot that skips them: a kexec. The rules
// are theirs (boot.c config_entry_parse_tries(), bless-boot.c):
//   foo+3.efi   -> foo+2-1.efi -> foo+1-2.efi -> foo+0-3.efi  (each try)
//   foo+2-1.efi -> foo.efi                                    (good)
//   foo+2-1.efi -> foo+0-1.efi                                (bad)
// The counter is the text after the last '+' and before the suffix
// (".efi", ".conf"); anything else there means no counter. Taking a try
// from an entry already at 0 still counts it as done, as systemd-boot does.

#include <optional>
#include <string>
#include <string_view>

#include "result.h"

namespace kexecd {

struct BootCounter {
	std::string prefix; // the name up to and including the '+'
	std::string suffix; // ".efi" or ".conf", as written
	int left = 0;
	int done = 0;
};

/* nullopt when fileName has no valid counter before suffix (matched
 * without regard to case, like systemd-boot). */
std::optional<BootCounter> parseBootCounter(std::string_view fileName, std::string_view suffix);

/* The name systemd-boot renames to when it boots the entry. */
std::string nextTryName(const BootCounter &c);
/* systemd-bless-boot good / bad. */
std::string blessedName(const BootCounter &c);
std::string badName(const BootCounter &c);

/* Renames dir/from to dir/to, refusing to replace an existing file, and
 * syncs the directory so a crash right after cannot undo it (the ESP is
 * FAT: a rename without the sync can vanish on power loss). Code::Io
 * names both files. */
Result<void> renameEntryFile(const std::string &dir, const std::string &from, const std::string &to);

} // namespace kexecd
