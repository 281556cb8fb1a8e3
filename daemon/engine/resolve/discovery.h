// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 1 ("resolve") when no kernel is named: where boot entries
// and addons are and which entry the boot loader would start by default.
// This file is the entry model, the ESP/XBOOTLDR scan of Type #2 UKIs and
// the default rule; Type #1 entries are read by bls_type1.*, the Debian
// layout by debian_layout.*, the order is entry_order.*, the EFI
// variables efi_vars.*, and the files are opened by boot_files.*. The rules
// follow the Boot Loader Specification (UAPI.1), systemd-boot and bootctl
// (src/boot/boot.c, src/shared/bootspec.c of systemd v258), so that a
// kexec starts what a firmware reboot would:
//
//  - ESP: DiscoveryPaths::esp when set (must be a directory), else the
//    first of espCandidates holding EFI/ or loader/. XBOOTLDR: the
//    configured one, else (as bootctl) the first of xbootldrCandidates
//    that is not the ESP and is a mount point whose partition type (udev
//    database, ID_PART_ENTRY_TYPE) is the XBOOTLDR GUID, or, where udev
//    knows nothing of it, holds EFI/Linux/ or loader/entries/.
//  - UKIs (BLS Type #2): regular files $ESP/EFI/Linux/*.efi and
//    $XBOOTLDR/EFI/Linux/*.efi; like systemd-boot, names starting with
//    '.' or "auto-" are skipped and the suffix matches case-insensitively.
//    Files that are no UKI are skipped with a note: not a PE, no .osrel
//    naming the OS (PRETTY_NAME, IMAGE_ID, NAME or ID) - systemd-boot
//    shows no entry for them - or no .linux (the stub would refuse it).
//    Distribution UKIs $modulesDir/$UNAME/*.efi are listed too (source
//    "modules", id "$UNAME/<file>"); the boot loader never sees them, so
//    EFI variables and loader.conf never select them.
//  - Type #1 entries (bls_type1.h): $ESP/loader/entries/*.conf and
//    $XBOOTLDR/loader/entries/*.conf, in the same list and the same order
//    as Type #2 entries, as systemd-boot merges them; kind "kernel" for
//    linux + initrd + options, "uki" for an entry naming a UKI.
//  - Without any entry at all (not even an ESP), and only with
//    DebianLayout=yes: Debian's /vmlinuz and /initrd.img links
//    (debian_layout.h).
//  - Profiles (boot.c boot_entry_add_type2()): one entry per profile of
//    a multi-profile UKI. Profile 0 is "name.efi", profile N>0
//    "name.efi@<ID>" from its .profile ID=, "name.efi@N" only without an
//    ID=. Ids are lower-cased as systemd-boot's are.
//  - Boot counting (BLS "Boot counting"): "name+LEFT[-DONE].efi" gives id
//    "name.efi", triesLeft LEFT, triesDone DONE; triesLeft 0 marks a bad
//    entry. The counter is also stripped for <uki>.efi.extra.d/.
//  - Order (systemd-boot's boot_entry_compare()): good before bad; then
//    entries with a sort key (.osrel IMAGE_ID, else ID) before those
//    without; between two with sort keys: sort key ascending (strcmp),
//    then machine-id (Type #1; strcmp, none first), then version (Type
//    #1 "version", Type #2 .osrel (IMAGE_VERSION, VERSION, VERSION_ID, BUILD_ID)
//    newest first; then ids without profile newest first, then profile
//    number ascending; then more tries left, then fewer tries done.
//    Versions compare as strverscmp_improved does. Modules UKIs follow
//    the boot loader's good entries, newest $UNAME first; bad entries
//    come last of all.
//  - Default (systemd-boot's config_default_entry_select()): the first
//    entry in that order matching, as an fnmatch(3) glob and ignoring
//    case, LoaderEntryOneShot, then LoaderEntryDefault (EFI variables of
//    the loader vendor GUID), then the last "default" of
//    $ESP/loader/loader.conf. "@saved" stands for LoaderEntryLastBooted,
//    the variable systemd-boot itself reads at boot (bootctl shows
//    LoaderEntrySelected, which is the entry booted *this* time): kexecd
//    stands in for the boot loader, so it reads what the boot loader
//    reads. A value matching nothing falls through. Last, the first entry.
//  - Addons and sidecar files (systemd-stub): from the UKI's own
//    partition (ESP or XBOOTLDR): loader/addons/*.addon.efi (global),
//    then <UKI, counter stripped>.extra.d/*.addon.efi (per UKI); each set
//    sorted by strcmp; names starting with '.', non-ASCII names and names
//    longer than 255 bytes are skipped. Credentials (*.cred), sysext
//    (*.raw but *.confext.raw) and confext (*.confext.raw) images from the
//    same .extra.d, loader/credentials/ and loader/extensions/.
//  - Limits: at most kMaxUkis UKIs (the first in order are kept) and
//    kMaxAddons addons in all (global ones first) are returned; the rest
//    are ignored with a note, not an error, so one stray file cannot stop
//    staging. A directory is read for at most kMaxDirEntries entries.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boot_entry.h"
#include "efi_vars.h"
#include "esp_files.h"
#include "result.h"
#include "stub_cpio.h"

namespace kexecd {

/* Every UKI, in boot menu order (see above). Code::Unsupported without an
 * ESP, Code::Io when a directory that exists cannot be read. Notes about
 * ignored files are appended to notes when given. */
Result<std::vector<UkiEntry>> listUkis(const DiscoveryPaths &paths,
				       std::vector<std::string> *notes = nullptr);

/* The UKI the boot loader would start; why (when given) says which rule
 * picked it, rule names it ("LoaderEntryOneShot", "LoaderEntryDefault",
 * "loader.conf", "order"). Code::Unsupported when there is no UKI. */
Result<UkiEntry> defaultUki(const DiscoveryPaths &paths, std::string *why, std::string *rule = nullptr);

/* Whether systemd-boot picks the entry booted last ("default @saved" in
 * LoaderEntryDefault or loader.conf), so a kexec boot must update
 * LoaderEntryLastBooted as systemd-boot would at a firmware boot. */
bool defaultIsSaved(const DiscoveryPaths &paths);

/* The last non-empty "default" of a loader.conf text (systemd-boot syntax:
 * "key value", whole-line '#' comments, value optionally in double
 * quotes); nullopt when none. */
std::optional<std::string> parseLoaderConfDefault(std::string_view text);

} // namespace kexecd
