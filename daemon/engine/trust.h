// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 4 ("verify"): Authenticode verification of a PE with
// OpenSSL 3 against a trust store. This is a userspace pre-check so that a
// bad image fails early with a clear message; the kernel verifies again.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pe.h"
#include "result.h"

typedef struct x509_st X509;
typedef struct x509_store_st X509_STORE;
typedef struct evp_md_st EVP_MD;

namespace kexecd {

enum class Verdict {
	Trusted,         // signature valid, signer chains to the trust store
	UntrustedSigner, // signature valid, signer unknown
	Unsigned,        // no certificate table
	BadSignature,    // hash mismatch or malformed/invalid signature
};

const char *verdictName(Verdict verdict); // "trusted", "untrusted-signer", "unsigned", "bad-signature"

class TrustStore
{
public:
	TrustStore();
	~TrustStore();
	TrustStore(TrustStore &&) noexcept;
	TrustStore &operator=(TrustStore &&) noexcept;

	/* Load every *.pem, *.crt, *.cer, *.der file of dir (PEM or DER,
	 * several certificates per PEM file allowed). A missing directory
	 * gives an empty store; an unreadable certificate is an error naming
	 * the file. */
	static Result<TrustStore> loadDirectory(const std::string &dir);
	/* Add certificates from the firmware db: a list of EFI_SIGNATURE_LISTs
	 * (the variable's value, without efivarfs's 4-byte attribute prefix),
	 * X.509 entries only; hashes are ignored. On error nothing is added. */
	Result<void> addEfiSignatureList(std::span<const uint8_t> esl, const std::string &origin);
	/* The same from an efivarfs file, e.g.
	 * /sys/firmware/efi/efivars/db-d719b2cb-3d3a-4596-a3bc-dad00e67656f. */
	Result<void> addEfiVariableFile(const std::string &path);
	Result<void> addCertificateFile(const std::string &path);

	size_t size() const { return count_; }
	X509_STORE *store() const { return store_; }

private:
	Result<void> addCertificate(X509 *cert, const std::string &origin);

	X509_STORE *store_ = nullptr;
	size_t count_ = 0;
};

/* The Authenticode image digest (PE spec "Calculating the PE Image Hash"):
 * headers without checksum and certificate directory entry, sections'
 * SizeOfRawData bytes by file offset, then the rest of the file less the
 * certificate table. No padding is added: sbsign pads the image to 8 bytes
 * before signing, so an unsigned file of odd length hashes differently from
 * the signed copy made of it. */
Result<std::vector<uint8_t>> authenticodeDigest(const PeFile &pe, const EVP_MD *md);

struct SignatureReport {
	Verdict verdict = Verdict::Unsigned;
	std::string signer; // subject of the signing certificate, if any
	std::string detail; // why, for a human: "digest mismatch", "no trusted chain: ..."
};

/* Never fails for a bad or malformed signature: that is a verdict
 * (a garbage certificate table is BadSignature). Fails only for internal
 * errors (Code::Internal, e.g. OpenSSL out of memory). With several
 * signatures, one trusted is enough (as firmware); otherwise a bad one wins
 * over an untrusted signer. */
Result<SignatureReport> verifyAuthenticode(const PeFile &pe, const TrustStore &store);

} // namespace kexecd
