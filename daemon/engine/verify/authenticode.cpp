// SPDX-License-Identifier: LGPL-2.1-or-later
#include "authenticode.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "le.h"

namespace kexecd {

namespace {

using detail::BioPtr;
using detail::OsslDeleter;
using detail::opensslErrors;
using detail::MdCtxPtr;
using ObjectPtr = std::unique_ptr<ASN1_OBJECT, OsslDeleter<ASN1_OBJECT_free>>;

/* WIN_CERTIFICATE (PE/COFF spec "The Attribute Certificate Table"). */
constexpr size_t kWinCertHeader = 8;
constexpr uint16_t kWinCertRevision2 = 0x0200;
constexpr uint16_t kWinCertTypePkcsSignedData = 0x0002;

using detail::le16;
using detail::le32;

std::string objectToText(const ASN1_OBJECT *obj)
{
	char buf[128];
	int len = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
	if (len <= 0 || static_cast<size_t>(len) >= sizeof(buf))
		return {};
	return std::string(buf, static_cast<size_t>(len));
}

/* Minimal DER reader for the SpcIndirectDataContent: definite lengths only
 * (DER forbids the others), every length checked against what is left. */
struct Tlv {
	uint8_t tag = 0;
	std::span<const uint8_t> whole;   // tag, length and value
	std::span<const uint8_t> content; // value only
};

bool readTlv(std::span<const uint8_t> &in, Tlv &out)
{
	if (in.size() < 2)
		return false;
	uint8_t tag = in[0];
	/* High-tag-number form never appears in the structures we read. */
	if ((tag & 0x1f) == 0x1f)
		return false;
	size_t pos = 1;
	size_t len = in[pos++];
	if (len & 0x80) {
		size_t n = len & 0x7f;
		if (n == 0 || n > 4 || in.size() - pos < n)
			return false;
		len = 0;
		for (size_t i = 0; i < n; i++)
			len = (len << 8) | in[pos++];
	}
	if (len > in.size() - pos)
		return false;
	out.tag = tag;
	out.whole = in.subspan(0, pos + len);
	out.content = in.subspan(pos, len);
	in = in.subspan(pos + len);
	return true;
}

constexpr uint8_t kTagOctetString = 0x04;
constexpr uint8_t kTagOid = 0x06;
constexpr uint8_t kTagSequence = 0x30;

struct IndirectData {
	std::span<const uint8_t> signedContent; // the SEQUENCE's value: what PKCS#7 signed
	std::span<const uint8_t> dataTypeOid;   // DER of SpcAttributeTypeAndOptionalValue.type
	std::span<const uint8_t> digestOid;     // DER of the digest AlgorithmIdentifier's OID
	std::span<const uint8_t> digest;
};

/*
 * SpcIndirectDataContent ::= SEQUENCE {
 *     data          SEQUENCE { type OBJECT IDENTIFIER, value ANY OPTIONAL },
 *     messageDigest SEQUENCE { SEQUENCE { OBJECT IDENTIFIER, ANY OPTIONAL }, OCTET STRING } }
 */
bool parseIndirectData(std::span<const uint8_t> der, IndirectData &out)
{
	Tlv outer, data, digestInfo, algorithm, oid, digest, dataType;

	if (!readTlv(der, outer) || outer.tag != kTagSequence || !der.empty())
		return false;
	out.signedContent = outer.content;

	std::span<const uint8_t> in = outer.content;
	if (!readTlv(in, data) || data.tag != kTagSequence)
		return false;
	if (!readTlv(in, digestInfo) || digestInfo.tag != kTagSequence)
		return false;

	std::span<const uint8_t> d = data.content;
	if (!readTlv(d, dataType) || dataType.tag != kTagOid)
		return false;
	out.dataTypeOid = dataType.whole;

	std::span<const uint8_t> di = digestInfo.content;
	if (!readTlv(di, algorithm) || algorithm.tag != kTagSequence)
		return false;
	if (!readTlv(di, digest) || digest.tag != kTagOctetString || !di.empty())
		return false;
	std::span<const uint8_t> alg = algorithm.content;
	if (!readTlv(alg, oid) || oid.tag != kTagOid)
		return false;
	out.digestOid = oid.whole;
	out.digest = digest.content;
	return true;
}

ObjectPtr oidObject(std::span<const uint8_t> der)
{
	const uint8_t *p = der.data();
	ObjectPtr obj(d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(der.size())));
	if (!obj)
		ERR_clear_error();
	return obj;
}

std::string oidText(std::span<const uint8_t> der)
{
	ObjectPtr obj = oidObject(der);
	return obj ? objectToText(obj.get()) : std::string();
}

/* Authenticode digests seen in practice; anything else is refused rather
 * than verified with an algorithm nobody meant. */
const EVP_MD *digestForOid(std::span<const uint8_t> der)
{
	ObjectPtr obj = oidObject(der);
	if (!obj)
		return nullptr;
	switch (OBJ_obj2nid(obj.get())) {
	case NID_sha1: return EVP_sha1();
	case NID_sha224: return EVP_sha224();
	case NID_sha256: return EVP_sha256();
	case NID_sha384: return EVP_sha384();
	case NID_sha512: return EVP_sha512();
	default: return nullptr;
	}
}

/* Check one WIN_CERTIFICATE's PKCS#7 blob; internal errors only fail. */
Result<void> checkEntry(std::span<const uint8_t> der, const PeFile &pe, PeSignature &sig)
{
	ERR_clear_error();
	if (der.size() > static_cast<size_t>(INT32_MAX)) {
		sig.problem = "signature too large";
		return {};
	}
	const uint8_t *p = der.data();
	sig.pkcs7.reset(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
	if (!sig.pkcs7) {
		sig.problem = "malformed PKCS#7: " + opensslErrors();
		return {};
	}
	PKCS7 *p7 = sig.pkcs7.get();
	if (!PKCS7_type_is_signed(p7) || !p7->d.sign || !p7->d.sign->contents ||
	    !p7->d.sign->contents->type) {
		sig.problem = "PKCS#7 is not SignedData with content";
		return {};
	}
	sig.certs = p7->d.sign->cert;

	PKCS7 *contents = p7->d.sign->contents;
	if (objectToText(contents->type) != kSpcIndirectDataOid) {
		sig.problem = "PKCS#7 content is not SpcIndirectDataContent";
		return {};
	}
	/* Unknown content types are kept as ASN1_ANY with their full DER. */
	ASN1_TYPE *other = contents->d.other;
	if (!other || other->type != V_ASN1_SEQUENCE || !other->value.sequence) {
		sig.problem = "SpcIndirectDataContent is not a SEQUENCE";
		return {};
	}
	std::span<const uint8_t> idcDer(ASN1_STRING_get0_data(other->value.sequence),
					static_cast<size_t>(ASN1_STRING_length(other->value.sequence)));

	IndirectData idc;
	if (!parseIndirectData(idcDer, idc)) {
		sig.problem = "malformed SpcIndirectDataContent";
		return {};
	}
	sig.dataType = oidText(idc.dataTypeOid);
	/* The kernel's mscode_note_content_type() takes both; shim does not
	 * look at the type at all. */
	if (sig.dataType != kSpcPeImageDataOid && sig.dataType != kSpcIndividualKeyPurposeOid) {
		sig.problem = "SpcIndirectDataContent type " + sig.dataType + " does not describe a PE image";
		return {};
	}
	sig.md = digestForOid(idc.digestOid);
	if (!sig.md) {
		sig.problem = "unsupported digest algorithm " + oidText(idc.digestOid);
		return {};
	}
	sig.signedDigest.assign(idc.digest.begin(), idc.digest.end());

	auto digest = authenticodeDigest(pe, sig.md);
	if (!digest) {
		sig.problem = "image digest: " + digest.error().message;
		return {};
	}
	if (digest->size() != idc.digest.size() ||
	    CRYPTO_memcmp(digest->data(), idc.digest.data(), digest->size()) != 0) {
		sig.problem = "digest mismatch: signed " + detail::hexString(idc.digest) + ", image " +
			      detail::hexString(*digest);
		return {};
	}

	/* Authenticode signs the SpcIndirectDataContent's value without its
	 * SEQUENCE header (sbverify, osslsigncode, the kernel's mscode parser). */
	BioPtr mem(BIO_new_mem_buf(idc.signedContent.data(), static_cast<int>(idc.signedContent.size())));
	/* OpenSSL 3.0's PKCS7_verify copies a memory BIO into a temporary one
	 * and leaks that copy when the digest algorithms are unusable; a
	 * pass-through filter in front avoids the copy. */
	using BioChainPtr = std::unique_ptr<BIO, OsslDeleter<BIO_free_all>>;
	BioChainPtr content(BIO_new(BIO_f_null()));
	if (!mem || !content)
		return makeError(Code::Internal, "out of memory");
	BIO_push(content.get(), mem.release());
	ERR_clear_error();
	if (PKCS7_verify(p7, nullptr, nullptr, content.get(), nullptr, PKCS7_NOVERIFY | PKCS7_BINARY) != 1) {
		sig.problem = "signature does not verify: " + opensslErrors();
		return {};
	}

	STACK_OF(X509) *signers = PKCS7_get0_signers(p7, nullptr, 0);
	if (!signers || sk_X509_num(signers) < 1) {
		sk_X509_free(signers);
		sig.problem = "no signer certificate: " + opensslErrors();
		return {};
	}
	/* Authenticode has exactly one SignerInfo; the certificate belongs to
	 * the PKCS#7, the stack only borrows it. */
	sig.signer = sk_X509_value(signers, 0);
	sk_X509_free(signers);
	sig.signerName = detail::nameToString(X509_get_subject_name(sig.signer));

	STACK_OF(PKCS7_SIGNER_INFO) *infos = PKCS7_get_signer_info(p7);
	if (infos && sk_PKCS7_SIGNER_INFO_num(infos) > 0) {
		PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(infos, 0);
		sig.signedAttributes = PKCS7_get_signed_attribute(si, NID_pkcs9_contentType) &&
				       PKCS7_get_signed_attribute(si, NID_pkcs9_messageDigest);
		ASN1_TYPE *t = PKCS7_get_signed_attribute(si, NID_pkcs9_signingTime);
		if (t && (t->type == V_ASN1_UTCTIME || t->type == V_ASN1_GENERALIZEDTIME))
			sig.signingTime = detail::asn1TimeToUnix(t->value.utctime);
	}
	sig.intact = true;
	return {};
}

} // namespace

namespace detail {

std::string nameToString(const X509_NAME *name)
{
	BioPtr bio(BIO_new(BIO_s_mem()));
	if (!bio || !name)
		return {};
	if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0)
		return {};
	char *data = nullptr;
	long len = BIO_get_mem_data(bio.get(), &data);
	if (len <= 0 || !data)
		return {};
	return std::string(data, static_cast<size_t>(len));
}

std::string hexString(std::span<const uint8_t> bytes)
{
	static const char digits[] = "0123456789abcdef";
	std::string s;
	s.reserve(bytes.size() * 2);
	for (uint8_t b : bytes) {
		s += digits[b >> 4];
		s += digits[b & 0xf];
	}
	return s;
}

std::vector<uint8_t> tbsSha256(X509 *cert)
{
	unsigned char *der = nullptr;
	int len = i2d_re_X509_tbs(cert, &der);
	if (len <= 0) {
		ERR_clear_error();
		return {};
	}
	std::vector<uint8_t> out(32);
	unsigned int n = 0;
	const bool ok = EVP_Digest(der, static_cast<size_t>(len), out.data(), &n, EVP_sha256(), nullptr) == 1;
	OPENSSL_free(der);
	if (!ok || n != out.size())
		return {};
	return out;
}

std::optional<time_t> asn1TimeToUnix(const ASN1_TIME *t)
{
	struct tm tm;
	std::memset(&tm, 0, sizeof(tm));
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
		ERR_clear_error();
		return std::nullopt;
	}
	return timegm(&tm);
}

} // namespace detail

Result<std::vector<ByteRange>> authenticodeRanges(const PeFile &pe)
{
	const uint64_t fileSize = pe.view().size();
	const uint64_t headers = pe.sizeOfHeaders();
	const uint64_t checksum = pe.checksumOffset();
	const uint64_t certDir = pe.certDirectoryOffset();

	if (headers > fileSize || checksum == 0 || checksum + 4 > headers)
		return makeError(Code::InvalidImage, "checksum field outside the headers");
	if (certDir && (certDir < checksum + 4 || certDir + 8 > headers))
		return makeError(Code::InvalidImage, "certificate directory entry outside the headers");

	std::vector<ByteRange> out;
	auto add = [&](uint64_t from, uint64_t to) {
		if (to > from)
			out.push_back({ from, to - from });
	};
	/* Headers, less the checksum and the certificate table's directory
	 * entry: signing changes both. */
	add(0, checksum);
	if (certDir) {
		add(checksum + 4, certDir);
		add(certDir + 8, headers);
	} else {
		add(checksum + 4, headers);
	}

	std::vector<ByteRange> sections;
	for (const PeSection &s : pe.sections()) {
		if (s.sizeOfRawData == 0)
			continue;
		if (uint64_t{ s.pointerToRawData } + s.sizeOfRawData > fileSize)
			return makeError(Code::InvalidImage,
					 "section '" + s.name + "' raw data past end of file");
		sections.push_back({ s.pointerToRawData, s.sizeOfRawData });
	}
	std::stable_sort(sections.begin(), sections.end(),
			 [](const ByteRange &a, const ByteRange &b) { return a.offset < b.offset; });

	uint64_t hashed = headers;
	for (const ByteRange &r : sections) {
		out.push_back(r);
		hashed += r.size;
	}

	/* Data after the sections (debug info, padding) is signed too, up to
	 * the certificate table; the spec (and sbverify, the kernel) locate it
	 * by the number of bytes hashed so far, not by the last section's end. */
	uint64_t certSize = 0;
	if (auto dir = pe.dataDirectory(PeFile::kCertificateTable); dir && dir->virtualAddress && dir->size)
		certSize = dir->size;
	if (fileSize > hashed && fileSize - hashed > certSize)
		add(hashed, fileSize - certSize);
	return out;
}

Result<std::vector<uint8_t>> authenticodeDigest(const PeFile &pe, const EVP_MD *md)
{
	if (!md)
		return makeError(Code::InvalidArgument, "no digest algorithm");
	if (EVP_MD_get_type(md) == NID_sha256)
		if (auto known = pe.knownAuthenticodeSha256())
			return std::move(*known);
	auto ranges = authenticodeRanges(pe);
	if (!ranges)
		return ranges.takeError();

	MdCtxPtr ctx(EVP_MD_CTX_new());
	if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1)
		return makeError(Code::Internal, "digest init: " + opensslErrors());
	bool ok = true;
	for (const ByteRange &r : *ranges)
		pe.view().forEach(r.offset, r.size, [&](std::span<const uint8_t> piece) {
			ok = ok && EVP_DigestUpdate(ctx.get(), piece.data(), piece.size()) == 1;
		});
	if (!ok)
		return makeError(Code::Internal, "digest update: " + opensslErrors());

	std::vector<uint8_t> digest(static_cast<size_t>(EVP_MD_get_size(md)));
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &len) != 1 || len != digest.size())
		return makeError(Code::Internal, "digest final: " + opensslErrors());
	return digest;
}

Result<PeSignatures> readPeSignatures(const PeFile &pe)
{
	PeSignatures out;
	auto dir = pe.dataDirectory(PeFile::kCertificateTable);
	if (!dir || dir->virtualAddress == 0 || dir->size == 0)
		return out;
	out.hasTable = true;

	std::span<const uint8_t> bytes = pe.bytes();
	if (dir->virtualAddress > bytes.size() || dir->size > bytes.size() - dir->virtualAddress) {
		out.tableProblem = "certificate table past end of file";
		return out;
	}
	std::span<const uint8_t> table = bytes.subspan(dir->virtualAddress, dir->size);

	size_t off = 0;
	unsigned index = 0;
	while (table.size() - off >= kWinCertHeader) {
		uint32_t length = le32(table, off);
		uint16_t revision = le16(table, off + 4);
		uint16_t type = le16(table, off + 6);
		if (length < kWinCertHeader || length > table.size() - off) {
			out.tableProblem = "certificate entry at offset " + std::to_string(off) + " has a bad length";
			return out;
		}
		if (revision == kWinCertRevision2 && type == kWinCertTypePkcsSignedData) {
			PeSignature sig;
			sig.index = index;
			KEXECD_TRY(checkEntry(table.subspan(off + kWinCertHeader, length - kWinCertHeader), pe, sig));
			out.entries.push_back(std::move(sig));
		} else {
			if (index == 0)
				out.firstIsOther = true;
			out.otherEntries++;
		}
		index++;
		/* Entries are 8-byte aligned; the last one may lack its padding. */
		off += std::min<size_t>((size_t{ length } + 7) & ~size_t{ 7 }, table.size() - off);
	}
	if (index == 0)
		out.tableProblem = "no entry in the certificate table";
	return out;
}

} // namespace kexecd
