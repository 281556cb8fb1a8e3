// SPDX-License-Identifier: LGPL-2.1-or-later
// Issue 27's unlock check: crypttab, LUKS2 systemd-tpm2 tokens read from
// real headers (made by cryptsetup luksFormat + token import at test time,
// luks2_fixtures.py), the PolicyPCR arithmetic against tpm2-tools, and the
// verdict for each kind of volume with a fake TPM sysfs and efivars.
// Exits 77 when cryptsetup is missing (after the tests that need none).

#include "unlock_check.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>

#include <gtest/gtest.h>

#include "test_util.h"

namespace kexecd {
namespace {

namespace fs = std::filesystem;

void put(const std::string &path, const std::string &content)
{
	fs::create_directories(fs::path(path).parent_path());
	std::ofstream(path, std::ios::binary) << content;
}

TpmDigest bytes(uint8_t value, size_t n = 32)
{
	return TpmDigest(n, value);
}

/* ---- crypttab ---------------------------------------------------------- */

TEST(Crypttab, FieldsDevicesAndOptions)
{
	auto tab = parseCrypttab("# comment\n"
				 "\n"
				 "root UUID=0F1E2D3C-4b5a-4978-8695-a4b3c2d1e0f9 none tpm2-device=auto,tpm2-pcrs=7+11,discard\n"
				 "  swap PARTUUID=abc /dev/urandom swap,cipher=aes-xts-plain64\n"
				 "data LABEL=data - noauto,nofail,headless,tpm2-signature=/run/sig.json,tpm2-pcrlock=/var/lib/p.json\n"
				 "home /dev/sda3\n"
				 "m PARTLABEL=x none tpm2-measure-pcr=yes\n");
	ASSERT_EQ(tab.entries.size(), 5u);
	const auto &root = tab.entries[0];
	EXPECT_EQ(root.error, "");
	EXPECT_EQ(root.line, 3u);
	EXPECT_EQ(root.volume, "root");
	EXPECT_EQ(root.deviceKind, CrypttabDevice::Uuid);
	EXPECT_EQ(crypttabDevicePath(root), "/dev/disk/by-uuid/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
	EXPECT_EQ(root.keyFile, "");
	EXPECT_EQ(root.tpm2Device, "auto");
	EXPECT_EQ(root.tpm2Pcrs, "7+11");
	EXPECT_EQ(root.options.size(), 3u);
	EXPECT_FALSE(root.noauto);

	EXPECT_EQ(tab.entries[1].keyFile, "/dev/urandom");
	EXPECT_EQ(crypttabDevicePath(tab.entries[1]), "/dev/disk/by-partuuid/abc");

	const auto &data = tab.entries[2];
	EXPECT_EQ(data.keyFile, "");
	EXPECT_TRUE(data.noauto);
	EXPECT_TRUE(data.nofail);
	EXPECT_TRUE(data.headless);
	EXPECT_EQ(data.tpm2Signature, "/run/sig.json");
	EXPECT_EQ(data.tpm2Pcrlock, "/var/lib/p.json");
	EXPECT_EQ(crypttabDevicePath(data), "/dev/disk/by-label/data");

	EXPECT_EQ(tab.entries[3].deviceKind, CrypttabDevice::Path);
	EXPECT_EQ(crypttabDevicePath(tab.entries[3]), "/dev/sda3");
	EXPECT_TRUE(tab.entries[4].tpm2MeasurePcr);
	EXPECT_EQ(crypttabDevicePath(tab.entries[4]), "/dev/disk/by-partlabel/x");
}

TEST(Crypttab, MalformedLinesBecomeEntriesWithAnError)
{
	std::string text = "lonely\n"
			   "a b c d e\n"
			   "rel relative/path\n"
			   "../x /dev/sda1\n"
			   "u UUID=\n"
			   "l LABEL=../../etc\n"
			   "bad\xff /dev/sda1\n"
			   "h /dev/sda1 none headless=maybe\n"
			   "ok /dev/sda2\n";
	text += "long /dev/" + std::string(5000, 'x') + "\n";
	auto tab = parseCrypttab(text);
	ASSERT_EQ(tab.entries.size(), 10u);
	for (size_t i = 0; i < tab.entries.size(); i++) {
		if (i == 8)
			EXPECT_EQ(tab.entries[i].error, "") << i;
		else
			EXPECT_NE(tab.entries[i].error, "") << "entry " << i << " line " << tab.entries[i].line;
	}
	EXPECT_EQ(tab.entries[0].volume, "lonely");
	EXPECT_EQ(tab.entries[9].line, 10u);
	EXPECT_NE(tab.entries[9].error.find("4096"), std::string::npos);
}

TEST(Crypttab, LimitsEndInOneErrorEntry)
{
	CrypttabLimits limits;
	limits.maxLines = 3;
	auto tab = parseCrypttab("a /dev/a\nb /dev/b\nc /dev/c\nd /dev/d\ne /dev/e\n", limits);
	ASSERT_EQ(tab.entries.size(), 4u);
	EXPECT_NE(tab.entries[3].error.find("more than 3 lines"), std::string::npos);

	limits = {};
	limits.maxEntries = 1;
	tab = parseCrypttab("a /dev/a\nb /dev/b\n", limits);
	ASSERT_EQ(tab.entries.size(), 2u);
	EXPECT_NE(tab.entries[1].error.find("more than 1 volumes"), std::string::npos);

	limits = {};
	limits.maxFileSize = 8;
	tab = parseCrypttab("a /dev/a\nb /dev/b\n", limits);
	ASSERT_EQ(tab.entries.size(), 1u);
	EXPECT_NE(tab.entries[0].error, "");

	std::string dir = test::makeTempDir();
	put(dir + "/big", std::string(100, '#'));
	auto r = readCrypttab(dir + "/big", limits);
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::InvalidArgument);
	auto missing = readCrypttab(dir + "/none");
	ASSERT_TRUE(missing.ok());
	EXPECT_TRUE(missing->entries.empty());
	auto notFile = readCrypttab(dir);
	EXPECT_FALSE(notFile.ok());
}

/* ---- PolicyPCR arithmetic ---------------------------------------------- */

/* Reference digests from tpm2-tools 5.4 against swtpm 0.7 (a trial session,
 * sha256): tpm2_startauthsession -S s.ctx; tpm2_policypcr -S s.ctx
 * -l BANK:PCRS -f VALUES -L out; tpm2_policyauthvalue -S s.ctx -L out.
 * VALUES holds each PCR's value in index order. */
TEST(PcrPolicy, MatchesTpm2Tools)
{
	auto hex = [](const std::optional<TpmDigest> &d) { return d ? tpmHex(*d) : std::string("(none)"); };
	EXPECT_EQ(hex(policyPcr(policyStart(), PcrBank::Sha256, { { 7, bytes(0x07) } })),
		  "558849a0429135265c3dd6805ac252c2eca1ee7604742129c96f58d8821c2a89");
	EXPECT_EQ(hex(policyPcr(policyStart(), PcrBank::Sha256, { { 11, bytes(0x11) }, { 7, bytes(0x07) } })),
		  "d3b99bee68c103afc79176410f642fd263d3772f12d2a937717fbcc2535afcc8");
	EXPECT_EQ(hex(policyPcr(policyStart(), PcrBank::Sha256, { { 7, bytes(0x07) }, { 15, bytes(0) } })),
		  "87a4b1b1b243ba2c78f91ac98e2bc87830b02cd20ec4228dedecac9f78303527");
	EXPECT_EQ(hex(policyPcr(policyStart(), PcrBank::Sha1, { { 7, bytes(0x07, 20) } })),
		  "bcdda7c4d2bad8c72e26230643ef3a83ee90abbb66f5b0d090180d55fcaee293");
	EXPECT_EQ(tpmHex(policyAuthValue(policyStart())),
		  "8fcd2169ab92694e0c633f1ab772842b8241bbc20288981fc7ac1eddc1fddb0e");
	auto pcr7 = policyPcr(policyStart(), PcrBank::Sha256, { { 7, bytes(0x07) } });
	ASSERT_TRUE(pcr7);
	EXPECT_EQ(tpmHex(policyAuthValue(*pcr7)), "ae1f75f5556533825cf586210ad5850f533a6f0599a9da7aa58e5f45d1c40c53");

	EXPECT_FALSE(policyPcr(policyStart(), PcrBank::Sha256, { { 24, bytes(0) } }));
	EXPECT_FALSE(policyPcr(policyStart(), PcrBank::Sha256, { { 7, bytes(0, 20) } }));
	EXPECT_FALSE(policyPcr(policyStart(), PcrBank::Sha256, { { 7, bytes(0) }, { 7, bytes(0) } }));
}

TEST(PcrPolicy, ExtendAndPcr11Prediction)
{
	/* PCR_Extend from zero by SHA-256("enter-initrd"), by hand with sha256sum:
	 * printf enter-initrd | sha256sum, then (32 zero bytes || that) | sha256sum. */
	TpmDigest zero = bytes(0);
	EXPECT_EQ(tpmHex(pcrExtendWord(PcrBank::Sha256, zero, "enter-initrd")),
		  tpmHex(pcrExtend(PcrBank::Sha256, zero,
				   tpmHash(PcrBank::Sha256, std::span(reinterpret_cast<const uint8_t *>("enter-initrd"), 12)))));
	EXPECT_EQ(predictPcr11(PcrBank::Sha256, bytes(0x0b), false), bytes(0x0b));
	TpmDigest expected = bytes(0x0b);
	for (const char *w : { "shutdown", "final", "enter-initrd" })
		expected = pcrExtendWord(PcrBank::Sha256, expected, w);
	EXPECT_EQ(predictPcr11(PcrBank::Sha256, bytes(0x0b), true), expected);
}

TEST(PcrPolicy, SysfsValues)
{
	std::string dir = test::makeTempDir();
	put(dir + "/pcr-sha256/7", std::string(64, 'A') + "\n");
	put(dir + "/pcr-sha256/8", "zz\n");
	put(dir + "/pcr-sha1/7", std::string(40, '0') + "\n");
	EXPECT_EQ(readSysfsPcr(dir, PcrBank::Sha256, 7), bytes(0xaa));
	EXPECT_FALSE(readSysfsPcr(dir, PcrBank::Sha256, 8));
	EXPECT_FALSE(readSysfsPcr(dir, PcrBank::Sha256, 9));
	EXPECT_EQ(readSysfsPcr(dir, PcrBank::Sha1, 7), bytes(0, 20));
}

/* ---- token JSON ---------------------------------------------------------- */

TEST(Tpm2Token, ParsesSystemdFields)
{
	auto t = parseTpm2TokenJson(3, R"({"type":"systemd-tpm2","keyslots":["1"],"tpm2-blob":"AA==","tpm2-pcrs":[11,7,7],
		"tpm2-pcr-bank":"sha1","tpm2-policy-hash":")" + std::string(64, 'f') + R"(","tpm2-pin":true,
		"tpm2_pcrlock":false,"tpm2_pubkey":"QUJD","tpm2_pubkey_pcrs":[11]})");
	EXPECT_EQ(t.error, "");
	EXPECT_EQ(t.id, 3);
	EXPECT_EQ(t.keyslots, std::vector<int>{ 1 });
	EXPECT_EQ(t.pcrs, (std::vector<unsigned>{ 7, 11 }));
	EXPECT_EQ(t.bank, PcrBank::Sha1);
	EXPECT_EQ(t.policyHash, bytes(0xff));
	EXPECT_TRUE(t.pin);
	EXPECT_TRUE(t.hasPubkey);
	EXPECT_EQ(t.pubkeyPcrs, std::vector<unsigned>{ 11 });
}

TEST(Tpm2Token, BrokenJsonIsAnError)
{
	for (const char *json : {
		     "not json",
		     "[]",
		     R"({"keyslots":["0"],"tpm2-blob":"AA=="})",
		     R"({"keyslots":[0],"tpm2-blob":"AA==","tpm2-pcrs":[7]})",
		     R"({"keyslots":["0"],"tpm2-blob":"AA==","tpm2-pcrs":[24]})",
		     R"({"keyslots":["0"],"tpm2-blob":"AA==","tpm2-pcrs":[-1]})",
		     R"({"keyslots":["0"],"tpm2-blob":"AA==","tpm2-pcrs":[7],"tpm2-pcr-bank":"md5"})",
		     R"({"keyslots":["0"],"tpm2-blob":"AA==","tpm2-pcrs":[7],"tpm2-policy-hash":"abc"})",
		     R"({"keyslots":["0"],"tpm2-blob":"AA==","tpm2-pcrs":[7],"tpm2-pin":"no"})",
		     R"({"keyslots":["0"],"tpm2-blob":"AA==","tpm2-pcrs":[7],"tpm2_pubkey_pcrs":[11]})",
	     })
		EXPECT_NE(parseTpm2TokenJson(0, json).error, "") << json;
}

/* ---- decisions without headers ------------------------------------------ */

VolumeFacts volumeWith(const std::vector<Tpm2Token> &tokens, const std::string &options = "")
{
	VolumeFacts v;
	v.entry = parseCrypttab("vol /dev/vda2 none " + options + "\n").entries.at(0);
	v.device = "/dev/vda2";
	v.luks = Luks2Facts{};
	v.luks->tpm2 = tokens;
	v.luks->activeKeyslots = { 0, 1 };
	v.luks->freeKeyslots = { 1 };
	return v;
}

Tpm2Token tokenOn(std::vector<unsigned> pcrs)
{
	Tpm2Token t;
	t.id = 0;
	t.keyslots = { 0 };
	t.pcrs = std::move(pcrs);
	return t;
}

TEST(DecideUnlock, RulesWithoutAPolicyHash)
{
	BootFacts boot;
	struct Case {
		std::vector<unsigned> pcrs;
		UnlockVerdict verdict;
		std::optional<unsigned> pcr;
	} cases[] = {
		{ {}, UnlockVerdict::Unlocks, std::nullopt },
		{ { 7 }, UnlockVerdict::Unlocks, 7 },
		{ { 0, 2, 7 }, UnlockVerdict::Unlocks, 7 },
		{ { 7, 11 }, UnlockVerdict::NeedsPassphrase, 11 },
		{ { 4, 7 }, UnlockVerdict::NeedsPassphrase, 4 },
		{ { 12 }, UnlockVerdict::NeedsPassphrase, 12 },
		{ { 13 }, UnlockVerdict::NeedsPassphrase, 13 },
		{ { 4, 11, 12 }, UnlockVerdict::NeedsPassphrase, 11 },
		{ { 7, 15 }, UnlockVerdict::NeedsPassphrase, 15 }, // today's PCR 15 unknown
		{ { 10 }, UnlockVerdict::Unknown, 10 },
		{ { 7, 16 }, UnlockVerdict::Unknown, 16 },
	};
	for (const auto &c : cases) {
		auto a = decideUnlock({ volumeWith({ tokenOn(c.pcrs) }) }, boot).at(0);
		EXPECT_EQ(unlockVerdictName(a.verdict), std::string(unlockVerdictName(c.verdict))) << a.reason;
		EXPECT_EQ(a.decidingPcr, c.pcr) << a.reason;
		if (c.pcr && c.verdict != UnlockVerdict::Unlocks) {
			EXPECT_NE(a.reason.find("PCR " + std::to_string(*c.pcr)), std::string::npos) << a.reason;
		}
	}
	/* PCR 15 known to be zero today: nothing measured, a kexec keeps zero. */
	boot.pcrs[PcrBank::Sha256][15] = bytes(0);
	EXPECT_EQ(decideUnlock({ volumeWith({ tokenOn({ 7, 15 }) }) }, boot).at(0).verdict, UnlockVerdict::Unlocks);
}

TEST(DecideUnlock, ExactPredictionNamesTheDecidingPcr)
{
	BootFacts boot;
	for (unsigned i = 0; i < 24; i++)
		boot.pcrs[PcrBank::Sha256][i] = bytes(static_cast<uint8_t>(i));
	auto sealed = [](std::vector<std::pair<unsigned, TpmDigest>> values) {
		Tpm2Token t;
		t.id = 0;
		t.keyslots = { 0 };
		for (const auto &[pcr, value] : values)
			t.pcrs.push_back(pcr);
		std::sort(t.pcrs.begin(), t.pcrs.end());
		t.policyHash = *policyPcr(policyStart(), PcrBank::Sha256, values);
		return t;
	};
	/* Sealed to today's PCR 4: a kexec keeps it, so the exact check says
	 * unlocks where the rule alone would have said otherwise. */
	auto a = decideUnlock({ volumeWith({ sealed({ { 4, bytes(4) } }) }) }, boot).at(0);
	EXPECT_EQ(a.verdict, UnlockVerdict::Unlocks) << a.reason;
	/* Sealed to another PCR 4 (a firmware boot of the next UKI). */
	a = decideUnlock({ volumeWith({ sealed({ { 4, bytes(0x44) }, { 7, bytes(7) } }) }) }, boot).at(0);
	EXPECT_EQ(a.verdict, UnlockVerdict::NeedsPassphrase);
	EXPECT_EQ(a.decidingPcr, 4u);
	/* PCR 15 sealed to zero while today's is not. */
	a = decideUnlock({ volumeWith({ sealed({ { 7, bytes(7) }, { 15, bytes(0) } }) }) }, boot).at(0);
	EXPECT_EQ(a.verdict, UnlockVerdict::NeedsPassphrase);
	EXPECT_EQ(a.decidingPcr, 15u);
	EXPECT_NE(a.reason.find("PCR 15 must be zero"), std::string::npos) << a.reason;
	/* A PIN: a person anyway, not held against a kexec. */
	auto pin = sealed({ { 7, bytes(7) } });
	pin.pin = true;
	a = decideUnlock({ volumeWith({ pin }) }, boot).at(0);
	EXPECT_EQ(a.verdict, UnlockVerdict::NeedsPassphraseAnyway);
	EXPECT_FALSE(blocksKexec(a.verdict));
	/* headless is said; a lockout with no free keyslot is said. */
	auto locked = volumeWith({ sealed({ { 4, bytes(0x44) } }) }, "headless");
	locked.luks->freeKeyslots.clear();
	a = decideUnlock({ locked }, boot).at(0);
	EXPECT_NE(a.reason.find("headless"), std::string::npos) << a.reason;
	EXPECT_NE(a.reason.find("no passphrase unlocks it either"), std::string::npos) << a.reason;
}

TEST(DecideUnlock, MalformedLineAndKeyFile)
{
	BootFacts boot;
	VolumeFacts bad;
	bad.entry = parseCrypttab("x\n").entries.at(0);
	auto a = decideUnlock({ bad }, boot).at(0);
	EXPECT_EQ(a.verdict, UnlockVerdict::Unknown);
	EXPECT_TRUE(blocksKexec(a.verdict));
	EXPECT_NE(a.reason.find("crypttab line 1"), std::string::npos);

	VolumeFacts keyed = volumeWith({ tokenOn({ 11 }) });
	keyed.entry.keyFile = "/etc/keys/vol.key";
	EXPECT_EQ(decideUnlock({ keyed }, boot).at(0).verdict, UnlockVerdict::Unlocks);
}

/* ---- real LUKS2 headers -------------------------------------------------- */

class RealHeaders : public ::testing::Test
{
public:
	static void SetUpTestSuite()
	{
		root_ = test::makeTempDir();
		const char *script = std::getenv("KEXECD_LUKS2_FIXTURES");
		if (!script) {
			problem_ = "KEXECD_LUKS2_FIXTURES is not set (run through meson test)";
			return;
		}
		std::string out;
		int rc = test::runProgram({ "python3", script, root_ + "/img" }, &out);
		if (rc == 77)
			problem_ = "cryptsetup is missing: " + out;
		else if (rc != 0)
			failure_ = "luks2_fixtures.py failed (" + std::to_string(rc) + "): " + out;
		if (!problem_.empty() || !failure_.empty())
			return;
		/* The fake machine around the images. */
		for (unsigned i = 0; i < 24; i++) {
			char hex[65];
			for (int k = 0; k < 32; k++)
				std::snprintf(hex + 2 * k, 3, "%02X", i);
			put(root_ + "/sys/tpm0/pcr-sha256/" + std::to_string(i), std::string(hex) + "\n");
		}
		fs::create_directories(root_ + "/efivars");
		fs::create_directories(root_ + "/dev/disk/by-uuid");
		fs::create_directories(root_ + "/dev/disk/by-partuuid");
		fs::create_directories(root_ + "/dev/disk/by-label");
		fs::create_symlink("../../../img/pcr7.img", root_ + "/dev/disk/by-uuid/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
		/* Absolute links resolve inside the root, as they would in /. */
		fs::create_symlink("/img/signed11.img", root_ + "/dev/disk/by-partuuid/1234");
		fs::create_symlink("/../../../../etc/hostname", root_ + "/dev/disk/by-label/escape");
		::mkfifo((root_ + "/img/fifo").c_str(), 0600);
		fs::create_directories(root_ + "/img/dir");
		put(root_ + "/img/plain", std::string(1 << 20, '\0'));
	}

	void SetUp() override
	{
		if (!failure_.empty())
			FAIL() << failure_;
		if (!problem_.empty())
			GTEST_SKIP() << problem_;
	}

	static const std::string &problem() { return problem_; }

protected:
	UnlockPaths paths(const std::string &crypttab) const
	{
		UnlockPaths p;
		p.crypttab = root_ + "/crypttab";
		put(p.crypttab, crypttab);
		p.devRoot = root_;
		p.efivarsDir = root_ + "/efivars";
		p.tpmDir = root_ + "/sys/tpm0";
		return p;
	}

	void setMeasuredUki(bool on) const
	{
		const std::string var = root_ + "/efivars/StubPcrKernelImage-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";
		if (on)
			put(var, std::string("\x06\0\0\0\x0b\0\0\0", 8));
		else
			fs::remove(var);
	}

	/* One volume on one device: its assessment. */
	VolumeAssessment one(const std::string &device, const std::string &options = "none") const
	{
		auto list = checkUnlock(paths("vol " + device + " " + options + "\n"), true, true);
		EXPECT_EQ(list.size(), 1u);
		return list.empty() ? VolumeAssessment{} : list[0];
	}

	static std::string root_;
	static std::string problem_;
	static std::string failure_;
};

std::string RealHeaders::root_;
std::string RealHeaders::problem_;
std::string RealHeaders::failure_;

#define EXPECT_VERDICT(a, v) EXPECT_STREQ(unlockVerdictName((a).verdict), unlockVerdictName(v)) << (a).reason

TEST_F(RealHeaders, TokensAsLibcryptsetupReadsThem)
{
	auto facts = readLuks2Facts(root_, "/img/two-tokens.img");
	ASSERT_TRUE(facts.ok()) << facts.error().message;
	ASSERT_EQ(facts->tpm2.size(), 2u);
	EXPECT_EQ(facts->tpm2[0].error, "");
	EXPECT_TRUE(facts->tpm2[0].hasPubkey);
	EXPECT_EQ(facts->tpm2[0].pubkeyPcrs, std::vector<unsigned>{ 11 });
	EXPECT_EQ(facts->tpm2[1].pcrs, std::vector<unsigned>{ 7 });
	EXPECT_EQ(facts->tpm2[0].keyslots, std::vector<int>{ 1 });
	EXPECT_EQ(facts->tpm2[1].keyslots, std::vector<int>{ 2 });
	EXPECT_EQ(facts->activeKeyslots, (std::vector<int>{ 0, 1, 2 }));
	EXPECT_EQ(facts->freeKeyslots, std::vector<int>{ 0 });

	/* The token holds the only keyslot: nothing a person could type. */
	facts = readLuks2Facts(root_, "/img/pcr12-nohash.img");
	ASSERT_TRUE(facts.ok()) << facts.error().message;
	EXPECT_EQ(facts->activeKeyslots, std::vector<int>{ 0 });
	EXPECT_TRUE(facts->freeKeyslots.empty());

	facts = readLuks2Facts(root_, "/img/passphrase.img");
	ASSERT_TRUE(facts.ok()) << facts.error().message;
	EXPECT_TRUE(facts->tpm2.empty());
	EXPECT_EQ(facts->freeKeyslots, std::vector<int>{ 0 });

	/* The policy hash systemd's format carries is tpm2_policypcr's digest. */
	facts = readLuks2Facts(root_, "/img/pcr7.img");
	ASSERT_TRUE(facts.ok()) << facts.error().message;
	ASSERT_EQ(facts->tpm2.size(), 1u);
	ASSERT_TRUE(facts->tpm2[0].policyHash);
	EXPECT_EQ(tpmHex(*facts->tpm2[0].policyHash), "558849a0429135265c3dd6805ac252c2eca1ee7604742129c96f58d8821c2a89");
}

TEST_F(RealHeaders, Pcr7OnlyUnlocks)
{
	auto a = one("/img/pcr7.img");
	EXPECT_VERDICT(a, UnlockVerdict::Unlocks);
	EXPECT_TRUE(a.unlocksAfterKexec());
	EXPECT_EQ(a.pcrs, std::vector<unsigned>{ 7 });
	EXPECT_EQ(a.decidingPcr, 7u);
	EXPECT_NE(a.reason.find("equals its tpm2-policy-hash"), std::string::npos) << a.reason;
}

TEST_F(RealHeaders, Pcr7SealedToOtherValuesNeedsPassphrase)
{
	auto a = one("/img/pcr7-other.img");
	EXPECT_VERDICT(a, UnlockVerdict::NeedsPassphrase);
	EXPECT_EQ(a.decidingPcr, 7u);
}

TEST_F(RealHeaders, SignedPcr11NeedsPassphrase)
{
	for (bool measured : { false, true }) {
		setMeasuredUki(measured);
		auto a = one("/img/signed11.img");
		EXPECT_VERDICT(a, UnlockVerdict::NeedsPassphrase);
		EXPECT_EQ(a.decidingPcr, 11u);
		EXPECT_EQ(a.signedPolicyPcrs, std::vector<unsigned>{ 11 });
		EXPECT_NE(a.reason.find("PCR 11"), std::string::npos) << a.reason;
		EXPECT_FALSE(a.unlocksAfterKexec());
	}
	setMeasuredUki(false);
}

TEST_F(RealHeaders, PcrlockNeedsPassphrase)
{
	auto a = one("/img/pcrlock.img");
	EXPECT_VERDICT(a, UnlockVerdict::NeedsPassphrase);
	EXPECT_TRUE(a.pcrlock);
	EXPECT_EQ(a.decidingPcr, 11u);
	EXPECT_NE(a.reason.find("pcrlock"), std::string::npos) << a.reason;
}

TEST_F(RealHeaders, Pcr15SealedToZero)
{
	auto a = one("/img/pcr15-zero.img");
	EXPECT_VERDICT(a, UnlockVerdict::NeedsPassphrase);
	EXPECT_EQ(a.decidingPcr, 15u);
	/* A boot that measured nothing into PCR 15: the digest matches. */
	auto p = paths("vol /img/pcr15-zero.img\n");
	p.tpmDir = root_ + "/sys/tpm0-zero15";
	fs::remove_all(p.tpmDir);
	fs::create_directories(p.tpmDir);
	fs::copy(root_ + "/sys/tpm0/pcr-sha256", p.tpmDir + "/pcr-sha256");
	put(p.tpmDir + "/pcr-sha256/15", std::string(64, '0') + "\n");
	auto list = checkUnlock(p, false, false);
	ASSERT_EQ(list.size(), 1u);
	EXPECT_VERDICT(list[0], UnlockVerdict::Unlocks);
}

TEST_F(RealHeaders, Pcr11PredictedThroughThePhases)
{
	/* Sealed to today's PCR 11 extended by shutdown, final, enter-initrd:
	 * matches only when systemd measures the phases (a measured UKI). */
	setMeasuredUki(true);
	auto a = one("/img/pcr11-predicted.img");
	EXPECT_VERDICT(a, UnlockVerdict::Unlocks);
	setMeasuredUki(false);
	a = one("/img/pcr11-predicted.img");
	EXPECT_VERDICT(a, UnlockVerdict::NeedsPassphrase);
	EXPECT_EQ(a.decidingPcr, 11u);
}

TEST_F(RealHeaders, Pcr4SealedTodayAndPcr12WithoutHash)
{
	EXPECT_VERDICT(one("/img/pcr4-today.img"), UnlockVerdict::Unlocks);
	auto a = one("/img/pcr12-nohash.img");
	EXPECT_VERDICT(a, UnlockVerdict::NeedsPassphrase);
	EXPECT_EQ(a.decidingPcr, 12u);
	EXPECT_NE(a.reason.find("no passphrase unlocks it either"), std::string::npos) << a.reason;
	EXPECT_EQ(one("/img/pcr7-other.img").reason.find("no passphrase"), std::string::npos);
}

TEST_F(RealHeaders, PinPassphraseAndFido2NeedAPersonAnyway)
{
	for (const char *img : { "/img/pin.img", "/img/passphrase.img", "/img/fido2.img" }) {
		auto a = one(img);
		EXPECT_VERDICT(a, UnlockVerdict::NeedsPassphraseAnyway);
		EXPECT_FALSE(blocksKexec(a.verdict)) << img;
		EXPECT_FALSE(a.unlocksAfterKexec()) << img;
	}
}

TEST_F(RealHeaders, TwoTokensTheBestDecides)
{
	auto a = one("/img/two-tokens.img");
	EXPECT_VERDICT(a, UnlockVerdict::Unlocks);
	EXPECT_EQ(a.pcrs, std::vector<unsigned>{ 7 });
	EXPECT_EQ(a.signedPolicyPcrs, std::vector<unsigned>{ 11 });
}

TEST_F(RealHeaders, BrokenAndUnknownTokensAreUnknown)
{
	auto a = one("/img/broken-token.img");
	EXPECT_VERDICT(a, UnlockVerdict::Unknown);
	EXPECT_NE(a.reason.find("tpm2-pcrs"), std::string::npos) << a.reason;
	a = one("/img/unknown-type.img");
	EXPECT_VERDICT(a, UnlockVerdict::Unknown);
	EXPECT_NE(a.reason.find("x-vendor-unlock"), std::string::npos) << a.reason;
	EXPECT_TRUE(blocksKexec(a.verdict));
}

TEST_F(RealHeaders, NoautoAndNofailAreNotNeededAtBoot)
{
	auto list = checkUnlock(paths("a /img/signed11.img none noauto\n"
				      "b /img/signed11.img none nofail,tpm2-device=auto\n"
				      "c /img/pcr7.img none nofail\n"),
				true, false);
	ASSERT_EQ(list.size(), 3u);
	for (const auto &a : list)
		EXPECT_VERDICT(a, UnlockVerdict::NotNeededAtBoot);
	EXPECT_FALSE(blocksKexec(list[0].verdict));
	EXPECT_EQ(list[0].unattended, UnlockVerdict::NeedsPassphrase);
	EXPECT_NE(list[0].reason.find("noauto"), std::string::npos);
	EXPECT_NE(list[1].reason.find("nofail"), std::string::npos);
	EXPECT_TRUE(list[2].unlocksAfterKexec());
}

TEST_F(RealHeaders, DevicesByUuidPartuuidAndLabelStayInTheRoot)
{
	auto list = checkUnlock(paths("u UUID=0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9\n"
				      "p PARTUUID=1234\n"
				      "l LABEL=escape\n"
				      "m LABEL=missing\n"),
				false, false);
	ASSERT_EQ(list.size(), 4u);
	EXPECT_VERDICT(list[0], UnlockVerdict::Unlocks);
	EXPECT_EQ(list[0].device, "UUID=0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9");
	EXPECT_VERDICT(list[1], UnlockVerdict::NeedsPassphrase);
	EXPECT_VERDICT(list[2], UnlockVerdict::Unknown);
	EXPECT_VERDICT(list[3], UnlockVerdict::Unknown);
}

TEST_F(RealHeaders, FifoDirectoryMissingAndPlainFileAreUnknown)
{
	struct Case {
		const char *device;
		const char *says;
	} cases[] = {
		{ "/img/fifo", "a FIFO" },
		{ "/img/dir", "a directory" },
		{ "/img/missing", "No such file" },
		{ "/img/plain", "no LUKS2 header" },
	};
	for (const auto &c : cases) {
		auto a = one(c.device);
		EXPECT_VERDICT(a, UnlockVerdict::Unknown);
		EXPECT_NE(a.reason.find(c.says), std::string::npos) << a.reason;
		EXPECT_FALSE(a.unlocksAfterKexec());
	}
}

TEST_F(RealHeaders, KeyFileAndMalformedLinesInOneCrypttab)
{
	auto list = checkUnlock(paths("k /img/signed11.img /etc/keys/k.key\n"
				      "broken\n"
				      "ok /img/pcr7.img none tpm2-device=auto\n"
				      "swap /img/plain /dev/urandom swap,cipher=aes-xts-plain64,size=512\n"),
				false, false);
	ASSERT_EQ(list.size(), 4u);
	EXPECT_VERDICT(list[0], UnlockVerdict::Unlocks);
	EXPECT_EQ(list[0].signedPolicyPcrs, std::vector<unsigned>{ 11 });
	/* Plain dm-crypt swap with a random key: no LUKS2 header, no person. */
	EXPECT_VERDICT(list[3], UnlockVerdict::Unlocks);
	EXPECT_VERDICT(list[1], UnlockVerdict::Unknown);
	EXPECT_EQ(list[1].volume, "broken");
	EXPECT_VERDICT(list[2], UnlockVerdict::Unlocks);
}

TEST_F(RealHeaders, UnreadableCrypttabIsOneUnknown)
{
	auto p = paths("");
	p.crypttab = root_ + "/img/dir";
	auto list = checkUnlock(p, false, false);
	ASSERT_EQ(list.size(), 1u);
	EXPECT_EQ(list[0].volume, "crypttab");
	EXPECT_VERDICT(list[0], UnlockVerdict::Unknown);
}

TEST_F(RealHeaders, PlanJson)
{
	auto list = checkUnlock(paths("root /img/pcr7.img\n"
				      "data /img/signed11.img\n"),
				true, true);
	auto j = unlockJson(list);
	ASSERT_TRUE(j.is_array());
	ASSERT_EQ(j.size(), 2u);
	EXPECT_EQ(j[0]["volume"], "root");
	EXPECT_EQ(j[0]["device"], "/img/pcr7.img");
	EXPECT_EQ(j[0]["pcrs"], nlohmann::json::array({ 7 }));
	EXPECT_EQ(j[0]["signed_policy_pcrs"], nlohmann::json::array());
	EXPECT_EQ(j[0]["pcrlock"], false);
	EXPECT_EQ(j[0]["unlocks_after_kexec"], true);
	EXPECT_EQ(j[0]["verdict"], "unlocks");
	EXPECT_EQ(j[1]["verdict"], "needs_passphrase");
	EXPECT_EQ(j[1]["signed_policy_pcrs"], nlohmann::json::array({ 11 }));
	EXPECT_EQ(j[1]["unlocks_after_kexec"], false);
	EXPECT_TRUE(j[1]["reason"].get<std::string>().find("PCR 11") != std::string::npos);
	for (const auto &v : j)
		EXPECT_EQ(v.size(), 8u);
}

TEST_F(RealHeaders, ReadTimesOut)
{
	/* A zero budget: the read cannot answer in time and is given up. */
	Luks2ReadLimits limits;
	limits.timeout = std::chrono::milliseconds(0);
	auto r = readLuks2Facts(root_, "/img/pcr7.img", limits);
	if (!r.ok()) {
		EXPECT_NE(r.error().message.find("longer than"), std::string::npos) << r.error().message;
	}
	/* No more threads left behind than allowed: with none allowed, none starts. */
	limits.maxInFlight = 0;
	r = readLuks2Facts(root_, "/img/pcr7.img", limits);
	ASSERT_FALSE(r.ok());
	EXPECT_NE(r.error().message.find("still hang"), std::string::npos) << r.error().message;
	/* The thread left behind finishes (libcryptsetup must not run past exit). */
	for (int i = 0; i < 500 && luks2ReadsInFlight() > 0; i++)
		::usleep(10000);
	EXPECT_EQ(luks2ReadsInFlight(), 0u);
}

} // namespace
} // namespace kexecd

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	const int ret = RUN_ALL_TESTS();
	if (ret == 0 && !kexecd::RealHeaders::problem().empty()) {
		std::fprintf(stderr, "real-header tests skipped: %s\n", kexecd::RealHeaders::problem().c_str());
		return 77;
	}
	return ret;
}
