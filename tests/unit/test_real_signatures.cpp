// SPDX-License-Identifier: LGPL-2.1-or-later
// Verdicts on real vendor-signed Debian binaries against real trust anchors
// (tests/fixtures/make-real-fixtures.py): shim (Microsoft UEFI CA 2011),
// grub, fwupd and the kernel (Debian Secure Boot CA, which shim publishes in
// MokListRT), with OVMF's Microsoft db/dbx and shim's vendor dbx and SBAT
// level. Each expectation is what shim and kexec_file_load decide by their
// code (shim.c verify_buffer/check_denylist/check_allowlist, sbat.c;
// verify_pefile.c, mscode_parser.c, pkcs7_verify.c/pkcs7_trust.c,
// load_uefi.c), not what sbverify says: sbverify accepts any chain that has
// an intermediate, even against an unrelated certificate (asserted below).
//
// Exits 77 when the packages cannot be downloaded.

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "authenticode.h"
#include "revocation.h"
#include "signature_check.h"
#include "test_util.h"
#include "trust_sources.h"
#include "verdict.h"

using namespace kexecd;
using namespace kexecd::test;

namespace {

std::string gSkip;

std::string real(const std::string &name)
{
	return fixture("real/" + name);
}

#define REQUIRE_REAL()                       \
	do {                                 \
		if (!gSkip.empty())          \
			GTEST_SKIP() << gSkip; \
	} while (0)

/* The sources a machine booted through shim 16 with OVMF's Microsoft keys
 * would show (efivars-shim), or plain firmware without shim (efivars-ms).
 * The kernel's builtin keyring is unknown unless a test sets it. */
TrustSources sources(const std::string &tree, const std::string &trustDir = "")
{
	const std::string tmp = makeTempDir();
	TrustSourcePaths p;
	p.trustDir = trustDir.empty() ? tmp + "/no-trust.d" : trustDir;
	p.efivarsDir = tree.empty() ? tmp + "/no-efivars" : real(tree);
	p.mokVariablesDir = tmp + "/no-mok";
	p.procKeys = tmp + "/no-keys";
	auto s = loadTrustSources(p);
	EXPECT_TRUE(s.ok()) << (s ? "" : s.error().message);
	EXPECT_TRUE(s->notes.empty());
	return std::move(*s);
}


struct Both {
	VerdictReport firmware, kernel;
};

Both verdicts(const PeFile &pe, const TrustSources &s)
{
	Both b;
	auto f = firmwareVerdict(pe, s);
	auto k = kernelVerdict(pe, s);
	EXPECT_TRUE(f.ok() && k.ok());
	if (f)
		b.firmware = *f;
	if (k)
		b.kernel = *k;
	return b;
}

void table(const std::string &title, const std::string &name, const Both &b)
{
	std::printf("| %-14s | %-28s | %-16s | %-16s | %s / %s\n", title.c_str(), name.c_str(),
		    verdictName(b.firmware.verdict), verdictName(b.kernel.verdict),
		    b.firmware.anchor.empty() ? b.firmware.reason.c_str() : b.firmware.anchor.c_str(),
		    b.kernel.anchor.empty() ? b.kernel.reason.c_str() : b.kernel.anchor.c_str());
}

} // namespace

namespace kexecd {
void PrintTo(Verdict verdict, std::ostream *os)
{
	*os << verdictName(verdict);
}
} // namespace kexecd

/* The anchors are what they claim to be. */
TEST(RealAnchors, ExtractedFromShimAndOvmf)
{
	REQUIRE_REAL();
	std::vector<uint8_t> ca = readFile(real("debian-ca.der"));
	const uint8_t *p = ca.data();
	detail::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(ca.size())));
	ASSERT_TRUE(cert);
	EXPECT_EQ(detail::nameToString(X509_get_subject_name(cert.get())), "CN=Debian Secure Boot CA");

	TrustSources s = sources("efivars-shim");
	std::vector<std::string> db;
	for (const auto &c : s.db.certs)
		db.push_back(detail::nameToString(X509_get_subject_name(c.cert.get())));
	ASSERT_EQ(db.size(), 2u);
	EXPECT_NE(db[0].find("Microsoft Windows Production PCA 2011"), std::string::npos);
	EXPECT_NE(db[1].find("Microsoft Corporation UEFI CA 2011"), std::string::npos);
	EXPECT_EQ(s.mok.certs.size(), 1u);
	EXPECT_GT(s.mokx.imageHashes.size(), 100u); // shim's vendor dbx: revoked Debian grub/shim builds
	ASSERT_TRUE(s.sbatLevel);
	EXPECT_EQ(s.sbatLevel->text.rfind("sbat,1,", 0), 0u);
}

/* The verdict table for every real binary. */
TEST(RealBinaries, VerdictTable)
{
	REQUIRE_REAL();
	struct Case {
		const char *file;
		const char *tree;
		Verdict firmware;
		Verdict kernel;
		const char *anchor; // substring of the firmware anchor, if trusted
	};
	/* Kernel keyrings unknown here, so "not in the platform keyring" is unknown. */
	const Case cases[] = {
		{ "shimx64.efi", "efivars-shim", Verdict::Trusted, Verdict::Trusted, "db: " },
		{ "grubx64.efi", "efivars-shim", Verdict::Trusted, Verdict::Trusted, "MokListRT: CN=Debian Secure Boot CA" },
		{ "fwupdx64.efi", "efivars-shim", Verdict::Trusted, Verdict::Trusted, "MokListRT: CN=Debian Secure Boot CA" },
		{ "vmlinuz", "efivars-shim", Verdict::Trusted, Verdict::Trusted, "MokListRT: CN=Debian Secure Boot CA" },
		{ "shimx64.efi", "efivars-ms", Verdict::Trusted, Verdict::Trusted, "Microsoft Corporation UEFI CA 2011" },
		{ "grubx64.efi", "efivars-ms", Verdict::UntrustedSigner, Verdict::Unknown, "" },
		{ "fwupdx64.efi", "efivars-ms", Verdict::UntrustedSigner, Verdict::Unknown, "" },
		{ "vmlinuz", "efivars-ms", Verdict::UntrustedSigner, Verdict::Unknown, "" },
	};
	std::printf("| sources        | binary                       | firmware         | kernel           | why\n");
	for (const Case &c : cases) {
		SCOPED_TRACE(std::string(c.file) + " with " + c.tree);
		TrustSources s = sources(c.tree);
		auto pe = loadPe(real(c.file));
		ASSERT_TRUE(pe->pe);
		Both b = verdicts(*pe->pe, s);
		table(c.tree, c.file, b);
		EXPECT_EQ(b.firmware.verdict, c.firmware) << b.firmware.reason;
		EXPECT_EQ(b.kernel.verdict, c.kernel) << b.kernel.reason;
		if (c.firmware == Verdict::Trusted) {
			EXPECT_NE(b.firmware.anchor.find(c.anchor), std::string::npos) << b.firmware.anchor;
		}
	}
}

/* Debian's 6.12 kernel (bookworm-backports): signed by a newer Debian
 * signer under the same CA. */
TEST(RealBinaries, Kernel612)
{
	REQUIRE_REAL();
	if (!std::filesystem::exists(real("vmlinuz-6.12")))
		GTEST_SKIP() << "no 6.12 kernel: " << readText(real("vmlinuz-6.12.UNAVAILABLE"));
	auto pe = loadPe(real("vmlinuz-6.12"));
	ASSERT_TRUE(pe->pe);
	Both b = verdicts(*pe->pe, sources("efivars-shim"));
	table("efivars-shim", "vmlinuz-6.12", b);
	EXPECT_EQ(b.firmware.verdict, Verdict::Trusted) << b.firmware.reason;
	EXPECT_EQ(b.kernel.verdict, Verdict::Trusted) << b.kernel.reason;
	EXPECT_NE(b.kernel.signer.find("Debian Secure Boot Signer"), std::string::npos) << b.kernel.signer;
	b = verdicts(*pe->pe, sources("efivars-ms"));
	table("efivars-ms", "vmlinuz-6.12", b);
	EXPECT_EQ(b.firmware.verdict, Verdict::UntrustedSigner);
	EXPECT_EQ(b.kernel.verdict, Verdict::Unknown);
}

/* fwupd-efi's Debian signature has SpcIndirectDataContent type
 * 1.3.6.1.4.1.311.2.1.21 (an old pesign bug) that the kernel accepts. */
TEST(RealBinaries, FwupdContentTypeOid)
{
	REQUIRE_REAL();
	auto pe = loadPe(real("fwupdx64.efi"));
	auto sigs = readPeSignatures(*pe->pe);
	ASSERT_TRUE(sigs.ok());
	ASSERT_FALSE(sigs->entries.empty());
	EXPECT_EQ(sigs->entries[0].dataType, kSpcIndividualKeyPurposeOid);
	EXPECT_TRUE(sigs->entries[0].intact) << sigs->entries[0].problem;
}

/* The builtin keyring, matched by key id as /proc/keys names keys. A kernel
 * built with Debian's CA in CONFIG_SYSTEM_TRUSTED_KEYS would accept Debian's
 * kernel with no MOK, while shim without MokListRT refuses it. Debian's own
 * 6.1 kernel is not such a kernel: its vmlinux holds one certificate, "Build
 * time autogenerated kernel key" (checked by hand), so under Secure Boot
 * without shim it refuses Debian's kernel (ENOKEY), the "known empty"
 * case at the end. */
TEST(RealBinaries, DebianKernelTrustedByBuiltinKeyring)
{
	REQUIRE_REAL();
	TrustSources s = sources("efivars-ms");
	s.kernelKeys.known = true;
	s.kernelKeys.keys.push_back({ ".builtin_trusted_keys", "Debian Secure Boot CA",
				      "6ccece7e4c6c0d1f6149f3dd27dfcc5cbb419ea1" });
	auto pe = loadPe(real("vmlinuz"));
	Both b = verdicts(*pe->pe, s);
	table("ms+builtin", "vmlinuz", b);
	EXPECT_EQ(b.firmware.verdict, Verdict::UntrustedSigner);
	EXPECT_EQ(b.kernel.verdict, Verdict::Trusted) << b.kernel.reason;
	EXPECT_EQ(b.kernel.anchor.rfind(".builtin_trusted_keys: Debian Secure Boot CA", 0), 0u) << b.kernel.anchor;

	/* And with that keyring known to be empty (this machine's kernel). */
	s.kernelKeys.keys.clear();
	b = verdicts(*pe->pe, s);
	EXPECT_EQ(b.kernel.verdict, Verdict::UntrustedSigner);
}

/* A UKI in an unsigned envelope around Debian's signed kernel (the main
 * fixtures' uki.efi), and a signed envelope around an unsigned kernel. */
TEST(RealBinaries, EnvelopeVersusInnerKernel)
{
	REQUIRE_REAL();
	TrustSources s = sources("efivars-shim", fixture("trust"));

	auto check = [&](const std::string &path, const SignatureEnforcement &e) {
		auto uki = std::make_unique<LoadedImage>();
		uki->bytes = readFile(path);
		auto pe = PeFile::parse(uki->bytes, path);
		EXPECT_TRUE(pe.ok());
		auto img = UkiImage::fromPe(std::move(*pe), path, ImageRole::Uki);
		EXPECT_TRUE(img.ok());
		uki->image.emplace(std::move(*img));
		SignatureInputs in;
		in.uki = &*uki->image;
		in.kernel = uki->image->base().find(".linux")->second;
		auto r = checkSignatures(in, s, e);
		EXPECT_TRUE(r.ok());
		return std::move(*r);
	};

	/* Unsigned envelope, Debian-signed .linux: shim (systemd-stub) would not
	 * boot it, the kernel would load its kernel. */
	SignatureCheck a = check(fixture("uki.efi"), { true, false });
	EXPECT_EQ(a.objects[0]["firmware"]["verdict"], "unsigned");
	EXPECT_EQ(a.objects[1]["kernel"]["verdict"], "trusted") << a.objects[1].dump();
	EXPECT_FALSE(a.refusal);
	a = check(fixture("uki.efi"), { true, true });
	ASSERT_TRUE(a.refusal);
	EXPECT_NE(a.refusal->message.find("firmware verdict unsigned"), std::string::npos);

	/* Signed envelope (trust.d), unsigned .linux: the kernel refuses. */
	SignatureCheck b = check(real("uki-unsigned-kernel-signed.efi"), { true, false });
	EXPECT_EQ(b.objects[0]["firmware"]["verdict"], "trusted");
	EXPECT_EQ(b.objects[1]["kernel"]["verdict"], "unsigned");
	ASSERT_TRUE(b.refusal);
	EXPECT_NE(b.refusal->message.find("kernel verdict unsigned"), std::string::npos) << b.refusal->message;
	std::printf("| efivars-shim   | uki.efi (unsigned envelope)  | %-16s | %-16s | .linux = Debian-signed\n",
		    a.objects[0]["firmware"]["verdict"].get<std::string>().c_str(),
		    a.objects[1]["kernel"]["verdict"].get<std::string>().c_str());
	std::printf("| efivars-shim   | signed envelope, bare kernel | %-16s | %-16s | envelope by trust.d\n",
		    b.objects[0]["firmware"]["verdict"].get<std::string>().c_str(),
		    b.objects[1]["kernel"]["verdict"].get<std::string>().c_str());
}

TEST(RealBinaries, Revocation)
{
	REQUIRE_REAL();
	auto grub = loadPe(real("grubx64.efi"));
	auto vmlinuz = loadPe(real("vmlinuz"));

	/* A dbx entry with grub's Authenticode SHA-256. */
	TrustSources s = sources("efivars-shim");
	auto digest = authenticodeDigest(*grub->pe, EVP_sha256());
	ASSERT_TRUE(digest.ok());
	Sha256 h;
	std::copy(digest->begin(), digest->end(), h.begin());
	s.dbx.imageHashes.push_back(h);
	Both b = verdicts(*grub->pe, s);
	table("+dbx hash", "grubx64.efi", b);
	EXPECT_EQ(b.firmware.verdict, Verdict::Revoked) << b.firmware.reason;

	/* Debian's CA revoked (dbx X.509 entry): shim and the kernel refuse. */
	TrustSources t = sources("efivars-shim");
	std::vector<uint8_t> ca = readFile(real("debian-ca.der"));
	const uint8_t *p = ca.data();
	t.dbx.certs.push_back({ detail::X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(ca.size()))), "test" });
	b = verdicts(*grub->pe, t);
	table("+dbx Debian CA", "grubx64.efi", b);
	EXPECT_EQ(b.firmware.verdict, Verdict::Revoked);
	b = verdicts(*vmlinuz->pe, t);
	table("+dbx Debian CA", "vmlinuz", b);
	EXPECT_EQ(b.firmware.verdict, Verdict::Revoked);
	EXPECT_EQ(b.kernel.verdict, Verdict::Revoked) << b.kernel.reason;

	/* The signer's TBS hash (EFI_CERT_X509_SHA256): the kernel's "tbs:" blacklist. */
	TrustSources u = sources("efivars-shim");
	auto sigs = readPeSignatures(*vmlinuz->pe);
	ASSERT_TRUE(sigs.ok() && !sigs->entries.empty());
	auto tbs = detail::tbsSha256(sigs->entries[0].signer);
	ASSERT_EQ(tbs.size(), 32u);
	std::copy(tbs.begin(), tbs.end(), h.begin());
	u.dbx.certHashes.push_back(h);
	b = verdicts(*vmlinuz->pe, u);
	table("+dbx signer TBS", "vmlinuz", b);
	EXPECT_EQ(b.kernel.verdict, Verdict::Revoked) << b.kernel.reason;
}

TEST(RealBinaries, SbatGenerations)
{
	REQUIRE_REAL();
	auto grub = loadPe(real("grubx64.efi"));
	for (const char *level : { "sbat-level-previous.csv", "sbat-level-latest.csv" }) {
		SCOPED_TRACE(level);
		TrustSources s = sources("efivars-shim");
		auto l = parseSbatLevel(readText(real(level)), level);
		ASSERT_TRUE(l.ok());
		s.sbatLevel = *l;
		EXPECT_EQ(verdicts(*grub->pe, s).firmware.verdict, Verdict::Trusted);
	}
	/* A policy one grub generation ahead of Debian's grub (grub,5). */
	TrustSources s = sources("efivars-shim");
	s.sbatLevel = *parseSbatLevel("sbat,1,2099010100\nshim,4\ngrub,6\n", "test level");
	Both b = verdicts(*grub->pe, s);
	table("SBAT grub,6", "grubx64.efi", b);
	EXPECT_EQ(b.firmware.verdict, Verdict::Revoked);
	EXPECT_NE(b.firmware.reason.find("grub generation 5"), std::string::npos) << b.firmware.reason;
	EXPECT_EQ(b.kernel.verdict, Verdict::Trusted); // SBAT is not the kernel's
}

/* bookworm's sbverify --cert accepts shim against a certificate that has
 * nothing to do with it (shim's PKCS#7 carries an intermediate); shim would
 * not, and neither does trixie's sbverify. kexecd's verdict is checked
 * either way. */
TEST(RealBinaries, SbverifyIsNotTheReference)
{
	REQUIRE_REAL();
	std::string out;
	const int rc = runProgram({ "sbverify", "--cert", fixture("keys/untrusted.crt"), real("shimx64.efi") }, &out);
	if (rc == 127)
		GTEST_SKIP() << "sbverify not installed";
	if (rc != 0)
		std::printf("sbverify refuses shim against an unrelated certificate too: %s\n", out.c_str());

	const std::string dir = makeTempDir();
	std::filesystem::copy_file(fixture("keys/untrusted.crt"), dir + "/untrusted.pem");
	TrustSources s = sources("", dir);
	auto pe = loadPe(real("shimx64.efi"));
	EXPECT_EQ(verdicts(*pe->pe, s).firmware.verdict, Verdict::UntrustedSigner);
}

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	if (!fixturesProblem().empty())
		gSkip = fixturesProblem();
	else if (std::filesystem::exists(fixture("real/UNAVAILABLE")))
		gSkip = "real binaries unavailable: " + readText(fixture("real/UNAVAILABLE"));
	else if (!std::filesystem::exists(fixture("real/manifest.json")))
		gSkip = "real binaries not generated in " + fixture("real");
	const int ret = RUN_ALL_TESTS();
	if (ret == 0 && !gSkip.empty()) {
		std::fprintf(stderr, "real-binary tests skipped: %s\n", gSkip.c_str());
		return 77;
	}
	return ret;
}
