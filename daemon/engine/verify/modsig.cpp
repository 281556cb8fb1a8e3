// SPDX-License-Identifier: LGPL-2.1-or-later
#include "modsig.h"

#include <cstring>
#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "openssl_util.h"

namespace kexecd {

namespace {

constexpr uint8_t kPkeyIdPkcs7 = 2;

struct CmsFree {
	void operator()(CMS_ContentInfo *c) const { CMS_ContentInfo_free(c); }
};
struct PkeyFree {
	void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); }
};
struct X509StackFree {
	void operator()(STACK_OF(X509) *s) const { sk_X509_pop_free(s, X509_free); }
};
using detail::BioPtr;
using detail::StoreCtxPtr;
using detail::X509Ptr;

BioPtr memBio(std::span<const uint8_t> data)
{
	return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

BioPtr memBio(std::string_view text)
{
	return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

} // namespace

Result<std::vector<uint8_t>> appendModuleSignature(std::span<const uint8_t> bytes,
						   std::string_view keyPem,
						   std::string_view certPem)
{
	ERR_clear_error();
	if (bytes.size() > INT32_MAX)
		return makeError(Code::InvalidArgument, "payload too large to sign");

	auto keyBio = memBio(keyPem);
	std::unique_ptr<EVP_PKEY, PkeyFree> key(
		keyBio ? PEM_read_bio_PrivateKey(keyBio.get(), nullptr, nullptr, nullptr) : nullptr);
	if (!key)
		return makeError(Code::InvalidArgument, "cannot read signing key: " + detail::opensslErrors());
	auto certBio = memBio(certPem);
	X509Ptr cert(
		certBio ? PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr) : nullptr);
	if (!cert)
		return makeError(Code::InvalidArgument, "cannot read signing certificate: " + detail::opensslErrors());
	if (X509_check_private_key(cert.get(), key.get()) != 1)
		return makeError(Code::InvalidArgument, "signing key does not match the certificate");

	/* Same flags as scripts/sign-file without -k/-s: detached, binary, no
	 * certificates, no S/MIME capabilities, no signed attributes. */
	constexpr unsigned flags = CMS_NOCERTS | CMS_BINARY | CMS_DETACHED;
	std::unique_ptr<CMS_ContentInfo, CmsFree> cms(
		CMS_sign(nullptr, nullptr, nullptr, nullptr, flags | CMS_PARTIAL | CMS_STREAM));
	if (!cms)
		return makeError(Code::Internal, "CMS_sign: " + detail::opensslErrors());
	if (!CMS_add1_signer(cms.get(), cert.get(), key.get(), EVP_sha256(),
			     flags | CMS_NOSMIMECAP | CMS_NOATTR))
		return makeError(Code::Internal, "CMS_add1_signer: " + detail::opensslErrors());
	auto content = memBio(bytes);
	if (!content || CMS_final(cms.get(), content.get(), nullptr, flags) != 1)
		return makeError(Code::Internal, "CMS_final: " + detail::opensslErrors());

	unsigned char *der = nullptr;
	const int derLen = i2d_CMS_ContentInfo(cms.get(), &der);
	if (derLen <= 0)
		return makeError(Code::Internal, "i2d_CMS_ContentInfo: " + detail::opensslErrors());
	std::unique_ptr<unsigned char, void (*)(unsigned char *)> derOwner(
		der, [](unsigned char *p) { OPENSSL_free(p); });

	std::vector<uint8_t> out;
	out.reserve(bytes.size() + static_cast<size_t>(derLen) + kModuleSigInfoSize + kModuleSigMagic.size());
	out.insert(out.end(), bytes.begin(), bytes.end());
	out.insert(out.end(), der, der + derLen);
	const uint32_t sigLen = static_cast<uint32_t>(derLen);
	const uint8_t info[kModuleSigInfoSize] = {
		0, 0, kPkeyIdPkcs7, 0, 0, 0, 0, 0,
		static_cast<uint8_t>(sigLen >> 24), static_cast<uint8_t>(sigLen >> 16),
		static_cast<uint8_t>(sigLen >> 8), static_cast<uint8_t>(sigLen),
	};
	out.insert(out.end(), info, info + sizeof(info));
	out.insert(out.end(), kModuleSigMagic.begin(), kModuleSigMagic.end());
	return out;
}

Result<ModuleSignatureParts> splitModuleSignature(std::span<const uint8_t> bytes)
{
	const size_t trailer = kModuleSigInfoSize + kModuleSigMagic.size();
	if (bytes.size() < trailer ||
	    std::memcmp(bytes.data() + bytes.size() - kModuleSigMagic.size(), kModuleSigMagic.data(),
			kModuleSigMagic.size()) != 0)
		return makeError(Code::InvalidImage, "no appended signature (marker missing)");
	const uint8_t *info = bytes.data() + bytes.size() - trailer;
	/* mod_check_sig(): PKCS#7 is the only id_type and then algo, hash,
	 * signer_len, key_id_len and the padding must all be zero. */
	if (info[2] != kPkeyIdPkcs7)
		return makeError(Code::InvalidImage, "appended signature is not PKCS#7");
	for (size_t i : { 0, 1, 3, 4, 5, 6, 7 })
		if (info[i] != 0)
			return makeError(Code::InvalidImage, "malformed module_signature trailer");
	const uint32_t sigLen = uint32_t{ info[8] } << 24 | uint32_t{ info[9] } << 16 |
				uint32_t{ info[10] } << 8 | uint32_t{ info[11] };
	if (sigLen == 0 || sigLen > bytes.size() - trailer)
		return makeError(Code::InvalidImage, "appended signature length out of range");
	const size_t payloadLen = bytes.size() - trailer - sigLen;
	return ModuleSignatureParts{ bytes.first(payloadLen), bytes.subspan(payloadLen, sigLen) };
}

Result<std::span<const uint8_t>> verifyModuleSignature(std::span<const uint8_t> bytes,
							X509_STORE *store)
{
	auto parts = splitModuleSignature(bytes);
	if (!parts)
		return parts.takeError();
	if (!store)
		return makeError(Code::SignatureRejected, "no trust store");
	ERR_clear_error();

	const unsigned char *p = parts->pkcs7.data();
	std::unique_ptr<CMS_ContentInfo, CmsFree> cms(
		d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(parts->pkcs7.size())));
	if (!cms || p != parts->pkcs7.data() + parts->pkcs7.size())
		return makeError(Code::InvalidImage, "appended signature is not valid DER PKCS#7");

	/* No certificates travel with the signature (CMS_NOCERTS), so offer
	 * every store certificate as a signer candidate. */
	std::unique_ptr<STACK_OF(X509), X509StackFree> candidates(X509_STORE_get1_all_certs(store));
	if (!candidates)
		return makeError(Code::Internal, "cannot list the trust store: " + detail::opensslErrors());

	/* First the signature itself; the chain is checked below with purpose
	 * "any", since the kernel's keyring check ignores key usage. */
	auto content = memBio(parts->payload);
	if (!content ||
	    CMS_verify(cms.get(), candidates.get(), nullptr, content.get(), nullptr,
		       CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1)
		return makeError(Code::SignatureRejected,
				 "appended signature does not verify: " + detail::opensslErrors());

	std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509) *)> signers(
		CMS_get0_signers(cms.get()), [](STACK_OF(X509) *s) { sk_X509_free(s); });
	if (!signers || sk_X509_num(signers.get()) == 0)
		return makeError(Code::SignatureRejected, "appended signature has no signer");
	for (int i = 0; i < sk_X509_num(signers.get()); i++) {
		StoreCtxPtr ctx(X509_STORE_CTX_new());
		if (!ctx || X509_STORE_CTX_init(ctx.get(), store, sk_X509_value(signers.get(), i), nullptr) != 1)
			return makeError(Code::Internal, "X509_STORE_CTX_init: " + detail::opensslErrors());
		X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_ANY);
		if (X509_verify_cert(ctx.get()) != 1)
			return makeError(Code::SignatureRejected,
					 std::string("signer certificate not trusted: ") +
						 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
	}
	return parts->payload;
}

} // namespace kexecd
