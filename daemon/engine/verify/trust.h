// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 4 ("verify"): a trust store of X.509 certificates and the
// chain check every verdict uses. verifyAuthenticode() is the plain
// "does any signature chain to this store" question; verdict.h asks what
// shim and the kernel would decide, with their trust sources, revocation
// lists and rules (authenticode.h parses, efi_sigdb.h reads db/MOK lists).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <openssl/x509.h>

#include "pe.h"
#include "result.h"

#include "openssl_util.h"

namespace kexecd {

enum class Verdict {
	Trusted,         // signature valid, signer chains to the trust store
	UntrustedSigner, // signature valid, signer unknown
	Unsigned,        // no certificate table
	BadSignature,    // hash mismatch or malformed/invalid signature
	Revoked,         // dbx, MokListX, the kernel's blacklist or SBAT revoke it
	Unknown,         // cannot be predicted (a kernel keyring is not readable)
};

/* "trusted", "untrusted-signer", "unsigned", "bad-signature", "revoked", "unknown" */
const char *verdictName(Verdict verdict);

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

	/* Adds a reference; the caller keeps its own. */
	Result<void> addCertificate(X509 *cert, const std::string &origin);

	size_t size() const { return count_; }
	X509_STORE *store() const { return store_; }

private:

	X509_STORE *store_ = nullptr;
	size_t count_ = 0;
};

/* Does cert chain to a certificate of store, with untrusted as
 * intermediates? Like firmware, shim and the kernel: any certificate of the
 * store may be the anchor (partial chains), no time or purpose checks. */
struct ChainCheck {
	bool trusted = false;
	std::string error;                  // why not
	std::vector<detail::X509Ptr> chain; // cert first, anchor last
	std::string anchor;                 // anchor's subject
};
ChainCheck checkChain(X509 *cert, STACK_OF(X509) *untrusted, X509_STORE *store);

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
