// SPDX-License-Identifier: LGPL-2.1-or-later
// Appended module signatures: our writer against our verifier, and both
// against the openssl CLI (independent of the C++ code).

#include "modsig.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace {

using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

std::string readText(const fs::path &p)
{
	std::ifstream f(p, std::ios::binary);
	return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void writeBytes(const fs::path &p, std::span<const uint8_t> b)
{
	std::ofstream f(p, std::ios::binary);
	f.write(reinterpret_cast<const char *>(b.data()), static_cast<std::streamsize>(b.size()));
}

class ModSig : public ::testing::Test
{
protected:
	static void SetUpTestSuite()
	{
		dir_ = fs::temp_directory_path() / ("kexecd-modsig-" + std::to_string(getpid()));
		fs::create_directories(dir_);
		for (const char *who : { "a", "b" }) {
			const std::string cmd = "openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 1 -batch "
						"-subj /CN=kexecd-test-" + std::string(who) +
						" -keyout " + (dir_ / (std::string(who) + ".key")).string() +
						" -out " + (dir_ / (std::string(who) + ".crt")).string() +
						" >/dev/null 2>&1";
			available_ = std::system(cmd.c_str()) == 0;
			if (!available_)
				return;
		}
	}

	static void TearDownTestSuite() { fs::remove_all(dir_); }

	void SetUp() override
	{
		if (!available_)
			GTEST_SKIP() << "openssl CLI cannot create keys";
	}

	static X509_STORE *storeWith(const char *who)
	{
		X509_STORE *store = X509_STORE_new();
		const std::string pem = readText(dir_ / (std::string(who) + ".crt"));
		BIO *bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
		X509 *cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
		X509_STORE_add_cert(store, cert);
		X509_free(cert);
		BIO_free(bio);
		return store;
	}

	static Bytes sign(const Bytes &payload, const char *who = "a")
	{
		auto r = kexecd::appendModuleSignature(payload, readText(dir_ / (std::string(who) + ".key")),
						       readText(dir_ / (std::string(who) + ".crt")));
		EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
		return r.ok() ? *r : Bytes{};
	}

	static inline fs::path dir_;
	static inline bool available_ = false;
};

} // namespace

TEST_F(ModSig, TrailerLayout)
{
	const Bytes payload = { 1, 2, 3, 4, 5 };
	const Bytes s = sign(payload);
	ASSERT_GT(s.size(), payload.size() + 40);
	const std::string magic = "~Module signature appended~\n";
	EXPECT_EQ(std::string(s.end() - magic.size(), s.end()), magic);
	const uint8_t *info = s.data() + s.size() - magic.size() - 12;
	EXPECT_EQ(info[0], 0); /* algo */
	EXPECT_EQ(info[1], 0); /* hash */
	EXPECT_EQ(info[2], 2); /* PKEY_ID_PKCS7 */
	EXPECT_EQ(info[3], 0);
	EXPECT_EQ(info[4], 0);
	EXPECT_EQ(info[5] | info[6] | info[7], 0);
	const uint32_t sigLen = uint32_t{ info[8] } << 24 | info[9] << 16 | info[10] << 8 | info[11];
	EXPECT_EQ(s.size(), payload.size() + sigLen + 12 + magic.size());
	EXPECT_TRUE(std::equal(payload.begin(), payload.end(), s.begin()));
	EXPECT_EQ(s[payload.size()], 0x30); /* DER SEQUENCE */
}

TEST_F(ModSig, VerifiesAgainstTheRightCertOnly)
{
	const Bytes payload(10000, 0x5a);
	const Bytes s = sign(payload);
	X509_STORE *good = storeWith("a");
	X509_STORE *other = storeWith("b");

	auto ok = kexecd::verifyModuleSignature(s, good);
	ASSERT_TRUE(ok.ok()) << ok.error().message;
	EXPECT_EQ(ok->size(), payload.size());
	EXPECT_EQ(ok->data(), s.data());

	auto untrusted = kexecd::verifyModuleSignature(s, other);
	ASSERT_FALSE(untrusted.ok());
	EXPECT_EQ(untrusted.error().code, kexecd::Code::SignatureRejected);

	Bytes tampered = s;
	tampered[7] ^= 1;
	auto bad = kexecd::verifyModuleSignature(tampered, good);
	ASSERT_FALSE(bad.ok());
	EXPECT_EQ(bad.error().code, kexecd::Code::SignatureRejected);

	X509_STORE_free(good);
	X509_STORE_free(other);
}

TEST_F(ModSig, MalformedTrailers)
{
	X509_STORE *store = storeWith("a");
	const Bytes s = sign(Bytes(100, 1));
	const size_t magic = 28;

	auto code = [&](const Bytes &b) {
		auto r = kexecd::verifyModuleSignature(b, store);
		return r.ok() ? std::string("ok") : std::string(kexecd::codeName(r.error().code));
	};
	EXPECT_EQ(code(Bytes{}), "InvalidImage");
	EXPECT_EQ(code(Bytes(100, 1)), "InvalidImage"); /* unsigned */
	Bytes b = s;
	b[b.size() - magic - 12 + 2] = 1; /* id_type X509 */
	EXPECT_EQ(code(b), "InvalidImage");
	b = s;
	b[b.size() - magic - 12 + 0] = 1; /* algo */
	EXPECT_EQ(code(b), "InvalidImage");
	b = s;
	b[b.size() - magic - 12 + 8] = 0x7f; /* sig_len larger than the file */
	EXPECT_EQ(code(b), "InvalidImage");
	b = s;
	b[b.size() - magic - 12 + 11] = 0; /* shorter sig_len: DER cut */
	b[b.size() - magic - 12 + 10] = 0;
	b[b.size() - magic - 12 + 9] = 0;
	b[b.size() - magic - 12 + 8] = 0;
	EXPECT_EQ(code(b), "InvalidImage");
	b = s;
	b[b.size() - magic - 12 - 1] ^= 0xff; /* last DER byte */
	EXPECT_NE(code(b), "ok");
	EXPECT_EQ(code(s), "ok");
	X509_STORE_free(store);
}

TEST_F(ModSig, OpensslCliAgrees)
{
	const Bytes payload(4096, 0x11);
	const Bytes s = sign(payload);
	auto parts = kexecd::splitModuleSignature(s);
	ASSERT_TRUE(parts.ok());
	writeBytes(dir_ / "payload", parts->payload);
	writeBytes(dir_ / "sig.der", parts->pkcs7);
	const std::string crt = (dir_ / "a.crt").string();
	const std::string cmd = "openssl cms -verify -binary -inform DER -in " + (dir_ / "sig.der").string() +
				" -content " + (dir_ / "payload").string() + " -certfile " + crt + " -CAfile " +
				crt + " -purpose any -out /dev/null 2>/dev/null";
	EXPECT_EQ(std::system(cmd.c_str()), 0);
	/* and a signature the CLI made (sign-file flags) verifies with our code */
	const std::string mk = "openssl cms -sign -binary -noattr -nocerts -md sha256 -outform DER -in " +
			       (dir_ / "payload").string() + " -signer " + crt + " -inkey " +
			       (dir_ / "a.key").string() + " -out " + (dir_ / "cli.der").string() + " 2>/dev/null";
	ASSERT_EQ(std::system(mk.c_str()), 0);
	const std::string der = readText(dir_ / "cli.der");
	Bytes cli = payload;
	cli.insert(cli.end(), der.begin(), der.end());
	const uint32_t n = der.size();
	const uint8_t info[12] = { 0, 0, 2, 0, 0, 0, 0, 0, uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8),
				   uint8_t(n) };
	cli.insert(cli.end(), info, info + 12);
	const std::string magic = "~Module signature appended~\n";
	cli.insert(cli.end(), magic.begin(), magic.end());
	X509_STORE *store = storeWith("a");
	auto r = kexecd::verifyModuleSignature(cli, store);
	EXPECT_TRUE(r.ok()) << r.error().message;
	X509_STORE_free(store);
}
