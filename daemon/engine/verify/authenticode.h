// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Authenticode parsing, with no notion of trust: the image digest, the
// certificate table's WIN_CERTIFICATE entries and, for each, whether its
// PKCS#7 SignedData is intact (SpcIndirectDataContent well formed, its
// digest equal to the image's, the signer's signature over it valid).
// Which signer to trust, and which signature counts, is the caller's rule
// (trust.h for a trust store, verdict.h for shim's and the kernel's rules).

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "openssl_util.h"
#include "pe.h"
#include "result.h"

namespace kexecd {

/* SpcIndirectDataContent and the two data types the kernel's mscode parser
 * accepts: SpcPeImageData, and SPC_INDIVIDUAL_SP_KEY_PURPOSE, which old
 * pesign versions wrote by mistake (fwupd-efi's Debian signature has it). */
inline constexpr const char *kSpcIndirectDataOid = "1.3.6.1.4.1.311.2.1.4";
inline constexpr const char *kSpcPeImageDataOid = "1.3.6.1.4.1.311.2.1.15";
inline constexpr const char *kSpcIndividualKeyPurposeOid = "1.3.6.1.4.1.311.2.1.21";

/* The Authenticode image digest (PE spec "Calculating the PE Image Hash"):
 * headers without checksum and certificate directory entry, sections'
 * SizeOfRawData bytes by file offset, then the rest of the file less the
 * certificate table. No padding is added: sbsign pads the image to 8 bytes
 * before signing, so an unsigned file of odd length hashes differently from
 * the signed copy made of it. */
Result<std::vector<uint8_t>> authenticodeDigest(const PeFile &pe, const EVP_MD *md);

struct ByteRange {
	uint64_t offset = 0;
	uint64_t size = 0;
	bool operator==(const ByteRange &) const = default;
};
/* The file ranges that digest covers, in hashing order; staging hashes
 * them while it reads the file (issue 16) and hands the result to the
 * PeFile (PeFile::setKnownAuthenticodeSha256). */
Result<std::vector<ByteRange>> authenticodeRanges(const PeFile &pe);

using Pkcs7Ptr = std::unique_ptr<PKCS7, detail::OsslDeleter<PKCS7_free>>;

/* One WIN_CERTIFICATE entry of the certificate table. */
struct PeSignature {
	unsigned index = 0;       // 0 = first entry, the only one the kernel reads
	bool intact = false;      // digest matches and the PKCS#7 signature verifies
	std::string problem;      // why not intact
	std::string dataType;     // SpcAttributeTypeAndOptionalValue.type OID
	std::vector<uint8_t> signedDigest; // the image digest the signer signed
	const EVP_MD *md = nullptr;
	Pkcs7Ptr pkcs7;           // owns signer and certs below
	X509 *signer = nullptr;   // borrowed from pkcs7
	STACK_OF(X509) *certs = nullptr; // the certificates the message carries
	std::optional<time_t> signingTime; // PKCS#9 signingTime signed attribute
	/* Authenticated attributes with contentType and messageDigest: the
	 * kernel's PKCS#7 parser refuses Authenticode without them ("Authenticode
	 * requires AuthAttrs"); OpenSSL, and so shim, accept a bare signature. */
	bool signedAttributes = false;
	std::string signerName;   // RFC 2253 subject of the signer
};

struct PeSignatures {
	bool hasTable = false;    // a certificate table is present at all
	std::string tableProblem; // the table itself is damaged (then entries may be partial)
	std::vector<PeSignature> entries; // WIN_CERT_TYPE_PKCS_SIGNED_DATA revision 2 entries
	unsigned otherEntries = 0; // entries of another type or revision (skipped)
	bool firstIsOther = false; // the very first entry is not PKCS#7 (the kernel refuses)
};

/* Never fails for a damaged signature (that is a PeSignature with intact =
 * false, or tableProblem); only for internal errors. */
Result<PeSignatures> readPeSignatures(const PeFile &pe);

namespace detail {
std::string nameToString(const X509_NAME *name);
std::string hexString(std::span<const uint8_t> bytes);
/* SHA-256 of the certificate's DER TBSCertificate, as dbx's
 * EFI_CERT_X509_SHA256 entries and the kernel's "tbs:" blacklist name it. */
std::vector<uint8_t> tbsSha256(X509 *cert);
std::optional<time_t> asn1TimeToUnix(const ASN1_TIME *t);
} // namespace detail

} // namespace kexecd
