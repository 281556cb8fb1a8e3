// SPDX-License-Identifier: LGPL-2.1-or-later
// The firmware (shim) and kernel (kexec_file_load) verdict rules of
// daemon/engine/verdict.*, trust_sources.*, revocation.* and
// signature_check.*, one rule a test, over fixtures signed with throwaway
// keys by sbsign. The real vendor-signed binaries are in
// test_real_signatures.cpp.

#include "verdict.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "authenticode.h"
#include "revocation.h"
#include "signature_check.h"
#include "test_util.h"
#include "trust_sources.h"

using namespace kexecd;
using namespace kexecd::test;

namespace kexecd {
void PrintTo(Verdict verdict, std::ostream *os)
{
	*os << verdictName(verdict);
}
} // namespace kexecd

namespace {

void writeFile(const std::string &path, const std::vector<uint8_t> &data)
{
	std::ofstream f(path, std::ios::binary);
	f.write(reinterpret_cast<const char *>(data.data()), static_cast<std::streamsize>(data.size()));
}

void writeFile(const std::string &path, const std::string &data)
{
	writeFile(path, std::vector<uint8_t>(data.begin(), data.end()));
}

detail::X509Ptr loadPem(const std::string &path)
{
	std::string text = readText(path);
	BIO *bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
	detail::X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
	BIO_free(bio);
	return cert;
}

void addCert(SignatureDatabase &db, const std::string &pemPath)
{
	detail::X509Ptr cert = loadPem(pemPath);
	ASSERT_TRUE(cert) << pemPath;
	db.certs.push_back({ std::move(cert), pemPath });
	db.present = true;
}

/* No firmware variables, no trust.d; kernel keyrings known to be empty
 * (as on this machine's kernel) unless knownEmpty is false. */
TrustSources bareSources(bool knownEmpty = true)
{
	const std::string dir = makeTempDir();
	TrustSourcePaths p;
	p.trustDir = dir + "/no-trust.d";
	p.efivarsDir = dir + "/no-efivars";
	p.mokVariablesDir = dir + "/no-mok-variables";
	p.procKeys = dir + "/keys";
	if (knownEmpty)
		writeFile(p.procKeys, "32ff5dc6 I------     1 perm 1f0b0000     0     0 keyring   .builtin_trusted_keys: empty\n");
	auto s = loadTrustSources(p);
	EXPECT_TRUE(s.ok());
	return std::move(*s);
}


VerdictReport fw(const PeFile &pe, const TrustSources &s)
{
	auto r = firmwareVerdict(pe, s);
	EXPECT_TRUE(r.ok());
	return r ? *r : VerdictReport{};
}

VerdictReport kern(const PeFile &pe, const TrustSources &s)
{
	auto r = kernelVerdict(pe, s);
	EXPECT_TRUE(r.ok());
	return r ? *r : VerdictReport{};
}

std::vector<uint8_t> sha256Digest(const PeFile &pe)
{
	auto d = authenticodeDigest(pe, EVP_sha256());
	EXPECT_TRUE(d.ok());
	return d ? *d : std::vector<uint8_t>();
}

Sha256 toSha256(const std::vector<uint8_t> &v)
{
	Sha256 h{};
	std::memcpy(h.data(), v.data(), std::min(v.size(), h.size()));
	return h;
}

/* sbsign src with a fixture key (or a key/cert pair by path) into dst. */
void sign(const std::string &src, const std::string &dst, const std::string &key, const std::string &cert)
{
	ASSERT_EQ(runProgram({ "sbsign", "--key", key, "--cert", cert, "--output", dst, src }), 0) << "sbsign " << src;
}

void signWith(const std::string &src, const std::string &dst, const std::string &fixtureKey)
{
	sign(src, dst, fixture("keys/" + fixtureKey + ".key"), fixture("keys/" + fixtureKey + ".crt"));
}

/* A self-signed code-signing certificate valid 2020-2021 only (bookworm's
 * openssl req cannot set past dates). */
void writeExpiredSigner(const std::string &keyPath, const std::string &certPath)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *cert = X509_new();
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242);
	ASN1_TIME_set_string(X509_getm_notBefore(cert), "20200101000000Z");
	ASN1_TIME_set_string(X509_getm_notAfter(cert), "20210101000000Z");
	X509_set_pubkey(cert, key);
	X509_NAME *name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   reinterpret_cast<const unsigned char *>("kexecd test expired signer"), -1, -1, 0);
	X509_set_issuer_name(cert, name);
	X509_sign(cert, key, EVP_sha256());
	FILE *k = std::fopen(keyPath.c_str(), "w");
	FILE *c = std::fopen(certPath.c_str(), "w");
	ASSERT_TRUE(k && c);
	PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr);
	PEM_write_X509(c, cert);
	std::fclose(k);
	std::fclose(c);
	X509_free(cert);
	EVP_PKEY_free(key);
}

} // namespace

/* ---- the basic split: what each verdict looks at ---------------------- */

TEST(Verdict, EnvelopeAndInnerKernelAreDifferentObjects)
{
	REQUIRE_FIXTURES();
	TrustSources s = bareSources();
	addCert(s.db, fixture("keys/trusted.crt"));
	ASSERT_TRUE(rebuildStores(s).ok());

	auto signedUki = loadPe(fixture("uki-signed.efi"));
	EXPECT_EQ(fw(*signedUki->pe, s).verdict, Verdict::Trusted);
	EXPECT_EQ(fw(*signedUki->pe, s).anchor.rfind("db: ", 0), 0u);

	auto unsignedUki = loadPe(fixture("uki.efi"));
	EXPECT_EQ(fw(*unsignedUki->pe, s).verdict, Verdict::Unsigned);
	EXPECT_EQ(kern(*unsignedUki->pe, s).verdict, Verdict::Unsigned);

	/* Debian's kernel: signed, but by nobody these sources know. */
	auto vmlinuz = loadPe(fixture("vmlinuz"));
	EXPECT_EQ(fw(*vmlinuz->pe, s).verdict, Verdict::UntrustedSigner);
	VerdictReport k = kern(*vmlinuz->pe, s);
	EXPECT_EQ(k.verdict, Verdict::UntrustedSigner) << k.reason;
	EXPECT_NE(k.signer.find("Debian Secure Boot Signer"), std::string::npos) << k.signer;

	/* With the builtin keyring unreadable the kernel verdict cannot be told. */
	TrustSources unknown = bareSources(false);
	EXPECT_EQ(kern(*vmlinuz->pe, unknown).verdict, Verdict::Unknown);
}

/* Classic scheme: the kernel verdict is about the .linux handed to the
 * kernel, so a trusted envelope around Debian's kernel is refused under
 * 'enforce' when the kernel does not trust Debian's key. */
TEST(SignatureCheck, ClassicChecksTheInnerKernel)
{
	REQUIRE_FIXTURES();
	TrustSources s = bareSources();
	addCert(s.db, fixture("keys/trusted.crt"));
	ASSERT_TRUE(rebuildStores(s).ok());
	auto uki = loadImage("uki-signed.efi", ImageRole::Uki);
	ASSERT_TRUE(uki->image);
	const auto kernelSection = uki->image->base().find(".linux");
	ASSERT_NE(kernelSection, uki->image->base().end());

	SignatureInputs in;
	in.uki = &*uki->image;
	in.kernel = kernelSection->second;
	auto check = checkSignatures(in, s, { true, true });
	ASSERT_TRUE(check.ok());
	ASSERT_EQ(check->objects.size(), 2u);
	EXPECT_EQ(check->objects[0]["object"], "uki");
	EXPECT_EQ(check->objects[0]["firmware"]["verdict"], "trusted");
	EXPECT_TRUE(check->objects[0]["kernel"].is_null());
	EXPECT_EQ(check->objects[1]["object"], "kernel");
	EXPECT_EQ(check->objects[1]["kernel"]["verdict"], "untrusted-signer");
	ASSERT_TRUE(check->refusal);
	EXPECT_NE(check->refusal->message.find("kernel verdict untrusted-signer"), std::string::npos)
		<< check->refusal->message;

	/* Not enforcing: the same verdicts, no refusal. */
	check = checkSignatures(in, s, { false, false });
	ASSERT_TRUE(check.ok());
	EXPECT_FALSE(check->refusal);
}

/* ---- revocation ---------------------------------------------------- */

/* dbx image hashes are shim's (and IMA's); kexec_file_load's PE check
 * never looks them up. */
TEST(Verdict, DbxImageHashRevokesForShimOnly)
{
	REQUIRE_FIXTURES();
	TrustSources s = bareSources();
	addCert(s.db, fixture("keys/trusted.crt"));
	ASSERT_TRUE(rebuildStores(s).ok());
	auto uki = loadPe(fixture("uki-signed.efi"));
	s.dbx.imageHashes.push_back(toSha256(sha256Digest(*uki->pe)));

	VerdictReport f = fw(*uki->pe, s);
	EXPECT_EQ(f.verdict, Verdict::Revoked);
	EXPECT_NE(f.reason.find("listed in dbx"), std::string::npos) << f.reason;
	EXPECT_EQ(kern(*uki->pe, s).verdict, Verdict::Trusted);

	/* MokListX the same way. */
	s.dbx.imageHashes.clear();
	s.mokx.imageHashes.push_back(toSha256(sha256Digest(*uki->pe)));
	EXPECT_EQ(fw(*uki->pe, s).verdict, Verdict::Revoked);
}

TEST(Verdict, RevokedCertificateRevokesForBoth)
{
	REQUIRE_FIXTURES();
	auto uki = loadPe(fixture("uki-signed.efi"));
	for (int how = 0; how < 3; how++) {
		SCOPED_TRACE(how);
		TrustSources s = bareSources();
		addCert(s.db, fixture("keys/trusted.crt"));
		ASSERT_TRUE(rebuildStores(s).ok());
		detail::X509Ptr cert = loadPem(fixture("keys/trusted.crt"));
		if (how == 0)
			addCert(s.dbx, fixture("keys/trusted.crt"));
		else if (how == 1)
			s.dbx.certHashes.push_back(toSha256(detail::tbsSha256(cert.get())));
		else
			addCert(s.mokx, fixture("keys/trusted.crt"));
		EXPECT_EQ(fw(*uki->pe, s).verdict, Verdict::Revoked);
		VerdictReport k = kern(*uki->pe, s);
		EXPECT_EQ(k.verdict, Verdict::Revoked) << k.reason;
	}
}

TEST(Sbat, ParseAndCompareGenerations)
{
	auto entries = parseSbat("sbat,1,SBAT Version,sbat,1,https://x\nsystemd,1,The systemd Developers\n\0\0junk");
	ASSERT_TRUE(entries.ok());
	ASSERT_EQ(entries->size(), 2u);
	EXPECT_EQ((*entries)[1].component, "systemd");
	EXPECT_EQ((*entries)[1].generation, 1u);
	EXPECT_FALSE(parseSbat("grub,x\n").ok());
	EXPECT_FALSE(parseSbat("grub\n").ok());

	auto level = parseSbatLevel("sbat,1,2099010100\nsystemd,2\n", "test");
	ASSERT_TRUE(level.ok());
	EXPECT_EQ(level->text, "sbat,1,2099010100");
}

TEST(Sbat, RevokedGenerationIsRevokedForShim)
{
	REQUIRE_FIXTURES();
	TrustSources s = bareSources();
	addCert(s.db, fixture("keys/trusted.crt"));
	ASSERT_TRUE(rebuildStores(s).ok());
	auto uki = loadPe(fixture("uki-signed.efi"));
	/* The stub's own component: systemd,1 in bookworm's stub (252),
	 * systemd-stub,1 in trixie's (257). */
	const PeSection *sbat = uki->pe->section(".sbat");
	ASSERT_NE(sbat, nullptr);
	auto entries = parseSbat(std::string_view(reinterpret_cast<const char *>(sbat->data.data()), sbat->data.size()));
	ASSERT_TRUE(entries.ok());
	ASSERT_GE(entries->size(), 2u);
	const std::string stub = (*entries)[1].component;
	ASSERT_EQ((*entries)[1].generation, 1u) << stub;

	s.sbatLevel = *parseSbatLevel("sbat,1,2023012900\n" + stub + ",1\n", "level-1");
	EXPECT_EQ(fw(*uki->pe, s).verdict, Verdict::Trusted);

	s.sbatLevel = *parseSbatLevel("sbat,1,2099010100\n" + stub + ",2\n", "level-2");
	VerdictReport f = fw(*uki->pe, s);
	EXPECT_EQ(f.verdict, Verdict::Revoked);
	EXPECT_NE(f.reason.find(stub + " generation 1"), std::string::npos) << f.reason;
	/* SBAT is shim's; the kernel does not read .sbat. */
	EXPECT_EQ(kern(*uki->pe, s).verdict, Verdict::Trusted);
}

/* ---- allow lists --------------------------------------------------- */

TEST(Verdict, DbImageHashAllowsAnUnsignedImage)
{
	REQUIRE_FIXTURES();
	TrustSources s = bareSources();
	auto uki = loadPe(fixture("uki.efi"));
	s.db.imageHashes.push_back(toSha256(sha256Digest(*uki->pe)));
	EXPECT_EQ(fw(*uki->pe, s).verdict, Verdict::Trusted);
	EXPECT_EQ(kern(*uki->pe, s).verdict, Verdict::Unsigned);
	s.ignoreDb = true;
	EXPECT_EQ(fw(*uki->pe, s).verdict, Verdict::Unsigned);
}

TEST(Verdict, MokIgnoreDbDropsDbForBoth)
{
	REQUIRE_FIXTURES();
	TrustSources s = bareSources();
	addCert(s.db, fixture("keys/trusted.crt"));
	s.ignoreDb = true;
	ASSERT_TRUE(rebuildStores(s).ok());
	auto uki = loadPe(fixture("uki-signed.efi"));
	EXPECT_EQ(fw(*uki->pe, s).verdict, Verdict::UntrustedSigner);
	EXPECT_EQ(kern(*uki->pe, s).verdict, Verdict::UntrustedSigner);

	addCert(s.mok, fixture("keys/trusted.crt"));
	ASSERT_TRUE(rebuildStores(s).ok());
	EXPECT_EQ(fw(*uki->pe, s).anchor.rfind("MokListRT: ", 0), 0u);
	EXPECT_NE(kern(*uki->pe, s).anchor.find("MokListRT"), std::string::npos);
}

/* The kernel names an X.509 key "<CN>: <subjectKeyIdentifier>"; a chain
 * reaching such a key in the builtin/secondary keyrings is trusted. */
TEST(Verdict, KernelKeyringMatchedByKeyId)
{
	REQUIRE_FIXTURES();
	TrustSources s = bareSources();
	auto uki = loadPe(fixture("uki-signed.efi"));
	EXPECT_EQ(kern(*uki->pe, s).verdict, Verdict::UntrustedSigner);

	detail::X509Ptr cert = loadPem(fixture("keys/trusted.crt"));
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(cert.get());
	ASSERT_TRUE(skid);
	s.kernelKeys.known = true;
	s.kernelKeys.keys.push_back({ ".builtin_trusted_keys", "kexecd test trusted key",
				      detail::hexString({ ASN1_STRING_get0_data(skid),
							  static_cast<size_t>(ASN1_STRING_length(skid)) }) });
	VerdictReport k = kern(*uki->pe, s);
	EXPECT_EQ(k.verdict, Verdict::Trusted) << k.reason;
	EXPECT_EQ(k.anchor.rfind(".builtin_trusted_keys: ", 0), 0u) << k.anchor;
	/* shim does not know the kernel's keyrings. */
	EXPECT_EQ(fw(*uki->pe, s).verdict, Verdict::UntrustedSigner);
}

/* ---- several signatures, signing time -------------------------------- */

/* shim takes any signature; the kernel only the first. */
TEST(Verdict, OnlyTheFirstSignatureCountsForTheKernel)
{
	REQUIRE_FIXTURES();
	const std::string dir = makeTempDir();
	TrustSources s = bareSources();
	addCert(s.db, fixture("keys/trusted.crt"));
	ASSERT_TRUE(rebuildStores(s).ok());

	/* First untrusted, second trusted. */
	signWith(fixture("uki-untrusted.efi"), dir + "/untrusted-then-trusted.efi", "trusted");
	auto a = loadPe(dir + "/untrusted-then-trusted.efi");
	EXPECT_EQ(fw(*a->pe, s).verdict, Verdict::Trusted);
	EXPECT_EQ(fw(*a->pe, s).signature, 1);
	VerdictReport k = kern(*a->pe, s);
	EXPECT_EQ(k.verdict, Verdict::UntrustedSigner) << k.reason;
	EXPECT_EQ(k.signature, 0);

	/* First corrupt (a byte of its RSA signature flipped), second valid. */
	signWith(fixture("uki-signed.efi"), dir + "/double.efi", "trusted");
	std::vector<uint8_t> bytes = readFile(dir + "/double.efi");
	auto pe = PeFile::parse(bytes, "double.efi");
	ASSERT_TRUE(pe.ok());
	auto dirent = pe->dataDirectory(PeFile::kCertificateTable);
	ASSERT_TRUE(dirent);
	const size_t der = dirent->virtualAddress + 8;
	ASSERT_EQ(bytes[der], 0x30);
	ASSERT_EQ(bytes[der + 1], 0x82);
	const size_t derLen = 4 + (size_t{ bytes[der + 2] } << 8 | bytes[der + 3]);
	bytes[der + derLen - 16] ^= 0x01; // inside the trailing signature value
	writeFile(dir + "/first-corrupt.efi", bytes);
	auto b = loadPe(dir + "/first-corrupt.efi");
	auto sigs = readPeSignatures(*b->pe);
	ASSERT_TRUE(sigs.ok());
	ASSERT_EQ(sigs->entries.size(), 2u);
	EXPECT_FALSE(sigs->entries[0].intact);
	EXPECT_TRUE(sigs->entries[1].intact);
	VerdictReport f = fw(*b->pe, s);
	EXPECT_EQ(f.verdict, Verdict::Trusted) << f.reason;
	EXPECT_EQ(f.signature, 1);
	k = kern(*b->pe, s);
	EXPECT_EQ(k.verdict, Verdict::BadSignature) << k.reason;
	EXPECT_NE(k.reason.find("never reads the others"), std::string::npos) << k.reason;
}

/* sbsign records the signing time; a signer whose validity ended before
 * it is refused by the kernel (pkcs7_verify_one) but not by shim. */
TEST(Verdict, SigningTimeOutsideTheSignerValidity)
{
	REQUIRE_FIXTURES();
	const std::string dir = makeTempDir();
	writeExpiredSigner(dir + "/expired.key", dir + "/expired.crt");
	sign(fixture("uki.efi"), dir + "/expired.efi", dir + "/expired.key", dir + "/expired.crt");
	TrustSources s = bareSources();
	addCert(s.db, dir + "/expired.crt");
	ASSERT_TRUE(rebuildStores(s).ok());
	auto pe = loadPe(dir + "/expired.efi");
	auto sigs = readPeSignatures(*pe->pe);
	ASSERT_TRUE(sigs.ok());
	ASSERT_EQ(sigs->entries.size(), 1u);
	ASSERT_TRUE(sigs->entries[0].signingTime) << "sbsign did not record a signing time";

	EXPECT_EQ(fw(*pe->pe, s).verdict, Verdict::Trusted);
	VerdictReport k = kern(*pe->pe, s);
	EXPECT_EQ(k.verdict, Verdict::BadSignature) << k.reason;
	EXPECT_NE(k.reason.find("outside the signer certificate's validity"), std::string::npos) << k.reason;

	/* A signer valid at signing time passes the same rule. */
	auto good = loadPe(fixture("uki-signed.efi"));
	TrustSources t = bareSources();
	addCert(t.db, fixture("keys/trusted.crt"));
	ASSERT_TRUE(rebuildStores(t).ok());
	EXPECT_EQ(kern(*good->pe, t).verdict, Verdict::Trusted);
}

/* The kernel's PKCS#7 parser refuses Authenticode without authenticated
 * attributes; OpenSSL (and so shim) verifies such a bare signature. The
 * fixture's signature is re-made without them: the signer signs the
 * SpcIndirectDataContent directly. */
TEST(Verdict, KernelRequiresAuthenticatedAttributes)
{
	REQUIRE_FIXTURES();
	std::vector<uint8_t> bytes = readFile(fixture("uki-signed.efi"));
	auto pe = PeFile::parse(bytes, "uki-signed.efi");
	ASSERT_TRUE(pe.ok());
	const auto dirent = pe->dataDirectory(PeFile::kCertificateTable);
	ASSERT_TRUE(dirent && dirent->virtualAddress);
	const size_t tableAt = dirent->virtualAddress;
	const uint32_t dirOffset = pe->certDirectoryOffset();

	const uint8_t *p = bytes.data() + tableAt + 8;
	Pkcs7Ptr p7(d2i_PKCS7(nullptr, &p, static_cast<long>(dirent->size - 8)));
	ASSERT_TRUE(p7);
	PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7.get()), 0);
	ASSERT_TRUE(si);
	sk_X509_ATTRIBUTE_pop_free(si->auth_attr, X509_ATTRIBUTE_free);
	si->auth_attr = nullptr;

	/* What Authenticode signs: the SpcIndirectDataContent without its header. */
	ASN1_STRING *seq = p7->d.sign->contents->d.other->value.sequence;
	const uint8_t *der = ASN1_STRING_get0_data(seq);
	size_t len = static_cast<size_t>(ASN1_STRING_length(seq));
	size_t header = (der[1] & 0x80) ? 2 + (der[1] & 0x7f) : 2;
	std::string keyPem = readText(fixture("keys/trusted.key"));
	BIO *bio = BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size()));
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
	BIO_free(bio);
	ASSERT_TRUE(key);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t sigLen = 0;
	ASSERT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
	ASSERT_EQ(EVP_DigestSign(ctx, nullptr, &sigLen, der + header, len - header), 1);
	std::vector<uint8_t> signature(sigLen);
	ASSERT_EQ(EVP_DigestSign(ctx, signature.data(), &sigLen, der + header, len - header), 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	ASN1_STRING_set(si->enc_digest, signature.data(), static_cast<int>(sigLen));

	unsigned char *out = nullptr;
	const int outLen = i2d_PKCS7(p7.get(), &out);
	ASSERT_GT(outLen, 0);
	std::vector<uint8_t> entry(8 + static_cast<size_t>(outLen));
	const uint32_t entryLen = static_cast<uint32_t>(entry.size());
	for (int i = 0; i < 4; i++)
		entry[i] = static_cast<uint8_t>(entryLen >> (8 * i));
	entry[5] = 0x02; // WIN_CERT_REVISION_2_0
	entry[6] = 0x02; // WIN_CERT_TYPE_PKCS_SIGNED_DATA
	std::copy(out, out + outLen, entry.begin() + 8);
	OPENSSL_free(out);
	entry.resize((entry.size() + 7) & ~size_t{ 7 }, 0);
	bytes.resize(tableAt);
	bytes.insert(bytes.end(), entry.begin(), entry.end());
	const uint32_t tableSize = static_cast<uint32_t>(entry.size());
	for (int i = 0; i < 4; i++)
		bytes[dirOffset + 4 + i] = static_cast<uint8_t>(tableSize >> (8 * i));

	const std::string dir = makeTempDir();
	writeFile(dir + "/no-authattrs.efi", bytes);
	auto bare = loadPe(dir + "/no-authattrs.efi");
	auto sigs = readPeSignatures(*bare->pe);
	ASSERT_TRUE(sigs.ok());
	ASSERT_EQ(sigs->entries.size(), 1u);
	EXPECT_TRUE(sigs->entries[0].intact) << sigs->entries[0].problem;
	EXPECT_FALSE(sigs->entries[0].signedAttributes);

	TrustSources s = bareSources();
	addCert(s.db, fixture("keys/trusted.crt"));
	ASSERT_TRUE(rebuildStores(s).ok());
	EXPECT_EQ(fw(*bare->pe, s).verdict, Verdict::Trusted);
	VerdictReport k = kern(*bare->pe, s);
	EXPECT_EQ(k.verdict, Verdict::BadSignature);
	EXPECT_NE(k.reason.find("Authenticode requires AuthAttrs"), std::string::npos) << k.reason;

	/* The sbsign original has them. */
	auto original = loadPe(fixture("uki-signed.efi"));
	EXPECT_EQ(kern(*original->pe, s).verdict, Verdict::Trusted);
}

/* ---- reading the sources --------------------------------------------- */

namespace {

std::vector<uint8_t> efiVar(const std::vector<uint8_t> &esl)
{
	std::vector<uint8_t> v = { 0x07, 0, 0, 0 };
	v.insert(v.end(), esl.begin(), esl.end());
	return v;
}

std::vector<uint8_t> eslOf(const uint8_t (&guid)[16], const std::vector<std::vector<uint8_t>> &entries, size_t dataSize)
{
	const size_t sigSize = 16 + dataSize;
	std::vector<uint8_t> b(28, 0);
	std::memcpy(b.data(), guid, 16);
	auto put32 = [&](size_t off, uint32_t v) {
		for (int i = 0; i < 4; i++)
			b[off + i] = static_cast<uint8_t>(v >> (8 * i));
	};
	put32(16, static_cast<uint32_t>(28 + entries.size() * sigSize));
	put32(24, static_cast<uint32_t>(sigSize));
	for (const auto &e : entries) {
		std::vector<uint8_t> entry(16, 0xab);
		entry.insert(entry.end(), e.begin(), e.end());
		entry.resize(sigSize, 0);
		b.insert(b.end(), entry.begin(), entry.end());
	}
	return b;
}

constexpr uint8_t kX509[16] = { 0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
				0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72 };
constexpr uint8_t kSha256[16] = { 0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
				  0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28 };
constexpr uint8_t kX509Sha256[16] = { 0x92, 0xa4, 0xd2, 0x3b, 0xc0, 0x96, 0x79, 0x40,
				      0xb4, 0x20, 0xfc, 0xf9, 0x8e, 0xf1, 0x03, 0xed };

std::vector<uint8_t> der(const std::string &pemPath)
{
	detail::X509Ptr cert = loadPem(pemPath);
	unsigned char *p = nullptr;
	int len = i2d_X509(cert.get(), &p);
	std::vector<uint8_t> out(p, p + len);
	OPENSSL_free(p);
	return out;
}

} // namespace

TEST(TrustSources, ReadsEveryVariableAsTheKernelAndShimDo)
{
	REQUIRE_FIXTURES();
	const std::string root = makeTempDir();
	const std::string ev = root + "/efivars";
	std::filesystem::create_directories(ev);
	const std::string g = std::string("-") + kEfiGlobalDbGuid, m = std::string("-") + kShimLockGuid;
	const auto trusted = der(fixture("keys/trusted.crt"));
	const auto untrusted = der(fixture("keys/untrusted.crt"));
	writeFile(ev + "/db" + g, efiVar(eslOf(kX509, { trusted }, trusted.size())));
	std::vector<uint8_t> dbx = eslOf(kSha256, { std::vector<uint8_t>(32, 1), std::vector<uint8_t>(32, 2) }, 32);
	auto more = eslOf(kX509Sha256, { std::vector<uint8_t>(48, 3) }, 48);
	dbx.insert(dbx.end(), more.begin(), more.end());
	writeFile(ev + "/dbx" + g, efiVar(dbx));
	/* shim splits a MOK list too large for one variable: MokListRT, MokListRT1, ... */
	writeFile(ev + "/MokListRT" + m, efiVar(eslOf(kX509, { trusted }, trusted.size())));
	writeFile(ev + "/MokListRT1" + m, efiVar(eslOf(kX509, { untrusted }, untrusted.size())));
	writeFile(ev + "/MokListXRT" + m, efiVar(eslOf(kSha256, { std::vector<uint8_t>(32, 4) }, 32)));
	writeFile(ev + "/SbatLevelRT" + m, std::string("\x07\0\0\0", 4) + "sbat,1,2024010900\nshim,4\ngrub,4\n");
	writeFile(ev + "/MokIgnoreDB" + m, std::string("\x07\0\0\0\x01", 5));

	TrustSourcePaths p;
	p.trustDir = root + "/no-trust.d";
	p.efivarsDir = ev;
	p.mokVariablesDir = root + "/no-mok";
	p.procKeys = root + "/no-keys";
	auto s = loadTrustSources(p);
	ASSERT_TRUE(s.ok()) << s.error().message;
	EXPECT_EQ(s->db.certs.size(), 1u);
	EXPECT_EQ(s->dbx.imageHashes.size(), 2u);
	EXPECT_EQ(s->dbx.certHashes.size(), 1u);
	EXPECT_EQ(s->mok.certs.size(), 2u);
	EXPECT_EQ(s->mokx.imageHashes.size(), 1u);
	ASSERT_TRUE(s->sbatLevel);
	EXPECT_EQ(s->sbatLevel->entries.size(), 3u);
	EXPECT_TRUE(s->ignoreDb);
	EXPECT_EQ(s->dbStore.size(), 0u); // MokIgnoreDB
	EXPECT_EQ(s->mokStore.size(), 2u);
	EXPECT_TRUE(s->notes.empty());
	EXPECT_FALSE(s->kernelKeys.known);
	nlohmann::json d = s->describe();
	EXPECT_EQ(d["mok"]["certificates"], 2);
	EXPECT_EQ(d["sbat_level"], "sbat,1,2024010900");

	/* The configuration table copy wins over the (possibly split) variable. */
	std::filesystem::create_directories(root + "/mok");
	writeFile(root + "/mok/MokListRT", eslOf(kX509, { untrusted }, untrusted.size()));
	p.mokVariablesDir = root + "/mok";
	s = loadTrustSources(p);
	ASSERT_TRUE(s.ok());
	EXPECT_EQ(s->mok.certs.size(), 1u);

	/* A damaged variable is left out and named, not fatal. */
	writeFile(ev + "/dbx" + g, std::string("\x07\0\0\0garbage-garbage-garbage-garbage", 36));
	s = loadTrustSources(p);
	ASSERT_TRUE(s.ok());
	EXPECT_TRUE(s->dbx.imageHashes.empty());
	ASSERT_EQ(s->notes.size(), 1u);
	EXPECT_NE(s->notes[0].find("dbx"), std::string::npos);
}

TEST(TrustSources, ProcKeys)
{
	const std::string dir = makeTempDir();
	writeFile(dir + "/empty",
		  "07501b95 I------     1 perm 0f0b0000     0     0 keyring   .blacklist: empty\n"
		  "32ff5dc6 I------     1 perm 1f0b0000     0     0 keyring   .builtin_trusted_keys: empty\n");
	KernelKeyrings k = readKernelKeyrings(dir + "/empty");
	EXPECT_TRUE(k.known) << k.note;
	EXPECT_TRUE(k.keys.empty());

	/* Keys exist, but only keyctl on the real /proc/keys says which keyring. */
	writeFile(dir + "/full",
		  "32ff5dc6 I------     1 perm 1f0b0000     0     0 keyring   .builtin_trusted_keys: 1\n"
		  "1a2b3c4d I------     1 perm 1f010000     0     0 asymmetri Debian Secure Boot CA: "
		  "6ccece7e4c6c0d1f6149f3dd27dfcc5cbb419ea1 X509.rsa 4f8b4a9c []\n");
	k = readKernelKeyrings(dir + "/full");
	EXPECT_FALSE(k.known);

	/* The real file never throws or crashes, whatever this kernel shows. */
	KernelKeyrings host = readKernelKeyrings("/proc/keys");
	EXPECT_FALSE(host.note.empty());

	writeFile(dir + "/none", "3a3083de I--Q---     1 perm 0c030000     0 65534 keyring   .user_reg: 2\n");
	EXPECT_FALSE(readKernelKeyrings(dir + "/none").known);
	EXPECT_FALSE(readKernelKeyrings(dir + "/missing").known);
}
