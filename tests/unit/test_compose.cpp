// SPDX-License-Identifier: LGPL-2.1-or-later
#include "compose.h"

#include <fcntl.h>
#include <stdio.h>

#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "test_util.h"
#include "zboot.h"

using namespace kexecd;
using namespace kexecd::test;

namespace {

/* Fixtures used here are valid: fail loudly if one is not. */
std::unique_ptr<LoadedImage> load(const std::string &name, ImageRole role)
{
	auto img = loadImage(name, role);
	EXPECT_TRUE(img->image) << name << ": " << (img->error ? img->error->message : "");
	return img;
}

std::vector<uint8_t> bytesOf(const SealedMemfd &m)
{
	return { m.bytes().begin(), m.bytes().end() };
}

std::vector<uint8_t> cat(std::initializer_list<std::string> files)
{
	std::vector<uint8_t> out;
	for (const auto &f : files) {
		auto b = readFile(fixture(f));
		out.insert(out.end(), b.begin(), b.end());
	}
	return out;
}

/* What systemd-stub hands over: each part zero-padded to 4 bytes. */
std::vector<uint8_t> padded(std::initializer_list<std::vector<uint8_t>> parts)
{
	std::vector<uint8_t> out;
	for (const auto &p : parts) {
		out.insert(out.end(), p.begin(), p.end());
		out.resize((out.size() + 3) / 4 * 4, 0);
	}
	return out;
}

/* The stub's generated /.extra/os-release archive for a UKI. */
std::vector<uint8_t> osrelCpio(const UkiImage &uki)
{
	return packStubCpioLiteral(uki.base().at(".osrel"), kCpioMeta, "os-release");
}

std::string run(const std::string &cmd)
{
	std::string out;
	FILE *p = popen(cmd.c_str(), "r");
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		out.append(buf, n);
	pclose(p);
	return out;
}

} // namespace

TEST(Compose, ClassicUkiWithAddons)
{
	REQUIRE_FIXTURES();
	auto uki = load("uki-ucode.efi", ImageRole::Uki);
	auto a1 = load("addon-cmdline.addon.efi", ImageRole::Addon);
	auto a2 = load("addon-initrd.addon.efi", ImageRole::Addon);
	const UkiImage *addons[] = { &*a1->image, &*a2->image };

	auto parts = composeClassic(*uki->image, addons, {});
	ASSERT_TRUE(parts.ok()) << parts.error().message;
	EXPECT_EQ(bytesOf(parts->kernel), readFile(fixture("vmlinuz")));
	EXPECT_FALSE(parts->kernelWasZboot);
	ASSERT_TRUE(parts->initrd);
	/* Microcode first (addons reversed, then the UKI's), then the UKI's
	 * initrd, the stub's /.extra/os-release, then the addons' initrds in
	 * order. */
	EXPECT_EQ(bytesOf(*parts->initrd),
		  padded({ cat({ "addon-ucode.cpio" }), cat({ "ucode.cpio" }), cat({ "initrd.cpio" }),
			   osrelCpio(*uki->image), cat({ "addon-initrd.cpio" }) }));
	EXPECT_EQ(parts->cmdline, "console=ttyS0 kexecd.uki=1 kexecd.addon=1 kexecd.addon2=1");

	/* Everything handed to the kernel is sealed. */
	for (const SealedMemfd *m : { &parts->kernel, &*parts->initrd })
		EXPECT_EQ(fcntl(m->fd(), F_GET_SEALS),
			  F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
}

TEST(Compose, AddonOrderIsVisible)
{
	REQUIRE_FIXTURES();
	auto uki = load("uki.efi", ImageRole::Uki);
	auto a1 = load("addon-cmdline.addon.efi", ImageRole::Addon);
	auto a2 = load("addon-initrd.addon.efi", ImageRole::Addon);
	const UkiImage *reversed[] = { &*a2->image, &*a1->image };
	auto parts = composeClassic(*uki->image, reversed, {});
	ASSERT_TRUE(parts.ok());
	EXPECT_EQ(parts->cmdline, "console=ttyS0 kexecd.uki=1 kexecd.addon2=1 kexecd.addon=1");
	EXPECT_EQ(bytesOf(*parts->initrd), padded({ cat({ "addon-ucode.cpio" }), cat({ "initrd.cpio" }),
						    osrelCpio(*uki->image), cat({ "addon-initrd.cpio" }) }));
}

TEST(Compose, NoInitrdAndExtraCmdline)
{
	REQUIRE_FIXTURES();
	auto uki = load("uki-noinitrd.efi", ImageRole::Uki);
	ClassicOptions opts;
	opts.cmdlineExtra = "single";
	auto parts = composeClassic(*uki->image, {}, opts);
	ASSERT_TRUE(parts.ok());
	/* Only the stub's /.extra/os-release archive. */
	ASSERT_TRUE(parts->initrd);
	EXPECT_EQ(bytesOf(*parts->initrd), osrelCpio(*uki->image));
	/* The loader's options replace the UKI's .cmdline, as systemd-stub
	 * takes them (the stager refuses them under Secure Boot). */
	EXPECT_EQ(parts->cmdline, "single");

	opts.maxCmdline = 6;
	auto tooLong = composeClassic(*uki->image, {}, opts);
	ASSERT_FALSE(tooLong.ok());
	EXPECT_NE(tooLong.error().message.find("more than the limit of 6"), std::string::npos);
}

TEST(Compose, Profiles)
{
	REQUIRE_FIXTURES();
	auto uki = load("uki-profiles.efi", ImageRole::Uki);
	const UkiImage &img = *uki->image;
	ClassicOptions opts;
	opts.profile = *img.findProfile("debug");
	auto debug = composeClassic(img, {}, opts);
	ASSERT_TRUE(debug.ok());
	EXPECT_EQ(debug->cmdline, "base=1 debug");
	std::vector<uint8_t> debugInitrd = padded({ readFile(fixture("initrd.cpio")) });
	if (img.base().count(".osrel"))
		debugInitrd = padded({ debugInitrd, osrelCpio(img) });
	debugInitrd = padded({ debugInitrd, packStubCpioLiteral(opts.profile->raw, kCpioMeta, "profile") });
	EXPECT_EQ(bytesOf(*debug->initrd), debugInitrd);

	opts.profile = *img.findProfile("@2");
	auto noinitrd = composeClassic(img, {}, opts);
	ASSERT_TRUE(noinitrd.ok());
	EXPECT_EQ(noinitrd->cmdline, "base=1");
	/* No .initrd, but the stub still generates /.extra/profile. */
	ASSERT_TRUE(noinitrd->initrd);
	ASSERT_FALSE(noinitrd->initrdLayout.empty());
	EXPECT_EQ(noinitrd->initrdLayout.back().what, "/.extra/profile");
	EXPECT_FALSE(noinitrd->initrdLayout.back().sha256.empty()); // generated: its own digest
	EXPECT_EQ(noinitrd->initrdLayout[0].what.find(".initrd"), std::string::npos);
}

TEST(Compose, ZbootKernelIsDecompressed)
{
	REQUIRE_FIXTURES();
	auto uki = load("uki-zboot.efi", ImageRole::Uki);
	auto parts = composeClassic(*uki->image, {}, {});
	ASSERT_TRUE(parts.ok()) << parts.error().message;
	EXPECT_TRUE(parts->kernelWasZboot);
	EXPECT_EQ(bytesOf(parts->kernel), readFile(fixture("zboot-payload.bin")));

	for (const char *name : { "zboot-gzip.efi", "zboot-zstd.efi" }) {
		const auto image = readFile(fixture(name));
		auto header = probeZboot(image);
		ASSERT_TRUE(header) << name;
		auto out = unpackZboot(image, name);
		ASSERT_TRUE(out.ok()) << name << ": " << out.error().message;
		EXPECT_EQ(*out, readFile(fixture("zboot-payload.bin"))) << name;
	}
	EXPECT_EQ(probeZboot(readFile(fixture("zboot-zstd.efi")))->compression, "zstd22");

	/* A decompression bomb stops at the limit with a named error. */
	auto capped = unpackZboot(readFile(fixture("zboot-gzip.efi")), "zboot-gzip.efi", 1000);
	ASSERT_FALSE(capped.ok());
	EXPECT_NE(capped.error().message.find("more than 1000 bytes"), std::string::npos);
}

TEST(Compose, BadZbootIsANamedError)
{
	REQUIRE_FIXTURES();
	auto uki = load("uki-bad-zboot.efi", ImageRole::Uki);
	auto parts = composeClassic(*uki->image, {}, {});
	ASSERT_FALSE(parts.ok());
	EXPECT_EQ(parts.error().code, Code::InvalidImage);
	EXPECT_NE(parts.error().message.find("uki-bad-zboot.efi:.linux"), std::string::npos) << parts.error().message;
	EXPECT_NE(parts.error().message.find("lies outside"), std::string::npos) << parts.error().message;
}

/* Found by fuzz_kexecd's compose target: the header's compression name
 * went raw into the "not supported" error, control bytes and all. */
TEST(Compose, ZbootCompressionNameIsDisplayText)
{
	REQUIRE_FIXTURES();
	auto image = readFile(fixture("zboot-gzip.efi"));
	const auto payload = probeZboot(image)->payloadOffset;
	const char name[] = "gz\x1b[2J\xff";
	std::copy(name, name + sizeof(name), image.begin() + 0x18);
	image[payload] = 'X'; // neither gzip nor zstd magic
	EXPECT_EQ(probeZboot(image)->compression, "gz\\x1b[2J\\xff");
	auto out = unpackZboot(image, "zboot.efi");
	ASSERT_FALSE(out.ok());
	EXPECT_EQ(out.error().code, Code::Unsupported);
	EXPECT_NE(out.error().message.find("compression 'gz\\x1b[2J\\xff' is not supported"), std::string::npos)
		<< out.error().message;
}

/* The container is read back with binutils' readelf, not with our reader. */
TEST(Compose, ImageContainerLayoutPerReadelf)
{
	REQUIRE_FIXTURES();
	const auto uki = readFile(fixture("uki.efi"));
	const auto a1 = readFile(fixture("addon-cmdline.addon.efi"));
	const auto a2 = readFile(fixture("addon-initrd.addon.efi"));
	const std::vector<uint8_t> ima = { 0x03, 0x02, 0x04, 0xaa, 0xbb };
	const ContainerEntry entries[] = { { uki, ima }, { a1, {} }, { a2, {} } };
	auto container = composeImageContainer(entries, 1u);
	ASSERT_TRUE(container.ok()) << container.error().message;

	const std::string path = makeTempDir() + "/container.elf";
	{
		std::ofstream out(path, std::ios::binary);
		out.write(reinterpret_cast<const char *>(container->bytes().data()), container->bytes().size());
	}
	const std::string header = run("LC_ALL=C readelf -h " + path);
	EXPECT_NE(header.find("ELF64"), std::string::npos) << header;
	EXPECT_NE(header.find("little endian"), std::string::npos);
	EXPECT_NE(header.find("REL (Relocatable file)"), std::string::npos);
	EXPECT_NE(header.find("Machine:                           None"), std::string::npos) << header;

	/* [Nr] Name Type Address Off Size ... */
	const std::string table = run("LC_ALL=C readelf -S -W " + path);
	std::regex row(R"(\[\s*(\d+)\]\s+(\S+)\s+(PROGBITS|STRTAB)\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+))");
	std::vector<std::string> names;
	std::vector<std::pair<size_t, size_t>> ranges;
	for (std::sregex_iterator it(table.begin(), table.end(), row), end; it != end; ++it) {
		names.push_back((*it)[2]);
		ranges.emplace_back(std::stoul((*it)[4], nullptr, 16), std::stoul((*it)[5], nullptr, 16));
	}
	const std::vector<std::string> expected = { ".pe.1", ".ima", ".pe.2", ".pe.3", ".select", ".shstrtab" };
	ASSERT_EQ(names, expected) << table;

	const auto bytes = container->bytes();
	const std::vector<std::vector<uint8_t>> contents = { uki, ima, a1, a2, { '1' } };
	size_t expectedOffset = 64; // right after the ELF header, back to back
	for (size_t i = 0; i < contents.size(); i++) {
		EXPECT_EQ(ranges[i].first, expectedOffset) << names[i];
		ASSERT_EQ(ranges[i].second, contents[i].size()) << names[i];
		EXPECT_TRUE(std::equal(contents[i].begin(), contents[i].end(), bytes.begin() + ranges[i].first))
			<< names[i];
		expectedOffset += contents[i].size();
	}
	/* .shstrtab is last and section names are readable 8 bytes at a time
	 * inside it (the drafts' parser reads 8 bytes at each name offset). */
	EXPECT_EQ(ranges.back().first, expectedOffset);
	EXPECT_GE(ranges.back().second, 8u);
}

TEST(Compose, ImageContainerSectionLimit)
{
	const std::vector<uint8_t> pe(16, 0);
	std::vector<ContainerEntry> entries(15, ContainerEntry{ pe, {} });
	auto ok = composeImageContainer(entries, std::nullopt);
	EXPECT_TRUE(ok.ok());
	auto tooMany = composeImageContainer(entries, 0u);
	ASSERT_FALSE(tooMany.ok());
	EXPECT_EQ(tooMany.error().code, Code::InvalidArgument);
	EXPECT_NE(tooMany.error().message.find("at most 15"), std::string::npos);
}
