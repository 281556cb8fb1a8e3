// SPDX-License-Identifier: LGPL-2.1-or-later
// planReboot(): every decision of Reboot's modes, table-driven.
#include "reboot_plan.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace kexecd {
namespace {

nlohmann::json record(const std::string &uname, const std::string &cmdline)
{
	return { { "uki", { { "uname", uname } } }, { "cmdline", cmdline } };
}

RebootFacts facts(RebootMode mode, const std::string &state, nlohmann::json staged = nlohmann::json::object())
{
	RebootFacts f;
	f.mode = mode;
	f.state = state;
	f.staged = std::move(staged);
	f.running.uname = "6.1.0-1-amd64";
	f.running.cmdline = "BOOT_IMAGE=/vmlinuz root=/dev/vda ro";
	f.logindKexec = true;
	f.logindSoftReboot = true;
	f.logindDetail = "254";
	return f;
}

struct Row {
	const char *name;
	RebootFacts facts;
	const char *decision; // "refuse" for an error
	uint64_t flags;
};

/* Plans the row and checks its decision and logind flags; the plan, for more. */
Result<RebootPlan> expectRow(const Row &row)
{
	auto plan = planReboot(row.facts);
	const std::string decision = plan ? rebootActionName(plan->action) : "refuse";
	EXPECT_EQ(decision, row.decision) << row.name;
	if (plan) {
		EXPECT_EQ(plan->logindFlags, row.flags) << row.name;
	}
	return plan;
}

TEST(RebootPlan, Table)
{
	const auto same = record("6.1.0-1-amd64", "root=/dev/vda ro");
	const auto other = record("6.12.0-1-amd64", "root=/dev/vda ro");
	auto nextroot = facts(RebootMode::Auto, "staged", same);
	nextroot.running.nextroot = true;
	auto old = facts(RebootMode::Auto, "staged", same);
	old.logindSoftReboot = false;
	auto oldSoft = facts(RebootMode::Soft, "idle");
	oldSoft.logindSoftReboot = false;
	auto require = facts(RebootMode::Auto, "idle");
	require.requireStaged = true;
	/* A plain kernel (issue 15): its version comes from the setup header. */
	const nlohmann::json plainSame = { { "kind", "kernel" }, { "image", { { "version", "6.1.0-1-amd64" } } },
					   { "cmdline", "root=/dev/vda ro" } };
	const nlohmann::json plainOther = { { "kind", "kernel" }, { "image", { { "version", "6.12.0-1-amd64" } } },
					    { "cmdline", "root=/dev/vda ro" } };
	/* The booted image's kernel digest, where known, decides over uname
	 * and command line: a rebuilt kernel of the same version is another. */
	auto withDigest = [&](const nlohmann::json &staged, const char *stagedSha, const char *bootedSha) {
		nlohmann::json r = staged;
		r["kernel"]["sha256"] = stagedSha;
		auto f = facts(RebootMode::Auto, "staged", r);
		f.running.linuxSha256 = bootedSha;
		return f;
	};
	auto noKexec = facts(RebootMode::Kexec, "staged", other);
	noKexec.logindKexec = false;

	const Row rows[] = {
		{ "auto, nothing staged", facts(RebootMode::Auto, "idle"), "cold", 0 },
		{ "auto, nothing staged, required", require, "refuse", 0 },
		{ "auto, another kernel", facts(RebootMode::Auto, "staged", other), "kexec", 0x02 },
		{ "auto, same kernel", facts(RebootMode::Auto, "staged", same), "soft-reboot", 0x04 },
		{ "auto, same kernel, nextroot", nextroot, "soft-reboot", 0x04 },
		{ "auto, same kernel, logind 252", old, "kexec", 0x02 },
		{ "auto, foreign", facts(RebootMode::Auto, "foreign"), "kexec", 0x02 },
		{ "auto, other cmdline", facts(RebootMode::Auto, "staged", record("6.1.0-1-amd64", "root=/dev/vdb")), "kexec", 0x02 },
		{ "auto, no uname", facts(RebootMode::Auto, "staged", record("", "root=/dev/vda ro")), "kexec", 0x02 },
		{ "auto, plain kernel, same", facts(RebootMode::Auto, "staged", plainSame), "soft-reboot", 0x04 },
		{ "auto, plain kernel, another", facts(RebootMode::Auto, "staged", plainOther), "kexec", 0x02 },
		{ "auto, same digest", withDigest(same, "aa", "aa"), "soft-reboot", 0x04 },
		{ "auto, same uname, other digest", withDigest(same, "aa", "bb"), "kexec", 0x02 },
		{ "auto, other uname, same digest", withDigest(other, "aa", "aa"), "soft-reboot", 0x04 },
		{ "kexec, staged", facts(RebootMode::Kexec, "staged", same), "kexec", 0x02 },
		{ "kexec, nothing staged", facts(RebootMode::Kexec, "idle"), "refuse", 0 },
		{ "kexec, logind without kexec", noKexec, "refuse", 0 },
		{ "soft, 254", facts(RebootMode::Soft, "idle"), "soft-reboot", 0x04 },
		{ "soft, 252", oldSoft, "refuse", 0 },
		{ "cold, staged", facts(RebootMode::Cold, "staged", other), "cold", 0 },
		{ "cold, idle", facts(RebootMode::Cold, "idle"), "cold", 0 },
		{ "any, staging", facts(RebootMode::Auto, "staging"), "refuse", 0 },
		{ "any, rebooting", facts(RebootMode::Kexec, "rebooting", same), "refuse", 0 },
	};
	for (const Row &row : rows) {
		auto plan = expectRow(row);
		if (plan) {
			EXPECT_FALSE(plan->reasons.empty()) << row.name;
		}
		/* The JSON carries the decision and at least one reason. */
		auto j = planJson(row.facts, plan);
		EXPECT_EQ(j["decision"], row.decision) << row.name;
		EXPECT_FALSE(j["reasons"].empty()) << row.name;
	}
}

TEST(RebootPlan, Refusals)
{
	auto f = facts(RebootMode::Soft, "idle");
	f.logindSoftReboot = false;
	f.logindDetail = "org.freedesktop.DBus.Error.InvalidArgs: Invalid flags parameter";
	auto plan = planReboot(f);
	ASSERT_FALSE(plan);
	EXPECT_EQ(plan.error().code, Code::Unsupported);
	EXPECT_NE(plan.error().message.find("254"), std::string::npos);
	EXPECT_NE(plan.error().message.find("Invalid flags parameter"), std::string::npos);

	auto k = planReboot(facts(RebootMode::Kexec, "idle"));
	ASSERT_FALSE(k);
	EXPECT_EQ(k.error().code, Code::NotStaged);
}

TEST(RebootPlan, ColdUnloadsAStagedKernel)
{
	auto plan = planReboot(facts(RebootMode::Cold, "staged", record("x", "y")));
	ASSERT_TRUE(plan);
	EXPECT_TRUE(plan->unloadFirst);
	auto idle = planReboot(facts(RebootMode::Cold, "idle"));
	ASSERT_TRUE(idle);
	EXPECT_FALSE(idle->unloadFirst);
}

TEST(RebootPlan, Modes)
{
	EXPECT_EQ(*parseRebootMode("auto"), RebootMode::Auto);
	EXPECT_EQ(*parseRebootMode("cold"), RebootMode::Cold);
	auto bad = parseRebootMode("warm\xff");
	ASSERT_FALSE(bad);
	EXPECT_EQ(bad.error().code, Code::InvalidArgument);
	EXPECT_NE(bad.error().message.find("\\xff"), std::string::npos);
}

TEST(RebootPlan, NormalizeCmdlineDropsWhatLoadersAdd)
{
	EXPECT_EQ(normalizeCmdline("BOOT_IMAGE=/vmlinuz-6.1  root=/dev/vda\tro initrd=\\initrd.img quiet\n"),
		  "root=/dev/vda ro quiet");
	EXPECT_EQ(normalizeCmdline(""), "");
}

TEST(RebootPlan, ReadsTheRunningSystem)
{
	namespace fs = std::filesystem;
	fs::path root = fs::temp_directory_path() / ("reboot-plan-" + std::to_string(getpid()));
	fs::create_directories(root / "proc/sys/kernel");
	std::ofstream(root / "proc/sys/kernel/osrelease") << "6.1.0-1-amd64\n";
	std::ofstream(root / "proc/cmdline") << "root=/dev/vda ro\n";
	auto r = readRunningSystem((root / "proc").string(), (root / "run").string());
	EXPECT_EQ(r.uname, "6.1.0-1-amd64");
	EXPECT_EQ(r.cmdline, "root=/dev/vda ro");
	EXPECT_FALSE(r.nextroot);
	/* An empty /run/nextroot is not an OS tree. */
	fs::create_directories(root / "run/nextroot");
	EXPECT_FALSE(readRunningSystem((root / "proc").string(), (root / "run").string()).nextroot);
	fs::create_directories(root / "run/nextroot/etc");
	std::ofstream(root / "run/nextroot/etc/os-release") << "ID=debian\n";
	EXPECT_TRUE(readRunningSystem((root / "proc").string(), (root / "run").string()).nextroot);
	fs::remove_all(root);
}

/* Issue 26: a firmware request or a boot counter that may not be taken
 * keeps a kexec from happening: auto goes cold, kexec is refused by name,
 * soft and cold are not affected. */
TEST(RebootPlan, FirmwarePathWins)
{
	const auto other = record("6.12.0-1-amd64", "root=/dev/vda ro");
	for (RebootMode mode : { RebootMode::Auto, RebootMode::Kexec, RebootMode::Soft, RebootMode::Cold }) {
		auto f = facts(mode, "staged", other);
		f.firmwareRequests = { "OsIndications asks for the firmware setup" };
		auto plan = planReboot(f);
		switch (mode) {
		case RebootMode::Kexec:
			ASSERT_FALSE(plan.ok());
			EXPECT_EQ(plan.error().code, Code::FirmwareRequest);
			EXPECT_NE(plan.error().message.find("firmware setup"), std::string::npos);
			break;
		case RebootMode::Auto:
		case RebootMode::Cold:
			ASSERT_TRUE(plan.ok());
			EXPECT_EQ(plan->action, RebootAction::Cold);
			EXPECT_TRUE(plan->unloadFirst);
			break;
		case RebootMode::Soft:
			ASSERT_TRUE(plan.ok());
			EXPECT_EQ(plan->action, RebootAction::Soft);
			break;
		}
	}
	auto counted = facts(RebootMode::Kexec, "staged", other);
	counted.bootCountingRefusal = "'deb+3.efi' is boot-counted and BootCounting=refuse";
	auto refused = planReboot(counted);
	ASSERT_FALSE(refused.ok());
	EXPECT_EQ(refused.error().code, Code::BootAssessment);
	counted.mode = RebootMode::Auto;
	auto cold = planReboot(counted);
	ASSERT_TRUE(cold.ok());
	EXPECT_EQ(cold->action, RebootAction::Cold);
	/* A foreign kernel has no counter of kexecd's. */
	auto foreign = facts(RebootMode::Kexec, "foreign");
	foreign.bootCountingRefusal = "x";
	EXPECT_TRUE(planReboot(foreign).ok());
	/* The try kexecd takes is said, after what decided. */
	auto emulate = facts(RebootMode::Auto, "staged", other);
	emulate.bootCountingNote = "'deb+3.efi' is boot-counted (3 tries left): kexecd renames it";
	emulate.bootCounting = { { "file", "/efi/EFI/Linux/deb+3.efi" }, { "renamed_to", "/efi/EFI/Linux/deb+2-1.efi" } };
	auto kexec = planReboot(emulate);
	ASSERT_TRUE(kexec.ok());
	EXPECT_EQ(kexec->action, RebootAction::Kexec);
	EXPECT_EQ(kexec->reasons.back(), emulate.bootCountingNote);
	EXPECT_NE(kexec->reasons.front(), emulate.bootCountingNote);
	EXPECT_EQ(planJson(emulate, kexec).at("boot_counting").at("renamed_to"), "/efi/EFI/Linux/deb+2-1.efi");
}

VolumeAssessment volume(const char *name, UnlockVerdict verdict, std::optional<unsigned> pcr = std::nullopt)
{
	VolumeAssessment a;
	a.volume = name;
	a.device = std::string("/dev/disk/by-uuid/") + name;
	a.verdict = a.unattended = verdict;
	a.decidingPcr = pcr;
	a.reason = pcr ? "the token has a signed PCR 11 policy" : "bound to PCR 7 only";
	if (pcr)
		a.signedPolicyPcrs = { *pcr };
	return a;
}

/* Issue 27: a volume that would wait for a passphrase after a kexec keeps
 * the kexec from happening: auto goes cold, kexec is refused by name
 * (WouldNotUnlock, the PCR named), ignore_tpm kexecs and says why, soft and
 * cold are not affected, and verdicts that do not block change nothing. */
TEST(RebootPlan, TpmLockout)
{
	const auto same = record("6.1.0-1-amd64", "root=/dev/vda ro");
	const auto other = record("6.12.0-1-amd64", "root=/dev/vda ro");
	const std::vector<VolumeAssessment> locked = { volume("root", UnlockVerdict::Unlocks),
						       volume("data", UnlockVerdict::NeedsPassphrase, 11) };
	const std::vector<VolumeAssessment> fine = { volume("root", UnlockVerdict::Unlocks),
						     volume("scratch", UnlockVerdict::NotNeededAtBoot),
						     volume("home", UnlockVerdict::NeedsPassphraseAnyway) };
	auto with = [&](RebootMode mode, const char *state, nlohmann::json staged,
			const std::vector<VolumeAssessment> &unlock, bool ignore = false) {
		auto f = facts(mode, state, std::move(staged));
		f.unlock = unlock;
		f.unlockChecked = true;
		f.ignoreTpm = ignore;
		return f;
	};
	auto unknown = with(RebootMode::Kexec, "staged", other, { volume("crypttab", UnlockVerdict::Unknown) });
	auto old = with(RebootMode::Auto, "staged", same, locked);
	old.logindSoftReboot = false;

	const Row rows[] = {
		{ "auto, another kernel, locked out", with(RebootMode::Auto, "staged", other, locked), "cold", 0 },
		{ "auto, foreign, locked out", with(RebootMode::Auto, "foreign", {}, locked), "cold", 0 },
		{ "auto, same kernel, logind 252, locked out", old, "cold", 0 },
		{ "auto, same kernel, locked out", with(RebootMode::Auto, "staged", same, locked), "soft-reboot", 0x04 },
		{ "auto, another kernel, ignore_tpm", with(RebootMode::Auto, "staged", other, locked, true), "kexec", 0x02 },
		{ "auto, another kernel, nothing blocks", with(RebootMode::Auto, "staged", other, fine), "kexec", 0x02 },
		{ "kexec, locked out", with(RebootMode::Kexec, "staged", other, locked), "refuse", 0 },
		{ "kexec, foreign, locked out", with(RebootMode::Kexec, "foreign", {}, locked), "refuse", 0 },
		{ "kexec, unknown", unknown, "refuse", 0 },
		{ "kexec, ignore_tpm", with(RebootMode::Kexec, "staged", other, locked, true), "kexec", 0x02 },
		{ "kexec, nothing blocks", with(RebootMode::Kexec, "staged", other, fine), "kexec", 0x02 },
		{ "soft, locked out", with(RebootMode::Soft, "staged", other, locked), "soft-reboot", 0x04 },
		{ "cold, locked out", with(RebootMode::Cold, "staged", other, locked), "cold", 0 },
	};
	for (const Row &row : rows) {
		auto plan = expectRow(row);
		const nlohmann::json j = planJson(row.facts, plan);
		EXPECT_EQ(j.at("tpm2").size(), row.facts.unlock.size()) << row.name;
		EXPECT_TRUE(j.at("tpm2_checked").get<bool>()) << row.name;
	}

	auto refused = planReboot(with(RebootMode::Kexec, "staged", other, locked));
	ASSERT_FALSE(refused.ok());
	EXPECT_EQ(refused.error().code, Code::WouldNotUnlock);
	EXPECT_EQ(std::string(codeName(refused.error().code)), "WouldNotUnlock");
	const std::string &message = refused.error().message;
	EXPECT_NE(message.find("'data'"), std::string::npos) << message;
	EXPECT_NE(message.find("/dev/disk/by-uuid/data"), std::string::npos) << message;
	EXPECT_NE(message.find("PCR 11"), std::string::npos) << message;
	EXPECT_EQ(message.find("'root'"), std::string::npos) << message;

	/* auto says why it went cold, naming the volume and the PCR. */
	auto cold = planReboot(with(RebootMode::Auto, "staged", other, locked));
	ASSERT_TRUE(cold.ok());
	EXPECT_TRUE(cold->unloadFirst);
	bool named = false;
	for (const auto &r : cold->reasons)
		named = named || (r.find("'data'") != std::string::npos && r.find("PCR 11") != std::string::npos);
	EXPECT_TRUE(named);

	/* ignore_tpm says what it ignored. */
	auto ignored = planReboot(with(RebootMode::Kexec, "staged", other, locked, true));
	ASSERT_TRUE(ignored.ok());
	bool said = false;
	for (const auto &r : ignored->reasons)
		said = said || r.rfind("ignore_tpm: volume 'data'", 0) == 0;
	EXPECT_TRUE(said);

	/* A reason without the PCR gets it appended. */
	auto terse = volume("data", UnlockVerdict::NeedsPassphrase, 4);
	terse.reason = "the firmware measures the next kernel";
	const auto lines = unlockLockouts({ terse });
	ASSERT_EQ(lines.size(), 1u);
	EXPECT_NE(lines[0].find("(PCR 4 decides)"), std::string::npos) << lines[0];

	/* Nothing checked: the plan says so. */
	EXPECT_FALSE(planJson(facts(RebootMode::Kexec, "staged", other),
			      planReboot(facts(RebootMode::Kexec, "staged", other))).at("tpm2_checked").get<bool>());
}

} // namespace
} // namespace kexecd
