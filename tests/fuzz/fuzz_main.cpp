// SPDX-License-Identifier: LGPL-2.1-or-later
// One libFuzzer binary for every engine target (see README.md).
//
// Why one binary and not one per target: the targets share almost all of
// the engine, and each ASan+UBSan object costs seconds of clang on a
// shared 2-core machine. Objects are compiled once (one ninja edge each,
// so an edit rebuilds one file) and linked once; the target is chosen at
// start by KEXECD_FUZZ_TARGET. The BPF parsing core stays a separate C
// binary (tests/fuzz/bpf): it is built from the BPF sources with the
// kernel model, not from the engine.

#include "fuzz_common.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "text.h"

namespace kexecd::fuzz {

namespace {

struct Target {
	const char *name;
	int (*run)(Bytes);
	const char *what;
};

constexpr Target kTargets[] = {
	{ "pe", fuzzPe, "PE/COFF reader (pe.h)" },
	{ "uki", fuzzUki, "UKI/addon model, profiles, addon rules (uki.h)" },
	{ "trust", fuzzTrust, "Authenticode, raw PKCS#7, EFI signature lists (trust.h)" },
	{ "compose", fuzzCompose, "classic and container composition, zboot, plain kernel headers (compose.h, zboot.h, kernel_image.h)" },
	{ "osrel", fuzzOsRelease, ".osrel parsing and the display rule (uki.h, text.h)" },
	{ "discovery", fuzzDiscovery, "tries counter, versions, loader.conf, Loader* variables, Type #1 entries, --reuse-cmdline (discovery.h, bls_type1.h)" },
	{ "state", fuzzState, "state file reader and its D-Bus conversion (state_file.h)" },
	{ "record", fuzzRecord, "parse, compose, JSON record, dump, D-Bus conversion" },
	{ "inplace", fuzzInPlace, "the one-copy read path against reading whole: digests and composed bytes (placed_file.h)" },
};

const Target *selected = nullptr;

/* Fallback for the one-certificate store (self-signed, key discarded). */
constexpr const char kFallbackCert[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIDQTCCAimgAwIBAgIUerjI981ddc9Z9gyLs+yzXJdfaI4wDQYJKoZIhvcNAQEL\n"
	"BQAwLzEtMCsGA1UEAwwka2V4ZWNkIGZ1enogZmFsbGJhY2sgKGtleSBkaXNjYXJk\n"
	"ZWQpMCAXDTI2MTEzMDA3MTEzM1oYDzIxMjYxMTA2MDcxMTMzWjAvMS0wKwYDVQQD\n"
	"DCRrZXhlY2QgZnV6eiBmYWxsYmFjayAoa2V5IGRpc2NhcmRlZCkwggEiMA0GCSqG\n"
	"SIb3DQEBAQUAA4IBDwAwggEKAoIBAQC4GcbRXn9l6THVEHw+2JLevGkTIyUEBp39\n"
	"Fru/fshbYblRFOOwZ3ydcLTQuRad+q1JiwC55SMftaDnO7XvkeNPsONFdpNobBtS\n"
	"1wOvEhuMZ/1cViK4hs5+G9TYfGjyGlwlWbnMFiKlp7TNAbmzXh4esUtri1zEM+3/\n"
	"H9fnH4XA27yDOM3HU97XssZdZKW0CdfSNLscv0WL8wnU3UTJAYTbLzr15lmdwQir\n"
	"FZqr23DwMBpZm9Gf4m7l9N1Ioiz0SUuJ6EmefJy6KL1yME6WHkLMSXx/uqboZDRK\n"
	"qWqd7hq2uwf0FUwuhauLU55q9Vsnxc8af7hhpOgzFkxjdlEGGGjPAgMBAAGjUzBR\n"
	"MB0GA1UdDgQWBBR/VhtXrdhA6X3WU515lypA6CVIKzAfBgNVHSMEGDAWgBR/VhtX\n"
	"rdhA6X3WU515lypA6CVIKzAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUA\n"
	"A4IBAQBol6RcskLV1q6ZZdxBnxyzNX7gm/tnolrD8DoO/7/jTJWAtR2n36m2FpIf\n"
	"LCIFcT47Bv7Y/7PriMfvGOonVFIYJwOYfDP9khKkrB57lYTM9DlVLB9NJc/XYJ/m\n"
	"eU4LsODkJGnZc1hKZo96Ud18TlsYqAmb6c8iwSFK9b1ptR592ZkkhcdhS7ljGVZ0\n"
	"hlFcXKabjeKCJ3bapKFMXS0smokqi6UlJAHXQIQompwaYt6RTMDhIPQ5ayWxL6ht\n"
	"xTCWBHOWJCtZZoUKDiEhUxjiQqxY5kL6cwH1V9th80Zys/VwF2RyY0SWQhmlzTIM\n"
	"jZ5H3kZJg25nuUKeV5T43sOrVCgd\n"
	"-----END CERTIFICATE-----\n";

} // namespace

void fail(const char *what, const char *file, int line, std::string_view detail)
{
	std::fprintf(stderr, "\n==kexecd-fuzz== invariant broken at %s:%d: %s\n", file, line, what);
	if (!detail.empty()) {
		const std::string shown = displayText(detail);
		std::fprintf(stderr, "==kexecd-fuzz== %s\n", shown.c_str());
	}
	std::fflush(stderr);
	__builtin_trap();
}

bool verbose()
{
	static const bool on = std::getenv("KEXECD_FUZZ_VERBOSE") != nullptr;
	return on;
}

bool isDisplayClean(std::string_view text)
{
	if (invalidUtf8At(text) != std::string_view::npos)
		return false;
	for (char ch : text) {
		const auto c = static_cast<unsigned char>(ch);
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

void checkDisplay(std::string_view text, const char *what)
{
	if (!isDisplayClean(text))
		fail("display text is valid UTF-8 without control characters", __FILE__, __LINE__,
		     std::string(what) + ": " + std::string(text));
}

MultiInput splitInput(Bytes data)
{
	const std::string_view all(reinterpret_cast<const char *>(data.data()), data.size());
	std::vector<std::string_view> chunks;
	for (size_t pos = 0;;) {
		const size_t next = all.find(kSeparator, pos);
		chunks.push_back(all.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
		if (next == std::string_view::npos)
			break;
		pos = next + kSeparator.size();
	}
	auto bytes = [](std::string_view s) { return Bytes(reinterpret_cast<const uint8_t *>(s.data()), s.size()); };

	MultiInput in;
	if (chunks.size() == 1) {
		in.uki = bytes(chunks[0]);
		return in;
	}
	std::string_view options = chunks[0];
	const size_t nl = options.find('\n');
	in.selector = std::string(options.substr(0, nl));
	if (nl != std::string_view::npos) {
		std::string_view extra = options.substr(nl + 1);
		in.cmdlineExtra = std::string(extra.substr(0, extra.find('\n')));
	}
	in.uki = bytes(chunks[1]);
	for (size_t i = 2; i < chunks.size() && in.addons.size() < kMaxAddons; i++)
		in.addons.push_back(bytes(chunks[i]));
	return in;
}

const TrustStore &emptyStore()
{
	static const TrustStore store;
	return store;
}

const TrustStore &oneCertStore()
{
	static const TrustStore store = [] {
		TrustStore s;
		if (const char *fixtures = std::getenv("KEXECD_FIXTURES"))
			if (s.addCertificateFile(std::string(fixtures) + "/keys/trusted.crt") && s.size() == 1)
				return s;
		s = TrustStore();
		const int fd = ::memfd_create("fuzz-cert", MFD_CLOEXEC);
		if (fd < 0 || ::write(fd, kFallbackCert, sizeof(kFallbackCert) - 1) !=
				      static_cast<ssize_t>(sizeof(kFallbackCert) - 1)) {
			std::perror("fallback certificate");
			std::abort();
		}
		auto added = s.addCertificateFile("/proc/self/fd/" + std::to_string(fd));
		::close(fd);
		if (!added || s.size() != 1) {
			std::fprintf(stderr, "fallback certificate refused\n");
			std::abort();
		}
		return s;
	}();
	return store;
}

const std::vector<uint8_t> &templatePe()
{
	static const std::vector<uint8_t> pe = [] {
		std::vector<uint8_t> b(0x400);
		auto put16 = [&b](size_t off, uint16_t v) {
			b[off] = static_cast<uint8_t>(v);
			b[off + 1] = static_cast<uint8_t>(v >> 8);
		};
		auto put32 = [&](size_t off, uint32_t v) {
			put16(off, static_cast<uint16_t>(v));
			put16(off + 2, static_cast<uint16_t>(v >> 16));
		};
		b[0] = 'M';
		b[1] = 'Z';
		put32(0x3c, 0x40);
		std::memcpy(&b[0x40], "PE\0\0", 4);
		const size_t coff = 0x44, opt = coff + 20;
		put16(coff, 0x8664);      // Machine
		put16(coff + 2, 1);       // NumberOfSections
		put16(coff + 16, 0xf0);   // SizeOfOptionalHeader
		put16(coff + 18, 0x0022); // executable, large address aware
		put16(opt, 0x20b);        // PE32+
		put32(opt + 16, 0x1000);  // AddressOfEntryPoint
		put32(opt + 20, 0x1000);  // BaseOfCode
		put32(opt + 24, 0x0);     // ImageBase (low)
		put32(opt + 28, 0x1);     // ImageBase (high): 0x100000000
		put32(opt + 32, 0x1000);  // SectionAlignment
		put32(opt + 36, 0x200);   // FileAlignment
		put32(opt + 56, 0x2000);  // SizeOfImage
		put32(opt + 60, 0x200);   // SizeOfHeaders
		put16(opt + 68, 10);      // Subsystem: EFI application
		put32(opt + 108, 16);     // NumberOfRvaAndSizes
		const size_t sec = opt + 0xf0;
		std::memcpy(&b[sec], ".text", 5);
		put32(sec + 8, 0x200);
		put32(sec + 12, 0x1000);
		put32(sec + 16, 0x200);
		put32(sec + 20, 0x200);
		put32(sec + 36, 0x60000020);
		for (size_t i = 0x200; i < 0x400; i++)
			b[i] = static_cast<uint8_t>(0xc3 ^ i);
		return b;
	}();
	return pe;
}

std::vector<uint8_t> withCertificateTable(Bytes pkcs7)
{
	std::vector<uint8_t> b = templatePe();
	const size_t tableOffset = b.size();
	const uint32_t length = static_cast<uint32_t>(8 + pkcs7.size());
	const uint32_t padded = (length + 7) & ~7u;
	b.resize(tableOffset + padded);
	auto put32 = [&b](size_t off, uint32_t v) {
		for (int i = 0; i < 4; i++)
			b[off + i] = static_cast<uint8_t>(v >> (8 * i));
	};
	put32(tableOffset, length);
	b[tableOffset + 4] = 0x00; // WIN_CERT_REVISION_2_0
	b[tableOffset + 5] = 0x02;
	b[tableOffset + 6] = 0x02; // WIN_CERT_TYPE_PKCS_SIGNED_DATA
	b[tableOffset + 7] = 0x00;
	if (!pkcs7.empty())
		std::memcpy(&b[tableOffset + 8], pkcs7.data(), pkcs7.size());
	/* Certificate table directory entry (index 4) of the PE32+ header. */
	const size_t dir = 0x44 + 20 + 112 + 4 * 8;
	put32(dir, static_cast<uint32_t>(tableOffset));
	put32(dir + 4, padded);
	return b;
}

} // namespace kexecd::fuzz

using namespace kexecd::fuzz;

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	const char *name = std::getenv("KEXECD_FUZZ_TARGET");
	for (const Target &t : kTargets)
		if (name && std::strcmp(name, t.name) == 0)
			selected = &t;
	if (!selected) {
		std::fprintf(stderr, "KEXECD_FUZZ_TARGET=%s is not a target; one of:\n", name ? name : "(unset)");
		for (const Target &t : kTargets)
			std::fprintf(stderr, "  %-10s %s\n", t.name, t.what);
		std::exit(2);
	}
	/* For the seed generator: the PE the trust target wraps PKCS#7 in
	 * (signed with sbsign, its signature is a seed that verifies). */
	if (const char *path = std::getenv("KEXECD_FUZZ_WRITE_TEMPLATE")) {
		const auto &pe = templatePe();
		FILE *f = std::fopen(path, "wb");
		if (!f || std::fwrite(pe.data(), 1, pe.size(), f) != pe.size() || std::fclose(f) != 0) {
			std::perror(path);
			std::exit(1);
		}
		std::exit(0);
	}
	/* Build the stores before the first input, not inside one. */
	(void)emptyStore();
	(void)oneCertStore();
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return selected->run(Bytes(data, size));
}
