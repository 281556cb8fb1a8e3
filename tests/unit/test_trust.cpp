// SPDX-License-Identifier: LGPL-2.1-or-later
// Authenticode verdicts (daemon/engine/trust.*) against fixtures signed by
// sbsign, cross-checked with sbverify and with an independent digest
// implementation, plus hand-made PEs and signature lists that must never
// crash the verifier.

#include "trust.h"

#include "authenticode.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

using namespace kexecd;

namespace kexecd {
/* gtest prints verdicts by name in failure messages. */
void PrintTo(Verdict verdict, std::ostream *os)
{
	*os << verdictName(verdict);
}
} // namespace kexecd

namespace {

using Bytes = std::vector<uint8_t>;

std::string gSkipReason;

std::string fixturesDir()
{
	const char *dir = getenv("KEXECD_FIXTURES");
	return dir ? dir : "";
}

std::string fixture(const std::string &name)
{
	return fixturesDir() + "/" + name;
}

bool exists(const std::string &path)
{
	struct stat st;
	return stat(path.c_str(), &st) == 0;
}

/* Empty when every fixture this test needs is there, else why not. */
std::string fixturesMissing()
{
	std::string dir = fixturesDir();
	if (dir.empty())
		return "KEXECD_FIXTURES is not set";
	if (exists(dir + "/UNAVAILABLE")) {
		std::ifstream f(dir + "/UNAVAILABLE");
		std::string why((std::istreambuf_iterator<char>(f)), {});
		return "fixtures unavailable: " + why;
	}
	for (const char *name : { "uki.efi", "uki-signed.efi", "uki-untrusted.efi", "uki-tampered.efi",
				  "addon-signed.addon.efi", "vmlinuz", "trust/trusted.pem",
				  "keys/trusted.crt", "keys/trusted.key", "keys/untrusted.crt" }) {
		if (!exists(dir + "/" + name))
			return "fixture '" + dir + "/" + name + "' is missing";
	}
	return {};
}

#define REQUIRE_FIXTURES()                                  \
	do {                                                \
		if (!gSkipReason.empty())                   \
			GTEST_SKIP() << gSkipReason;        \
	} while (0)

Bytes readFile(const std::string &path)
{
	std::ifstream f(path, std::ios::binary | std::ios::ate);
	if (!f)
		return {};
	Bytes b(static_cast<size_t>(f.tellg()));
	f.seekg(0);
	f.read(reinterpret_cast<char *>(b.data()), static_cast<std::streamsize>(b.size()));
	return b;
}

bool findProgram(const std::string &name)
{
	const char *path = getenv("PATH");
	std::string p = path ? path : "/usr/bin:/bin";
	size_t start = 0;
	while (start <= p.size()) {
		size_t end = p.find(':', start);
		if (end == std::string::npos)
			end = p.size();
		std::string candidate = p.substr(start, end - start) + "/" + name;
		if (access(candidate.c_str(), X_OK) == 0)
			return true;
		start = end + 1;
	}
	return false;
}

struct CommandResult {
	int exitCode = -1; // -1: did not exit normally
	std::string out;
};

/* fork/exec without a shell so fixture paths need no quoting. */
CommandResult runCommand(const std::vector<std::string> &argv)
{
	CommandResult result;
	int pipefd[2];
	if (pipe(pipefd) < 0)
		return result;
	pid_t pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return result;
	}
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		std::vector<char *> args;
		for (const std::string &a : argv)
			args.push_back(const_cast<char *>(a.c_str()));
		args.push_back(nullptr);
		execvp(args[0], args.data());
		_exit(127);
	}
	close(pipefd[1]);
	char buf[4096];
	ssize_t n;
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0)
		result.out.append(buf, static_cast<size_t>(n));
	close(pipefd[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	if (WIFEXITED(status))
		result.exitCode = WEXITSTATUS(status);
	return result;
}

std::string hex(const Bytes &b)
{
	std::string s;
	char buf[3];
	for (uint8_t c : b) {
		snprintf(buf, sizeof(buf), "%02x", c);
		s += buf;
	}
	return s;
}

std::string lower(std::string s)
{
	std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
	return s;
}

struct Verified {
	bool parsed = false;
	std::string parseError;
	Result<SignatureReport> report = makeError(Code::Internal, "not run");
};

Verified verifyBytes(const Bytes &bytes, const std::string &name, const TrustStore &store)
{
	Verified v;
	auto pe = PeFile::parse(bytes, name);
	if (!pe) {
		v.parseError = pe.error().message;
		return v;
	}
	v.parsed = true;
	v.report = verifyAuthenticode(*pe, store);
	return v;
}

TrustStore fixtureStore()
{
	auto store = TrustStore::loadDirectory(fixture("trust"));
	EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
	if (!store)
		return TrustStore();
	return std::move(store).value();
}

/*
 * An independent Authenticode digest (PE/COFF spec, "Calculating the PE
 * Image Hash") in Python, sharing no code with the engine: prints the
 * SHA-256 in hex, or "error: ..." for files it cannot handle.
 */
const char *kPythonDigest = R"PY(
import hashlib, struct, sys
d = open(sys.argv[1], 'rb').read()
pe = struct.unpack_from('<I', d, 0x3c)[0]
assert d[pe:pe + 4] == b'PE\0\0'
nsec, optsz = struct.unpack_from('<H', d, pe + 6)[0], struct.unpack_from('<H', d, pe + 20)[0]
opt = pe + 24
magic = struct.unpack_from('<H', d, opt)[0]
dd = opt + (112 if magic == 0x20b else 96)
ndd = struct.unpack_from('<I', d, dd - 4)[0]
hdrs = struct.unpack_from('<I', d, opt + 60)[0]
csum = opt + 64
h = hashlib.sha256()
h.update(d[:csum])
certsize = 0
if ndd > 4:
    cert = dd + 4 * 8
    h.update(d[csum + 4:cert])
    h.update(d[cert + 8:hdrs])
    if struct.unpack_from('<I', d, cert)[0]:
        certsize = struct.unpack_from('<I', d, cert + 4)[0]
else:
    h.update(d[csum + 4:hdrs])
secs = []
for i in range(nsec):
    s = opt + optsz + 40 * i
    size, ptr = struct.unpack_from('<II', d, s + 16)
    if size:
        secs.append((ptr, size))
done = hdrs
for ptr, size in sorted(secs):
    h.update(d[ptr:ptr + size])
    done += size
if len(d) > done + certsize:
    h.update(d[done:len(d) - certsize])
print(h.hexdigest())
)PY";

std::string pythonDigest(const std::string &path)
{
	char tmpl[] = "/tmp/kexecd-test-trust-XXXXXX";
	int fd = mkstemp(tmpl);
	if (fd < 0)
		return "error: mkstemp";
	size_t len = strlen(kPythonDigest);
	bool ok = write(fd, kPythonDigest, len) == static_cast<ssize_t>(len);
	close(fd);
	CommandResult r;
	if (ok)
		r = runCommand({ "/usr/bin/python3", tmpl, path });
	unlink(tmpl);
	if (r.exitCode != 0)
		return "error: python exited " + std::to_string(r.exitCode);
	while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r'))
		r.out.pop_back();
	return r.out;
}

Bytes engineDigest(const std::string &path)
{
	Bytes bytes = readFile(path);
	auto pe = PeFile::parse(bytes, path);
	EXPECT_TRUE(pe.ok()) << (pe.ok() ? "" : pe.error().message);
	if (!pe)
		return {};
	auto digest = authenticodeDigest(*pe, EVP_sha256());
	EXPECT_TRUE(digest.ok()) << (digest.ok() ? "" : digest.error().message);
	return digest ? *digest : Bytes{};
}

/* ---- hand-made PE32+ images, independent of any fixture ---- */

void put16(Bytes &b, size_t off, uint16_t v)
{
	b[off] = static_cast<uint8_t>(v);
	b[off + 1] = static_cast<uint8_t>(v >> 8);
}

void put32(Bytes &b, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

constexpr size_t kPeOffset = 0x40;
constexpr size_t kOptOffset = kPeOffset + 24;
constexpr size_t kCertDirOffset = kOptOffset + 112 + 4 * 8;

/* One .text section at 0x200 (0x200 bytes), headers 0x200 bytes; the
 * certificate table, if any, is appended at 0x400. */
Bytes makePe(const Bytes &certTable = {})
{
	Bytes b(0x400, 0);
	b[0] = 'M';
	b[1] = 'Z';
	put32(b, 0x3c, kPeOffset);
	memcpy(&b[kPeOffset], "PE\0\0", 4);
	put16(b, kPeOffset + 4, 0x8664);     // Machine
	put16(b, kPeOffset + 6, 1);          // NumberOfSections
	put16(b, kPeOffset + 20, 240);       // SizeOfOptionalHeader
	put16(b, kPeOffset + 22, 0x0022);    // EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE
	put16(b, kOptOffset, 0x20b);         // PE32+
	put32(b, kOptOffset + 4, 0x200);     // SizeOfCode
	put32(b, kOptOffset + 16, 0x1000);   // AddressOfEntryPoint
	put32(b, kOptOffset + 20, 0x1000);   // BaseOfCode
	put32(b, kOptOffset + 32, 0x1000);   // SectionAlignment
	put32(b, kOptOffset + 36, 0x200);    // FileAlignment
	put32(b, kOptOffset + 56, 0x2000);   // SizeOfImage
	put32(b, kOptOffset + 60, 0x200);    // SizeOfHeaders
	put32(b, kOptOffset + 64, 0x12345678); // CheckSum (not hashed)
	put16(b, kOptOffset + 68, 10);       // EFI application
	put32(b, kOptOffset + 108, 16);      // NumberOfRvaAndSizes
	size_t sec = kOptOffset + 240;
	memcpy(&b[sec], ".text", 5);
	put32(b, sec + 8, 0x100);            // VirtualSize
	put32(b, sec + 12, 0x1000);          // VirtualAddress
	put32(b, sec + 16, 0x200);           // SizeOfRawData
	put32(b, sec + 20, 0x200);           // PointerToRawData
	put32(b, sec + 36, 0x60000020);
	for (size_t i = 0x200; i < 0x300; i++)
		b[i] = static_cast<uint8_t>(i * 7);
	if (!certTable.empty()) {
		put32(b, kCertDirOffset, static_cast<uint32_t>(b.size()));
		put32(b, kCertDirOffset + 4, static_cast<uint32_t>(certTable.size()));
		b.insert(b.end(), certTable.begin(), certTable.end());
	}
	return b;
}

Bytes winCertificate(const Bytes &payload, uint16_t revision = 0x0200, uint16_t type = 0x0002)
{
	Bytes b(8, 0);
	put32(b, 0, static_cast<uint32_t>(8 + payload.size()));
	put16(b, 4, revision);
	put16(b, 6, type);
	b.insert(b.end(), payload.begin(), payload.end());
	while (b.size() % 8)
		b.push_back(0);
	return b;
}

/* A throwaway self-signed certificate, DER. */
Bytes makeCertificate(const char *cn)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char *>(cn),
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_sign(x, key, EVP_sha256());
	int len = i2d_X509(x, nullptr);
	Bytes der(static_cast<size_t>(len > 0 ? len : 0));
	unsigned char *p = der.data();
	i2d_X509(x, &p);
	X509_free(x);
	EVP_PKEY_free(key);
	return der;
}

std::string toPem(const Bytes &der)
{
	const unsigned char *p = der.data();
	X509 *x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, x);
	char *data = nullptr;
	long len = BIO_get_mem_data(bio, &data);
	std::string pem(data, static_cast<size_t>(len));
	BIO_free(bio);
	X509_free(x);
	return pem;
}

/* A key and a certificate for it, issued by issuer (self-signed if none);
 * validity in days relative to now. */
struct Identity {
	EVP_PKEY *key = nullptr;
	X509 *cert = nullptr;
	Identity() = default;
	Identity(const Identity &) = delete;
	Identity &operator=(const Identity &) = delete;
	~Identity()
	{
		X509_free(cert);
		EVP_PKEY_free(key);
	}
};

void addExtension(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
}

void makeIdentity(Identity &id, const char *cn, bool ca, long fromDays, long toDays,
		  const Identity *issuer = nullptr)
{
	static long serial = 100;
	id.key = EVP_RSA_gen(2048);
	id.cert = X509_new();
	X509_set_version(id.cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(id.cert), serial++);
	X509_gmtime_adj(X509_getm_notBefore(id.cert), fromDays * 86400);
	X509_gmtime_adj(X509_getm_notAfter(id.cert), toDays * 86400);
	X509_set_pubkey(id.cert, id.key);
	X509_NAME *name = X509_get_subject_name(id.cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char *>(cn),
				   -1, -1, 0);
	X509 *issuerCert = issuer ? issuer->cert : id.cert;
	X509_set_issuer_name(id.cert, X509_get_subject_name(issuerCert));
	addExtension(id.cert, issuerCert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (!ca)
		addExtension(id.cert, issuerCert, NID_ext_key_usage, "codeSigning");
	X509_sign(id.cert, issuer ? issuer->key : id.key, EVP_sha256());
}

std::string certPem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, x);
	char *data = nullptr;
	long len = BIO_get_mem_data(bio, &data);
	std::string pem(data, static_cast<size_t>(len));
	BIO_free(bio);
	return pem;
}

std::string keyPem(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
	char *data = nullptr;
	long len = BIO_get_mem_data(bio, &data);
	std::string pem(data, static_cast<size_t>(len));
	BIO_free(bio);
	return pem;
}

class TempDir
{
public:
	TempDir()
	{
		char tmpl[] = "/tmp/kexecd-test-trust-XXXXXX";
		path_ = mkdtemp(tmpl) ? tmpl : "";
	}
	~TempDir()
	{
		if (!path_.empty())
			runCommand({ "rm", "-rf", path_ });
	}
	const std::string &path() const { return path_; }
	void write(const std::string &name, const std::string &data) const
	{
		std::ofstream f(path_ + "/" + name, std::ios::binary);
		f << data;
	}
	void write(const std::string &name, const Bytes &data) const
	{
		write(name, std::string(data.begin(), data.end()));
	}

private:
	std::string path_;
};

/* EFI_SIGNATURE_LIST with one entry per payload. */
Bytes esl(const uint8_t (&guid)[16], const std::vector<Bytes> &payloads, size_t sigSize)
{
	Bytes b(28, 0);
	memcpy(b.data(), guid, 16);
	put32(b, 16, static_cast<uint32_t>(28 + payloads.size() * sigSize));
	put32(b, 20, 0);
	put32(b, 24, static_cast<uint32_t>(sigSize));
	for (const Bytes &p : payloads) {
		Bytes entry(16, 0xab); // owner GUID
		entry.insert(entry.end(), p.begin(), p.end());
		entry.resize(sigSize, 0);
		b.insert(b.end(), entry.begin(), entry.end());
	}
	return b;
}

constexpr uint8_t kX509Guid[16] = { 0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
				    0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72 };
/* EFI_CERT_SHA256_GUID c1c41626-504c-4092-aca9-41f936934328 */
constexpr uint8_t kSha256Guid[16] = { 0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
				      0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28 };

} // namespace

/* ---- fixture-based: verdicts, sbverify agreement, digest cross-checks ---- */

TEST(TrustFixtures, Verdicts)
{
	REQUIRE_FIXTURES();
	TrustStore store = fixtureStore();
	EXPECT_EQ(store.size(), 1u);

	struct Case {
		const char *file;
		Verdict verdict;
		const char *signer; // substring of the signer's subject, "" for none
	};
	const Case cases[] = {
		{ "uki.efi", Verdict::Unsigned, "" },
		{ "uki-signed.efi", Verdict::Trusted, "trusted" },
		{ "uki-untrusted.efi", Verdict::UntrustedSigner, "untrusted" },
		{ "uki-tampered.efi", Verdict::BadSignature, "" },
		{ "addon-signed.addon.efi", Verdict::Trusted, "trusted" },
		/* Debian's signed kernel: a valid signature by a CA we do not trust. */
		{ "vmlinuz", Verdict::UntrustedSigner, "Debian" },
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.file);
		Verified v = verifyBytes(readFile(fixture(c.file)), c.file, store);
		ASSERT_TRUE(v.parsed) << v.parseError;
		ASSERT_TRUE(v.report.ok()) << v.report.error().message;
		EXPECT_STREQ(verdictName(v.report->verdict), verdictName(c.verdict)) << v.report->detail;
		if (*c.signer) {
			EXPECT_NE(v.report->signer.find(c.signer), std::string::npos) << v.report->signer;
		}
		EXPECT_FALSE(v.report->detail.empty());
	}
}

TEST(TrustFixtures, TamperedReportsDigestMismatch)
{
	REQUIRE_FIXTURES();
	TrustStore store = fixtureStore();
	Verified v = verifyBytes(readFile(fixture("uki-tampered.efi")), "uki-tampered.efi", store);
	ASSERT_TRUE(v.parsed && v.report.ok());
	EXPECT_EQ(v.report->verdict, Verdict::BadSignature);
	EXPECT_NE(v.report->detail.find("digest mismatch"), std::string::npos) << v.report->detail;
}

TEST(TrustFixtures, EmptyStoreMakesEverySignerUntrusted)
{
	REQUIRE_FIXTURES();
	TrustStore empty;
	Verified v = verifyBytes(readFile(fixture("uki-signed.efi")), "uki-signed.efi", empty);
	ASSERT_TRUE(v.parsed && v.report.ok());
	EXPECT_EQ(v.report->verdict, Verdict::UntrustedSigner);

	/* The untrusted key becomes trusted once its certificate is in the store. */
	TrustStore store;
	ASSERT_TRUE(store.addCertificateFile(fixture("keys/untrusted.crt")).ok());
	v = verifyBytes(readFile(fixture("uki-untrusted.efi")), "uki-untrusted.efi", store);
	ASSERT_TRUE(v.parsed && v.report.ok());
	EXPECT_EQ(v.report->verdict, Verdict::Trusted) << v.report->detail;
}

/* Our verdict is trusted exactly when `sbverify --cert keys/trusted.crt`
 * accepts the file, for every PE in the fixture directory (malformed ones
 * included: neither may accept them). */
TEST(TrustFixtures, AgreesWithSbverify)
{
	REQUIRE_FIXTURES();
	if (!findProgram("sbverify"))
		GTEST_SKIP() << "sbverify not installed (package sbsigntool)";
	TrustStore store = fixtureStore();

	std::vector<std::string> files;
	DIR *d = opendir(fixturesDir().c_str());
	ASSERT_NE(d, nullptr);
	while (struct dirent *e = readdir(d)) {
		std::string name = e->d_name;
		if ((name.size() > 4 && name.substr(name.size() - 4) == ".efi") || name == "vmlinuz")
			files.push_back(name);
	}
	closedir(d);
	std::sort(files.begin(), files.end());
	ASSERT_GE(files.size(), 6u);

	unsigned trusted = 0;
	for (const std::string &name : files) {
		SCOPED_TRACE(name);
		std::string path = fixture(name);
		Verified v = verifyBytes(readFile(path), name, store);
		bool ours = v.parsed && v.report.ok() && v.report->verdict == Verdict::Trusted;
		CommandResult sb = runCommand({ "sbverify", "--cert", fixture("keys/trusted.crt"), path });
		bool theirs = sb.exitCode == 0;
		EXPECT_EQ(ours, theirs) << "ours: "
					<< (v.parsed ? (v.report.ok() ? verdictName(v.report->verdict)
								      : v.report.error().message.c_str())
						     : v.parseError.c_str())
					<< (v.parsed && v.report.ok() ? " (" + v.report->detail + ")" : "")
					<< ", sbverify exit " << sb.exitCode;
		trusted += ours;
	}
	EXPECT_GE(trusted, 2u);
}

/* The engine's digest of each fixture equals an independent Python
 * implementation's, and for signed files the digest the signer embedded
 * (checked by the Trusted verdict above) — so all three agree. */
TEST(TrustFixtures, DigestMatchesIndependentImplementation)
{
	REQUIRE_FIXTURES();
	for (const char *name : { "uki.efi", "uki-signed.efi", "uki-untrusted.efi", "uki-tampered.efi",
				  "addon-signed.addon.efi", "vmlinuz" }) {
		SCOPED_TRACE(name);
		std::string path = fixture(name);
		std::string ours = hex(engineDigest(path));
		std::string theirs = pythonDigest(path);
		EXPECT_EQ(ours.size(), 64u);
		EXPECT_EQ(ours, theirs);
	}
	/* Signing adds only the table, checksum and directory entry (and
	 * sbsign's 8-byte padding), so signed copies share their digest. */
	EXPECT_EQ(hex(engineDigest(fixture("uki-signed.efi"))),
		  hex(engineDigest(fixture("uki-untrusted.efi"))));
}

TEST(TrustFixtures, DigestMatchesOsslsigncode)
{
	REQUIRE_FIXTURES();
	if (!findProgram("osslsigncode"))
		GTEST_SKIP() << "osslsigncode not installed";
	for (const char *name : { "uki-signed.efi", "addon-signed.addon.efi", "vmlinuz" }) {
		SCOPED_TRACE(name);
		CommandResult r = runCommand({ "osslsigncode", "verify", "-in", fixture(name) });
		const std::string key = "Calculated message digest";
		size_t pos = r.out.find(key);
		ASSERT_NE(pos, std::string::npos) << r.out;
		pos = r.out.find(':', pos);
		ASSERT_NE(pos, std::string::npos);
		size_t start = r.out.find_first_not_of(" \t", pos + 1);
		size_t end = r.out.find_first_of(" \t\r\n", start);
		std::string theirs = lower(r.out.substr(start, end - start));
		EXPECT_EQ(hex(engineDigest(fixture(name))), theirs);
	}
}

/* A signer issued by a CA: trusted through the CA, or through the signer's
 * own certificate in the store (firmware db semantics, and sbverify's);
 * expiry is ignored as firmware does (sbverify would refuse that one). */
TEST(TrustFixtures, ChainsThroughCaAndIgnoresExpiry)
{
	REQUIRE_FIXTURES();
	if (!findProgram("sbsign") || !findProgram("sbverify"))
		GTEST_SKIP() << "sbsign/sbverify not installed (package sbsigntool)";

	TempDir tmp;
	Identity ca, leaf, expired;
	makeIdentity(ca, "kexecd test CA", true, -1, 3650);
	makeIdentity(leaf, "kexecd test leaf", false, -1, 365, &ca);
	makeIdentity(expired, "kexecd test expired", false, -30, -1, &ca);
	tmp.write("ca.crt", certPem(ca.cert));
	tmp.write("leaf.crt", certPem(leaf.cert));
	tmp.write("leaf.key", keyPem(leaf.key));
	tmp.write("expired.crt", certPem(expired.cert));
	tmp.write("expired.key", keyPem(expired.key));
	const std::string &d = tmp.path();

	for (const char *who : { "leaf", "expired" }) {
		std::string out = d + "/" + who + ".efi";
		CommandResult r = runCommand({ "sbsign", "--key", d + "/" + who + ".key", "--cert",
					       d + "/" + who + ".crt", "--output", out, fixture("uki.efi") });
		ASSERT_EQ(r.exitCode, 0) << "sbsign " << who;
	}

	struct Case {
		const char *image;
		const char *anchor;
		bool sbverifyAgrees;
	};
	const Case cases[] = {
		{ "leaf.efi", "ca.crt", true },
		{ "leaf.efi", "leaf.crt", true },
		{ "expired.efi", "ca.crt", false },
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(std::string(c.image) + " with " + c.anchor);
		TrustStore store;
		ASSERT_TRUE(store.addCertificateFile(d + "/" + c.anchor).ok());
		Verified v = verifyBytes(readFile(d + "/" + c.image), c.image, store);
		ASSERT_TRUE(v.parsed && v.report.ok());
		EXPECT_EQ(v.report->verdict, Verdict::Trusted) << v.report->detail;
		EXPECT_NE(v.report->signer.find("kexecd test"), std::string::npos);
		if (c.sbverifyAgrees) {
			CommandResult sb = runCommand({ "sbverify", "--cert", d + "/" + c.anchor, d + "/" + c.image });
			EXPECT_EQ(sb.exitCode, 0);
		}
	}

	/* The CA's key did not sign the image and the fixture key is unrelated. */
	TrustStore other = fixtureStore();
	Verified v = verifyBytes(readFile(d + "/leaf.efi"), "leaf.efi", other);
	ASSERT_TRUE(v.parsed && v.report.ok());
	EXPECT_EQ(v.report->verdict, Verdict::UntrustedSigner);
}

/* sbsign appends a second WIN_CERTIFICATE to a signed image. As firmware,
 * one trusted signature is enough, whichever comes first (sbverify only
 * reads the first, so it agrees only when that one is the trusted one). */
TEST(TrustFixtures, SecondSignatureCounts)
{
	REQUIRE_FIXTURES();
	if (!findProgram("sbsign"))
		GTEST_SKIP() << "sbsign not installed (package sbsigntool)";
	TempDir tmp;
	struct Case {
		const char *base;
		const char *key;
	};
	for (const Case &c : { Case{ "uki-untrusted.efi", "trusted" }, Case{ "uki-signed.efi", "untrusted" } }) {
		SCOPED_TRACE(std::string(c.base) + " + " + c.key);
		std::string out = tmp.path() + "/double.efi";
		CommandResult r = runCommand({ "sbsign", "--key", fixture(std::string("keys/") + c.key + ".key"),
					       "--cert", fixture(std::string("keys/") + c.key + ".crt"),
					       "--output", out, fixture(c.base) });
		ASSERT_EQ(r.exitCode, 0);
		Bytes bytes = readFile(out);
		auto pe = PeFile::parse(bytes, "double.efi");
		ASSERT_TRUE(pe.ok()) << pe.error().message;
		/* Two WIN_CERTIFICATE entries, 8-byte aligned. */
		auto table = pe->certificateTable();
		unsigned entries = 0;
		for (size_t off = 0; off + 8 <= table.size(); entries++) {
			uint32_t len = table[off] | table[off + 1] << 8 | table[off + 2] << 16 |
				       static_cast<uint32_t>(table[off + 3]) << 24;
			ASSERT_GE(len, 8u);
			off += (len + 7) & ~7u;
		}
		EXPECT_EQ(entries, 2u);

		TrustStore store = fixtureStore();
		auto v = verifyAuthenticode(*pe, store);
		ASSERT_TRUE(v.ok());
		EXPECT_EQ(v->verdict, Verdict::Trusted) << v->detail;

		TrustStore empty;
		v = verifyAuthenticode(*pe, empty);
		ASSERT_TRUE(v.ok());
		EXPECT_EQ(v->verdict, Verdict::UntrustedSigner) << v->detail;
	}
}

/* Every malformed fixture either fails in PeFile::parse or gets a verdict:
 * never a crash, never trusted. */
TEST(TrustFixtures, MalformedFilesNeverTrusted)
{
	REQUIRE_FIXTURES();
	TrustStore store = fixtureStore();
	unsigned seen = 0;
	DIR *d = opendir(fixturesDir().c_str());
	ASSERT_NE(d, nullptr);
	while (struct dirent *e = readdir(d)) {
		std::string name = e->d_name;
		if (name.rfind("bad-", 0) != 0)
			continue;
		SCOPED_TRACE(name);
		seen++;
		Bytes bytes = readFile(fixture(name));
		auto pe = PeFile::parse(bytes, name);
		if (!pe)
			continue;
		(void)authenticodeDigest(*pe, EVP_sha256());
		auto r = verifyAuthenticode(*pe, store);
		ASSERT_TRUE(r.ok()) << r.error().message;
		EXPECT_NE(r->verdict, Verdict::Trusted);
	}
	closedir(d);
	EXPECT_GE(seen, 1u);
}

/* Random damage to a signed image's certificate table (byte flips and a
 * shortened directory entry) never crashes the verifier. Flips in the
 * signed parts must not leave the image trusted. */
TEST(TrustFixtures, DamagedSignatureNeverCrashes)
{
	REQUIRE_FIXTURES();
	TrustStore store = fixtureStore();
	const Bytes original = readFile(fixture("addon-signed.addon.efi"));
	auto pe0 = PeFile::parse(original, "addon-signed.addon.efi");
	ASSERT_TRUE(pe0.ok());
	auto dir = pe0->dataDirectory(PeFile::kCertificateTable);
	ASSERT_TRUE(dir && dir->size > 8);
	const size_t tableOff = dir->virtualAddress;
	const size_t tableSize = dir->size;
	const size_t certDir = pe0->certDirectoryOffset();
	ASSERT_NE(certDir, 0u);

	std::mt19937 rng(12345);
	unsigned bad = 0;
	for (int i = 0; i < 600; i++) {
		Bytes b = original;
		if (i % 3 == 2) {
			/* Shrink the table: the WIN_CERTIFICATE overruns it. */
			uint32_t newSize = static_cast<uint32_t>(rng() % tableSize);
			put32(b, certDir + 4, newSize);
		} else {
			for (int k = 0; k < 1 + i % 4; k++)
				b[tableOff + rng() % tableSize] ^= static_cast<uint8_t>(1 + rng() % 255);
		}
		auto pe = PeFile::parse(b, "damaged");
		if (!pe)
			continue;
		auto r = verifyAuthenticode(*pe, store);
		ASSERT_TRUE(r.ok()) << r.error().message;
		bad += r->verdict == Verdict::BadSignature;
	}
	/* Most damage must be detected; a few flips can land in fields no
	 * verifier looks at (e.g. the WIN_CERTIFICATE padding). */
	EXPECT_GT(bad, 400u);
}

/* Damage to the headers of a signed image (section table, data
 * directories, sizes): whatever PeFile::parse accepts, the digest and the
 * verifier handle without reading out of bounds, and never call trusted. */
TEST(TrustFixtures, DamagedHeadersNeverCrash)
{
	REQUIRE_FIXTURES();
	TrustStore store = fixtureStore();
	const Bytes original = readFile(fixture("addon-signed.addon.efi"));
	auto pe0 = PeFile::parse(original, "addon-signed.addon.efi");
	ASSERT_TRUE(pe0.ok());
	const size_t headers = std::min<size_t>(pe0->sizeOfHeaders(), original.size());
	ASSERT_GT(headers, 0x80u);
	const size_t checksum = pe0->checksumOffset();

	std::mt19937 rng(4242);
	unsigned parsed = 0;
	for (int i = 0; i < 1500; i++) {
		Bytes b = original;
		size_t off;
		do {
			off = 0x3c + rng() % (headers - 0x3c);
		} while (off >= checksum && off < checksum + 4);
		if (i % 2) {
			b[off] ^= static_cast<uint8_t>(1 + rng() % 255);
		} else {
			/* A whole 32-bit field set to an extreme. */
			static const uint32_t extremes[] = { 0, 1, 0x7fffffff, 0x80000000, 0xffffffff,
							     static_cast<uint32_t>(original.size()) };
			off &= ~size_t{ 3 };
			put32(b, off, extremes[rng() % std::size(extremes)]);
		}
		auto pe = PeFile::parse(b, "damaged");
		if (!pe)
			continue;
		parsed++;
		(void)authenticodeDigest(*pe, EVP_sha256());
		auto r = verifyAuthenticode(*pe, store);
		ASSERT_TRUE(r.ok()) << r.error().message;
		if (b != original) {
			EXPECT_NE(r->verdict, Verdict::Trusted) << "offset " << off;
		}
	}
	EXPECT_GT(parsed, 100u);
}

/* ---- self-contained: hand-made PEs ---- */

TEST(TrustHandMade, UnsignedPeAndIndependentDigest)
{
	Bytes b = makePe();
	auto pe = PeFile::parse(b, "hand.efi");
	ASSERT_TRUE(pe.ok()) << pe.error().message;
	TrustStore store;
	auto r = verifyAuthenticode(*pe, store);
	ASSERT_TRUE(r.ok());
	EXPECT_EQ(r->verdict, Verdict::Unsigned);

	TempDir tmp;
	tmp.write("hand.efi", b);
	auto digest = authenticodeDigest(*pe, EVP_sha256());
	ASSERT_TRUE(digest.ok()) << digest.error().message;
	EXPECT_EQ(hex(*digest), pythonDigest(tmp.path() + "/hand.efi"));

	/* The checksum and the certificate directory entry are not hashed;
	 * every other header byte and the section are. */
	Bytes c = b;
	put32(c, kOptOffset + 64, 0xdeadbeef);
	put32(c, kCertDirOffset, 0);
	put32(c, kCertDirOffset + 4, 0);
	auto pc = PeFile::parse(c, "hand2.efi");
	ASSERT_TRUE(pc.ok());
	EXPECT_EQ(hex(*authenticodeDigest(*pc, EVP_sha256())), hex(*digest));
	c[0x250] ^= 1;
	auto pc2 = PeFile::parse(c, "hand3.efi");
	ASSERT_TRUE(pc2.ok());
	EXPECT_NE(hex(*authenticodeDigest(*pc2, EVP_sha256())), hex(*digest));

	/* Trailing data after the sections is signed too. */
	Bytes t = b;
	t.insert(t.end(), { 1, 2, 3, 4, 5, 6, 7, 8 });
	auto pt = PeFile::parse(t, "trailing.efi");
	ASSERT_TRUE(pt.ok());
	tmp.write("trailing.efi", t);
	auto dt = authenticodeDigest(*pt, EVP_sha256());
	ASSERT_TRUE(dt.ok());
	EXPECT_NE(hex(*dt), hex(*digest));
	EXPECT_EQ(hex(*dt), pythonDigest(tmp.path() + "/trailing.efi"));
}

TEST(TrustHandMade, GarbageCertificateTablesAreBadSignature)
{
	TrustStore store;
	std::mt19937 rng(7);
	Bytes garbage(300);
	for (uint8_t &c : garbage)
		c = static_cast<uint8_t>(rng());

	/* A PKCS#7 that is valid DER but signs something else entirely. */
	Bytes notAuthenticode = { 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
				  0xf7, 0x0d, 0x01, 0x07, 0x01 }; // ContentInfo { data }

	struct Case {
		const char *what;
		Bytes table;
	};
	std::vector<Case> cases = {
		{ "random PKCS#7", winCertificate(garbage) },
		{ "empty PKCS#7", winCertificate({}) },
		{ "non-SignedData PKCS#7", winCertificate(notAuthenticode) },
		{ "unsupported certificate type", winCertificate(garbage, 0x0200, 0x0001) },
		{ "wrong revision", winCertificate(garbage, 0x0100, 0x0002) },
		{ "raw garbage", garbage },
		{ "zeros", Bytes(64, 0) },
	};
	/* dwLength larger than the table, and smaller than its own header. */
	Bytes tooLong = winCertificate(garbage);
	put32(tooLong, 0, static_cast<uint32_t>(tooLong.size() + 8));
	cases.push_back({ "dwLength past table", tooLong });
	Bytes tooShort = winCertificate(garbage);
	put32(tooShort, 0, 4);
	cases.push_back({ "dwLength below header", tooShort });
	cases.push_back({ "table shorter than a header", Bytes{ 1, 2, 3 } });

	for (const Case &c : cases) {
		SCOPED_TRACE(c.what);
		Bytes b = makePe(c.table);
		auto pe = PeFile::parse(b, "garbage.efi");
		ASSERT_TRUE(pe.ok()) << pe.error().message;
		auto r = verifyAuthenticode(*pe, store);
		ASSERT_TRUE(r.ok()) << r.error().message;
		EXPECT_EQ(r->verdict, Verdict::BadSignature) << r->detail;
		EXPECT_FALSE(r->detail.empty());
	}
}

TEST(TrustHandMade, EveryTruncatedTableIsHandled)
{
	TrustStore store;
	Bytes table = winCertificate(Bytes(200, 0x30));
	for (size_t len = 1; len <= table.size(); len++) {
		Bytes b = makePe(Bytes(table.begin(), table.begin() + static_cast<long>(len)));
		auto pe = PeFile::parse(b, "trunc.efi");
		if (!pe)
			continue;
		auto r = verifyAuthenticode(*pe, store);
		ASSERT_TRUE(r.ok());
		EXPECT_EQ(r->verdict, Verdict::BadSignature);
	}
}

/* ---- trust store ---- */

TEST(TrustStoreTest, MissingDirectoryIsEmpty)
{
	auto store = TrustStore::loadDirectory("/nonexistent/kexecd/trust.d");
	ASSERT_TRUE(store.ok()) << store.error().message;
	EXPECT_EQ(store->size(), 0u);
	EXPECT_NE(store->store(), nullptr);
}

TEST(TrustStoreTest, LoadsPemAndDerAndIgnoresOtherFiles)
{
	TempDir tmp;
	Bytes a = makeCertificate("a"), b = makeCertificate("b"), c = makeCertificate("c");
	tmp.write("two.pem", toPem(a) + "# comment\n" + toPem(b));
	tmp.write("one.der", c);
	tmp.write("again.crt", toPem(a)); // duplicate: counted once
	tmp.write("README", std::string("not a certificate"));
	tmp.write("notes.txt", std::string("not a certificate"));
	auto store = TrustStore::loadDirectory(tmp.path());
	ASSERT_TRUE(store.ok()) << store.error().message;
	EXPECT_EQ(store->size(), 3u);

	/* Moving keeps the certificates. */
	TrustStore moved = std::move(store).value();
	EXPECT_EQ(moved.size(), 3u);
}

TEST(TrustStoreTest, BadCertificateNamesTheFile)
{
	TempDir tmp;
	tmp.write("good.pem", toPem(makeCertificate("good")));
	tmp.write("broken.crt", std::string("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"));
	auto store = TrustStore::loadDirectory(tmp.path());
	ASSERT_FALSE(store.ok());
	EXPECT_NE(store.error().message.find("broken.crt"), std::string::npos) << store.error().message;

	TempDir tmp2;
	tmp2.write("empty.pem", std::string(""));
	auto store2 = TrustStore::loadDirectory(tmp2.path());
	ASSERT_FALSE(store2.ok());
	EXPECT_NE(store2.error().message.find("empty.pem"), std::string::npos);

	TempDir tmp3;
	Bytes der = makeCertificate("x");
	der.resize(der.size() / 2);
	tmp3.write("half.der", der);
	auto store3 = TrustStore::loadDirectory(tmp3.path());
	ASSERT_FALSE(store3.ok());
	EXPECT_NE(store3.error().message.find("half.der"), std::string::npos);
}

TEST(TrustStoreTest, EfiSignatureListTakesX509AndSkipsHashes)
{
	Bytes c1 = makeCertificate("db one"), c2 = makeCertificate("db two");
	size_t sigSize = 16 + std::max(c1.size(), c2.size());
	/* Lists of different types back to back, as in a real db. */
	Bytes db = esl(kSha256Guid, { Bytes(32, 0x11), Bytes(32, 0x22) }, 16 + 32);
	Bytes x1 = esl(kX509Guid, { c1 }, 16 + c1.size());
	Bytes x2 = esl(kX509Guid, { c2 }, 16 + c2.size());
	db.insert(db.end(), x1.begin(), x1.end());
	db.insert(db.end(), x2.begin(), x2.end());
	(void)sigSize;

	TrustStore store;
	auto r = store.addEfiSignatureList(db, "db");
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ(store.size(), 2u);

	/* Through an efivarfs-style file: 4 attribute bytes first. */
	TempDir tmp;
	Bytes var = { 0x27, 0, 0, 0 };
	var.insert(var.end(), x1.begin(), x1.end());
	tmp.write("db-d719b2cb-3d3a-4596-a3bc-dad00e67656f", var);
	TrustStore store2;
	auto r2 = store2.addEfiVariableFile(tmp.path() + "/db-d719b2cb-3d3a-4596-a3bc-dad00e67656f");
	ASSERT_TRUE(r2.ok()) << r2.error().message;
	EXPECT_EQ(store2.size(), 1u);
}

TEST(TrustStoreTest, MalformedSignatureListsAreErrorsNotCrashes)
{
	Bytes cert = makeCertificate("esl");
	Bytes good = esl(kX509Guid, { cert }, 16 + cert.size());

	/* Every truncation is either an error or a shorter valid list. */
	for (size_t len = 0; len < good.size(); len++) {
		TrustStore store;
		auto r = store.addEfiSignatureList(std::span<const uint8_t>(good.data(), len), "cut");
		if (len == 0) {
			EXPECT_TRUE(r.ok());
		} else {
			EXPECT_FALSE(r.ok()) << len;
		}
	}

	struct Case {
		const char *what;
		size_t off;
		uint32_t value;
	};
	const Case cases[] = {
		{ "list size below header", 16, 10 },
		{ "list size past end", 16, 0xffffffff },
		{ "header size past list", 20, 0xfffffff0 },
		{ "signature size zero", 24, 0 },
		{ "signature size below owner GUID", 24, 8 },
		{ "signature size not dividing", 24, static_cast<uint32_t>(16 + cert.size() - 1) },
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.what);
		Bytes b = good;
		put32(b, c.off, c.value);
		TrustStore store;
		auto r = store.addEfiSignatureList(b, "bad");
		EXPECT_FALSE(r.ok());
		if (!r.ok()) {
			EXPECT_NE(r.error().message.find("bad"), std::string::npos);
		}
	}

	/* An X.509 entry that is not a certificate. */
	Bytes junk = esl(kX509Guid, { Bytes(40, 0x55) }, 16 + 40);
	TrustStore store;
	EXPECT_FALSE(store.addEfiSignatureList(junk, "junk").ok());

	/* A good list followed by a damaged one adds nothing. */
	Bytes mixed = good;
	mixed.insert(mixed.end(), junk.begin(), junk.end());
	TrustStore atomic;
	EXPECT_FALSE(atomic.addEfiSignatureList(mixed, "mixed").ok());
	EXPECT_EQ(atomic.size(), 0u);
	Bytes cut = good;
	cut.insert(cut.end(), good.begin(), good.begin() + 20);
	EXPECT_FALSE(atomic.addEfiSignatureList(cut, "cut").ok());
	EXPECT_EQ(atomic.size(), 0u);
	EXPECT_TRUE(atomic.addEfiSignatureList(good, "good").ok());
	EXPECT_EQ(atomic.size(), 1u);
}

TEST(TrustNames, Verdicts)
{
	EXPECT_STREQ(verdictName(Verdict::Trusted), "trusted");
	EXPECT_STREQ(verdictName(Verdict::UntrustedSigner), "untrusted-signer");
	EXPECT_STREQ(verdictName(Verdict::Unsigned), "unsigned");
	EXPECT_STREQ(verdictName(Verdict::BadSignature), "bad-signature");
}

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	gSkipReason = fixturesMissing();
	int ret = RUN_ALL_TESTS();
	/* The self-contained tests still ran; without fixtures the suite as a
	 * whole is a skip (77) unless one of them failed. */
	if (ret == 0 && !gSkipReason.empty()) {
		fprintf(stderr, "test_trust: %s: fixture tests skipped\n", gSkipReason.c_str());
		return 77;
	}
	return ret;
}
