// SPDX-License-Identifier: LGPL-2.1-or-later
// Boot Loader Spec discovery (daemon/engine/resolve/discovery.cpp) over fake ESP
// trees of empty files: tries counters, boot menu order, the default
// entry's rule chain (EFI variables in efivarfs format), addon order and
// the skipped names.

#include "discovery.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "test_util.h"

namespace kexecd {
namespace {

namespace fs = std::filesystem;

void touch(const std::string &path, const std::string &content = {})
{
	fs::create_directories(fs::path(path).parent_path());
	std::ofstream out(path, std::ios::binary);
	out << content;
}

/* efivarfs layout: 4 attribute bytes, then UTF-16LE, NUL-terminated. */
void writeLoaderVariable(const std::string &efivars, const std::string &name, const std::u16string &value)
{
	std::string data = { '\x07', '\0', '\0', '\0' };
	for (char16_t c : value + u'\0') {
		data += static_cast<char>(c & 0xff);
		data += static_cast<char>(c >> 8);
	}
	touch(efivars + "/" + name + "-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f", data);
}

struct Tree {
	std::string root = test::makeTempDir();
	DiscoveryPaths paths;

	Tree()
	{
		paths.espCandidates = { root + "/efi", root + "/boot", root + "/boot/efi" };
		paths.modulesDir = root + "/usr/lib/modules";
		paths.efivarsDir = root + "/efivars";
		/* Never the host's /boot. */
		paths.xbootldrCandidates = { root + "/boot" };
		paths.udevDataDir = root + "/udev";
		fs::create_directories(root + "/boot/efi/EFI/Linux");
		fs::create_directories(paths.modulesDir);
		fs::create_directories(paths.efivarsDir);
	}
	std::string esp() const { return root + "/boot/efi"; }
	std::string uki(const std::string &name) const { return esp() + "/EFI/Linux/" + name; }
	/* A minimal valid UKI without a sort key (NAME= only), so the
	 * order is by id, as systemd-boot orders entries without one. */
	void add(const std::string &name, const std::vector<test::PeSectionSpec> &sections = {
						  { ".osrel", "NAME=Test\n" }, { ".linux", "kernel" } }) const
	{
		writeUki(uki(name), sections);
	}
	static void writeUki(const std::string &path, const std::vector<test::PeSectionSpec> &sections = {
							      { ".osrel", "NAME=Test\n" }, { ".linux", "kernel" } })
	{
		fs::create_directories(fs::path(path).parent_path());
		test::writeFile(path, test::makePe(sections));
	}
};

std::vector<std::string> ids(const std::vector<UkiEntry> &entries)
{
	std::vector<std::string> r;
	for (const auto &e : entries)
		r.push_back(e.id);
	return r;
}

TEST(Discovery, TriesCounter)
{
	auto tc = parseTriesCounter("foo+3-1.efi", ".efi");
	EXPECT_EQ(tc.id, "foo.efi");
	EXPECT_EQ(tc.left, 3);
	EXPECT_EQ(tc.done, 1);

	tc = parseTriesCounter("debian-6.1.0+0.EFI", ".efi");
	EXPECT_EQ(tc.id, "debian-6.1.0.EFI");
	EXPECT_EQ(tc.left, 0);
	EXPECT_EQ(tc.done, 0);

	for (const char *plain : { "foo.efi", "foo+.efi", "foo+x.efi", "foo+3-.efi", "foo+-1.efi",
				   "foo+3-1-2.efi", "foo+99999999999.efi", "foo+3-1.conf" }) {
		tc = parseTriesCounter(plain, ".efi");
		EXPECT_EQ(tc.id, plain);
		EXPECT_EQ(tc.left, -1) << plain;
		EXPECT_EQ(tc.done, -1) << plain;
	}
}

TEST(Discovery, LoaderConfDefault)
{
	EXPECT_EQ(parseLoaderConfDefault("timeout 3\ndefault debian-*.efi\n"), "debian-*.efi");
	/* Last one wins, quotes and surrounding blanks go, comments and
	 * other keys ("defaults") do not count. */
	EXPECT_EQ(parseLoaderConfDefault("default a.efi\n# default b.efi\ndefault\t \"c d.efi\" \r\n"
					 "defaults e.efi\ndefault \"\"\n"),
		  "c d.efi");
	EXPECT_EQ(parseLoaderConfDefault("default\n"), std::nullopt);
	EXPECT_EQ(parseLoaderConfDefault(""), std::nullopt);
}

TEST(Discovery, LoaderVariableDecoding)
{
	auto var = [](std::u16string text, bool nul = true) {
		std::vector<uint8_t> b{ 7, 0, 0, 0 };
		for (char16_t c : text) {
			b.push_back(static_cast<uint8_t>(c));
			b.push_back(static_cast<uint8_t>(c >> 8));
		}
		if (nul)
			b.insert(b.end(), { 0, 0, 0xff, 0xff });
		return b;
	};
	EXPECT_EQ(decodeLoaderVariable(var(u"debian.efi")), "debian.efi");
	EXPECT_EQ(decodeLoaderVariable(var(u"d\u00e9j\u00e0 \U0001F427", false)), "d\xc3\xa9j\xc3\xa0 \xf0\x9f\x90\xa7");
	EXPECT_EQ(decodeLoaderVariable(var(u"")), std::nullopt);
	EXPECT_EQ(decodeLoaderVariable(var(std::u16string(1, char16_t(0xdc00)))), std::nullopt);
	EXPECT_EQ(decodeLoaderVariable(var(std::u16string(1, char16_t(0xd800)), false)), std::nullopt);
	EXPECT_EQ(decodeLoaderVariable(std::vector<uint8_t>{ 7, 0, 0, 0, 'x' }), std::nullopt);
}

TEST(Discovery, VersionComparison)
{
	/* The order systemd documents for strverscmp_improved(), oldest first. */
	const std::vector<std::string> ordered = { "122.1", "123~rc1-1", "123", "123-a", "123-a.1",
						   "123-1", "123-1.1", "123^post1", "123.a-1",
						   "123.1-1", "123a-1", "124-1" };
	for (size_t i = 0; i < ordered.size(); i++) {
		EXPECT_EQ(compareVersions(ordered[i], ordered[i]), 0) << ordered[i];
		for (size_t j = i + 1; j < ordered.size(); j++) {
			EXPECT_LT(compareVersions(ordered[i], ordered[j]), 0) << ordered[i] << " < " << ordered[j];
			EXPECT_GT(compareVersions(ordered[j], ordered[i]), 0) << ordered[j] << " > " << ordered[i];
		}
	}
	EXPECT_GT(compareVersions("linux-6.10.0.efi", "linux-6.9.0.efi"), 0);
	EXPECT_EQ(compareVersions("007", "7"), 0);
	EXPECT_EQ(compareVersions("", ""), 0);
	EXPECT_LT(compareVersions("", "1"), 0);
}

TEST(Discovery, ListsNewestFirstAndBadLast)
{
	Tree t;
	t.add("debian-6.1.0.efi");
	t.add("debian-6.10.2+0-3.efi"); // newest, but out of tries
	t.add("debian-6.9.0+2-1.efi");
	t.add("debian-6.2.0.efi");
	t.add(".hidden-9.0.efi");
	t.add("auto-windows.efi");
	t.add("notes.txt");
	fs::create_directories(t.uki("dir-9.efi"));
	fs::create_symlink(t.uki("debian-6.1.0.efi"), t.uki("link-9.9.efi"));
	touch(t.paths.modulesDir + "/6.12.0/uki.efi");
	touch(t.paths.modulesDir + "/6.11.0/uki.efi");
	touch(t.paths.modulesDir + "/6.11.0/vmlinuz");

	auto list = listUkis(t.paths);
	ASSERT_TRUE(list.ok()) << list.error().message;
	EXPECT_EQ(ids(*list), (std::vector<std::string>{ "debian-6.9.0.efi", "debian-6.2.0.efi",
							  "debian-6.1.0.efi", "6.12.0/uki.efi",
							  "6.11.0/uki.efi", "debian-6.10.2.efi" }));
	const UkiEntry &first = list->front();
	EXPECT_EQ(first.path, t.uki("debian-6.9.0+2-1.efi"));
	EXPECT_EQ(first.version, "6.9.0");
	EXPECT_EQ(first.triesLeft, 2);
	EXPECT_EQ(first.triesDone, 1);
	EXPECT_EQ(first.source, "esp");
	EXPECT_EQ((*list)[2].triesLeft, -1);
	EXPECT_EQ((*list)[3].source, "modules");
	EXPECT_EQ((*list)[3].version, "6.12.0");
	EXPECT_TRUE(list->back().bad());
}

TEST(Discovery, MoreTriesLeftFirstOnEqualIds)
{
	Tree t;
	Tree::writeUki(t.root + "/xbootldr/EFI/Linux/a-1.efi");
	t.paths.xbootldr = t.root + "/xbootldr";
	t.add("a-1+1-2.efi");
	t.add("a-1+3.efi");

	auto list = listUkis(t.paths);
	ASSERT_TRUE(list.ok()) << list.error().message;
	ASSERT_EQ(list->size(), 3u);
	EXPECT_EQ((*list)[0].triesLeft, 3);
	EXPECT_EQ((*list)[0].triesDone, 0);
	EXPECT_EQ((*list)[1].triesLeft, 1);
	EXPECT_EQ((*list)[2].source, "xbootldr");
}

TEST(Discovery, XbootldrSameAsEspListedOnce)
{
	Tree t;
	t.add("a-1.efi");
	t.paths.xbootldr = t.esp();
	auto list = listUkis(t.paths);
	ASSERT_TRUE(list.ok());
	EXPECT_EQ(list->size(), 1u);
}

TEST(Discovery, EspCandidatesAndExplicitEsp)
{
	Tree t;
	auto esp = findEsp(t.paths);
	ASSERT_TRUE(esp.ok());
	EXPECT_EQ(*esp, t.esp());

	fs::create_directories(t.root + "/efi/loader");
	esp = findEsp(t.paths);
	ASSERT_TRUE(esp.ok());
	EXPECT_EQ(*esp, t.root + "/efi");

	t.paths.esp = t.esp();
	esp = findEsp(t.paths);
	ASSERT_TRUE(esp.ok());
	EXPECT_EQ(*esp, t.esp());

	t.paths.esp = t.root + "/nonexistent";
	esp = findEsp(t.paths);
	ASSERT_FALSE(esp.ok());
	EXPECT_EQ(esp.error().code, Code::Unsupported);
}

TEST(Discovery, MissingEspIsNamedError)
{
	DiscoveryPaths paths;
	const std::string root = test::makeTempDir();
	paths.espCandidates = { root + "/efi", root + "/boot", root + "/boot/efi" };
	paths.modulesDir = root + "/modules";
	paths.efivarsDir = root + "/efivars";
	paths.xbootldrCandidates = {};

	auto list = listUkis(paths);
	ASSERT_FALSE(list.ok());
	EXPECT_EQ(list.error().code, Code::Unsupported);
	EXPECT_EQ(list.error().message, "no ESP found (looked in " + root + "/efi, " + root + "/boot, " +
						root + "/boot/efi)");

	std::string why;
	auto def = defaultUki(paths, &why);
	ASSERT_FALSE(def.ok());
	EXPECT_EQ(def.error().code, Code::Unsupported);

	/* The per-UKI addons are still found without an ESP. */
	touch(root + "/x.efi.extra.d/a.addon.efi");
	EXPECT_EQ(findAddons(paths, root + "/x.efi"),
		  std::vector<std::string>{ root + "/x.efi.extra.d/a.addon.efi" });
}

TEST(Discovery, NoUkiIsNamedError)
{
	Tree t;
	std::string why;
	auto def = defaultUki(t.paths, &why);
	ASSERT_FALSE(def.ok());
	EXPECT_EQ(def.error().code, Code::Unsupported);
	EXPECT_NE(def.error().message.find("no boot entry found"), std::string::npos) << def.error().message;
}

TEST(Discovery, UnreadableDirectoryIsIoError)
{
	/* A symlink loop fails with ELOOP even for root, unlike a mode 0 directory. */
	Tree t;
	fs::remove(t.esp() + "/EFI/Linux");
	fs::create_symlink("Linux", t.esp() + "/EFI/Linux");
	auto list = listUkis(t.paths);
	ASSERT_FALSE(list.ok());
	EXPECT_EQ(list.error().code, Code::Io);
	EXPECT_EQ(list.error().errnum, ELOOP);
}

TEST(Discovery, ReadsLoaderVariables)
{
	Tree t;
	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryDefault", u"d\u00e9bian-*.efi");
	EXPECT_EQ(readLoaderVariable(t.paths.efivarsDir, "LoaderEntryDefault"), "d\xc3\xa9" "bian-*.efi");
	EXPECT_EQ(readLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot"), std::nullopt);

	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot", u"");
	EXPECT_EQ(readLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot"), std::nullopt);

	/* A lone surrogate is not an id. */
	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot", std::u16string(1, char16_t(0xd800)));
	EXPECT_EQ(readLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot"), std::nullopt);
}

struct DefaultTree : Tree {
	DefaultTree()
	{
		add("linux-6.1.efi");
		add("linux-6.2+3.efi");
		add("linux-6.3.efi");
		add("other-1.efi");
	}
	void loaderConf(const std::string &text) const { touch(esp() + "/loader/loader.conf", text); }
};

TEST(Discovery, DefaultIsNewestWithoutConfiguration)
{
	DefaultTree t;
	std::string why;
	auto def = defaultUki(t.paths, &why);
	ASSERT_TRUE(def.ok()) << def.error().message;
	EXPECT_EQ(def->id, "other-1.efi"); // "other" sorts after "linux" by version comparison
	EXPECT_EQ(why, "newest entry in boot loader order");
}

TEST(Discovery, DefaultRuleChain)
{
	DefaultTree t;
	std::string why;

	t.loaderConf("# comment\n"
		     "timeout 3\n"
		     "default linux-6.1.efi\n"
		     "default \"linux-6.2.efi\"\n"
		     "  #default other-1.efi\n");
	auto def = defaultUki(t.paths, &why);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "linux-6.2.efi");
	EXPECT_EQ(def->path, t.uki("linux-6.2+3.efi"));
	EXPECT_EQ(why, "loader.conf default 'linux-6.2.efi'");

	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryDefault", u"linux-6.1.efi");
	def = defaultUki(t.paths, &why);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "linux-6.1.efi");
	EXPECT_EQ(why, "LoaderEntryDefault 'linux-6.1.efi'");

	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot", u"linux-6.3.efi");
	def = defaultUki(t.paths, &why);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "linux-6.3.efi");
	EXPECT_EQ(why, "LoaderEntryOneShot 'linux-6.3.efi'");

	/* A value naming no entry falls through to the next rule. */
	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot", u"gone.efi");
	def = defaultUki(t.paths, &why);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "linux-6.1.efi");
	EXPECT_EQ(why, "LoaderEntryDefault 'linux-6.1.efi'; LoaderEntryOneShot 'gone.efi' matched no entry");
}

TEST(Discovery, DefaultGlobPicksNewestMatch)
{
	DefaultTree t;
	std::string why;
	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryDefault", u"LINUX-*");
	auto def = defaultUki(t.paths, &why);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "linux-6.3.efi");

	t.loaderConf("default linux-6.?.efi\n");
	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryDefault", u"nomatch*");
	t.add("linux-6.3+0.efi"); // a bad duplicate never beats the good one
	def = defaultUki(t.paths, &why);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "linux-6.3.efi");
	EXPECT_EQ(def->path, t.uki("linux-6.3.efi"));
	EXPECT_EQ(why, "loader.conf default 'linux-6.?.efi'; LoaderEntryDefault 'nomatch*' matched no entry");
}

TEST(Discovery, DefaultSaved)
{
	DefaultTree t;
	std::string why;
	t.loaderConf("default @saved\n");
	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryLastBooted", u"linux-6.1.efi");
	auto def = defaultUki(t.paths, &why);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "linux-6.1.efi");
	EXPECT_EQ(why, "loader.conf default @saved: LoaderEntryLastBooted 'linux-6.1.efi'");
}

TEST(Discovery, DefaultNeverPicksModulesByPattern)
{
	Tree t;
	touch(t.paths.modulesDir + "/6.12.0/uki.efi");
	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryDefault", u"*");
	std::string why;
	auto def = defaultUki(t.paths, &why);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->source, "modules");
	EXPECT_EQ(why, "newest distribution UKI (no boot loader entry); LoaderEntryDefault '*' matched no entry");
}

TEST(Discovery, AddonOrder)
{
	Tree t;
	const std::string uki = t.uki("linux-6.1.efi");
	touch(uki);
	const std::string global = t.esp() + "/loader/addons/";
	const std::string local = uki + ".extra.d/";
	for (const char *n : { "b.addon.efi", "a.addon.efi", "C.ADDON.EFI", ".hidden.addon.efi", "x.efi" })
		touch(global + n);
	fs::create_directories(global + "dir.addon.efi");
	for (const char *n : { "z.addon.efi", "10.addon.efi", "9.addon.efi", "caf\xc3\xa9.addon.efi" })
		touch(local + n);
	fs::create_symlink(global + "a.addon.efi", local + "link.addon.efi");
	/* Another UKI's addons are not ours. */
	touch(t.uki("linux-6.2.efi.extra.d/other.addon.efi"));

	std::vector<std::string> notes;
	EXPECT_EQ(findAddons(t.paths, uki, &notes),
		  (std::vector<std::string>{ global + "C.ADDON.EFI", global + "a.addon.efi",
					     global + "b.addon.efi", local + "10.addon.efi",
					     local + "9.addon.efi", local + "z.addon.efi" }));
	EXPECT_TRUE(notes.empty());
}

TEST(Discovery, AddonLimit)
{
	Tree t;
	const std::string uki = t.uki("a.efi");
	for (size_t i = 0; i < kMaxAddons + 2; i++) {
		char name[32];
		std::snprintf(name, sizeof(name), "%03zu.addon.efi", i);
		touch(uki + ".extra.d/" + name);
	}
	std::vector<std::string> notes;
	auto addons = findAddons(t.paths, uki, &notes);
	ASSERT_EQ(addons.size(), kMaxAddons);
	EXPECT_EQ(addons.back(), uki + ".extra.d/063.addon.efi");
	EXPECT_EQ(notes.size(), 2u);
}

TEST(Discovery, UkiLimitKeepsNewest)
{
	Tree t;
	for (size_t i = 0; i < kMaxUkis + 1; i++)
		t.add("k-" + std::to_string(i) + ".efi");
	std::vector<std::string> notes;
	auto list = listUkis(t.paths, &notes);
	ASSERT_TRUE(list.ok());
	ASSERT_EQ(list->size(), kMaxUkis);
	EXPECT_EQ(list->front().id, "k-" + std::to_string(kMaxUkis) + ".efi");
	EXPECT_EQ(list->back().id, "k-1.efi");
	EXPECT_EQ(notes.size(), 1u);
}


/* A copy of the fixture UKI with its .osrel changed in place (same length). */
void copyUki(const std::string &to, const std::string &osrelFrom = {}, const std::string &osrelTo = {})
{
	std::vector<uint8_t> data = test::readFile(test::fixture("uki.efi"));
	if (!osrelFrom.empty()) {
		const std::string osrel = test::readText(test::fixture("osrel.txt"));
		std::string patched = osrel;
		const size_t at = patched.find(osrelFrom);
		ASSERT_NE(at, std::string::npos);
		ASSERT_EQ(osrelFrom.size(), osrelTo.size());
		patched.replace(at, osrelFrom.size(), osrelTo);
		auto it = std::search(data.begin(), data.end(), osrel.begin(), osrel.end());
		ASSERT_NE(it, data.end());
		std::copy(patched.begin(), patched.end(), it);
	}
	fs::create_directories(fs::path(to).parent_path());
	std::ofstream(to, std::ios::binary).write(reinterpret_cast<const char *>(data.data()),
						  static_cast<std::streamsize>(data.size()));
}

/* One entry per profile, named as systemd-boot names them (boot.c
 * boot_entry_add_type2()), ordered by file then profile number. */
const std::vector<test::PeSectionSpec> kProfiled = {
	{ ".osrel", "ID=deb\nPRETTY_NAME=Deb\n" }, { ".cmdline", "base" }, { ".linux", "kernel" },
	{ ".profile", "ID=main\nTITLE=Main\n" },
	{ ".profile", "ID=Debug\nTITLE=Debugging\n" }, { ".cmdline", "debug" },
	{ ".profile", "TITLE=No id\n" }, { ".cmdline", "noid" },
	{ ".profile", "ID=nokernel\n" }, { ".linux", "" },
};

TEST(Discovery, OneEntryPerProfile)
{
	Tree t;
	t.add("Multi-2.efi", kProfiled);
	t.add("multi-1.efi");
	std::vector<std::string> notes;
	auto list = listUkis(t.paths, &notes);
	ASSERT_TRUE(list.ok()) << list.error().message;
	EXPECT_EQ(ids(*list), (std::vector<std::string>{ "multi-2.efi", "multi-2.efi@debug", "multi-2.efi@2",
							  "multi-1.efi" }));
	EXPECT_EQ((*list)[0].profile, 0);
	EXPECT_EQ((*list)[0].title, "Deb (Main)");
	EXPECT_EQ((*list)[1].profile, 1);
	EXPECT_EQ((*list)[1].title, "Deb (Debugging)");
	EXPECT_EQ((*list)[1].idWithoutProfile, "multi-2.efi");
	EXPECT_EQ((*list)[2].title, "Deb (No id)");
	EXPECT_EQ((*list)[3].profile, -1);
	ASSERT_EQ(notes.size(), 1u);
	EXPECT_NE(notes[0].find("'multi-2.efi@nokernel'"), std::string::npos) << notes[0];
}

TEST(Discovery, ProfileNamesSelectTheDefault)
{
	Tree t;
	t.add("multi-2.efi", kProfiled);
	t.add("other-1.efi");
	std::string why, rule;

	/* loader.conf default with the profile's ID= */
	touch(t.esp() + "/loader/loader.conf", "default multi-2.efi@debug\n");
	auto def = defaultUki(t.paths, &why, &rule);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "multi-2.efi@debug");
	EXPECT_EQ(def->profile, 1);
	EXPECT_EQ(rule, "loader.conf");

	/* "@1" does not name a profile that has an ID (measured under OVMF):
	 * it falls through to LoaderEntryDefault, then the first entry. */
	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot", u"multi-2.efi@1");
	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryDefault", u"MULTI-2.EFI@2");
	def = defaultUki(t.paths, &why, &rule);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "multi-2.efi@2");
	EXPECT_EQ(rule, "LoaderEntryDefault");
	EXPECT_NE(why.find("LoaderEntryOneShot 'multi-2.efi@1' matched no entry"), std::string::npos) << why;

	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot", u"multi-2.efi@debug");
	def = defaultUki(t.paths, &why, &rule);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "multi-2.efi@debug");
	EXPECT_EQ(rule, "LoaderEntryOneShot");
}

TEST(Discovery, DefaultForEachVariableCombination)
{
	/* (OneShot, Default, loader.conf) -> picked id; "" = unset. */
	struct Case {
		std::u16string oneShot, efiDefault;
		std::string conf, want, rule;
	};
	const Case cases[] = {
		{ u"", u"", "", "b-2.efi", "order" },
		{ u"", u"", "a-1.efi", "a-1.efi", "loader.conf" },
		{ u"", u"a-1.efi", "b-2.efi", "a-1.efi", "LoaderEntryDefault" },
		{ u"b-2.efi", u"a-1.efi", "a-1.efi", "b-2.efi", "LoaderEntryOneShot" },
		{ u"nope", u"nope", "a-*", "a-1.efi", "loader.conf" },
		{ u"nope", u"nope", "nope", "b-2.efi", "order" },
		{ u"", u"@saved", "", "a-1.efi", "LoaderEntryDefault" },
		{ u"", u"", "@saved", "a-1.efi", "loader.conf" },
	};
	for (const Case &c : cases) {
		Tree t;
		t.add("a-1.efi");
		t.add("b-2.efi");
		writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryLastBooted", u"a-1.efi");
		if (!c.oneShot.empty())
			writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot", c.oneShot);
		if (!c.efiDefault.empty())
			writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryDefault", c.efiDefault);
		if (!c.conf.empty())
			touch(t.esp() + "/loader/loader.conf", "default " + c.conf + "\n");
		std::string why, rule;
		auto def = defaultUki(t.paths, &why, &rule);
		ASSERT_TRUE(def.ok());
		EXPECT_EQ(def->id, c.want) << c.conf << " " << why;
		EXPECT_EQ(rule, c.rule) << why;
	}
}

TEST(Discovery, RemoveLoaderVariable)
{
	Tree t;
	writeLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot", u"a.efi");
	ASSERT_TRUE(readLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot"));
	EXPECT_TRUE(removeLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot").ok());
	EXPECT_FALSE(readLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot"));
	/* Absent is fine. */
	EXPECT_TRUE(removeLoaderVariable(t.paths.efivarsDir, "LoaderEntryOneShot").ok());
}

TEST(Discovery, ExtraDirStripsTheBootCounter)
{
	EXPECT_EQ(extraDirFor("/efi/EFI/Linux/foo+3-0.efi"), "/efi/EFI/Linux/foo.efi.extra.d");
	EXPECT_EQ(extraDirFor("/efi/EFI/Linux/foo+3.efi"), "/efi/EFI/Linux/foo.efi.extra.d");
	EXPECT_EQ(extraDirFor("/efi/EFI/Linux/foo.efi"), "/efi/EFI/Linux/foo.efi.extra.d");
	EXPECT_EQ(extraDirFor("/efi/EFI/Linux/foo+x.efi"), "/efi/EFI/Linux/foo+x.efi.extra.d");

	Tree t;
	t.add("foo+3-0.efi");
	touch(t.uki("foo.efi.extra.d/a.addon.efi"));
	touch(t.uki("foo+3-0.efi.extra.d/wrong.addon.efi"));
	EXPECT_EQ(findAddons(t.paths, t.uki("foo+3-0.efi")),
		  std::vector<std::string>{ t.uki("foo.efi.extra.d/a.addon.efi") });
}

TEST(Discovery, SidecarsAsTheStubPicksThemUp)
{
	Tree t;
	t.add("foo+1.efi");
	touch(t.uki("foo.efi.extra.d/b.cred"), "B");
	touch(t.uki("foo.efi.extra.d/a.cred"), "A");
	touch(t.uki("foo.efi.extra.d/.hidden.cred"), "H");
	touch(t.uki("foo.efi.extra.d/x.sysext.raw"), "S");
	touch(t.uki("foo.efi.extra.d/old.raw"), "O");
	touch(t.uki("foo.efi.extra.d/y.confext.raw"), "C");
	touch(t.uki("foo.efi.extra.d/notes.txt"), "N");
	touch(t.esp() + "/loader/credentials/g.cred", "G");
	touch(t.esp() + "/loader/extensions/gs.raw", "GS");
	touch(t.esp() + "/loader/extensions/gc.confext.raw", "GC");
	const SidecarFiles s = readSidecars(t.paths, t.uki("foo+1.efi"));
	auto names = [](const std::vector<CpioFile> &files) {
		std::vector<std::string> out;
		for (const auto &f : files)
			out.push_back(f.name + "=" + std::string(f.data.begin(), f.data.end()));
		return out;
	};
	using V = std::vector<std::string>;
	EXPECT_EQ(names(s.credentials), (V{ "a.cred=A", "b.cred=B" }));
	EXPECT_EQ(names(s.globalCredentials), (V{ "g.cred=G" }));
	EXPECT_EQ(names(s.sysext), (V{ "old.raw=O", "x.sysext.raw=S" }));
	EXPECT_EQ(names(s.globalSysext), (V{ "gs.raw=GS" }));
	EXPECT_EQ(names(s.confext), (V{ "y.confext.raw=C" }));
	EXPECT_EQ(names(s.globalConfext), (V{ "gc.confext.raw=GC" }));
}

TEST(Discovery, AddonsAndSidecarsComeFromTheUkisOwnPartition)
{
	Tree t;
	const std::string x = t.root + "/xbootldr";
	t.paths.xbootldr = x;
	Tree::writeUki(x + "/EFI/Linux/onx-1.efi");
	touch(x + "/loader/addons/x.addon.efi");
	touch(t.esp() + "/loader/addons/esp.addon.efi");
	touch(x + "/loader/credentials/x.cred", "X");
	EXPECT_EQ(findAddons(t.paths, x + "/EFI/Linux/onx-1.efi"),
		  std::vector<std::string>{ x + "/loader/addons/x.addon.efi" });
	const SidecarFiles s = readSidecars(t.paths, x + "/EFI/Linux/onx-1.efi");
	ASSERT_EQ(s.globalCredentials.size(), 1u);
	EXPECT_EQ(s.globalCredentials[0].name, "x.cred");
}

TEST(Discovery, XbootldrFoundByUdevPartitionType)
{
	Tree t;
	/* The candidate must be a mount point: / (on another device than
	 * its parent "/..", which is / itself) is not; /proc is. Use the
	 * udev database for the type. */
	t.paths.xbootldrCandidates = { "/proc" };
	t.paths.udevDataDir = t.root + "/udev";
	EXPECT_EQ(findXbootldr(t.paths, t.esp()), "");

	struct stat st;
	ASSERT_EQ(::stat("/proc", &st), 0);
	touch(t.paths.udevDataDir + "/b" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)),
	      "S:disk/by-partuuid/x\nE:ID_PART_ENTRY_TYPE=BC13C2FF-59E6-4262-A352-B275FD779172\n");
	EXPECT_EQ(findXbootldr(t.paths, t.esp()), "/proc");

	touch(t.paths.udevDataDir + "/b" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)),
	      "E:ID_PART_ENTRY_TYPE=c12a7328-f81f-11d2-ba4b-00a0c93ec93b\n");
	EXPECT_EQ(findXbootldr(t.paths, t.esp()), "");

	/* Configured wins. */
	t.paths.xbootldr = t.root + "/x";
	EXPECT_EQ(findXbootldr(t.paths, t.esp()), t.root + "/x");
}

TEST(Discovery, OsReleaseOfRealUkis)
{
	REQUIRE_FIXTURES();
	Tree t;
	const std::string uname = test::readText(test::fixture("uname.txt"));
	copyUki(t.uki("debian-1.efi"));
	copyUki(t.uki("debian-2.efi"), "VERSION_ID=\"12\"", "VERSION_ID=\"11\"");
	copyUki(t.uki("aebian-0.efi"), "ID=debian", "ID=aebian");
	t.add("zzz-99.efi"); // no sort key: after every entry with one
	fs::copy_file(test::fixture("addon-cmdline.addon.efi"), t.uki("plain-100.efi"));
	fs::copy_file(test::fixture("bad-trunc-sections.efi"), t.uki("zzz-98.efi")); // skipped: not a PE
	touch(t.uki("empty-1.efi"));                                                  // skipped: empty
	t.add("nolinux-1.efi", { { ".osrel", "ID=x\n" } });                          // skipped: no .linux

	std::vector<std::string> notes;
	auto list = listUkis(t.paths, &notes);
	ASSERT_TRUE(list.ok()) << list.error().message;
	/* Sort key ascending, then .osrel version newest first, ids last. */
	EXPECT_EQ(ids(*list), (std::vector<std::string>{ "aebian-0.efi", "debian-1.efi", "debian-2.efi",
							  "zzz-99.efi" }));
	const UkiEntry &deb = (*list)[1];
	EXPECT_EQ(deb.version, uname);
	EXPECT_EQ(deb.title, "Debian GNU/Linux 12 (bookworm)");
	EXPECT_EQ(deb.sortKey, "debian");
	EXPECT_EQ(deb.osVersion, "12");
	EXPECT_EQ((*list)[3].version, "99");
	EXPECT_EQ((*list)[3].title, "Test");
	std::string all;
	for (const auto &n : notes)
		all += n + "\n";
	EXPECT_NE(all.find("plain-100.efi' has no .osrel"), std::string::npos) << all;
	EXPECT_NE(all.find("zzz-98.efi' is not a PE image"), std::string::npos) << all;
	EXPECT_NE(all.find("empty-1.efi' is not a PE image"), std::string::npos) << all;
	EXPECT_NE(all.find("nolinux-1.efi' ("), std::string::npos) << all;
	EXPECT_EQ(notes.size(), 4u) << all;

	std::string why;
	auto def = defaultUki(t.paths, &why);
	ASSERT_TRUE(def.ok());
	EXPECT_EQ(def->id, "aebian-0.efi");
}

} // namespace
} // namespace kexecd
