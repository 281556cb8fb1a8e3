// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 1 ("resolve") when no UKI is named: where UKIs and addons
// are and which UKI the boot loader would start by default. The rules
// follow the Boot Loader Specification (UAPI.1), systemd-boot and
// systemd-stub, so that a kexec starts what a firmware reboot would:
//
//  - ESP: DiscoveryPaths::esp when set (must be a directory), else the
//    first of espCandidates holding EFI/ or loader/. XBOOTLDR only when
//    given explicitly (no partition type GUID probing here).
//  - UKIs (BLS Type #2): regular files $ESP/EFI/Linux/*.efi and
//    $XBOOTLDR/EFI/Linux/*.efi; like systemd-boot, names starting with
//    '.' or "auto-" are skipped and the suffix matches case-insensitively.
//    A valid PE without a usable .osrel (no PRETTY_NAME, IMAGE_ID, NAME
//    or ID) is skipped too, as systemd-boot shows no entry for it. A file
//    that does not parse as PE is kept (by name only): discovery does
//    not validate, the stager rejects it with a clear error when chosen.
//    Distribution UKIs $modulesDir/$UNAME/*.efi are listed too (source
//    "modules", id "$UNAME/<file>"); the boot loader never sees them, so
//    EFI variables and loader.conf never select them.
//  - Boot counting (BLS "Boot counting"): "name+LEFT[-DONE].efi" gives id
//    "name.efi" (systemd-boot's Type #2 ids keep the suffix), triesLeft
//    LEFT, triesDone DONE; triesLeft 0 marks a bad entry.
//  - Order (systemd-boot's config_entry_compare): good before bad; then
//    entries with a sort key (.osrel IMAGE_ID, else ID) before those
//    without; between two with sort keys: sort key ascending (strcmp),
//    then .osrel version (IMAGE_VERSION, VERSION, VERSION_ID, BUILD_ID)
//    newest first; then ids newest first; then more tries left, then
//    fewer tries done. Versions compare as strverscmp_improved does.
//    Modules UKIs follow the boot loader's good entries, newest $UNAME
//    first; bad entries come last of all.
//  - Default (systemd-boot's config_default_entry_select): the first
//    entry in that order matching, as an fnmatch(3) glob and ignoring
//    case, LoaderEntryOneShot, then LoaderEntryDefault (EFI variables of
//    the loader vendor GUID), then the last "default" of
//    $ESP/loader/loader.conf; "@saved" stands for LoaderEntryLastBooted.
//    A value matching nothing falls through. Last, the first entry.
//  - Addons (systemd-stub): regular files $ESP/loader/addons/*.addon.efi
//    (global), then <UKI path>.extra.d/*.addon.efi (per UKI); each set
//    sorted by strcmp; names starting with '.', non-ASCII names and
//    names longer than 255 bytes are skipped.
//  - Limits: at most kMaxUkis UKIs (the first in order are kept) and
//    kMaxAddons addons in all (global ones first) are returned; the rest
//    are ignored with a note, not an error, so one stray file cannot stop
//    staging. A directory is read for at most kMaxDirEntries entries.
//  - Not done: one menu entry per profile of a multi-profile UKI (newer
//    systemd-boot); a profile is chosen at staging time instead. The
//    LoaderEntryOneShot variable is read, never cleared.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace kexecd {

inline constexpr size_t kMaxUkis = 256;
inline constexpr size_t kMaxAddons = 64;
inline constexpr size_t kMaxDirEntries = 4096;
inline constexpr size_t kMaxFileNameLength = 255;

/* systemd-boot's vendor GUID for the Loader* variables. */
inline constexpr const char *kLoaderVendorGuid = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

struct DiscoveryPaths {
	std::vector<std::string> espCandidates = { "/efi", "/boot", "/boot/efi" };
	std::string esp;      // explicit (configuration) wins when non-empty
	std::string xbootldr; // explicit only; "" = none
	std::string modulesDir = "/usr/lib/modules";
	std::string efivarsDir = "/sys/firmware/efi/efivars";
};

struct UkiEntry {
	std::string id;      // as systemd-boot names it: file name without tries counter
	std::string path;
	/* Kernel version: $UNAME for "modules", else .uname, else the id
	 * from its first "-<digit>" on, less ".efi" ("" when none). */
	std::string version;
	std::string title;     // .osrel PRETTY_NAME, IMAGE_ID, NAME or ID ("" unparsed)
	std::string sortKey;   // .osrel IMAGE_ID or ID
	std::string osVersion; // .osrel IMAGE_VERSION, VERSION, VERSION_ID or BUILD_ID
	int triesLeft = -1;  // -1: no boot counting
	int triesDone = -1;
	std::string source;  // "esp", "xbootldr", "modules"

	bool bad() const { return triesLeft == 0; }
};

/* Where the ESP is; Code::Unsupported naming the places looked at when
 * there is none. */
Result<std::string> findEsp(const DiscoveryPaths &paths);

/* Every UKI, in boot menu order (see above). Code::Unsupported without an
 * ESP, Code::Io when a directory that exists cannot be read. Notes about
 * ignored files are appended to notes when given. */
Result<std::vector<UkiEntry>> listUkis(const DiscoveryPaths &paths,
				       std::vector<std::string> *notes = nullptr);

/* The UKI the boot loader would start; why (when given) says which rule
 * picked it. Code::Unsupported when there is no UKI at all. */
Result<UkiEntry> defaultUki(const DiscoveryPaths &paths, std::string *why);

/* Addon paths in systemd-stub order for the UKI at ukiPath. Unreadable
 * or missing directories give no addons (as systemd-stub). */
std::vector<std::string> findAddons(const DiscoveryPaths &paths, const std::string &ukiPath,
				    std::vector<std::string> *notes = nullptr);

/* Helpers, exposed for tests and for `kexecctl list`. */

/* systemd's strverscmp_improved(): <0, 0, >0 as a is older, equal, newer. */
int compareVersions(std::string_view a, std::string_view b);

/* "name+3-1.efi" -> id "name.efi", left 3, done 1. Without a valid
 * counter the id is the name and both counts are -1. */
struct TriesCounter {
	std::string id;
	int left = -1;
	int done = -1;
};
TriesCounter parseTriesCounter(std::string_view fileName, std::string_view suffix);

/* The last non-empty "default" of a loader.conf text (systemd-boot syntax:
 * "key value", whole-line '#' comments, value optionally in double
 * quotes); nullopt when none. */
std::optional<std::string> parseLoaderConfDefault(std::string_view text);

/* A Loader* variable's efivarfs bytes (4 attribute bytes, then UTF-16LE up
 * to a NUL) as UTF-8; nullopt when empty or malformed (unpaired surrogate). */
std::optional<std::string> decodeLoaderVariable(std::span<const uint8_t> data);

/* A Loader* string variable from efivarfs (4 attribute bytes, then
 * UTF-16LE up to a NUL). nullopt when absent, empty or malformed. */
std::optional<std::string> readLoaderVariable(const std::string &efivarsDir, const std::string &name);

} // namespace kexecd
