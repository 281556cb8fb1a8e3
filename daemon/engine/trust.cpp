// SPDX-License-Identifier: LGPL-2.1-or-later
#include "trust.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "openssl_util.h"

namespace kexecd {

namespace {

using detail::BioPtr;
using detail::OsslDeleter;
using detail::StoreCtxPtr;
using detail::X509Ptr;
using detail::opensslErrors;
using Pkcs7Ptr = std::unique_ptr<PKCS7, OsslDeleter<PKCS7_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OsslDeleter<EVP_MD_CTX_free>>;
using ObjectPtr = std::unique_ptr<ASN1_OBJECT, OsslDeleter<ASN1_OBJECT_free>>;

struct X509StackDeleter {
	void operator()(STACK_OF(X509) *s) const { sk_X509_free(s); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

constexpr size_t kMaxCertificateFile = 1 << 20;
constexpr size_t kMaxEfiVariable = 16 << 20;

/* WIN_CERTIFICATE (PE/COFF spec "The Attribute Certificate Table"). */
constexpr size_t kWinCertHeader = 8;
constexpr uint16_t kWinCertRevision2 = 0x0200;
constexpr uint16_t kWinCertTypePkcsSignedData = 0x0002;

/* EFI_SIGNATURE_LIST (UEFI spec 32.4.1). */
constexpr size_t kEslHeader = 28;
constexpr size_t kEfiGuid = 16;
/* EFI_CERT_X509_GUID a5c059a1-94e4-4aa7-87b5-ab155c2bf072, as stored (mixed endian). */
constexpr uint8_t kEfiCertX509Guid[kEfiGuid] = {
	0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
	0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72,
};

constexpr std::string_view kSpcIndirectDataOid = "1.3.6.1.4.1.311.2.1.4";
constexpr std::string_view kSpcPeImageDataOid = "1.3.6.1.4.1.311.2.1.15";

uint16_t le16(std::span<const uint8_t> b, size_t off)
{
	return static_cast<uint16_t>(b[off] | (b[off + 1] << 8));
}

uint32_t le32(std::span<const uint8_t> b, size_t off)
{
	return static_cast<uint32_t>(b[off]) | (static_cast<uint32_t>(b[off + 1]) << 8) |
	       (static_cast<uint32_t>(b[off + 2]) << 16) | (static_cast<uint32_t>(b[off + 3]) << 24);
}

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

std::string objectToText(const ASN1_OBJECT *obj)
{
	char buf[128];
	int len = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
	if (len <= 0 || static_cast<size_t>(len) >= sizeof(buf))
		return {};
	return std::string(buf, static_cast<size_t>(len));
}

Result<std::vector<uint8_t>> readFile(const std::string &path, size_t limit)
{
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return makeError(Code::Io, "'" + path + "': " + strerror(errno), errno);

	std::vector<uint8_t> data;
	uint8_t buf[16384];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			close(fd);
			return makeError(Code::Io, "'" + path + "': " + strerror(err), err);
		}
		if (n == 0)
			break;
		if (data.size() + static_cast<size_t>(n) > limit) {
			close(fd);
			return makeError(Code::InvalidArgument,
					 "'" + path + "': larger than " + std::to_string(limit) + " bytes");
		}
		data.insert(data.end(), buf, buf + n);
	}
	close(fd);
	return data;
}

/* One file or ESL entry may hold several certificates: PEM allows any
 * number of blocks (other block types are skipped), DER a concatenation. */
Result<std::vector<X509Ptr>> parseCertificates(std::span<const uint8_t> data, const std::string &origin)
{
	std::vector<X509Ptr> certs;
	ERR_clear_error();

	if (data.size() > static_cast<size_t>(INT32_MAX))
		return makeError(Code::InvalidArgument, "'" + origin + "': too large");

	std::string_view text(reinterpret_cast<const char *>(data.data()), data.size());
	if (text.find("-----BEGIN") != std::string_view::npos) {
		BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
		if (!bio)
			return makeError(Code::Internal, "out of memory");
		for (;;) {
			X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
			if (!cert)
				break;
			certs.push_back(std::move(cert));
		}
		/* PEM_read_bio_X509 ends every loop with "no start line". */
		unsigned long e = ERR_peek_last_error();
		if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
			return makeError(Code::InvalidArgument,
					 "'" + origin + "': bad PEM certificate: " + opensslErrors());
		ERR_clear_error();
	} else {
		const uint8_t *p = data.data();
		const uint8_t *end = data.data() + data.size();
		while (p < end) {
			X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(end - p)));
			if (!cert)
				return makeError(Code::InvalidArgument,
						 "'" + origin + "': bad DER certificate: " + opensslErrors());
			certs.push_back(std::move(cert));
		}
	}

	if (certs.empty())
		return makeError(Code::InvalidArgument, "'" + origin + "': no certificate found");
	return certs;
}

bool hasCertificateSuffix(std::string_view name)
{
	for (std::string_view suffix : { ".pem", ".crt", ".cer", ".der" }) {
		if (name.size() > suffix.size() &&
		    name.substr(name.size() - suffix.size()) == suffix)
			return true;
	}
	return false;
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

std::string oidText(std::span<const uint8_t> der)
{
	const uint8_t *p = der.data();
	ObjectPtr obj(d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(der.size())));
	if (!obj) {
		ERR_clear_error();
		return {};
	}
	return objectToText(obj.get());
}

/* Authenticode digests seen in practice; anything else is refused rather
 * than verified with an algorithm nobody meant. */
const EVP_MD *digestForOid(std::span<const uint8_t> der)
{
	const uint8_t *p = der.data();
	ObjectPtr obj(d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(der.size())));
	if (!obj) {
		ERR_clear_error();
		return nullptr;
	}
	switch (OBJ_obj2nid(obj.get())) {
	case NID_sha1: return EVP_sha1();
	case NID_sha224: return EVP_sha224();
	case NID_sha256: return EVP_sha256();
	case NID_sha384: return EVP_sha384();
	case NID_sha512: return EVP_sha512();
	default: return nullptr;
	}
}

std::string hex(std::span<const uint8_t> bytes)
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

/* The verdict of one WIN_CERTIFICATE entry. */
Result<SignatureReport> checkSignature(std::span<const uint8_t> der, const PeFile &pe,
				       const TrustStore &store)
{
	SignatureReport report;
	report.verdict = Verdict::BadSignature;

	ERR_clear_error();
	if (der.size() > static_cast<size_t>(INT32_MAX)) {
		report.detail = "signature too large";
		return report;
	}
	const uint8_t *p = der.data();
	Pkcs7Ptr p7(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
	if (!p7) {
		report.detail = "malformed PKCS#7: " + opensslErrors();
		return report;
	}
	if (!PKCS7_type_is_signed(p7.get()) || !p7->d.sign || !p7->d.sign->contents ||
	    !p7->d.sign->contents->type) {
		report.detail = "PKCS#7 is not SignedData with content";
		return report;
	}

	PKCS7 *contents = p7->d.sign->contents;
	if (objectToText(contents->type) != kSpcIndirectDataOid) {
		report.detail = "PKCS#7 content is not SpcIndirectDataContent";
		return report;
	}
	/* Unknown content types are kept as ASN1_ANY with their full DER. */
	ASN1_TYPE *other = contents->d.other;
	if (!other || other->type != V_ASN1_SEQUENCE || !other->value.sequence) {
		report.detail = "SpcIndirectDataContent is not a SEQUENCE";
		return report;
	}
	std::span<const uint8_t> idcDer(ASN1_STRING_get0_data(other->value.sequence),
					static_cast<size_t>(ASN1_STRING_length(other->value.sequence)));

	IndirectData idc;
	if (!parseIndirectData(idcDer, idc)) {
		report.detail = "malformed SpcIndirectDataContent";
		return report;
	}
	if (oidText(idc.dataTypeOid) != kSpcPeImageDataOid) {
		report.detail = "SpcIndirectDataContent does not describe a PE image";
		return report;
	}
	const EVP_MD *md = digestForOid(idc.digestOid);
	if (!md) {
		report.detail = "unsupported digest algorithm " + oidText(idc.digestOid);
		return report;
	}

	auto digest = authenticodeDigest(pe, md);
	if (!digest) {
		report.detail = "image digest: " + digest.error().message;
		return report;
	}
	if (digest->size() != idc.digest.size() ||
	    CRYPTO_memcmp(digest->data(), idc.digest.data(), digest->size()) != 0) {
		report.detail = "digest mismatch: signed " + hex(idc.digest) + ", image " + hex(*digest);
		return report;
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
	if (PKCS7_verify(p7.get(), nullptr, nullptr, content.get(), nullptr,
			 PKCS7_NOVERIFY | PKCS7_BINARY) != 1) {
		report.detail = "signature does not verify: " + opensslErrors();
		return report;
	}

	X509StackPtr signers(PKCS7_get0_signers(p7.get(), nullptr, 0));
	if (!signers || sk_X509_num(signers.get()) < 1) {
		report.detail = "no signer certificate: " + opensslErrors();
		return report;
	}

	X509 *signer = sk_X509_value(signers.get(), 0);
	report.signer = nameToString(X509_get_subject_name(signer));
	report.verdict = Verdict::UntrustedSigner;

	if (!store.store() || store.size() == 0) {
		report.detail = "no trusted chain: trust store is empty";
		return report;
	}

	/* Every signer must chain; Authenticode has exactly one. */
	for (int i = 0; i < sk_X509_num(signers.get()); i++) {
		X509 *cert = sk_X509_value(signers.get(), i);
		StoreCtxPtr ctx(X509_STORE_CTX_new());
		if (!ctx || !X509_STORE_CTX_init(ctx.get(), store.store(), cert, p7->d.sign->cert))
			return makeError(Code::Internal, "X509_STORE_CTX: " + opensslErrors());
		/* Firmware ignores validity periods and key usage, and trusts any
		 * certificate in db, not only roots (sbverify does the same with
		 * its verify callback). */
		X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx.get());
		if (X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME |
							       X509_V_FLAG_PARTIAL_CHAIN) != 1 ||
		    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_ANY) != 1)
			return makeError(Code::Internal, "X509_VERIFY_PARAM: " + opensslErrors());
		if (X509_verify_cert(ctx.get()) != 1) {
			int err = X509_STORE_CTX_get_error(ctx.get());
			report.detail = std::string("no trusted chain: ") + X509_verify_cert_error_string(err);
			if (i > 0)
				report.detail += " (signer " + nameToString(X509_get_subject_name(cert)) + ")";
			ERR_clear_error();
			return report;
		}
	}

	report.verdict = Verdict::Trusted;
	report.detail = "signed by a trusted certificate";
	return report;
}

} // namespace

const char *verdictName(Verdict verdict)
{
	switch (verdict) {
	case Verdict::Trusted: return "trusted";
	case Verdict::UntrustedSigner: return "untrusted-signer";
	case Verdict::Unsigned: return "unsigned";
	case Verdict::BadSignature: return "bad-signature";
	}
	return "bad-signature";
}

TrustStore::TrustStore()
	: store_(X509_STORE_new())
{
}

TrustStore::~TrustStore()
{
	X509_STORE_free(store_);
}

TrustStore::TrustStore(TrustStore &&other) noexcept
	: store_(std::exchange(other.store_, nullptr)), count_(std::exchange(other.count_, 0))
{
}

TrustStore &TrustStore::operator=(TrustStore &&other) noexcept
{
	if (this != &other) {
		X509_STORE_free(store_);
		store_ = std::exchange(other.store_, nullptr);
		count_ = std::exchange(other.count_, 0);
	}
	return *this;
}

Result<void> TrustStore::addCertificate(X509 *cert, const std::string &origin)
{
	if (!store_)
		return makeError(Code::Internal, "trust store not allocated");
	ERR_clear_error();
	/* Adding a certificate already present is a no-op in OpenSSL 3, so
	 * the count is what the store holds, not how many calls were made. */
	if (X509_STORE_add_cert(store_, cert) != 1)
		return makeError(Code::Internal, "'" + origin + "': " + opensslErrors());
	count_ = static_cast<size_t>(sk_X509_OBJECT_num(X509_STORE_get0_objects(store_)));
	return {};
}

Result<TrustStore> TrustStore::loadDirectory(const std::string &dir)
{
	TrustStore trust;
	if (!trust.store_)
		return makeError(Code::Internal, "out of memory");

	DIR *d = opendir(dir.c_str());
	if (!d) {
		if (errno == ENOENT)
			return trust;
		return makeError(Code::Io, "'" + dir + "': " + strerror(errno), errno);
	}

	std::vector<std::string> names;
	errno = 0;
	while (struct dirent *entry = readdir(d)) {
		std::string_view name(entry->d_name);
		if (name.empty() || name[0] == '.' || !hasCertificateSuffix(name))
			continue;
		names.emplace_back(name);
	}
	int err = errno;
	closedir(d);
	if (err)
		return makeError(Code::Io, "'" + dir + "': " + strerror(err), err);

	/* Sorted so that the first bad file reported is the same every time. */
	std::sort(names.begin(), names.end());
	for (const std::string &name : names) {
		std::string path = dir + "/" + name;
		struct stat st;
		if (stat(path.c_str(), &st) < 0)
			return makeError(Code::Io, "'" + path + "': " + strerror(errno), errno);
		if (!S_ISREG(st.st_mode))
			continue;
		KEXECD_TRY(trust.addCertificateFile(path));
	}
	return trust;
}

Result<void> TrustStore::addCertificateFile(const std::string &path)
{
	auto data = readFile(path, kMaxCertificateFile);
	if (!data)
		return data.takeError();
	auto certs = parseCertificates(*data, path);
	if (!certs)
		return certs.takeError();
	for (const X509Ptr &cert : *certs)
		KEXECD_TRY(addCertificate(cert.get(), path));
	return {};
}

Result<void> TrustStore::addEfiSignatureList(std::span<const uint8_t> esl, const std::string &origin)
{
	/* All or nothing: a db that is damaged half-way must not leave the
	 * store holding an arbitrary prefix of it. */
	std::vector<X509Ptr> certs;
	size_t off = 0;
	while (off < esl.size()) {
		std::string where = "'" + origin + "': signature list at offset " + std::to_string(off);
		if (esl.size() - off < kEslHeader)
			return makeError(Code::InvalidArgument, where + " truncated");

		std::span<const uint8_t> type = esl.subspan(off, kEfiGuid);
		uint32_t listSize = le32(esl, off + 16);
		uint32_t headerSize = le32(esl, off + 20);
		uint32_t sigSize = le32(esl, off + 24);

		if (listSize < kEslHeader || listSize > esl.size() - off)
			return makeError(Code::InvalidArgument, where + " has a bad size");
		if (headerSize > listSize - kEslHeader)
			return makeError(Code::InvalidArgument, where + " has a bad header size");
		size_t bodySize = listSize - kEslHeader - headerSize;
		if (sigSize < kEfiGuid || bodySize % sigSize != 0)
			return makeError(Code::InvalidArgument, where + " has a bad signature size");

		if (std::equal(type.begin(), type.end(), std::begin(kEfiCertX509Guid))) {
			size_t body = off + kEslHeader + headerSize;
			for (size_t s = 0; s < bodySize; s += sigSize) {
				/* Each EFI_SIGNATURE_DATA: owner GUID, then one DER certificate. */
				std::span<const uint8_t> der =
					esl.subspan(body + s + kEfiGuid, sigSize - kEfiGuid);
				const uint8_t *p = der.data();
				ERR_clear_error();
				X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
				if (!cert)
					return makeError(Code::InvalidArgument,
							 where + ": bad X.509 entry: " + opensslErrors());
				certs.push_back(std::move(cert));
			}
		}
		off += listSize;
	}
	for (const X509Ptr &cert : certs)
		KEXECD_TRY(addCertificate(cert.get(), origin));
	return {};
}

Result<void> TrustStore::addEfiVariableFile(const std::string &path)
{
	auto data = readFile(path, kMaxEfiVariable);
	if (!data)
		return data.takeError();
	/* efivarfs prefixes the value with its 4-byte attributes. */
	if (data->size() < 4)
		return makeError(Code::InvalidArgument, "'" + path + "': too short for an EFI variable");
	return addEfiSignatureList(std::span<const uint8_t>(*data).subspan(4), path);
}

Result<std::vector<uint8_t>> authenticodeDigest(const PeFile &pe, const EVP_MD *md)
{
	if (!md)
		return makeError(Code::InvalidArgument, "no digest algorithm");

	std::span<const uint8_t> bytes = pe.bytes();
	const uint64_t fileSize = bytes.size();
	const uint64_t headers = pe.sizeOfHeaders();
	const uint64_t checksum = pe.checksumOffset();
	const uint64_t certDir = pe.certDirectoryOffset();

	if (headers > fileSize || checksum == 0 || checksum + 4 > headers)
		return makeError(Code::InvalidImage, "checksum field outside the headers");
	if (certDir && (certDir < checksum + 4 || certDir + 8 > headers))
		return makeError(Code::InvalidImage, "certificate directory entry outside the headers");

	MdCtxPtr ctx(EVP_MD_CTX_new());
	if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1)
		return makeError(Code::Internal, "digest init: " + opensslErrors());

	bool ok = true;
	auto update = [&](uint64_t from, uint64_t to) {
		if (to > from)
			ok = ok && EVP_DigestUpdate(ctx.get(), bytes.data() + from, to - from) == 1;
	};

	/* Headers, less the checksum and the certificate table's directory
	 * entry: signing changes both. */
	update(0, checksum);
	if (certDir) {
		update(checksum + 4, certDir);
		update(certDir + 8, headers);
	} else {
		update(checksum + 4, headers);
	}

	struct Range {
		uint64_t offset;
		uint64_t size;
		const std::string *name;
	};
	std::vector<Range> ranges;
	for (const PeSection &s : pe.sections()) {
		if (s.sizeOfRawData == 0)
			continue;
		if (uint64_t{ s.pointerToRawData } + s.sizeOfRawData > fileSize)
			return makeError(Code::InvalidImage,
					 "section '" + s.name + "' raw data past end of file");
		ranges.push_back({ s.pointerToRawData, s.sizeOfRawData, &s.name });
	}
	std::stable_sort(ranges.begin(), ranges.end(),
			 [](const Range &a, const Range &b) { return a.offset < b.offset; });

	uint64_t hashed = headers;
	for (const Range &r : ranges) {
		update(r.offset, r.offset + r.size);
		hashed += r.size;
	}

	/* Data after the sections (debug info, padding) is signed too, up to
	 * the certificate table; the spec (and sbverify, the kernel) locate it
	 * by the number of bytes hashed so far, not by the last section's end. */
	uint64_t certSize = 0;
	if (auto dir = pe.dataDirectory(PeFile::kCertificateTable); dir && dir->virtualAddress && dir->size)
		certSize = dir->size;
	if (fileSize > hashed && fileSize - hashed > certSize)
		update(hashed, fileSize - certSize);

	if (!ok)
		return makeError(Code::Internal, "digest update: " + opensslErrors());

	std::vector<uint8_t> digest(static_cast<size_t>(EVP_MD_get_size(md)));
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &len) != 1 || len != digest.size())
		return makeError(Code::Internal, "digest final: " + opensslErrors());
	return digest;
}

Result<SignatureReport> verifyAuthenticode(const PeFile &pe, const TrustStore &store)
{
	SignatureReport report;

	auto dir = pe.dataDirectory(PeFile::kCertificateTable);
	if (!dir || dir->virtualAddress == 0 || dir->size == 0) {
		report.verdict = Verdict::Unsigned;
		report.detail = "no certificate table";
		return report;
	}

	report.verdict = Verdict::BadSignature;
	std::span<const uint8_t> bytes = pe.bytes();
	if (dir->virtualAddress > bytes.size() || dir->size > bytes.size() - dir->virtualAddress) {
		report.detail = "certificate table past end of file";
		return report;
	}
	std::span<const uint8_t> table = bytes.subspan(dir->virtualAddress, dir->size);

	/* Like firmware, one trusted entry is enough; otherwise a broken entry
	 * wins over an unknown signer, because it means the image or its
	 * signature was altered. */
	std::optional<SignatureReport> bad, untrusted;
	size_t off = 0;
	unsigned entries = 0;
	while (table.size() - off >= kWinCertHeader) {
		uint32_t length = le32(table, off);
		uint16_t revision = le16(table, off + 4);
		uint16_t type = le16(table, off + 6);
		if (length < kWinCertHeader || length > table.size() - off) {
			report.detail = "certificate entry at offset " + std::to_string(off) +
					" has a bad length";
			return report;
		}
		if (revision == kWinCertRevision2 && type == kWinCertTypePkcsSignedData) {
			entries++;
			auto r = checkSignature(table.subspan(off + kWinCertHeader, length - kWinCertHeader),
						pe, store);
			if (!r)
				return r.takeError();
			if (r->verdict == Verdict::Trusted)
				return r;
			if (r->verdict == Verdict::BadSignature && !bad)
				bad = std::move(*r);
			else if (r->verdict == Verdict::UntrustedSigner && !untrusted)
				untrusted = std::move(*r);
		}
		/* Entries are 8-byte aligned; the last one may lack its padding. */
		off += std::min<size_t>((size_t{ length } + 7) & ~size_t{ 7 }, table.size() - off);
	}

	if (bad)
		return *bad;
	if (untrusted)
		return *untrusted;
	report.detail = entries ? "no usable signature" : "no PKCS#7 signature in certificate table";
	return report;
}

} // namespace kexecd
