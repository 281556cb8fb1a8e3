// SPDX-License-Identifier: LGPL-2.1-or-later
#include "pe.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "uki.h"

using namespace kexecd;
using namespace kexecd::test;

namespace {

std::span<const uint8_t> asSpan(const std::vector<uint8_t> &v)
{
	return { v.data(), v.size() };
}

} // namespace

TEST(Pe, SectionsMatchTheManifest)
{
	REQUIRE_FIXTURES();
	const auto manifest = nlohmann::json::parse(readText(fixture("manifest.json")));
	for (const char *name : { "uki.efi", "uki-ucode.efi", "uki-profiles.efi", "addon-initrd.addon.efi",
				  "uki-signed.efi", "addon-ia32.addon.efi" }) {
		SCOPED_TRACE(name);
		const auto bytes = readFile(fixture(name));
		auto pe = PeFile::parse(asSpan(bytes), name);
		ASSERT_TRUE(pe.ok()) << pe.error().message;
		std::vector<std::string> names;
		for (const PeSection &s : pe->sections())
			names.push_back(s.name);
		EXPECT_EQ(names, manifest["fixtures"][name]["sections"].get<std::vector<std::string>>());
	}
}

TEST(Pe, PayloadIsVirtualSizeNotPaddedRawSize)
{
	REQUIRE_FIXTURES();
	const auto bytes = readFile(fixture("uki.efi"));
	auto pe = PeFile::parse(asSpan(bytes), "uki.efi");
	ASSERT_TRUE(pe.ok()) << pe.error().message;
	EXPECT_EQ(pe->machine(), PeFile::kMachineAmd64);
	EXPECT_TRUE(pe->isPe32Plus());

	const auto check = [&](const char *section, const char *file) {
		const PeSection *s = pe->section(section);
		ASSERT_NE(s, nullptr) << section;
		const auto expected = readFile(fixture(file));
		EXPECT_EQ(std::vector<uint8_t>(s->data.begin(), s->data.end()), expected) << section;
		/* The raw size is padded to FileAlignment; only the payload counts. */
		EXPECT_GE(s->sizeOfRawData, s->data.size());
	};
	check(".linux", "vmlinuz");
	check(".initrd", "initrd.cpio");
	check(".cmdline", "cmdline.txt");
	check(".osrel", "osrel.txt");
	check(".uname", "uname.txt");
	EXPECT_TRUE(pe->certificateTable().empty());
}

TEST(Pe, SignedImageHasCertificateTable)
{
	REQUIRE_FIXTURES();
	for (const char *name : { "uki-signed.efi", "addon-ia32-signed.addon.efi" }) {
		const auto bytes = readFile(fixture(name));
		auto pe = PeFile::parse(asSpan(bytes), name);
		ASSERT_TRUE(pe.ok()) << pe.error().message;
		EXPECT_FALSE(pe->certificateTable().empty()) << name;
		EXPECT_NE(pe->certDirectoryOffset(), 0u) << name;
	}
	const auto ia32 = readFile(fixture("addon-ia32.addon.efi"));
	auto pe = PeFile::parse(asSpan(ia32), "ia32");
	ASSERT_TRUE(pe.ok());
	EXPECT_FALSE(pe->isPe32Plus());
	EXPECT_EQ(pe->machine(), PeFile::kMachineI386);
}

struct Malformed {
	const char *file;
	const char *message; // a substring of the error
};

class PeMalformed : public ::testing::TestWithParam<Malformed>
{
};

TEST_P(PeMalformed, NamedErrorNeverCrash)
{
	REQUIRE_FIXTURES();
	const Malformed &m = GetParam();
	const auto bytes = readFile(fixture(m.file));
	auto pe = PeFile::parse(asSpan(bytes), m.file);
	Result<void> r;
	if (pe) {
		/* Valid PE, invalid as UKI. */
		auto uki = UkiImage::fromPe(std::move(*pe), m.file, ImageRole::Uki);
		ASSERT_FALSE(uki.ok()) << m.file << " was accepted";
		r = uki.takeError();
	} else {
		r = pe.takeError();
	}
	EXPECT_EQ(r.error().code, Code::InvalidImage);
	EXPECT_NE(r.error().message.find(m.file), std::string::npos) << r.error().message;
	EXPECT_NE(r.error().message.find(m.message), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PeMalformed, ::testing::Values(
	Malformed{ "bad-empty.efi", "file is empty" },
	Malformed{ "bad-trunc-2.efi", "truncated inside the DOS header" },
	Malformed{ "bad-trunc-header.efi", "truncated inside the PE/COFF header" },
	Malformed{ "bad-trunc-sections.efi", "section table extends past the end" },
	Malformed{ "bad-trunc-data.efi", "extends past the end of the file" },
	Malformed{ "bad-mz-only.efi", "outside the file" },
	Malformed{ "bad-lfanew.efi", "outside the file" },
	Malformed{ "bad-nsections.efi", "more than the limit of 96" },
	Malformed{ "bad-section-eof.efi", "extends past the end of the file" },
	Malformed{ "bad-overlap.efi", "overlap in the file" },
	Malformed{ "bad-no-linux.efi", "no .linux section" },
	Malformed{ "bad-elf.efi", "ELF file, not a PE" }));

TEST(Pe, FileSizeLimitIsExplicit)
{
	REQUIRE_FIXTURES();
	const auto bytes = readFile(fixture("uki.efi"));
	PeLimits limits;
	limits.maxFileSize = 4096;
	auto pe = PeFile::parse(asSpan(bytes), "uki.efi", limits);
	ASSERT_FALSE(pe.ok());
	EXPECT_NE(pe.error().message.find("larger than the limit of 4096"), std::string::npos);
}

/* Fixture-free: every prefix of a valid header is rejected cleanly. */
TEST(Pe, EveryTruncationOfASmallImageIsRejected)
{
	REQUIRE_FIXTURES();
	const auto bytes = readFile(fixture("addon-cmdline.addon.efi"));
	auto full = PeFile::parse(asSpan(bytes), "full");
	ASSERT_TRUE(full.ok());
	/* Cutting anywhere before the end of the last section breaks it. */
	uint64_t end = 0;
	for (const PeSection &s : full->sections())
		end = std::max<uint64_t>(end, uint64_t{ s.pointerToRawData } + s.sizeOfRawData);
	for (size_t cut = 0; cut < end; cut += (cut < 1024 ? 1 : 509)) {
		auto pe = PeFile::parse(asSpan(bytes).first(cut), "cut");
		EXPECT_FALSE(pe.ok()) << "accepted a file cut at " << cut;
	}
}
