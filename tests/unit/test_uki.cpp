// SPDX-License-Identifier: LGPL-2.1-or-later
#include "uki.h"

#include <gtest/gtest.h>

#include "test_util.h"

using namespace kexecd;
using namespace kexecd::test;

namespace {

std::string text(const SectionSet &s, const char *name)
{
	auto it = s.find(name);
	return it == s.end() ? "<absent>" : std::string(it->second.begin(), it->second.end());
}

/* A minimal PE32+ with these sections (raw size rounded to 512, zero-size
 * sections with every field 0), for cases the fixtures do not cover. */
std::vector<uint8_t> tinyPe(const std::vector<std::pair<std::string, std::string>> &sections)
{
	const size_t lfanew = 0x40, opt = lfanew + 24, table = opt + 0xf0;
	size_t off = (table + 40 * sections.size() + 511) & ~size_t{ 511 };
	std::vector<uint8_t> b(off);
	auto put = [&b](size_t at, uint32_t v, int n) {
		for (int i = 0; i < n; i++)
			b[at + i] = static_cast<uint8_t>(v >> (8 * i));
	};
	b[0] = 'M';
	b[1] = 'Z';
	put(0x3c, lfanew, 4);
	put(lfanew, 0x4550, 4); // "PE\0\0"
	put(lfanew + 4, 0x8664, 2);
	put(lfanew + 6, static_cast<uint32_t>(sections.size()), 2);
	put(lfanew + 20, 0xf0, 2);
	put(opt, 0x20b, 2);
	put(opt + 60, static_cast<uint32_t>(off), 4); // SizeOfHeaders
	put(opt + 108, 16, 4);
	for (size_t i = 0; i < sections.size(); i++) {
		const auto &[name, data] = sections[i];
		const size_t h = table + 40 * i, raw = (data.size() + 511) & ~size_t{ 511 };
		std::copy(name.begin(), name.end(), b.begin() + static_cast<long>(h));
		put(h + 8, static_cast<uint32_t>(data.size()), 4);
		put(h + 16, static_cast<uint32_t>(raw), 4);
		put(h + 20, raw ? static_cast<uint32_t>(off) : 0, 4);
		b.insert(b.end(), data.begin(), data.end());
		b.resize(b.size() + raw - data.size());
		off += raw;
	}
	return b;
}

} // namespace

/* Found by fuzz_kexecd's uki target invariant: with profiles, a zero-size
 * base .linux passed (resolve() keeps it, the check only looked for the
 * name) and staging failed later in composition. */
TEST(Uki, ProfileWithZeroSizeKernelIsRefused)
{
	const auto bytes = tinyPe({ { ".linux", "" }, { ".profile", "ID=a\n" } });
	auto pe = PeFile::parse(bytes, "empty-linux.efi");
	ASSERT_TRUE(pe.ok()) << pe.error().message;
	auto img = UkiImage::fromPe(std::move(*pe), "empty-linux.efi", ImageRole::Uki);
	ASSERT_FALSE(img.ok());
	EXPECT_NE(img.error().message.find("profile @0 has no .linux section"), std::string::npos)
		<< img.error().message;

	/* A profile bringing its own kernel is fine. */
	const auto ok = tinyPe({ { ".linux", "" }, { ".profile", "ID=a\n" }, { ".linux", "KERNEL" } });
	auto pe2 = PeFile::parse(ok, "profile-linux.efi");
	ASSERT_TRUE(pe2.ok()) << pe2.error().message;
	auto img2 = UkiImage::fromPe(std::move(*pe2), "profile-linux.efi", ImageRole::Uki);
	ASSERT_TRUE(img2.ok()) << img2.error().message;
	EXPECT_EQ(img2->resolve(&img2->profiles()[0]).at(".linux").size(), 6u);
}

TEST(Uki, OsReleaseAndUname)
{
	REQUIRE_FIXTURES();
	auto uki = loadImage("uki.efi", ImageRole::Uki);
	ASSERT_TRUE(uki->image) << uki->error->message;
	EXPECT_EQ(uki->image->osRelease().id, "debian");
	EXPECT_EQ(uki->image->osRelease().versionId, "12");
	EXPECT_EQ(uki->image->osRelease().prettyName, "Debian GNU/Linux 12 (bookworm)");
	EXPECT_EQ(uki->image->uname(), readText(fixture("uname.txt")));
	EXPECT_TRUE(uki->image->profiles().empty());
	auto p = uki->image->findProfile("");
	ASSERT_TRUE(p.ok());
	EXPECT_EQ(*p, nullptr);
	EXPECT_FALSE(uki->image->findProfile("@1").ok());
}

TEST(Uki, ProfilesOverrideAndMask)
{
	REQUIRE_FIXTURES();
	auto uki = loadImage("uki-profiles.efi", ImageRole::Uki);
	ASSERT_TRUE(uki->image) << uki->error->message;
	const UkiImage &img = *uki->image;
	ASSERT_EQ(img.profiles().size(), 3u);
	EXPECT_EQ(img.profiles()[0].id, "default");
	EXPECT_EQ(img.profiles()[0].title, "Default");
	EXPECT_EQ(img.profiles()[1].id, "debug");
	EXPECT_EQ(img.profiles()[2].id, "noinitrd");

	/* Default = @0, which adds nothing to the base. */
	auto def = img.findProfile("");
	ASSERT_TRUE(def.ok());
	EXPECT_EQ((*def)->index, 0u);
	SectionSet s0 = img.resolve(*def);
	EXPECT_EQ(text(s0, ".cmdline"), "base=1");
	EXPECT_EQ(s0.at(".initrd").size(), readFile(fixture("initrd.cpio")).size());

	/* By index and by ID, same profile. */
	auto debug = img.findProfile("@1");
	ASSERT_TRUE(debug.ok());
	EXPECT_EQ(*debug, *img.findProfile("debug"));
	EXPECT_EQ(*debug, *img.findProfile("1"));
	SectionSet s1 = img.resolve(*debug);
	EXPECT_EQ(text(s1, ".cmdline"), "base=1 debug");
	EXPECT_TRUE(s1.count(".initrd"));
	EXPECT_TRUE(s1.count(".linux"));

	/* A zero-size section masks the base's. */
	SectionSet s2 = img.resolve(*img.findProfile("noinitrd"));
	EXPECT_EQ(s2.count(".initrd"), 0u);
	EXPECT_EQ(text(s2, ".cmdline"), "base=1");

	auto missing = img.findProfile("nosuch");
	ASSERT_FALSE(missing.ok());
	EXPECT_EQ(missing.error().code, Code::InvalidArgument);
	EXPECT_NE(missing.error().message.find("@1 (debug)"), std::string::npos) << missing.error().message;
}

TEST(Uki, AddonRules)
{
	REQUIRE_FIXTURES();
	auto uki = loadImage("uki.efi", ImageRole::Uki);
	ASSERT_TRUE(uki->image);

	auto good = loadImage("addon-initrd.addon.efi", ImageRole::Addon);
	ASSERT_TRUE(good->image) << good->error->message;
	EXPECT_TRUE(checkAddonFits(*uki->image, *good->image).ok());

	auto withLinux = loadImage("addon-linux.addon.efi", ImageRole::Addon);
	ASSERT_FALSE(withLinux->image);
	EXPECT_EQ(withLinux->error->code, Code::InvalidImage);
	EXPECT_NE(withLinux->error->message.find("addon carries a .linux section"), std::string::npos);
	EXPECT_NE(withLinux->error->message.find("addon-linux.addon.efi"), std::string::npos);

	auto uname = loadImage("addon-uname.addon.efi", ImageRole::Addon);
	ASSERT_TRUE(uname->image);
	auto r = checkAddonFits(*uki->image, *uname->image);
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::InvalidImage);
	EXPECT_NE(r.error().message.find("'0.0.0-other'"), std::string::npos) << r.error().message;

	auto ia32 = loadImage("addon-ia32.addon.efi", ImageRole::Addon);
	ASSERT_TRUE(ia32->image) << ia32->error->message;
	auto m = checkAddonFits(*uki->image, *ia32->image);
	ASSERT_FALSE(m.ok());
	EXPECT_NE(m.error().message.find("addon is for i386 but the UKI"), std::string::npos) << m.error().message;
}

TEST(Uki, OsReleaseParser)
{
	auto f = parseOsRelease("# comment\nID=debian\nPRETTY_NAME=\"Debian 12\"\n  NAME='x y'  \nBROKEN\n=v\n");
	EXPECT_EQ(f["ID"], "debian");
	EXPECT_EQ(f["PRETTY_NAME"], "Debian 12");
	EXPECT_EQ(f["NAME"], "x y");
	EXPECT_EQ(f.size(), 3u);
}

TEST(Uki, SectionTextStopsAtNulAndTrims)
{
	const std::string raw("  quiet splash \n\0garbage", 24);
	EXPECT_EQ(sectionText({ reinterpret_cast<const uint8_t *>(raw.data()), raw.size() }), "quiet splash");
}
