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

} // namespace

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
