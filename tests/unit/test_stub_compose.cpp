// SPDX-License-Identifier: LGPL-2.1-or-later
// Composition to the letter of systemd-stub (src/boot/stub.c, cpio.c):
// exact bytes of the composed initrd over synthetic UKIs and addons, so
// these tests need no fixtures.
#include "compose.h"

#include <cstdio>

#include <gtest/gtest.h>

#include "stub_cpio.h"
#include "test_util.h"

using namespace kexecd;
using namespace kexecd::test;

namespace {

std::string pad4(std::string s)
{
	while (s.size() % 4)
		s += '\0';
	return s;
}

/* One newc entry, written from the kernel's buffer-format document
 * rather than from stub_cpio.cpp. */
std::string entry(unsigned ino, unsigned mode, const std::string &name, const std::string &data = "")
{
	char h[111];
	std::snprintf(h, sizeof(h), "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x", ino, mode, 0u,
		      0u, 1u, 0u, static_cast<unsigned>(data.size()), 0u, 0u, 0u, 0u,
		      static_cast<unsigned>(name.size() + 1), 0u);
	return pad4(pad4(std::string(h) + name + std::string(1, '\0')) + data);
}

const std::string kTrailer = std::string("0707010000000000000000000000000000000000000001"
					 "0000000000000000000000000000000000000000000000000000000B00000000"
					 "TRAILER!!!") + std::string(4, '\0');

std::string str(std::span<const uint8_t> b)
{
	return { reinterpret_cast<const char *>(b.data()), b.size() };
}

std::vector<uint8_t> bytes(const std::string &s)
{
	return { s.begin(), s.end() };
}

std::string joined(const InitrdComposition &c)
{
	std::string out;
	for (auto s : c.padded())
		out += str(s);
	return out;
}

struct Images {
	std::unique_ptr<LoadedImage> uki;
	std::vector<std::unique_ptr<LoadedImage>> addons;
	std::vector<const UkiImage *> ptrs;
};

Images build(const std::vector<PeSectionSpec> &uki, const std::vector<std::vector<PeSectionSpec>> &addons)
{
	Images im;
	im.uki = parseImage(makePe(uki), "uki.efi", ImageRole::Uki);
	EXPECT_TRUE(im.uki->image) << im.uki->error->message;
	for (size_t i = 0; i < addons.size(); i++) {
		im.addons.push_back(parseImage(makePe(addons[i]), "addon" + std::to_string(i) + ".addon.efi",
					       ImageRole::Addon));
		EXPECT_TRUE(im.addons.back()->image) << im.addons.back()->error->message;
		im.ptrs.push_back(&*im.addons.back()->image);
	}
	return im;
}

} // namespace

TEST(StubCpio, LiteralArchiveIsTheStubsBytes)
{
	const auto a = packStubCpioLiteral(bytes("ID=x\n"), kCpioMeta, "os-release");
	/* The first header spelled out: inode 1, 040555, nlink 1, name ".extra". */
	const std::string dir = "070701" "00000001" "0000416d" "00000000" "00000000" "00000001" "00000000"
				"00000000" "00000000" "00000000" "00000000" "00000000" "00000007" "00000000"
				".extra" + std::string(1, '\0');
	EXPECT_EQ(str(a).substr(0, dir.size()), dir);
	EXPECT_EQ(str(a), entry(1, 040555, ".extra") + entry(2, 0100444, ".extra/os-release", "ID=x\n") + kTrailer);
	EXPECT_EQ(a.size() % 4, 0u);
}

TEST(StubCpio, DirectoryArchiveSortsAndUsesTheTargetModes)
{
	std::vector<CpioFile> files{ { "b.cred", bytes("BB") }, { "a.cred", bytes("A") } };
	const auto a = packStubCpio(files, kCpioCredentials);
	EXPECT_EQ(str(a), entry(1, 040555, ".extra") + entry(2, 040500, ".extra/credentials") +
				  entry(3, 0100400, ".extra/credentials/a.cred", "A") +
				  entry(4, 0100400, ".extra/credentials/b.cred", "BB") + kTrailer);
	EXPECT_TRUE(packStubCpio({}, kCpioSysext).empty());
	const auto s = packStubCpio({ { "x.raw", bytes("x") } }, kCpioGlobalSysext);
	EXPECT_EQ(str(s), entry(1, 040555, ".extra") + entry(2, 040555, ".extra/global_sysext") +
				  entry(3, 0100444, ".extra/global_sysext/x.raw", "x") + kTrailer);
}

TEST(StubCpio, PickUpFilter)
{
	EXPECT_TRUE(stubPicksUp("a.cred", ".cred", ""));
	EXPECT_TRUE(stubPicksUp("A.CRED", ".cred", ""));
	EXPECT_FALSE(stubPicksUp(".a.cred", ".cred", ""));
	EXPECT_FALSE(stubPicksUp("a.cred.bak", ".cred", ""));
	EXPECT_TRUE(stubPicksUp("foo.sysext.raw", ".raw", ".confext.raw"));
	EXPECT_TRUE(stubPicksUp("foo.raw", ".raw", ".confext.raw"));
	EXPECT_FALSE(stubPicksUp("foo.confext.raw", ".raw", ".confext.raw"));
	EXPECT_FALSE(stubPicksUp("f\xc3\xa9.cred", ".cred", ""));
	EXPECT_FALSE(stubPicksUp(std::string(252, 'a') + ".cred", ".cred", ""));
}

/* The bug of issue 9: an odd-sized UKI initrd shifted every addon initrd
 * off the 4-byte grid, and the kernel dropped them. */
TEST(StubCompose, EveryPartIsPaddedToFourBytes)
{
	auto im = build({ { ".linux", "kernel" }, { ".initrd", "12345" } }, { { { ".initrd", "abcdef" } } });
	const SectionSet s = im.uki->image->resolve(nullptr);
	const InitrdComposition c = composeInitrd(s, nullptr, im.ptrs, nullptr);
	ASSERT_EQ(c.parts().size(), 2u);
	EXPECT_EQ(joined(c), std::string("12345\0\0\0abcdef\0\0", 16));
	EXPECT_EQ(c.paddedSize(), 16u);

	/* One part alone goes unpadded, as the stub hands it over. */
	auto one = build({ { ".linux", "kernel" }, { ".initrd", "12345" } }, {});
	const InitrdComposition c1 = composeInitrd(one.uki->image->resolve(nullptr), nullptr, {}, nullptr);
	EXPECT_EQ(joined(c1), "12345");

	/* composeClassic hands the kernel exactly that. */
	auto parts = composeClassic(*im.uki->image, im.ptrs, {});
	ASSERT_TRUE(parts.ok()) << parts.error().message;
	ASSERT_TRUE(parts->initrd);
	EXPECT_EQ(str(parts->initrd->bytes()), std::string("12345\0\0\0abcdef\0\0", 16));
}

TEST(StubCompose, OrderOfEveryPart)
{
	auto im = build(
		{ { ".osrel", "ID=t\n" }, { ".cmdline", "base" }, { ".ucode", "UU" }, { ".initrd", "III" },
		  { ".pcrsig", "{}" }, { ".pcrpkey", "KEY" }, { ".linux", "kernel" },
		  { ".profile", "ID=debug\nTITLE=Debug\n" }, { ".cmdline", "debug" } },
		{ { { ".ucode", "UA" }, { ".initrd", "IA" }, { ".cmdline", "a=1" } },
		  { { ".ucode", "UBB" }, { ".initrd", "IB" }, { ".cmdline", "b=1\n" } } });
	const UkiImage &uki = *im.uki->image;
	const UkiProfile *profile = *uki.findProfile("debug");
	const SectionSet s = uki.resolve(profile);

	SidecarFiles side;
	side.credentials = { { "c.cred", bytes("C") } };
	side.globalCredentials = { { "g.cred", bytes("G") } };
	side.sysext = { { "s.raw", bytes("S") } };
	side.globalSysext = { { "gs.raw", bytes("GS") } };
	side.confext = { { "c.confext.raw", bytes("CF") } };
	side.globalConfext = { { "gc.confext.raw", bytes("GC") } };

	const InitrdComposition c = composeInitrd(s, profile, im.ptrs, &side);
	std::vector<std::string> what;
	for (const auto &p : c.parts())
		what.push_back(p.what);
	const std::vector<std::string> expected{
		".ucode of 'addon1.addon.efi'", ".ucode of 'addon0.addon.efi'", ".ucode", ".initrd",
		"/.extra/credentials/", "/.extra/global_credentials/", "/.extra/sysext/",
		"/.extra/global_sysext/", "/.extra/confext/", "/.extra/global_confext/",
		"/.extra/tpm2-pcr-signature.json", "/.extra/tpm2-pcr-public-key.pem", "/.extra/os-release",
		"/.extra/profile", ".initrd of 'addon0.addon.efi'", ".initrd of 'addon1.addon.efi'",
	};
	EXPECT_EQ(what, expected);

	auto lit = [](const std::string &name, const std::string &data) {
		return entry(1, 040555, ".extra") + entry(2, 0100444, ".extra/" + name, data) + kTrailer;
	};
	auto dir = [](const std::string &d, unsigned dmode, unsigned fmode, const std::string &name,
		      const std::string &data) {
		return entry(1, 040555, ".extra") + entry(2, 040000 | dmode, ".extra/" + d) +
		       entry(3, 0100000 | fmode, ".extra/" + d + "/" + name, data) + kTrailer;
	};
	const std::string want = pad4("UBB") + pad4("UA") + pad4("UU") + pad4("III") +
				 dir("credentials", 0500, 0400, "c.cred", "C") +
				 dir("global_credentials", 0500, 0400, "g.cred", "G") +
				 dir("sysext", 0555, 0444, "s.raw", "S") +
				 dir("global_sysext", 0555, 0444, "gs.raw", "GS") +
				 dir("confext", 0555, 0444, "c.confext.raw", "CF") +
				 dir("global_confext", 0555, 0444, "gc.confext.raw", "GC") +
				 lit("tpm2-pcr-signature.json", "{}") + lit("tpm2-pcr-public-key.pem", "KEY") +
				 lit("os-release", "ID=t\n") + lit("profile", "ID=debug\nTITLE=Debug\n") +
				 pad4("IA") + pad4("IB");
	EXPECT_EQ(joined(c), want);

	/* The profile's .cmdline replaces the base one; addons follow,
	 * global before per-UKI (the caller's order), mangled. */
	EXPECT_EQ(composeCmdline(s, im.ptrs, ""), "debug a=1 b=1");
	/* The loader's options replace the UKI's .cmdline, as the stub's. */
	EXPECT_EQ(composeCmdline(s, im.ptrs, "single\tquiet  "), "single quiet a=1 b=1");
}

TEST(StubCompose, WithoutProfilesNoProfileArchive)
{
	auto im = build({ { ".osrel", "ID=t\n" }, { ".linux", "kernel" } }, {});
	const InitrdComposition c = composeInitrd(im.uki->image->resolve(nullptr), nullptr, {}, nullptr);
	ASSERT_EQ(c.parts().size(), 1u);
	EXPECT_EQ(c.parts()[0].what, "/.extra/os-release");
	/* A single archive is handed over as it is: already 4-byte sized. */
	EXPECT_EQ(joined(c), entry(1, 040555, ".extra") + entry(2, 0100444, ".extra/os-release", "ID=t\n") + kTrailer);
}

TEST(StubCompose, LoaderOptionsFollowTheStubsSecureBootRule)
{
	auto with = build({ { ".cmdline", "root=/dev/x" }, { ".linux", "kernel" } }, {});
	auto without = build({ { ".linux", "kernel" } }, {});
	const SectionSet w = with.uki->image->resolve(nullptr);
	const SectionSet wo = without.uki->image->resolve(nullptr);
	EXPECT_TRUE(checkLoaderOptions(w, "x", false).ok());
	EXPECT_FALSE(checkLoaderOptions(w, "x", true).ok());
	EXPECT_EQ(checkLoaderOptions(w, "x", true).error().code, Code::InvalidArgument);
	EXPECT_TRUE(checkLoaderOptions(wo, "x", true).ok());
	EXPECT_TRUE(checkLoaderOptions(w, "", true).ok());
	EXPECT_EQ(composeCmdline(w, {}, ""), "root=/dev/x");
	EXPECT_EQ(composeCmdline(wo, {}, "x=1"), "x=1");
}

TEST(StubCompose, StubCmdlineMangling)
{
	EXPECT_EQ(stubCmdlineText(bytes("a\nb\r\n  ")), "a b");
	EXPECT_EQ(stubCmdlineText(bytes(std::string("a b\0junk", 8))), "a b");
	EXPECT_EQ(stubCmdlineText(bytes("  lead")), "  lead");
}

TEST(StubCompose, DevicetreeIsNamedNotDropped)
{
	auto im = build({ { ".dtb", "DTB" }, { ".dtbauto", "AUTO" }, { ".linux", "kernel" } },
			{ { { ".dtb", "X" } } });
	const std::string note = devicetreeNote(im.uki->image->resolve(nullptr), im.ptrs);
	EXPECT_NE(note.find("devicetree from the UKI not applied"), std::string::npos) << note;
	EXPECT_NE(note.find(".dtbauto of the UKI"), std::string::npos) << note;
	EXPECT_NE(note.find(".dtb of 'addon0.addon.efi'"), std::string::npos) << note;
	auto none = build({ { ".linux", "kernel" } }, {});
	EXPECT_EQ(devicetreeNote(none.uki->image->resolve(nullptr), {}), "");

	auto parts = composeClassic(*im.uki->image, im.ptrs, {});
	ASSERT_TRUE(parts.ok());
	EXPECT_EQ(parts->devicetree, note);
}
