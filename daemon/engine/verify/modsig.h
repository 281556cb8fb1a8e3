// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Appended module-style signatures (scripts/sign-file format), as the kexec
// BPF series expects on the parser container (KERNEL-ABI.md section 1, 4):
//
//   payload | PKCS#7 (CMS SignedData, DER, detached, no signed attributes,
//   no embedded certificates, SHA-256, signer by issuer+serial)
//   | struct module_signature (12 bytes: algo 0, hash 0, id_type 2
//   (PKEY_ID_PKCS7), signer_len 0, key_id_len 0, pad[3], sig_len big-endian)
//   | "~Module signature appended~\n"

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <openssl/x509_vfy.h>

#include "result.h"

namespace kexecd {

inline constexpr std::string_view kModuleSigMagic = "~Module signature appended~\n";
inline constexpr size_t kModuleSigInfoSize = 12;

/* Sign bytes with the PEM private key and certificate (PEM text, not paths)
 * and return bytes + signature + trailer. */
Result<std::vector<uint8_t>> appendModuleSignature(std::span<const uint8_t> bytes,
						   std::string_view keyPem,
						   std::string_view certPem);

/* Split off the trailer (no cryptography): the signed payload and the DER
 * PKCS#7 blob. Code::InvalidImage when there is no or a malformed trailer. */
struct ModuleSignatureParts {
	std::span<const uint8_t> payload;
	std::span<const uint8_t> pkcs7;
};
Result<ModuleSignatureParts> splitModuleSignature(std::span<const uint8_t> bytes);

/* Verify the appended signature against the certificates in store (any
 * certificate of the store may be the signer; its chain must verify in the
 * store, without purpose/EKU checks, like the kernel's keyring check).
 * Returns the signed payload. Code::InvalidImage for a missing or malformed
 * trailer, Code::SignatureRejected for a bad or untrusted signature. */
Result<std::span<const uint8_t>> verifyModuleSignature(std::span<const uint8_t> bytes,
							X509_STORE *store);

} // namespace kexecd
