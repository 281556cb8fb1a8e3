// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// UEFI signature databases (UEFI spec 32.4.1 EFI_SIGNATURE_LIST) as the
// firmware variables db, dbx, MokListRT and MokListXRT hold them, and as
// shim's .vendor_cert carries its vendor dbx. Only the entry types the
// kernel and shim act on are kept: X.509 certificates, SHA-256 image
// hashes and SHA-256 hashes of a certificate's TBSCertificate.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "openssl_util.h"
#include "result.h"

namespace kexecd {

using Sha256 = std::array<uint8_t, 32>;

struct SignatureDatabase {
	struct Cert {
		detail::X509Ptr cert;
		std::string origin; // variable or file it came from
	};
	std::vector<Cert> certs;
	std::vector<Sha256> imageHashes; // EFI_CERT_SHA256_GUID
	std::vector<Sha256> certHashes;  // EFI_CERT_X509_SHA256_GUID (TBS hash)
	unsigned ignoredEntries = 0;     // other types (SHA-1, RSA-2048, ...)
	bool present = false;            // at least one source was read

	/* Add a concatenation of EFI_SIGNATURE_LISTs. All or nothing: a list
	 * damaged half-way adds nothing and is an error naming origin. */
	Result<void> addLists(std::span<const uint8_t> esl, const std::string &origin);
	/* An efivarfs file (4-byte attribute prefix, then the lists). */
	Result<void> addVariableFile(const std::string &path);

	bool hasImageHash(std::span<const uint8_t> sha256) const;
	bool hasCertHash(std::span<const uint8_t> sha256) const;
	/* The entry equal to cert (DER comparison), or nullptr. */
	const Cert *findCert(X509 *cert) const;
	size_t size() const { return certs.size() + imageHashes.size() + certHashes.size(); }
};

} // namespace kexecd
