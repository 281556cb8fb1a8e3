// SPDX-License-Identifier: LGPL-2.1-or-later
// Boot counting through a kexec, kexecd's record of what runs and the
// firmware requests (issue 26), on plain directories standing in for the
// ESP and efivarfs.
#include "boot_assessment.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "boot_counter.h"
#include "discovery.h"
#include "efi_vars.h"
#include "firmware_state.h"
#include "kexec_record.h"
#include "state_file.h"
#include "test_util.h"

using namespace kexecd;
using namespace kexecd::test;

namespace {

void writeBytes(const std::string &path, const std::string &bytes)
{
	std::filesystem::create_directories(std::filesystem::path(path).parent_path());
	std::ofstream(path, std::ios::binary) << bytes;
}

/* A Loader* string variable as efivarfs shows it. */
std::string loaderVar(uint32_t attrs, const std::string &ascii)
{
	std::string s;
	for (int i = 0; i < 4; i++)
		s += static_cast<char>((attrs >> (8 * i)) & 0xff);
	for (char c : ascii) {
		s += c;
		s += '\0';
	}
	return s + std::string(2, '\0');
}

std::string varPath(const std::string &dir, const std::string &name, const char *guid = kLoaderVendorGuid)
{
	return dir + "/" + name + "-" + guid;
}

/* systemd-boot's own series (boot.c config_entry_parse_tries()) and
 * systemd-bless-boot's good and bad names. */
TEST(BootCounter, SystemdSeries)
{
	std::string name = "foobar+3.efi";
	std::vector<std::string> series;
	for (int i = 0; i < 4; i++) {
		auto c = parseBootCounter(name, ".efi");
		ASSERT_TRUE(c) << name;
		name = nextTryName(*c);
		series.push_back(name);
	}
	EXPECT_EQ(series, (std::vector<std::string>{ "foobar+2-1.efi", "foobar+1-2.efi", "foobar+0-3.efi",
						      "foobar+0-4.efi" }));
	auto c = parseBootCounter("foobar+4-0.efi", ".efi");
	ASSERT_TRUE(c);
	EXPECT_EQ(nextTryName(*c), "foobar+3-1.efi");
	c = parseBootCounter("foo+bar+2-1.conf", ".conf");
	ASSERT_TRUE(c);
	EXPECT_EQ(c->left, 2);
	EXPECT_EQ(c->done, 1);
	EXPECT_EQ(blessedName(*c), "foo+bar.conf");
	EXPECT_EQ(badName(*c), "foo+bar+0-1.conf");
	/* Case of the suffix is kept, as the file on FAT has it. */
	c = parseBootCounter("Debian+1.EFI", ".efi");
	ASSERT_TRUE(c);
	EXPECT_EQ(nextTryName(*c), "Debian+0-1.EFI");
}

TEST(BootCounter, NotACounter)
{
	for (const char *name : { "foobar.efi", "foobar+.efi", "foobar+a.efi", "foobar+3-.efi", "foobar+-1.efi",
				  "foobar+3-1-2.efi", "foobar+3.conf", "foo+3x.efi", "foobar+99999999999.efi",
				  "foobar+3 .efi" })
		EXPECT_FALSE(parseBootCounter(name, ".efi")) << name;
}

TEST(BootCounter, RenameRefusesToReplace)
{
	const std::string dir = makeTempDir();
	writeBytes(dir + "/a+3.efi", "a");
	writeBytes(dir + "/a+2-1.efi", "other");
	auto r = renameEntryFile(dir, "a+3.efi", "a+2-1.efi");
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::Io);
	EXPECT_NE(r.error().message.find("a+3.efi"), std::string::npos);
	EXPECT_TRUE(std::filesystem::exists(dir + "/a+3.efi"));
	EXPECT_FALSE(renameEntryFile(dir, "../x", "y").ok());
}

TEST(FirmwareState, SnapshotHoldsVolatileLoaderVariablesOnly)
{
	const std::string dir = makeTempDir();
	writeBytes(varPath(dir, "LoaderEntrySelected"), loaderVar(0x6, "a.efi"));
	writeBytes(varPath(dir, "LoaderTimeExecUSec"), loaderVar(0x6, "123"));
	writeBytes(varPath(dir, "LoaderEntryDefault"), loaderVar(0x7, "b.efi")); // NV: the OS writes it
	writeBytes(varPath(dir, "OsIndications", kEfiGlobalGuid), std::string("\x07\0\0\0\0\0\0\0\0\0\0\0", 12));
	LoaderSnapshot s = readLoaderSnapshot(dir);
	EXPECT_EQ(s.digests.size(), 2u);
	EXPECT_TRUE(s.digests.count("LoaderEntrySelected"));
	LoaderSnapshot same = readLoaderSnapshot(dir);
	EXPECT_TRUE(s == same);
	/* A firmware boot sets new times. */
	writeBytes(varPath(dir, "LoaderTimeExecUSec"), loaderVar(0x6, "456"));
	EXPECT_FALSE(s == readLoaderSnapshot(dir));
	auto back = LoaderSnapshot::fromJson(s.toJson());
	ASSERT_TRUE(back.ok());
	EXPECT_TRUE(*back == s);
	EXPECT_FALSE(LoaderSnapshot::fromJson(nlohmann::json{ { "x", 1 } }).ok());
	EXPECT_TRUE(readLoaderSnapshot(dir + "/missing").empty());
}

TEST(FirmwareState, Requests)
{
	const std::string dir = makeTempDir();
	EXPECT_FALSE(readFirmwareRequests(dir, std::nullopt).any());
	writeBytes(varPath(dir, "OsIndications", kEfiGlobalGuid), std::string("\x07\0\0\0\x05\0\0\0\0\0\0\0", 12));
	writeBytes(varPath(dir, "BootNext", kEfiGlobalGuid), std::string("\x07\0\0\0\x03\0", 6));
	writeBytes(varPath(dir, "LoaderEntryOneShot"), loaderVar(0x7, "other.efi"));
	writeBytes(varPath(dir, "LoaderConfigTimeoutOneShot"), loaderVar(0x7, "30"));
	writeBytes(varPath(dir, "LoaderEntryDefault"), loaderVar(0x7, "new.efi"));
	auto r = readFirmwareRequests(dir, std::string("old.efi"));
	ASSERT_EQ(r.reasons.size(), 6u);
	EXPECT_NE(r.reasons[0].find("firmware setup"), std::string::npos);
	EXPECT_NE(r.reasons[1].find("capsule"), std::string::npos);
	EXPECT_NE(r.reasons[2].find("Boot0003"), std::string::npos);
	EXPECT_NE(r.reasons[3].find("other.efi"), std::string::npos);
	EXPECT_NE(r.reasons[5].find("'old.efi' -> 'new.efi'"), std::string::npos);
	/* Unchanged default, other bits of OsIndications: nothing asked. */
	std::filesystem::remove_all(dir);
	writeBytes(varPath(dir, "OsIndications", kEfiGlobalGuid), std::string("\x07\0\0\0\x40\0\0\0\0\0\0\0", 12));
	writeBytes(varPath(dir, "LoaderEntryDefault"), loaderVar(0x7, "new.efi"));
	EXPECT_FALSE(readFirmwareRequests(dir, std::string("new.efi")).any());
}

TEST(FirmwareState, WritesNvVariable)
{
	const std::string dir = makeTempDir();
	writeBytes(varPath(dir, "LoaderEntryLastBooted"), loaderVar(0x7, "a-much-longer-old-entry.efi"));
	ASSERT_TRUE(writeLoaderNvVariable(dir, "LoaderEntryLastBooted", "b.efi").ok());
	EXPECT_EQ(readLoaderVariable(dir, "LoaderEntryLastBooted"), "b.efi");
	std::ifstream in(varPath(dir, "LoaderEntryLastBooted"), std::ios::binary);
	EXPECT_EQ(in.get(), 0x7);
	EXPECT_FALSE(writeLoaderNvVariable(dir, "LoaderEntryLastBooted", "caf\xc3\xa9").ok());
}

class BootOriginTest : public ::testing::Test
{
protected:
	void SetUp() override
	{
		efivars_ = makeTempDir();
		writeBytes(varPath(efivars_, "LoaderEntrySelected"), loaderVar(0x6, "a.efi"));
		writeBytes(varPath(efivars_, "LoaderTimeExecUSec"), loaderVar(0x6, "123"));
		now_.bootId = "boot-2";
		now_.bootTime = "2026-12-07T10:05:00Z";
		now_.cmdline = "root=/dev/vda ro\n";
		now_.loader = readLoaderSnapshot(efivars_);
		now_.entrySelected = "a.efi";
		record_.bootId = "boot-1";
		record_.entry = "b.efi";
		record_.file = "/efi/EFI/Linux/b+2-1.efi";
		record_.countedFrom = "/efi/EFI/Linux/b+3.efi";
		record_.kernelSha256 = std::string(64, 'b');
		record_.cmdline = "root=/dev/vda ro";
		record_.time = "2026-12-07T10:04:00Z";
		record_.firmwareBoot = "2026-12-07T10:00:00Z";
		record_.loader = now_.loader;
	}
	Result<std::optional<KexecRecord>> some() { return std::optional<KexecRecord>(record_); }

	std::string efivars_;
	CurrentBoot now_;
	KexecRecord record_;
};

TEST_F(BootOriginTest, KexecWhenTheLoaderVariablesAreUnchanged)
{
	BootOrigin o = decideBootOrigin(some(), now_);
	EXPECT_EQ(o.via, BootVia::Kexec);
	EXPECT_EQ(o.entry, "b.efi");
	EXPECT_EQ(o.file, "/efi/EFI/Linux/b+2-1.efi");
	EXPECT_TRUE(o.counted);
	EXPECT_EQ(o.firmwareBoot, "2026-12-07T10:00:00Z");
	EXPECT_NE(o.summary().find("firmware boot of 2026-12-07T10:00:00Z"), std::string::npos) << o.summary();
	auto back = BootOrigin::fromJson(o.toJson());
	ASSERT_TRUE(back.ok());
	EXPECT_EQ(back->toJson(), o.toJson());
}

TEST_F(BootOriginTest, FirmwareWhenAFirmwareBootCameBetween)
{
	writeBytes(varPath(efivars_, "LoaderTimeExecUSec"), loaderVar(0x6, "999"));
	now_.loader = readLoaderSnapshot(efivars_);
	BootOrigin o = decideBootOrigin(some(), now_);
	EXPECT_EQ(o.via, BootVia::Firmware);
	EXPECT_EQ(o.entry, "a.efi");
	EXPECT_NE(o.why.find("firmware boot came between"), std::string::npos);
}

TEST_F(BootOriginTest, FirmwareWithoutARecordOrWithThisBootsOwn)
{
	EXPECT_EQ(decideBootOrigin(std::optional<KexecRecord>(), now_).via, BootVia::Firmware);
	record_.bootId = "boot-2";
	EXPECT_EQ(decideBootOrigin(some(), now_).via, BootVia::Firmware);
	Result<std::optional<KexecRecord>> broken = makeError(Code::InvalidArgument, "not JSON");
	BootOrigin o = decideBootOrigin(broken, now_);
	EXPECT_EQ(o.via, BootVia::Firmware);
	EXPECT_NE(o.why.find("not JSON"), std::string::npos);
}

TEST_F(BootOriginTest, WithoutLoaderVariablesTheCommandLineDecides)
{
	record_.loader = {};
	now_.loader = {};
	EXPECT_EQ(decideBootOrigin(some(), now_).via, BootVia::Kexec);
	now_.cmdline = "root=/dev/vda ro quiet";
	EXPECT_EQ(decideBootOrigin(some(), now_).via, BootVia::Firmware);
}

TEST_F(BootOriginTest, CorruptAndForeignRecords)
{
	const std::string dir = makeTempDir();
	const std::string path = dir + "/last-kexec.json";
	auto proc = dir + "/proc";
	writeBytes(proc + "/sys/kernel/random/boot_id", "boot-2\n");
	writeBytes(proc + "/cmdline", "root=/dev/vda ro\n");
	for (const char *text : { "{", "[]", R"({"format":"other/1"})",
				  R"({"format":"kexecd-kexec-record/1","boot_id":"x"})",
				  R"({"format":"kexecd-kexec-record/1","boot_id":"x","kernel_sha256":"y","loader_variables":{"a":"short"}})" }) {
		writeBytes(path, text);
		std::filesystem::remove(dir + "/booted.json");
		BootOrigin o = establishBootOrigin(path, dir + "/booted.json", proc, efivars_);
		EXPECT_EQ(o.via, BootVia::Firmware) << text;
		EXPECT_NE(o.why.find("cannot be used"), std::string::npos) << text << ": " << o.why;
	}
	/* A good one, and the decision kept for the boot. */
	ASSERT_TRUE(StateFile(path).write(record_.toJson()).ok());
	std::filesystem::remove(dir + "/booted.json");
	EXPECT_EQ(establishBootOrigin(path, dir + "/booted.json", proc, efivars_).via, BootVia::Kexec);
	std::filesystem::remove(path);
	EXPECT_EQ(establishBootOrigin(path, dir + "/booted.json", proc, efivars_).via, BootVia::Kexec);
}

class CountingTest : public ::testing::Test
{
protected:
	void SetUp() override
	{
		esp_ = makeTempDir();
		writeBytes(esp_ + "/EFI/Linux/deb+3.efi", "uki");
		staged_ = { { "discovery", { { "id", "deb.efi" } } },
			    { "uki", { { "path", esp_ + "/EFI/Linux/deb+3.efi" } } } };
	}
	std::string esp_;
	nlohmann::json staged_;
};

TEST_F(CountingTest, EmulateTakesATryAndGivesItBack)
{
	CountingPreview p = previewCounting(staged_, BootCounting::Emulate);
	ASSERT_TRUE(p.counted()) << p.note;
	EXPECT_EQ(p.toJson().at("renamed_to"), esp_ + "/EFI/Linux/deb+2-1.efi");
	ASSERT_TRUE(takeTry(p).ok());
	EXPECT_TRUE(std::filesystem::exists(esp_ + "/EFI/Linux/deb+2-1.efi"));
	ASSERT_TRUE(giveTryBack(p).ok());
	EXPECT_TRUE(std::filesystem::exists(esp_ + "/EFI/Linux/deb+3.efi"));
}

TEST_F(CountingTest, RefuseIgnoreAndNotCounted)
{
	CountingPreview refuse = previewCounting(staged_, BootCounting::Refuse);
	EXPECT_FALSE(refuse.refusal.empty());
	EXPECT_FALSE(refuse.counted());
	CountingPreview ignore = previewCounting(staged_, BootCounting::Ignore);
	EXPECT_TRUE(ignore.refusal.empty());
	EXPECT_FALSE(ignore.counted());
	/* Staged by fd: kexecd never renames a caller's file. */
	nlohmann::json byFd = { { "uki", { { "path", esp_ + "/EFI/Linux/deb+3.efi" } } } };
	EXPECT_FALSE(previewCounting(byFd, BootCounting::Emulate).counted());
	/* Type #1: the .conf carries the counter. */
	writeBytes(esp_ + "/loader/entries/t1+1-2.conf", "title x");
	nlohmann::json type1 = { { "discovery", { { "id", "t1.conf" }, { "entry_file", esp_ + "/loader/entries/t1+1-2.conf" } } },
				 { "uki", { { "path", esp_ + "/EFI/Linux/plain.efi" } } } };
	CountingPreview t1 = previewCounting(type1, BootCounting::Emulate);
	EXPECT_EQ(t1.renamedTo, "t1+0-3.conf");
}

TEST_F(CountingTest, RenamedBehindKexecdsBackIsRefused)
{
	std::filesystem::rename(esp_ + "/EFI/Linux/deb+3.efi", esp_ + "/EFI/Linux/deb+2-1.efi");
	CountingPreview p = previewCounting(staged_, BootCounting::Emulate);
	EXPECT_FALSE(p.counted());
	EXPECT_NE(p.refusal.find("renamed or removed"), std::string::npos);
}

TEST_F(CountingTest, BlessGoodAndBad)
{
	BootOrigin o;
	o.via = BootVia::Kexec;
	o.entry = "deb.efi";
	o.file = esp_ + "/EFI/Linux/deb+2-1.efi";
	o.counted = true;
	std::filesystem::rename(esp_ + "/EFI/Linux/deb+3.efi", o.file);
	auto good = blessKexecBoot(o, BootVerdict::Good);
	ASSERT_TRUE(good.ok()) << good.error().message;
	EXPECT_TRUE(std::filesystem::exists(esp_ + "/EFI/Linux/deb.efi"));
	/* Twice: already done, not an error. */
	EXPECT_TRUE(blessKexecBoot(o, BootVerdict::Good).ok());
	std::filesystem::rename(esp_ + "/EFI/Linux/deb.efi", o.file);
	ASSERT_TRUE(blessKexecBoot(o, BootVerdict::Bad).ok());
	EXPECT_TRUE(std::filesystem::exists(esp_ + "/EFI/Linux/deb+0-1.efi"));
	std::filesystem::remove(esp_ + "/EFI/Linux/deb+0-1.efi");
	auto gone = blessKexecBoot(o, BootVerdict::Good);
	ASSERT_FALSE(gone.ok());
	EXPECT_NE(gone.error().message.find("cannot find the boot counter source file"), std::string::npos);
	o.via = BootVia::Firmware;
	EXPECT_TRUE(blessKexecBoot(o, BootVerdict::Good).ok());
}

/* "default @saved": a kexec boot must update LoaderEntryLastBooted as
 * systemd-boot does at a firmware boot (kexecd-bless-boot detect). */
TEST(FirmwareState, DefaultIsSaved)
{
	const std::string esp = makeTempDir();
	const std::string efivars = makeTempDir();
	DiscoveryPaths paths;
	paths.esp = esp;
	paths.efivarsDir = efivars;
	paths.espCandidates.clear();
	paths.xbootldrCandidates.clear();
	writeBytes(esp + "/loader/loader.conf", "timeout 0\ndefault @saved\n");
	EXPECT_TRUE(defaultIsSaved(paths));
	writeBytes(esp + "/loader/loader.conf", "default debian-*\n");
	EXPECT_FALSE(defaultIsSaved(paths));
	/* LoaderEntryDefault wins over loader.conf, as in systemd-boot. */
	writeBytes(varPath(efivars, "LoaderEntryDefault"), loaderVar(0x7, "@saved"));
	EXPECT_TRUE(defaultIsSaved(paths));
}

/* A try that cannot be taken stops the kexec by name (never a kexec into
 * an entry whose counter was not taken). */
TEST_F(CountingTest, ARenameThatFailsIsABootAssessmentError)
{
	CountingPreview p = previewCounting(staged_, BootCounting::Emulate);
	ASSERT_TRUE(p.counted());
	writeBytes(esp_ + "/EFI/Linux/deb+2-1.efi", "someone else's");
	auto r = takeTry(p);
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::BootAssessment);
	EXPECT_NE(r.error().message.find("deb+3.efi"), std::string::npos) << r.error().message;
	EXPECT_TRUE(std::filesystem::exists(esp_ + "/EFI/Linux/deb+3.efi"));
}

/* The firmware boot's own try, still untaken back by systemd-bless-boot,
 * is named in the plan. */
TEST_F(CountingTest, FirmwareBootStillIndeterminate)
{
	const std::string efivars = makeTempDir();
	writeBytes(varPath(efivars, "LoaderBootCountPath"), loaderVar(0x6, "\\EFI\\Linux\\deb+3.efi"));
	BootOrigin firmware;
	EXPECT_NE(firmwareBootCountingNote(firmware, efivars, esp_).find("not blessed yet"), std::string::npos);
	BootOrigin kexec;
	kexec.via = BootVia::Kexec;
	EXPECT_EQ(firmwareBootCountingNote(kexec, efivars, esp_), "");
	std::filesystem::rename(esp_ + "/EFI/Linux/deb+3.efi", esp_ + "/EFI/Linux/deb.efi");
	EXPECT_EQ(firmwareBootCountingNote(firmware, efivars, esp_), "");
}

} // namespace
