// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Boot Loader Specification Type #1 entries: $ESP/loader/entries/*.conf
// and $XBOOTLDR/loader/entries/*.conf, read as systemd-boot reads them
// (src/boot/boot.c, src/shared/bootspec.c of systemd v258):
//
//  - One "key value" per line; whole-line '#' comments; the value is the
//    rest of the line, trimmed, without surrounding double quotes.
//  - title, version, machine-id, sort-key, linux, devicetree,
//    architecture, uki, efi: the last one wins. initrd: every one, in
//    order. options: every one, joined by a space.
//  - An entry with neither linux nor uki is skipped (an "efi" entry
//    starts an EFI program, which kexec cannot), and so is one whose
//    architecture is not this machine's (x64, aa64, ...), each with a note.
//  - The id is the file name, boot counter ("+LEFT[-DONE]") stripped,
//    lower-cased; the title defaults to the id less ".conf".
//  - Paths are relative to the root of the partition holding the entry
//    (a leading '/' is allowed). An entry with a ".." component keeps its
//    place in the order with UkiEntry::problem naming the entry file;
//    staging it is Code::InvalidEntry. Symlinks are never followed when
//    the files are opened (boot_files.h).
//  - Limits: an entry file of at most kMaxEntryFileSize bytes and
//    kMaxEntryInitrds initrds.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "discovery.h"
#include "result.h"

namespace kexecd {

inline constexpr size_t kMaxEntryFileSize = 64 * 1024;
inline constexpr size_t kMaxEntryInitrds = 15;

/* Parse one entry file's text. fileName is its name in loader/entries/,
 * root the partition it is on, entryFile its full path (named in errors).
 * Code::InvalidEntry for an entry kexecd must refuse; skip (with why) for
 * one systemd-boot would not show. */
struct Type1Parse {
	std::optional<UkiEntry> entry;
	std::string skipped; // why there is no entry, when none
};
Result<Type1Parse> parseType1Entry(std::string_view text, std::string_view fileName, const std::string &root,
				   const std::string &entryFile, std::string_view efiArchitecture);

/* Every Type #1 entry under root/loader/entries; broken ones become notes
 * (the boot menu still shows the others). */
Result<void> scanType1Entries(const std::string &root, const char *source, std::string_view efiArchitecture,
			      std::vector<UkiEntry> &out, std::vector<std::string> *notes);

/* The UEFI name of this machine's architecture, as systemd-boot's
 * EFI_MACHINE_TYPE_NAME: "x64", "aa64", "ia32", "arm", "riscv64", "loongarch64". */
std::string_view efiMachineTypeName();

/* A path from an entry made relative to its partition: leading '/'
 * dropped, "//" and "/./" folded; Code::InvalidEntry for "..", empty or
 * over-long paths, naming entryFile. */
Result<std::string> entryRelativePath(std::string_view value, const std::string &entryFile, const char *key);

} // namespace kexecd
