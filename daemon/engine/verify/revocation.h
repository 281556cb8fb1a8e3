// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Revocation as shim and the kernel apply it: dbx / MokListX entries
// (image hashes, certificates, certificate TBS hashes) and SBAT
// generations (an image's .sbat section against SbatLevelRT).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authenticode.h"
#include "efi_sigdb.h"
#include "pe.h"
#include "result.h"

namespace kexecd {

struct SbatEntry {
	std::string component;
	uint32_t generation = 0;
};

/* CSV as in an image's .sbat section or the SbatLevelRT variable: one
 * record a line, component name and generation first; parsing stops at
 * the first NUL (sections are padded). Records whose generation is not a
 * number are an error, as shim refuses them. */
Result<std::vector<SbatEntry>> parseSbat(std::string_view csv);

struct SbatLevel {
	std::string origin; // "SbatLevelRT" path or a file
	std::string text;   // first line, e.g. "sbat,1,2025051000"
	std::vector<SbatEntry> entries;
};
Result<SbatLevel> parseSbatLevel(std::string_view csv, const std::string &origin);

/* shim's verify_sbat(): for every level entry, every record of the image
 * with the same component name must have at least that generation. The
 * reason when revoked, nullopt when not. An image without .sbat is not
 * revoked here (shim refuses it only when it loads the image itself;
 * through the shim protocol, as for a kernel, it is optional). */
std::optional<std::string> sbatRevocation(const PeFile &pe, const SbatLevel &level);

/* Does list (dbx or MokListX, named by name) revoke this signature? By its
 * chain reaching a listed certificate (shim's check_db_cert with the list
 * as anchors; the kernel's revocation keyring), or by a certificate's TBS
 * hash (EFI_CERT_X509_SHA256; the kernel's "tbs:" blacklist). */
std::optional<std::string> signatureRevocation(const PeSignature &sig, const SignatureDatabase &list,
					       const std::string &name);

} // namespace kexecd
