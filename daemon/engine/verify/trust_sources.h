// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Where trust and revocation come from, read the way the kernel and shim
// read them: the firmware's db and dbx, shim's MokListRT and MokListXRT
// (which shim fills with the MOK list plus its built-in vendor certificate
// and vendor dbx), SbatLevelRT, the MokIgnoreDB flag, the kernel's builtin/
// secondary/machine keyrings from /proc/keys, and kexecd's trust.d.
// Every path is a parameter, so tests point it at fixture trees.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "efi_sigdb.h"
#include "result.h"
#include "revocation.h"
#include "trust.h"

namespace kexecd {

inline constexpr const char *kEfiGlobalDbGuid = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
inline constexpr const char *kShimLockGuid = "605dab50-e046-4300-abb6-3dd810dd8b23";

struct TrustSourcePaths {
	std::string trustDir;                                 // *.pem|*.crt, kexecd's own
	std::string efivarsDir = "/sys/firmware/efi/efivars";
	/* shim's EFI configuration table copy of the MOK variables: complete
	 * even when the MokListRT variable had to be split (MokListRT1, ...). */
	std::string mokVariablesDir = "/sys/firmware/efi/mok-variables";
	std::string procKeys = "/proc/keys";
	bool useFirmwareDb = true; // read db/dbx/MOK/SBAT at all
};

/* A key in one of the kernel's keyrings that the secondary keyring search
 * reaches (.builtin_trusted_keys, .secondary_trusted_keys, .machine). The
 * kernel names an X.509 key "<CN>: <subjectKeyIdentifier or serial, hex>". */
struct KernelKey {
	std::string keyring;
	std::string name;
	std::string keyId; // lowercase hex
};

struct KernelKeyrings {
	bool known = false;      // every key of those keyrings could be listed
	std::vector<KernelKey> keys;
	std::string note;        // why not known, or where they came from
};

/* /proc/keys lines plus, when the file is the real one, keyctl(KEYCTL_READ)
 * for keyring membership: /proc/keys says which keys exist, not where. An
 * empty keyring is known from the file alone. */
KernelKeyrings readKernelKeyrings(const std::string &procKeys);

struct TrustSources {
	TrustStore trustDir;
	SignatureDatabase db, dbx, mok, mokx;
	std::optional<SbatLevel> sbatLevel;
	bool ignoreDb = false; // MokIgnoreDB: shim and the kernel skip db
	KernelKeyrings kernelKeys;
	std::vector<std::string> notes; // sources that were damaged or unreadable

	/* X.509 stores built from the lists above (db is empty under MokIgnoreDB). */
	TrustStore dbStore, mokStore;

	/* Counts and origins for status and the record. */
	nlohmann::json describe() const;
};

/* Missing sources are empty (not an error); a damaged one is left out and
 * named in notes; only an unreadable trust.d fails. */
Result<TrustSources> loadTrustSources(const TrustSourcePaths &paths);

/* Build dbStore/mokStore after changing db/mok by hand (tests). */
Result<void> rebuildStores(TrustSources &sources);

} // namespace kexecd
