// SPDX-License-Identifier: LGPL-2.1-or-later
// Issue 15's discovery: Boot Loader Spec Type #1 entries alone and mixed
// with Type #2 UKIs (one order, as systemd-boot's), boot counting, entry
// paths that try to leave the partition, and the Debian symlink layout.
// Each tree is checked for the entry systemd-boot (or Debian's kexec-load)
// would boot.

#include "bls_type1.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "boot_files.h"
#include "debian_layout.h"
#include "discovery.h"
#include "test_util.h"

namespace kexecd {
namespace {

namespace fs = std::filesystem;

void put(const std::string &path, const std::string &content = "x")
{
	fs::create_directories(fs::path(path).parent_path());
	std::ofstream(path, std::ios::binary) << content;
}

/* A machine: an ESP, maybe an XBOOTLDR, no EFI variables unless written,
 * no distribution UKIs, never the host's /boot. */
struct Machine {
	std::string root = test::makeTempDir();
	DiscoveryPaths paths;

	Machine()
	{
		paths.esp = root + "/efi";
		paths.espCandidates = {};
		paths.xbootldrCandidates = {};
		paths.modulesDir = "";
		paths.efivarsDir = root + "/efivars";
		paths.udevDataDir = root + "/udev";
		paths.debianRoot = root + "/sysroot";
		paths.procCmdline = root + "/proc-cmdline";
		paths.efiArchitecture = "x64";
		fs::create_directories(paths.esp);
	}
	std::string esp() const { return paths.esp; }
	void entry(const std::string &name, const std::string &text, const std::string &partition = "") const
	{
		put((partition.empty() ? esp() : partition) + "/loader/entries/" + name, text);
	}
	std::vector<std::string> order() const
	{
		std::vector<std::string> notes;
		auto list = listUkis(paths, &notes);
		EXPECT_TRUE(list) << (list ? "" : list.error().message);
		std::vector<std::string> ids;
		if (list)
			for (const UkiEntry &e : *list)
				ids.push_back(e.id);
		return ids;
	}
	UkiEntry defaultEntry(std::string *why = nullptr) const
	{
		auto e = defaultUki(paths, why);
		EXPECT_TRUE(e) << (e ? "" : e.error().message);
		return e ? *e : UkiEntry{};
	}
};

TEST(Type1, EveryKeyAsSystemdBootReadsIt)
{
	const std::string text = "# Fedora\n"
				 "title   \"Fedora Linux 40\"  \n"
				 "version 6.8.5-301.fc40.x86_64\n"
				 "machine-id 0123456789abcdef0123456789abcdef\n"
				 "sort-key fedora\n"
				 "linux /0123/6.8.5/linux\n"
				 "initrd /0123/6.8.5/ucode.img\n"
				 "initrd 0123//6.8.5/./initrd\n"
				 "options root=UUID=1 ro\n"
				 "options\tquiet rhgb\n"
				 "devicetree /dtb/board.dtb\n"
				 "architecture X64\n"
				 "devicetree-overlay /o.dtbo\n";
	auto p = parseType1Entry(text, "Fedora+3-1.conf", "/esp", "/esp/loader/entries/Fedora+3-1.conf", "x64");
	ASSERT_TRUE(p) << p.error().message;
	ASSERT_TRUE(p->entry) << p->skipped;
	const UkiEntry &e = *p->entry;
	EXPECT_EQ(e.id, "fedora.conf");
	EXPECT_EQ(e.title, "Fedora Linux 40");
	EXPECT_EQ(e.osVersion, "6.8.5-301.fc40.x86_64");
	EXPECT_EQ(e.machineId, "0123456789abcdef0123456789abcdef");
	EXPECT_EQ(e.sortKey, "fedora");
	EXPECT_EQ(e.kind, "kernel");
	EXPECT_EQ(e.linux, "/esp/0123/6.8.5/linux");
	EXPECT_EQ(e.initrds, (std::vector<std::string>{ "/esp/0123/6.8.5/ucode.img", "/esp/0123/6.8.5/initrd" }));
	EXPECT_EQ(e.options, "root=UUID=1 ro quiet rhgb");
	EXPECT_EQ(e.devicetree, "/dtb/board.dtb");
	EXPECT_EQ(e.triesLeft, 3);
	EXPECT_EQ(e.triesDone, 1);
	EXPECT_EQ(e.type, "type1");
	EXPECT_TRUE(e.problem.empty());
}

TEST(Type1, UkiWinsAndTitleDefaultsToTheId)
{
	auto p = parseType1Entry("uki /EFI/Linux/x.efi\nlinux /vmlinuz\noptions a=1\n", "x.conf", "/e",
				 "/e/loader/entries/x.conf", "x64");
	ASSERT_TRUE(p && p->entry);
	EXPECT_EQ(p->entry->kind, "uki");
	EXPECT_EQ(p->entry->path, "/e/EFI/Linux/x.efi");
	EXPECT_EQ(p->entry->title, "x");
	EXPECT_EQ(p->entry->options, "a=1");
}

TEST(Type1, SkippedAsSystemdBootSkipsThem)
{
	auto arch = parseType1Entry("linux /k\narchitecture aa64\n", "a.conf", "/e", "/e/loader/entries/a.conf", "x64");
	ASSERT_TRUE(arch);
	EXPECT_FALSE(arch->entry);
	EXPECT_NE(arch->skipped.find("'aa64'"), std::string::npos);
	auto efi = parseType1Entry("efi /EFI/tools/shell.efi\n", "s.conf", "/e", "/e/loader/entries/s.conf", "x64");
	ASSERT_TRUE(efi);
	EXPECT_FALSE(efi->entry);
	EXPECT_NE(efi->skipped.find("an 'efi' program"), std::string::npos);
}

TEST(Type1, DotDotKeepsItsPlaceAndNamesTheEntryFile)
{
	auto p = parseType1Entry("linux /../../etc/shadow\n", "evil.conf", "/e", "/e/loader/entries/evil.conf", "x64");
	ASSERT_TRUE(p && p->entry);
	EXPECT_NE(p->entry->problem.find("'/e/loader/entries/evil.conf'"), std::string::npos) << p->entry->problem;
	EXPECT_NE(p->entry->problem.find("'..'"), std::string::npos) << p->entry->problem;
	auto files = openEntryFiles(*p->entry);
	ASSERT_FALSE(files);
	EXPECT_EQ(files.error().code, Code::InvalidEntry);
	auto initrd = parseType1Entry("linux /k\ninitrd a/../../b\n", "i.conf", "/e", "/e/loader/entries/i.conf", "x64");
	ASSERT_TRUE(initrd && initrd->entry);
	EXPECT_NE(initrd->entry->problem.find("initrd"), std::string::npos);
}

TEST(Type1, LimitsAreNamedErrors)
{
	std::string many = "linux /k\n";
	for (size_t i = 0; i <= kMaxEntryInitrds; i++)
		many += "initrd /i" + std::to_string(i) + "\n";
	auto p = parseType1Entry(many, "m.conf", "/e", "/e/loader/entries/m.conf", "x64");
	ASSERT_FALSE(p);
	EXPECT_EQ(p.error().code, Code::InvalidEntry);
	auto bad = parseType1Entry("linux /k\ntitle \xff\n", "u.conf", "/e", "/e/loader/entries/u.conf", "x64");
	ASSERT_FALSE(bad);
	EXPECT_NE(bad.error().message.find("not UTF-8"), std::string::npos);
}

/* Fedora-style: Type #1 only, with sort keys, versions and boot counting. */
TEST(Type1Tree, SystemdBootOrderAndDefault)
{
	Machine m;
	m.entry("fedora-6.5.conf", "sort-key fedora\nversion 6.5.0\nlinux /6.5/linux\n");
	m.entry("fedora-6.8.conf", "sort-key fedora\nversion 6.8.1\nlinux /6.8/linux\n");
	/* Newest, but out of tries: systemd-boot puts it last. */
	m.entry("fedora-6.9+0-3.conf", "sort-key fedora\nversion 6.9.0\nlinux /6.9/linux\n");
	/* Another machine-id sorts after an empty one, before versions. */
	m.entry("fedora-7.0.conf", "sort-key fedora\nmachine-id ff\nversion 7.0\nlinux /7.0/linux\n");
	/* No sort key: after every entry that has one, then by id, newest first. */
	m.entry("old-4.19.conf", "linux /4.19/linux\n");
	m.entry("old-5.10.conf", "linux /5.10/linux\n");
	EXPECT_EQ(m.order(), (std::vector<std::string>{ "fedora-6.8.conf", "fedora-6.5.conf", "fedora-7.0.conf",
							"old-5.10.conf", "old-4.19.conf", "fedora-6.9.conf" }));
	std::string why;
	const UkiEntry def = m.defaultEntry(&why);
	EXPECT_EQ(def.id, "fedora-6.8.conf");
	EXPECT_EQ(def.linux, m.esp() + "/6.8/linux");
	EXPECT_EQ(why, "newest entry in boot loader order");

	/* loader.conf's default is a glob over the ids. */
	put(m.esp() + "/loader/loader.conf", "default old-4*\n");
	EXPECT_EQ(m.defaultEntry().id, "old-4.19.conf");
}

/* Mixed: Type #1 on XBOOTLDR, Type #2 on the ESP, one order. */
TEST(MixedTree, TypeOneAndTypeTwoMergedAsSystemdBootMergesThem)
{
	Machine m;
	m.paths.xbootldr = m.root + "/boot";
	fs::create_directories(m.paths.xbootldr);
	/* Type #2: .osrel ID=debian is its sort key, VERSION_ID its version. */
	const auto uki = [&](const std::string &name, const std::string &version) {
		fs::create_directories(m.esp() + "/EFI/Linux");
		test::writeFile(m.esp() + "/EFI/Linux/" + name,
				test::makePe({ { ".osrel", "ID=debian\nVERSION_ID=" + version + "\n" }, { ".linux", "k" } }));
	};
	uki("debian-12+2-1.efi", "12");
	uki("debian-13.efi", "13");
	m.entry("arch.conf", "sort-key arch\nversion 6.9\nlinux /vmlinuz-linux\n", m.paths.xbootldr);
	m.entry("zzz.conf", "sort-key zzz\nversion 1\nuki /EFI/Linux/debian-13.efi\n", m.paths.xbootldr);
	m.entry("nokey.conf", "linux /vmlinuz-nokey\n");
	EXPECT_EQ(m.order(), (std::vector<std::string>{ "arch.conf", "debian-13.efi", "debian-12.efi", "zzz.conf",
							"nokey.conf" }));
	const UkiEntry def = m.defaultEntry();
	EXPECT_EQ(def.id, "arch.conf");
	EXPECT_EQ(def.source, "xbootldr");
	EXPECT_EQ(def.linux, m.paths.xbootldr + "/vmlinuz-linux");

	/* An EFI variable naming a Type #2 entry picks it over the order. */
	put(m.paths.efivarsDir + "/LoaderEntryDefault-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f",
	    std::string("\x07\0\0\0d\0e\0b\0i\0a\0n\0-\0\x31\0\x32\0*\0\0\0", 26));
	EXPECT_EQ(m.defaultEntry().id, "debian-12.efi");
}

TEST(Type1Tree, MissingKernelAndSymlinkEscapeNameTheEntryFile)
{
	Machine m;
	const std::string outside = m.root + "/outside";
	put(outside + "/vmlinuz", "secret");
	fs::create_symlink(outside, m.esp() + "/escape");
	m.entry("a-link.conf", "sort-key a\nlinux /escape/vmlinuz\n");
	m.entry("b-missing.conf", "sort-key b\nlinux /nope/vmlinuz\n");
	std::vector<std::string> notes;
	auto list = listUkis(m.paths, &notes);
	ASSERT_TRUE(list);
	ASSERT_EQ(list->size(), 2u);
	for (const UkiEntry &e : *list) {
		auto files = openEntryFiles(e);
		ASSERT_FALSE(files) << e.id;
		EXPECT_EQ(files.error().code, Code::InvalidEntry);
		EXPECT_NE(files.error().message.find("'" + e.entryFile + "'"), std::string::npos)
			<< files.error().message;
	}
	auto link = openEntryFiles((*list)[0]);
	EXPECT_EQ(link.error().errnum, ELOOP) << link.error().message;
	auto missing = openEntryFiles((*list)[1]);
	EXPECT_EQ(missing.error().errnum, ENOENT) << missing.error().message;
}

/* Debian 12: GRUB, no ESP entries; kexec-load's /vmlinuz + /initrd.img. */
TEST(DebianLayout, TheLinksKexecLoadWouldUse)
{
	Machine m;
	m.paths.esp = "";
	m.paths.espCandidates = { m.root + "/no-esp" };
	const std::string sys = m.paths.debianRoot;
	put(sys + "/boot/vmlinuz-6.1.0-57-amd64", "kernel-57");
	put(sys + "/boot/initrd.img-6.1.0-57-amd64", "initrd-57");
	put(sys + "/boot/vmlinuz-6.1.0-56-amd64", "kernel-56");
	/* Relative, as linux-update-symlinks makes them, and one absolute:
	 * that means the tree's /boot, never the host's. */
	fs::create_symlink("boot/vmlinuz-6.1.0-57-amd64", sys + "/vmlinuz");
	fs::create_symlink("/boot/initrd.img-6.1.0-57-amd64", sys + "/initrd.img");
	fs::create_symlink("boot/vmlinuz-6.1.0-56-amd64", sys + "/vmlinuz.old");
	put(m.paths.procCmdline, "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=/dev/vda ro initrd=/x quiet\n");

	/* Off by default. */
	auto off = defaultUki(m.paths, nullptr);
	ASSERT_FALSE(off);
	EXPECT_EQ(off.error().code, Code::Unsupported);

	m.paths.debianLayout = true;
	std::string why;
	const UkiEntry e = m.defaultEntry(&why);
	EXPECT_EQ(e.type, "debian");
	EXPECT_EQ(e.kind, "kernel");
	EXPECT_EQ(e.linux, sys + "/vmlinuz");
	EXPECT_EQ(e.initrds, std::vector<std::string>{ sys + "/initrd.img" });
	EXPECT_EQ(e.options, "root=/dev/vda ro quiet");
	EXPECT_EQ(e.version, "6.1.0-57-amd64");
	EXPECT_NE(why.find("DebianLayout=yes"), std::string::npos) << why;
	auto files = openEntryFiles(e);
	ASSERT_TRUE(files) << files.error().message;
	EXPECT_EQ(test::readText("/proc/self/fd/" + std::to_string(files->image.fd.get())), "kernel-57");
	EXPECT_EQ(test::readText("/proc/self/fd/" + std::to_string(files->initrds[0].fd.get())), "initrd-57");
}

TEST(DebianLayout, BootLinksWhenTheRootHasNoneAndNeverOutOfTheTree)
{
	Machine m;
	m.paths.debianLayout = true;
	const std::string sys = m.paths.debianRoot;
	put(m.paths.procCmdline, "root=/dev/sda1\n");
	put(m.root + "/host-kernel", "host");
	fs::create_directories(sys + "/boot");
	/* ".." stops at the tree's root: this is sys/host-kernel, absent. */
	fs::create_symlink("../../../host-kernel", sys + "/vmlinuz");
	put(sys + "/boot/vmlinuz-6.12", "kernel-612");
	fs::create_symlink("vmlinuz-6.12", sys + "/boot/vmlinuz");
	const UkiEntry e = m.defaultEntry();
	EXPECT_EQ(e.linux, sys + "/boot/vmlinuz");
	EXPECT_TRUE(e.initrds.empty());
	EXPECT_EQ(e.options, "root=/dev/sda1");

	/* A BLS entry wins over the layout. */
	m.entry("x.conf", "linux /k\n");
	EXPECT_EQ(m.defaultEntry().type, "type1");
}

} // namespace
} // namespace kexecd
