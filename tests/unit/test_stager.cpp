// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stager.h"

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stop_token>
#include <thread>

#include <gtest/gtest.h>

#include "booted_kernel.h"
#include "digest.h"
#include "efi_vars.h"
#include "elf_container.h"
#include "inspect.h"
#include "parse_core.h"
#include "pe.h"
#include "stub_cpio.h"
#include "test_util.h"

using namespace kexecd;
using namespace kexecd::test;

namespace {

class StagerTest : public ::testing::Test
{
protected:
	void SetUp() override
	{
		REQUIRE_FIXTURES();
		dir_ = makeTempDir();
		fake_ = dir_ + "/kernel";
		std::filesystem::create_directories(fake_);
		config_.trustDir = fixture("trust");
		config_.useFirmwareDb = false;
		/* No /proc/keys: the kernel keyrings are unknown, so kernel
		 * verdicts rest on db/MOK alone and "unknown" is not refused. */
		config_.procKeys = dir_ + "/no-proc-keys";
		config_.statePath = dir_ + "/run/staged.json";
		config_.policy = SignaturePolicy::Warn;
		if (const char *p = getenv("KEXECD_PARSER_CONTAINER"))
			config_.parserPath = p;
		if (const char *c = getenv("KEXECD_PARSER_CERT")) {
			/* The parser container's signer joins the trust store. */
			std::filesystem::create_directories(dir_ + "/trust");
			std::filesystem::copy_file(fixture("trust/trusted.pem"), dir_ + "/trust/trusted.pem");
			std::filesystem::copy_file(c, dir_ + "/trust/parser.pem");
			config_.trustDir = dir_ + "/trust";
		}
		kernel_ = makeRecordingKernel(fake_);
		stager_ = std::make_unique<Stager>(*kernel_, config_);
		ASSERT_TRUE(stager_->start().ok());
	}

	StageRequest request(const std::string &uki, std::vector<std::string> addons = {})
	{
		StageRequest r;
		r.uki = openInput(fixture(uki));
		for (const auto &a : addons)
			r.addons.push_back(openInput(fixture(a)));
		return r;
	}

	/* The fixture's configuration with discovery confined to esp: no
	 * EFI variables unless given, no modules directory, no XBOOTLDR. */
	EngineConfig espConfig(const std::string &esp, const std::string &efivars = "") const
	{
		EngineConfig config = config_;
		config.discovery.esp = esp;
		config.discovery.efivarsDir = efivars.empty() ? dir_ + "/no-efivars" : efivars;
		config.discovery.modulesDir = dir_ + "/no-modules";
		config.discovery.xbootldrCandidates = {};
		return config;
	}

	/* An ESP at dir_/esp with one UKI and global addons, as name -> fixture. */
	std::string makeEsp(const std::string &uki, const std::string &ukiFixture,
			    const std::vector<std::pair<std::string, std::string>> &addons) const
	{
		const std::string esp = dir_ + "/esp";
		std::filesystem::create_directories(esp + "/EFI/Linux");
		std::filesystem::create_directories(esp + "/loader/addons");
		std::filesystem::copy_file(fixture(ukiFixture), esp + "/EFI/Linux/" + uki);
		for (const auto &[name, from] : addons)
			std::filesystem::copy_file(fixture(from), esp + "/loader/addons/" + name);
		return esp;
	}

	void setKnob(const std::string &name, const std::string &value)
	{
		std::ofstream(fake_ + "/" + name) << value;
	}

	std::string dir_, fake_;
	EngineConfig config_;
	std::unique_ptr<KexecKernel> kernel_;
	std::unique_ptr<Stager> stager_;
};

std::string sha(const std::string &path)
{
	const auto b = readFile(path);
	return sha256Hex({ b.data(), b.size() });
}

/* Fixture files as systemd-stub concatenates them: each padded to 4
 * bytes; "#osrel" stands for the stub's /.extra/os-release archive of
 * uki.efi. */
std::string padFiles(std::initializer_list<std::string> files)
{
	std::string out;
	for (const auto &f : files) {
		if (f == "#osrel") {
			auto uki = loadImage("uki.efi", ImageRole::Uki);
			const auto a = packStubCpioLiteral(uki->image->base().at(".osrel"), kCpioMeta, "os-release");
			out.append(a.begin(), a.end());
		} else {
			out += readText(fixture(f));
		}
		out.resize((out.size() + 3) / 4 * 4, '\0');
	}
	return out;
}


/* The record describes the initrd by its parts (issue 16): each part is
 * where it says, with the bytes of the file it names or with its own
 * digest, and nothing but zero padding lies between. */
void expectInitrdRecord(const nlohmann::json &rec, const std::string &initrd)
{
	ASSERT_TRUE(rec.is_object());
	ASSERT_EQ(rec["size"], initrd.size());
	uint64_t at = 0;
	for (const nlohmann::json &p : rec["parts"]) {
		const uint64_t offset = p["offset"], size = p["size"];
		ASSERT_LE(offset + size, initrd.size());
		for (; at < offset; at++)
			EXPECT_EQ(initrd[at], '\0') << "padding before " << p["what"];
		const std::string got = initrd.substr(offset, size);
		if (p.contains("from")) {
			const std::string file = readText(p["from"]["file"].get<std::string>());
			EXPECT_EQ(got, file.substr(p["from"]["offset"].get<uint64_t>(), size)) << p["what"];
		} else {
			EXPECT_EQ(p["sha256"], sha256Hex({ reinterpret_cast<const uint8_t *>(got.data()), got.size() }))
				<< p["what"];
		}
		at = offset + size;
	}
	EXPECT_LE(initrd.size() - at, 3u);
}

} // namespace

TEST_F(StagerTest, ClassicStageRecordsWhatTheKernelGot)
{
	std::vector<std::pair<std::string, double>> progress;
	auto r = stager_->stage(request("uki.efi", { "addon-cmdline.addon.efi", "addon-initrd.addon.efi" }),
				[&](std::string_view phase, double f) { progress.emplace_back(phase, f); });
	ASSERT_TRUE(r.ok()) << r.error().message;

	EXPECT_EQ(readText(fake_ + "/kernel.bin"), readText(fixture("vmlinuz")));
	/* systemd-stub's order, each part padded to 4 bytes, with its
	 * generated /.extra/os-release before the addons' initrds. */
	EXPECT_EQ(readText(fake_ + "/initrd.bin"), padFiles({ "addon-ucode.cpio", "initrd.cpio", "#osrel", "addon-initrd.cpio" }));
	EXPECT_EQ(readText(fake_ + "/cmdline.bin"),
		  std::string("console=ttyS0 kexecd.uki=1 kexecd.addon=1 kexecd.addon2=1") + '\0');
	EXPECT_EQ(readText(fake_ + "/flags"), "0x0\n");

	const nlohmann::json &rec = *r;
	EXPECT_EQ(rec["scheme"], "classic");
	EXPECT_EQ(rec["uki"]["sha256"], sha(fixture("uki.efi")));
	EXPECT_EQ(rec["uki"]["path"], fixture("uki.efi"));
	EXPECT_EQ(rec["uki"]["os_release"]["pretty_name"], "Debian GNU/Linux 12 (bookworm)");
	EXPECT_EQ(rec["kernel"]["sha256"], sha(fixture("vmlinuz")));
	expectInitrdRecord(rec["initrd"], readText(fake_ + "/initrd.bin"));
	EXPECT_EQ(rec["addons"][1]["sha256"], sha(fixture("addon-initrd.addon.efi")));
	EXPECT_EQ(rec["uki"]["signature"]["verdict"], "unsigned");
	EXPECT_EQ(rec["signature_policy"], "warn");
	EXPECT_EQ(rec["cmdline"], "console=ttyS0 kexecd.uki=1 kexecd.addon=1 kexecd.addon2=1");

	EXPECT_EQ(stager_->state(), StageState::Staged);
	EXPECT_EQ(stager_->staged(), rec);
	EXPECT_EQ(nlohmann::json::parse(readText(config_.statePath)), rec);
	EXPECT_FALSE(std::filesystem::exists(config_.statePath + ".pending"));

	ASSERT_FALSE(progress.empty());
	EXPECT_EQ(progress.back().first, "record");
	EXPECT_DOUBLE_EQ(progress.back().second, 1.0);
	for (size_t i = 1; i < progress.size(); i++)
		EXPECT_GE(progress[i].second, progress[i - 1].second);
}

TEST_F(StagerTest, NoInitrdSetsTheFlag)
{
	/* Without .initrd, .ucode and .osrel the stub hands over no initrd. */
	const auto kernel = readFile(fixture("vmlinuz"));
	const std::string path = dir_ + "/bare.efi";
	writeFile(path, makePe({ { ".cmdline", "console=ttyS0" }, { ".linux", std::string(kernel.begin(), kernel.end()) } }));
	StageRequest bare;
	bare.uki = openInput(path);
	auto r = stager_->stage(std::move(bare), {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ(readText(fake_ + "/flags"), "0x4\n");
	EXPECT_FALSE(std::filesystem::exists(fake_ + "/initrd.bin"));
	EXPECT_TRUE((*r)["initrd"].is_null());
}

/* Issue 26: an entry whose boot tries are used up is named, not staged,
 * when a caller names it itself. */
TEST_F(StagerTest, EntryWithoutTriesLeftIsRefused)
{
	auto good = stager_->stage(request("uki.efi"), {});
	ASSERT_TRUE(good.ok());
	StageRequest r = request("uki.efi");
	r.uki.origin = "/efi/EFI/Linux/debian+0-3.efi";
	auto refused = stager_->stage(std::move(r), {});
	ASSERT_FALSE(refused.ok());
	EXPECT_EQ(refused.error().code, Code::BootAssessment);
	EXPECT_NE(refused.error().message.find("debian+0-3.efi"), std::string::npos);
	EXPECT_EQ(stager_->staged(), *good);
	StageRequest tries = request("uki.efi");
	tries.uki.origin = "/efi/EFI/Linux/debian+1-2.efi";
	EXPECT_TRUE(stager_->stage(std::move(tries), {}).ok());
}

TEST_F(StagerTest, FailureKeepsThePreviousStage)
{
	auto good = stager_->stage(request("uki.efi"), {});
	ASSERT_TRUE(good.ok());
	const std::string kernelBefore = readText(fake_ + "/kernel.bin");

	for (const char *bad : { "bad-overlap.efi", "bad-empty.efi", "bad-elf.efi", "uki-bad-zboot.efi" }) {
		SCOPED_TRACE(bad);
		auto r = stager_->stage(request(bad), {});
		ASSERT_FALSE(r.ok());
		EXPECT_EQ(r.error().code, Code::InvalidImage);
		EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
		EXPECT_EQ(stager_->state(), StageState::Staged);
		EXPECT_EQ(stager_->staged(), *good);
		EXPECT_EQ(stager_->lastError(), r.error().message);
	}
	auto addon = stager_->stage(request("uki.efi", { "addon-linux.addon.efi" }), {});
	ASSERT_FALSE(addon.ok());
	EXPECT_NE(addon.error().message.find("addon carries a .linux"), std::string::npos);

	/* The kernel refusing keeps the old image too (the kernel swaps only
	 * after a successful load). */
	setKnob("fail-load", "129"); // EKEYREJECTED
	auto refused = stager_->stage(request("uki-noinitrd.efi"), {});
	ASSERT_FALSE(refused.ok());
	EXPECT_EQ(refused.error().code, Code::KernelRefused);
	EXPECT_EQ(readText(fake_ + "/kernel.bin"), kernelBefore);
	EXPECT_EQ(stager_->staged(), *good);
	EXPECT_EQ(nlohmann::json::parse(readText(config_.statePath)), *good);
	EXPECT_FALSE(std::filesystem::exists(config_.statePath + ".pending"));
}

TEST_F(StagerTest, EnforcePolicy)
{
	StageRequest tampered = request("uki-tampered.efi");
	tampered.policy = SignaturePolicy::Enforce;
	auto r = stager_->stage(std::move(tampered), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::SignatureRejected);
	EXPECT_NE(r.error().message.find("bad-signature"), std::string::npos) << r.error().message;
	EXPECT_FALSE(std::filesystem::exists(fake_ + "/kernel.bin"));

	StageRequest untrusted = request("uki-untrusted.efi");
	untrusted.policy = SignaturePolicy::Enforce;
	r = stager_->stage(std::move(untrusted), {});
	ASSERT_FALSE(r.ok());
	EXPECT_NE(r.error().message.find("untrusted-signer"), std::string::npos) << r.error().message;

	/* A trusted UKI with an unsigned addon is refused as a whole. */
	StageRequest mixed = request("uki-signed.efi", { "addon-cmdline.addon.efi" });
	mixed.policy = SignaturePolicy::Enforce;
	r = stager_->stage(std::move(mixed), {});
	ASSERT_FALSE(r.ok());
	EXPECT_NE(r.error().message.find("addon-cmdline.addon.efi': firmware verdict unsigned"), std::string::npos)
		<< r.error().message;

	StageRequest good = request("uki-signed.efi", { "addon-signed.addon.efi" });
	good.policy = SignaturePolicy::Enforce;
	r = stager_->stage(std::move(good), {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ((*r)["uki"]["signature"]["verdict"], "trusted");
	EXPECT_EQ((*r)["addons"][0]["signature"]["verdict"], "trusted");
	EXPECT_EQ((*r)["signature_policy"], "enforce");
}

/* The record names every signature-checked object with both verdicts:
 * in the classic scheme the kernel verifies the .linux, not the envelope. */
TEST_F(StagerTest, RecordCarriesPerObjectVerdicts)
{
	auto r = stager_->stage(request("uki-signed.efi", { "addon-cmdline.addon.efi" }), {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	const nlohmann::json &objects = (*r)["signatures"]["objects"];
	ASSERT_EQ(objects.size(), 3u) << objects.dump();
	EXPECT_EQ(objects[0]["object"], "uki");
	EXPECT_EQ(objects[0]["firmware"]["verdict"], "trusted");
	EXPECT_TRUE(objects[0]["kernel"].is_null());
	EXPECT_EQ(objects[1]["object"], "addon");
	EXPECT_EQ(objects[1]["firmware"]["verdict"], "unsigned");
	EXPECT_EQ(objects[2]["object"], "kernel");
	EXPECT_EQ(objects[2]["sha256"], (*r)["kernel"]["sha256"]);
	EXPECT_TRUE(objects[2]["firmware"].is_null());
	/* Debian's kernel, with the kernel's keyrings unknown to the test. */
	EXPECT_EQ(objects[2]["kernel"]["verdict"], "unknown");
	EXPECT_NE(objects[2]["kernel"]["signer"].get<std::string>().find("Debian"), std::string::npos);
	EXPECT_TRUE((*r)["signatures"]["sources"].is_object());
	EXPECT_EQ(readText(config_.statePath).find("\"signatures\"") != std::string::npos, true);
}

/* 'enforce' refuses what the kernel would refuse, even inside a trusted
 * envelope: with the kernel's keyrings known to be empty and no db, the
 * kernel cannot verify Debian's .linux. */
TEST_F(StagerTest, EnforceRefusesWhatTheKernelWouldRefuse)
{
	std::ofstream(dir_ + "/keys") << "32ff5dc6 I------     1 perm 1f0b0000     0     0 keyring   "
					 ".builtin_trusted_keys: empty\n";
	EngineConfig config = config_;
	config.procKeys = dir_ + "/keys";
	Stager stager(*kernel_, config);
	ASSERT_TRUE(stager.start().ok());
	/* Without Secure Boot or lockdown the kernel loads it anyway: the
	 * verdict is recorded, 'enforce' does not act on it. */
	{
		StageRequest req = request("uki-signed.efi");
		req.policy = SignaturePolicy::Enforce;
		auto loose = stager.stage(std::move(req), {});
		ASSERT_TRUE(loose.ok()) << loose.error().message;
		EXPECT_EQ((*loose)["signatures"]["kernel_enforces"], false);
		ASSERT_TRUE(stager.unstage().ok());
		std::filesystem::remove(fake_ + "/kernel.bin");
	}
	setKnob("support.json", R"({"secure_boot": true})");
	StageRequest req = request("uki-signed.efi");
	req.policy = SignaturePolicy::Enforce;
	auto r = stager.stage(std::move(req), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::SignatureRejected);
	EXPECT_NE(r.error().message.find(":.linux': kernel verdict untrusted-signer"), std::string::npos)
		<< r.error().message;
	EXPECT_FALSE(std::filesystem::exists(fake_ + "/kernel.bin"));
}

/* With the real anchors (shim's MokListRT holds Debian's CA), an unsigned
 * envelope around Debian's kernel passes the kernel verdict; only the
 * firmware verdict refuses it, and EnforceFirmwareVerdict=no lets it pass. */
TEST_F(StagerTest, FirmwareVerdictEnforcementIsSeparate)
{
	if (!std::filesystem::exists(fixture("real/efivars-shim")))
		GTEST_SKIP() << "real-binary fixtures unavailable (tests/fixtures/make-real-fixtures.py)";
	EngineConfig config = config_;
	config.useFirmwareDb = true;
	config.efivarsDir = fixture("real/efivars-shim");
	config.mokVariablesDir = dir_ + "/no-mok";
	for (bool firmware : { true, false }) {
		SCOPED_TRACE(firmware);
		config.enforceFirmwareVerdict = firmware;
		Stager stager(*kernel_, config);
		ASSERT_TRUE(stager.start().ok());
		StageRequest req = request("uki.efi");
		req.policy = SignaturePolicy::Enforce;
		auto r = stager.stage(std::move(req), {});
		if (firmware) {
			ASSERT_FALSE(r.ok());
			EXPECT_NE(r.error().message.find("firmware verdict unsigned"), std::string::npos)
				<< r.error().message;
		} else {
			ASSERT_TRUE(r.ok()) << r.error().message;
			EXPECT_EQ((*r)["signatures"]["objects"][1]["kernel"]["verdict"], "trusted");
			EXPECT_EQ((*r)["signatures"]["objects"][0]["firmware"]["verdict"], "unsigned");
		}
	}
}

TEST_F(StagerTest, AutoPolicyFollowsSecureBoot)
{
	setKnob("support.json", R"({"secure_boot": true})");
	StageRequest unsignedUki = request("uki.efi");
	unsignedUki.policy = SignaturePolicy::Auto;
	auto r = stager_->stage(std::move(unsignedUki), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::SignatureRejected);

	StageRequest extra = request("uki-signed.efi");
	extra.policy = SignaturePolicy::Auto;
	extra.cmdlineExtra = "init=/bin/sh";
	r = stager_->stage(std::move(extra), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::InvalidArgument);
	EXPECT_NE(r.error().message.find("Secure Boot"), std::string::npos);
}

TEST_F(StagerTest, SecondStageWhileOneRunsIsBusy)
{
	setKnob("delay-ms", "1500");
	Result<nlohmann::json> first = makeError(Code::Internal, "not run");
	std::thread t([&] { first = stager_->stage(request("uki.efi"), {}); });
	/* Wait until the first one is inside the pipeline. */
	for (int i = 0; i < 200 && stager_->state() != StageState::Staging; i++)
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
	auto second = stager_->stage(request("uki-noinitrd.efi"), {});
	auto unstage = stager_->unstage();
	t.join();
	ASSERT_FALSE(second.ok());
	EXPECT_EQ(second.error().code, Code::Busy);
	ASSERT_FALSE(unstage.ok());
	EXPECT_EQ(unstage.error().code, Code::Busy);
	EXPECT_TRUE(first.ok());
	EXPECT_EQ(stager_->staged()["uki"]["path"], fixture("uki.efi"));
}

TEST_F(StagerTest, UnstageAndReconcile)
{
	auto r = stager_->stage(request("uki.efi"), {});
	ASSERT_TRUE(r.ok());

	/* A restarted daemon finds its record and the loaded kernel. */
	Stager restarted(*kernel_, config_);
	ASSERT_TRUE(restarted.start().ok());
	EXPECT_EQ(restarted.state(), StageState::Staged);
	EXPECT_EQ(restarted.staged(), *r);
	EXPECT_TRUE(restarted.checkRebootable().ok());

	/* Loaded, but not by us. */
	std::filesystem::remove(config_.statePath);
	Stager foreign(*kernel_, config_);
	ASSERT_TRUE(foreign.start().ok());
	EXPECT_EQ(foreign.state(), StageState::Foreign);

	/* Killed between load and record: the loaded kernel is unknown. */
	std::ofstream(config_.statePath) << r->dump();
	std::ofstream(config_.statePath + ".pending") << "{}";
	Stager interrupted(*kernel_, config_);
	ASSERT_TRUE(interrupted.start().ok());
	EXPECT_EQ(interrupted.state(), StageState::Foreign);
	EXPECT_NE(interrupted.lastError().find("interrupted"), std::string::npos);

	ASSERT_TRUE(stager_->unstage().ok());
	EXPECT_EQ(readText(fake_ + "/loaded"), "0\n");
	EXPECT_EQ(stager_->state(), StageState::Idle);
	EXPECT_FALSE(std::filesystem::exists(config_.statePath));
	auto again = stager_->unstage();
	ASSERT_FALSE(again.ok());
	EXPECT_EQ(again.error().code, Code::NotStaged);
	auto reboot = stager_->checkRebootable();
	ASSERT_FALSE(reboot.ok());
	EXPECT_EQ(reboot.error().code, Code::NotStaged);

	/* Gone behind our back (reboot, kexec -u): idle. */
	ASSERT_TRUE(stager_->stage(request("uki.efi"), {}).ok());
	setKnob("loaded", "0");
	Stager lost(*kernel_, config_);
	ASSERT_TRUE(lost.start().ok());
	EXPECT_EQ(lost.state(), StageState::Idle);
}

TEST_F(StagerTest, CrashSlotIsItsOwn)
{
	Stager crash(*kernel_, config_, Slot::Crash);
	ASSERT_TRUE(crash.start().ok());
	EXPECT_EQ(crash.state(), StageState::Idle);

	/* Without crashkernel= there is no crash slot, and it says how to get one. */
	auto none = crash.stage(request("uki.efi"), {});
	ASSERT_FALSE(none.ok());
	EXPECT_EQ(none.error().code, Code::NoCrashMemory);
	EXPECT_NE(none.error().message.find("crashkernel="), std::string::npos) << none.error().message;
	EXPECT_EQ(crash.state(), StageState::Idle);

	/* Too little of it: named before the kernel is asked. */
	setKnob("support.json", R"({"crash_size": 4096})");
	auto small = crash.stage(request("uki.efi"), {});
	ASSERT_FALSE(small.ok());
	EXPECT_EQ(small.error().code, Code::NoCrashMemory);
	EXPECT_NE(small.error().message.find("more than the 4 KiB crashkernel= reserved"), std::string::npos)
		<< small.error().message;
	EXPECT_FALSE(std::filesystem::exists(fake_ + "/crash-kernel.bin"));

	setKnob("support.json", R"({"crash_size": 268435456})");
	ASSERT_TRUE(stager_->stage(request("uki.efi"), {}).ok());
	auto r = crash.stage(request("uki.efi", { "addon-cmdline.addon.efi" }), {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ((*r)["slot"], "crash");
	EXPECT_EQ(readText(fake_ + "/crash-flags"), "0x2\n");
	EXPECT_EQ(readText(fake_ + "/crash-kernel.bin"), readText(fixture("vmlinuz")));
	EXPECT_EQ(readText(fake_ + "/crash-cmdline.bin"),
		  std::string("console=ttyS0 kexecd.uki=1 kexecd.addon=1") + '\0');
	EXPECT_EQ(readText(fake_ + "/cmdline.bin"), std::string("console=ttyS0 kexecd.uki=1") + '\0');
	const std::string crashRecord = dir_ + "/run/staged-crash.json";
	EXPECT_EQ(nlohmann::json::parse(readText(crashRecord)), *r);
	EXPECT_EQ((*stager_).staged()["slot"], "reboot");

	/* A restart finds both. */
	Stager again(*kernel_, config_, Slot::Crash);
	ASSERT_TRUE(again.start().ok());
	EXPECT_EQ(again.state(), StageState::Staged);
	EXPECT_EQ(again.staged(), *r);

	/* Unstaging one slot never touches the other. */
	ASSERT_TRUE(crash.unstage().ok());
	EXPECT_EQ(readText(fake_ + "/crash-loaded"), "0\n");
	EXPECT_EQ(readText(fake_ + "/loaded"), "1\n");
	EXPECT_FALSE(std::filesystem::exists(crashRecord));
	EXPECT_TRUE(std::filesystem::exists(config_.statePath));
	EXPECT_EQ(stager_->state(), StageState::Staged);
	EXPECT_EQ(crash.unstage().error().message, "no crash kernel is staged");
	ASSERT_TRUE(crash.stage(request("uki.efi"), {}).ok());
	ASSERT_TRUE(stager_->unstage().ok());
	EXPECT_EQ(readText(fake_ + "/crash-loaded"), "1\n");
	EXPECT_FALSE(crash.refresh());
	EXPECT_EQ(crash.state(), StageState::Staged);

	/* kexec -p -u behind our back: the crash slot's file says so. */
	setKnob("crash-loaded", "0");
	EXPECT_TRUE(crash.refresh());
	EXPECT_EQ(crash.state(), StageState::Idle);
	EXPECT_NE(crash.lastError().find("kexec_crash_loaded is 0"), std::string::npos) << crash.lastError();

	/* The kernel's own refusal for want of crash memory gets the name too. */
	setKnob("fail-load-once", std::to_string(ENOMEM));
	auto refused = crash.stage(request("uki.efi"), {});
	ASSERT_FALSE(refused.ok());
	EXPECT_EQ(refused.error().code, Code::NoCrashMemory);
	EXPECT_NE(refused.error().message.find("does not fit in the 256 MiB"), std::string::npos)
		<< refused.error().message;
}

TEST_F(StagerTest, LimitsAreNamed)
{
	EngineConfig small = config_;
	small.limits.maxAddons = 1;
	small.limits.maxCmdlineExtra = 4;
	Stager stager(*kernel_, small);
	auto r = stager.stage(request("uki.efi", { "addon-cmdline.addon.efi", "addon-initrd.addon.efi" }), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::InvalidArgument);
	EXPECT_NE(r.error().message.find("limit of 1"), std::string::npos);

	StageRequest extra = request("uki.efi");
	extra.cmdlineExtra = "quiet splash";
	r = stager.stage(std::move(extra), {});
	ASSERT_FALSE(r.ok());
	EXPECT_NE(r.error().message.find("cmdline_extra"), std::string::npos);

	StageRequest profile = request("uki.efi");
	profile.profile = "@3";
	r = stager.stage(std::move(profile), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::InvalidArgument);
}

TEST_F(StagerTest, BpfSchemeNeedsKernelSupport)
{
	StageRequest req = request("uki.efi");
	req.scheme = Scheme::Bpf;
	auto r = stager_->stage(std::move(req), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::Unsupported);
	EXPECT_NE(r.error().message.find("scheme 'bpf' requested"), std::string::npos);
}

TEST_F(StagerTest, BpfSchemeHandsTheKernelTwoContainers)
{
	if (config_.parserPath.empty())
		GTEST_SKIP() << "KEXECD_PARSER_CONTAINER not set (built without BPF parsers)";
	setKnob("support.json", R"({"bpf_parser": true})");
	StageRequest req = request("uki-profiles.efi", { "addon-cmdline.addon.efi", "addon-initrd.addon.efi" });
	req.profile = "debug";
	auto r = stager_->stage(std::move(req), {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ((*r)["scheme"], "bpf");
	EXPECT_NE((*r)["scheme_reason"].get<std::string>().find("auto"), std::string::npos);

	/* fd 1: the signed parser container, as installed. */
	EXPECT_EQ(readText(fake_ + "/kernel.bin"), readText(config_.parserPath));
	/* cmdline_len 0: the kernel takes the command line from the parser. */
	EXPECT_EQ(readText(fake_ + "/cmdline.bin"), "");
	EXPECT_EQ(readText(fake_ + "/flags"), "0x0\n");
	/* fd 2: the image container with the untouched PEs. */
	const auto container = readFile(fake_ + "/initrd.bin");
	auto view = readElfContainer({ container.data(), container.size() });
	ASSERT_TRUE(view.ok()) << view.error().message;
	ASSERT_EQ(view->sections.size(), 4u);
	EXPECT_EQ(view->sections[0].first, ".pe.1");
	EXPECT_EQ(view->sections[1].first, ".pe.2");
	EXPECT_EQ(view->sections[2].first, ".pe.3");
	EXPECT_EQ(view->sections[3].first, ".select");
	auto same = [](std::span<const uint8_t> a, const std::vector<uint8_t> &b) {
		return std::equal(a.begin(), a.end(), b.begin(), b.end());
	};
	EXPECT_TRUE(same(view->sections[0].second, readFile(fixture("uki-profiles.efi"))));
	EXPECT_TRUE(same(view->sections[2].second, readFile(fixture("addon-initrd.addon.efi"))));
	EXPECT_EQ(std::string(view->sections[3].second.begin(), view->sections[3].second.end()), "1");
	/* The container is described by its sections' digests, the .pe.N ones
	 * being the files' (issue 16): each matches what the kernel got. */
	EXPECT_EQ((*r)["container"]["size"], container.size());
	ASSERT_EQ((*r)["container"]["sections"].size(), view->sections.size());
	for (size_t i = 0; i < view->sections.size(); i++)
		EXPECT_EQ((*r)["container"]["sections"][i]["sha256"], sha256Hex(view->sections[i].second)) << i;
	EXPECT_EQ((*r)["container"]["sections"][0]["sha256"], (*r)["uki"]["sha256"]);
	EXPECT_EQ((*r)["parser"]["signature"]["verdict"], "trusted");
	EXPECT_EQ((*r)["cmdline"], "base=1 debug kexecd.addon=1 kexecd.addon2=1");
	/* The fake shows no sig_mode: the record must not claim the kernel checks the PEs. */
	EXPECT_EQ((*r)["covered_by_kernel_signature_check"].get<std::string>().rfind("parser container; each PE only if", 0),
		  0u)
		<< (*r)["covered_by_kernel_signature_check"];

	/* The kernel verifies every PE and the parser here: each object has a
	 * kernel verdict; no .linux object is handed over on its own. */
	const nlohmann::json &objects = (*r)["signatures"]["objects"];
	ASSERT_EQ(objects.size(), 4u) << objects.dump();
	for (size_t i = 0; i < 3; i++) {
		EXPECT_EQ(objects[i]["kernel"]["verdict"], "unsigned") << objects[i].dump();
		EXPECT_EQ(objects[i]["firmware"]["verdict"], "unsigned");
	}
	EXPECT_EQ(objects[3]["object"], "parser");
	EXPECT_EQ(objects[3]["kernel"]["verdict"], "trusted");
	EXPECT_TRUE(objects[3]["firmware"].is_null());
}

/* The parsers send VERIFY_SIG only when kexec_context.sig_mode asks: the
 * record says the kernel checks each PE exactly then, and the kernel
 * verdict of a PE predicts a refusal only then. */
TEST_F(StagerTest, BpfRecordFollowsTheKernelsSigMode)
{
	if (config_.parserPath.empty())
		GTEST_SKIP() << "KEXECD_PARSER_CONTAINER not set (built without BPF parsers)";
	/* the kernel verdict alone: the firmware's would refuse the unsigned UKI anyway */
	EngineConfig config = config_;
	config.enforceFirmwareVerdict = false;
	Stager stager(*kernel_, config);
	ASSERT_TRUE(stager.start().ok());
	auto stage = [&](const char *mode) {
		setKnob("support.json",
			std::string(R"({"bpf_parser": true, "secure_boot": true, "sig_mode": ")") + mode + "\"}");
		StageRequest req = request("uki.efi");
		req.policy = SignaturePolicy::Enforce;
		return stager.stage(std::move(req), {});
	};
	auto none = stage("none");
	ASSERT_TRUE(none.ok()) << none.error().message;
	EXPECT_EQ((*none)["covered_by_kernel_signature_check"].get<std::string>().rfind("parser container only", 0), 0u);
	EXPECT_NE((*none)["signatures"]["objects"][0]["kernel_note"].get<std::string>().find("sig_mode=none"),
		  std::string::npos);
	auto sig = stage("sig");
	ASSERT_FALSE(sig.ok()) << "an unsigned UKI the kernel would VERIFY_SIG must be refused under enforce";
	EXPECT_EQ(sig.error().code, Code::SignatureRejected);
	setKnob("support.json", R"({"bpf_parser": true, "sig_mode": "ima"})");
	auto ima = stager.stage(request("uki.efi"), {});
	ASSERT_TRUE(ima.ok()) << ima.error().message;
	EXPECT_EQ((*ima)["covered_by_kernel_signature_check"].get<std::string>().rfind("parser container and each PE", 0),
		  0u)
		<< (*ima)["covered_by_kernel_signature_check"];
}

/* VERIFY_SIG sends a PE whole: one above the parser's payload limit is
 * refused before loading, even with a small .linux. */
TEST_F(StagerTest, BpfRefusesAPeTheParserCannotSendWhole)
{
	if (config_.parserPath.empty())
		GTEST_SKIP() << "KEXECD_PARSER_CONTAINER not set (built without BPF parsers)";
	setKnob("support.json", R"({"bpf_parser": true})");
	const std::string big = dir_ + "/big.efi";
	std::filesystem::copy_file(fixture("uki.efi"), big);
	std::filesystem::resize_file(big, PC_PAYLOAD_MAX + 1); /* zero trailing data, sparse */
	StageRequest req;
	req.uki = openInput(big);
	req.scheme = Scheme::Bpf;
	auto r = stager_->stage(std::move(req), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::InvalidImage);
	EXPECT_NE(r.error().message.find("per PE (VERIFY_SIG)"), std::string::npos) << r.error().message;
}

TEST_F(StagerTest, BpfSchemeRefusalIsNotASilentFallback)
{
	if (config_.parserPath.empty())
		GTEST_SKIP() << "KEXECD_PARSER_CONTAINER not set (built without BPF parsers)";
	setKnob("support.json", R"({"bpf_parser": true})");
	setKnob("fail-load", "8"); // ENOEXEC
	auto r = stager_->stage(request("uki.efi"), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::KernelRefused);
	EXPECT_NE(r.error().message.find("kernel log"), std::string::npos) << r.error().message;
}

/* KERNEL-ABI.md §10: a draft kernel's kexec_file_load returns 0 having
 * loaded nothing; kexecd must not record a stage it does not have. */
TEST_F(StagerTest, BpfLoadThatLoadedNothingIsAnError)
{
	if (config_.parserPath.empty())
		GTEST_SKIP() << "KEXECD_PARSER_CONTAINER not set (built without BPF parsers)";
	setKnob("support.json", R"({"bpf_parser": true})");
	setKnob("load-noop", "1");
	auto r = stager_->stage(request("uki.efi"), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::KernelRefused);
	EXPECT_NE(r.error().message.find("kexec_loaded is still 0"), std::string::npos) << r.error().message;
	EXPECT_FALSE(std::filesystem::exists(config_.statePath));
}

TEST_F(StagerTest, InspectShowsBothSchemes)
{
	auto j = inspectImage(openInput(fixture("uki.efi")), {}, "", config_, true);
	ASSERT_TRUE(j.ok()) << j.error().message;
	EXPECT_EQ((*j)["classic"]["kernel"]["sha256"], sha(fixture("vmlinuz")));
	EXPECT_EQ((*j)["classic"]["cmdline"], "console=ttyS0 kexecd.uki=1");
	EXPECT_EQ((*j)["container"]["sections"][0]["name"], ".pe.1");
	EXPECT_EQ((*j)["container"]["sections"][0]["sha256"], sha(fixture("uki.efi")));
	EXPECT_EQ((*j)["container"]["bpf_ready"], true);
	EXPECT_EQ((*j)["uki"]["signature"]["verdict"], "unsigned");
}

TEST_F(StagerTest, StageDefaultUsesDiscovery)
{
	const std::string esp = dir_ + "/esp";
	std::filesystem::create_directories(esp + "/EFI/Linux/debian-6.1.0.efi.extra.d");
	std::filesystem::create_directories(esp + "/loader/addons");
	std::filesystem::copy_file(fixture("uki-noinitrd.efi"), esp + "/EFI/Linux/debian-5.10.0.efi");
	std::filesystem::copy_file(fixture("uki.efi"), esp + "/EFI/Linux/debian-6.1.0.efi");
	std::filesystem::copy_file(fixture("addon-cmdline.addon.efi"),
				   esp + "/EFI/Linux/debian-6.1.0.efi.extra.d/a.addon.efi");
	std::filesystem::copy_file(fixture("addon-initrd.addon.efi"), esp + "/loader/addons/g.addon.efi");

	EngineConfig config = espConfig(esp);
	Stager stager(*kernel_, config);
	ASSERT_TRUE(stager.start().ok());
	auto r = stager.stageDefault({}, {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	/* Newest version wins; global addons come before the UKI's own. */
	EXPECT_EQ((*r)["uki"]["path"], esp + "/EFI/Linux/debian-6.1.0.efi");
	EXPECT_EQ((*r)["discovery"]["id"], "debian-6.1.0.efi");
	EXPECT_FALSE((*r)["discovery"]["why"].get<std::string>().empty());
	ASSERT_EQ((*r)["addons"].size(), 2u);
	EXPECT_EQ((*r)["addons"][0]["path"], esp + "/loader/addons/g.addon.efi");
	EXPECT_EQ(readText(fake_ + "/cmdline.bin"),
		  std::string("console=ttyS0 kexecd.uki=1 kexecd.addon2=1 kexecd.addon=1") + '\0');
	EXPECT_EQ(nlohmann::json::parse(readText(config_.statePath)), *r);

	/* No ESP: a named error, nothing staged changes. */
	EngineConfig none = config;
	none.discovery.esp = dir_ + "/missing";
	Stager lost(*kernel_, none);
	ASSERT_TRUE(lost.start().ok());
	auto e = lost.stageDefault({}, {});
	ASSERT_FALSE(e.ok());
	EXPECT_EQ(e.error().code, Code::Unsupported);
	EXPECT_EQ(lost.staged(), *r);
}

TEST_F(StagerTest, BootedKernelIsTheSelectedEntrysKernel)
{
	const std::string esp = dir_ + "/esp", efivars = dir_ + "/efivars";
	std::filesystem::create_directories(esp + "/EFI/Linux");
	std::filesystem::create_directories(efivars);
	std::filesystem::copy_file(fixture("uki.efi"), esp + "/EFI/Linux/debian-6.1.0.efi");
	std::filesystem::copy_file(fixture("uki-noinitrd.efi"), esp + "/EFI/Linux/debian-5.10.0.efi");
	const EngineConfig config = espConfig(esp, efivars);

	BootedKernel none = findBootedKernel(config.discovery, config.limits);
	EXPECT_EQ(none.sha256, "");
	EXPECT_NE(none.why.find("LoaderEntrySelected"), std::string::npos) << none.why;

	/* systemd-boot writes the id it booted; case does not matter. */
	std::string data = { '\x07', '\0', '\0', '\0' };
	for (char c : std::string("Debian-6.1.0.efi") + '\0') {
		data += c;
		data += '\0';
	}
	std::ofstream(efivars + "/LoaderEntrySelected-" + kLoaderVendorGuid, std::ios::binary) << data;
	BootedKernel booted = findBootedKernel(config.discovery, config.limits);
	EXPECT_EQ(booted.sha256, sha(fixture("vmlinuz"))) << booted.why;
	EXPECT_EQ(booted.entry, "Debian-6.1.0.efi");

	/* A daemon that stops does not wait for the digest (issue 30). */
	std::stop_source stop;
	stop.request_stop();
	BootedKernel stopped = findBootedKernel(config.discovery, config.limits, stop.get_token());
	EXPECT_EQ(stopped.sha256, "");
	EXPECT_NE(stopped.why.find("stopped"), std::string::npos) << stopped.why;

	/* Staging that entry gives the same digest, which is what reboot --auto compares. */
	Stager stager(*kernel_, config);
	ASSERT_TRUE(stager.start().ok());
	auto r = stager.stage(request("uki.efi"), {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ((*r)["kernel"]["sha256"], booted.sha256);

	std::filesystem::remove(esp + "/EFI/Linux/debian-6.1.0.efi");
	BootedKernel gone = findBootedKernel(config.discovery, config.limits);
	EXPECT_EQ(gone.sha256, "");
	EXPECT_NE(gone.why.find("no longer"), std::string::npos) << gone.why;
}

TEST_F(StagerTest, StageDefaultStagesTheEntryAsSystemdBootWould)
{
	/* A two-profile UKI with a boot counter, chosen by LoaderEntryOneShot
	 * through its profile ID; a global addon, a per-UKI credential (in
	 * the counter-less .extra.d) and a global credential. */
	const std::string esp = dir_ + "/esp", efivars = dir_ + "/efivars";
	std::filesystem::create_directories(esp + "/EFI/Linux/m.efi.extra.d");
	std::filesystem::create_directories(esp + "/loader/addons");
	std::filesystem::create_directories(esp + "/loader/credentials");
	std::filesystem::create_directories(efivars);
	writeFile(esp + "/EFI/Linux/m+3.efi",
		  makePe({ { ".osrel", "ID=m\n" }, { ".cmdline", "base" }, { ".initrd", "IIIII" },
			   { ".linux", "kernel" }, { ".profile", "ID=main\n" }, { ".profile", "ID=debug\n" },
			   { ".cmdline", "debug" } }));
	writeFile(esp + "/loader/addons/x.addon.efi", makePe({ { ".cmdline", "x=1" }, { ".initrd", "XI" } }));
	std::ofstream(esp + "/EFI/Linux/m.efi.extra.d/a.cred") << "A";
	std::ofstream(esp + "/loader/credentials/g.cred") << "G";
	auto setVariable = [&](const std::string &name, const std::string &value) {
		std::string data = { '\x07', '\0', '\0', '\0' };
		for (char c : value + '\0') {
			data += c;
			data += '\0';
		}
		std::ofstream(efivars + "/" + name + "-" + kLoaderVendorGuid, std::ios::binary) << data;
	};
	setVariable("LoaderEntryOneShot", "m.efi@debug");

	EngineConfig config = espConfig(esp, efivars);
	Stager stager(*kernel_, config);
	ASSERT_TRUE(stager.start().ok());
	auto r = stager.stageDefault({}, {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ((*r)["discovery"]["id"], "m.efi@debug");
	EXPECT_EQ((*r)["profile"]["index"], 1);
	EXPECT_EQ(readText(fake_ + "/cmdline.bin"), std::string("debug x=1") + '\0');

	std::string want = "IIIII";
	want.resize(8, '\0');
	for (const auto &a : { packStubCpio({ { "a.cred", { 'A' } } }, kCpioCredentials),
			       packStubCpio({ { "g.cred", { 'G' } } }, kCpioGlobalCredentials),
			       packStubCpioLiteral(std::vector<uint8_t>{ 'I', 'D', '=', 'm', '\n' }, kCpioMeta, "os-release"),
			       packStubCpioLiteral(std::vector<uint8_t>{ 'I', 'D', '=', 'd', 'e', 'b', 'u', 'g', '\n' },
						   kCpioMeta, "profile") })
		want.append(a.begin(), a.end());
	want += std::string("XI\0\0", 4);
	EXPECT_EQ(readText(fake_ + "/initrd.bin"), want);

	/* Consumed, as systemd-boot consumes it. */
	EXPECT_FALSE(readLoaderVariable(efivars, "LoaderEntryOneShot"));

	/* A one-shot that picked nothing stays armed. */
	setVariable("LoaderEntryOneShot", "nothing.efi");
	r = stager.stageDefault({}, {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ((*r)["discovery"]["id"], "m.efi");
	EXPECT_EQ(readLoaderVariable(efivars, "LoaderEntryOneShot"), "nothing.efi");

	/* A failed staging consumes nothing. */
	setVariable("LoaderEntryOneShot", "m.efi@debug");
	setKnob("fail-load-once", "22");
	r = stager.stageDefault({}, {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(readLoaderVariable(efivars, "LoaderEntryOneShot"), "m.efi@debug");
}

TEST_F(StagerTest, CmdlineExtraFollowsTheStubsRule)
{
	/* Secure Boot on: refused only when the UKI has a .cmdline. */
	setKnob("support.json", R"({"secure_boot": true})");
	const std::string bare = dir_ + "/bare.efi";
	writeFile(bare, makePe({ { ".linux", "kernel" } }));
	StageRequest req;
	req.uki = openInput(bare);
	req.cmdlineExtra = "root=/dev/vda";
	req.policy = SignaturePolicy::Warn;
	auto r = stager_->stage(std::move(req), {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ(readText(fake_ + "/cmdline.bin"), std::string("root=/dev/vda") + '\0');
}

TEST_F(StagerTest, SecureBootSkipsDiscoveredAddonsThatDoNotVerify)
{
	/* As systemd-stub under Secure Boot: an addon found on the ESP that
	 * does not verify is skipped and named; the rest is staged. */
	setKnob("support.json", R"({"secure_boot": true})");
	const std::string esp = makeEsp("s-1.efi", "uki-signed.efi",
					{ { "a-signed.addon.efi", "addon-signed.addon.efi" },
					  { "b-unsigned.addon.efi", "addon-cmdline.addon.efi" } });
	EngineConfig config = espConfig(esp);
	config.policy = SignaturePolicy::Auto;
	Stager stager(*kernel_, config);
	ASSERT_TRUE(stager.start().ok());
	auto r = stager.stageDefault({}, {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	ASSERT_EQ((*r)["addons"].size(), 1u);
	EXPECT_EQ((*r)["addons"][0]["path"], esp + "/loader/addons/a-signed.addon.efi");
	ASSERT_EQ((*r)["skipped_addons"].size(), 1u);
	EXPECT_EQ((*r)["skipped_addons"][0]["path"], esp + "/loader/addons/b-unsigned.addon.efi");
	EXPECT_EQ((*r)["skipped_addons"][0]["verdict"], "unsigned");

	/* Named explicitly, the same addon is the caller's will: enforce refuses. */
	StageRequest explicitAddon = request("uki-signed.efi", { "addon-cmdline.addon.efi" });
	auto e = stager.stage(std::move(explicitAddon), {});
	ASSERT_FALSE(e.ok());
	EXPECT_EQ(e.error().code, Code::SignatureRejected);
}

/* Addons are placed (their payloads copied to where the kernel reads
 * them) before Secure Boot's verdict on them: one dropped after that
 * leaves a gap, and what the kernel gets is composed anew around it. */
TEST_F(StagerTest, AnAddonDroppedAfterItWasPlacedLeavesNoTrace)
{
	const std::string esp = makeEsp("s-1.efi", "uki-signed.efi",
					{ { "a-unsigned.addon.efi", "addon-initrd.addon.efi" },
					  { "b-signed.addon.efi", "addon-signed.addon.efi" } });
	EngineConfig config = espConfig(esp);
	config.policy = SignaturePolicy::Auto;
	Stager stager(*kernel_, config);
	ASSERT_TRUE(stager.start().ok());

	/* Without Secure Boot both are loaded: the addon's initrd is in. */
	auto both = stager.stageDefault({}, {});
	ASSERT_TRUE(both.ok()) << both.error().message;
	ASSERT_EQ((*both)["addons"].size(), 2u);
	EXPECT_NE(readText(fake_ + "/initrd.bin").find("kexecd addon initrd"), std::string::npos);
	expectInitrdRecord((*both)["initrd"], readText(fake_ + "/initrd.bin"));

	setKnob("support.json", R"({"secure_boot": true})");
	auto one = stager.stageDefault({}, {});
	ASSERT_TRUE(one.ok()) << one.error().message;
	ASSERT_EQ((*one)["addons"].size(), 1u);
	EXPECT_EQ((*one)["addons"][0]["path"], esp + "/loader/addons/b-signed.addon.efi");
	EXPECT_EQ((*one)["addons"][0]["sha256"], sha256Hex(readFile(fixture("addon-signed.addon.efi"))));
	EXPECT_EQ(readText(fake_ + "/initrd.bin").find("kexecd addon initrd"), std::string::npos);
	expectInitrdRecord((*one)["initrd"], readText(fake_ + "/initrd.bin"));

	if (config_.parserPath.empty())
		GTEST_SKIP() << "KEXECD_PARSER_CONTAINER not set (built without BPF parsers)";
	/* The BPF scheme: the addon after the dropped one moves up in the
	 * image container, which the kernel reads back to back. */
	setKnob("support.json", R"({"secure_boot": true, "bpf_parser": true})");
	config.parserPath = config_.parserPath;
	config.policy = SignaturePolicy::Warn;
	Stager bpf(*kernel_, config);
	ASSERT_TRUE(bpf.start().ok());
	auto r = bpf.stageDefault({}, {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ((*r)["scheme"], "bpf");
	ASSERT_EQ((*r)["addons"].size(), 1u);
	const auto container = readFile(fake_ + "/initrd.bin");
	auto view = readElfContainer({ container.data(), container.size() });
	ASSERT_TRUE(view.ok()) << view.error().message;
	ASSERT_GE(view->sections.size(), 2u);
	EXPECT_EQ(view->sections[0].first, ".pe.1");
	EXPECT_EQ(view->sections[1].first, ".pe.2");
	const auto addon = readFile(fixture("addon-signed.addon.efi"));
	EXPECT_TRUE(std::equal(view->sections[1].second.begin(), view->sections[1].second.end(), addon.begin(),
			       addon.end()));
	for (size_t i = 0; i < view->sections.size(); i++)
		EXPECT_EQ((*r)["container"]["sections"][i]["sha256"], sha256Hex(view->sections[i].second)) << i;
}

TEST_F(StagerTest, DiscoveredAddonsTheStubWouldNotLoadAreSkipped)
{
	/* load_addons(): an addon with a .linux, another .uname or no PE at
	 * all is skipped with a log line; kexecd names it in the record. */
	const std::string esp = dir_ + "/esp";
	std::filesystem::create_directories(esp + "/EFI/Linux/u-1.efi.extra.d");
	std::filesystem::copy_file(fixture("uki.efi"), esp + "/EFI/Linux/u-1.efi");
	const std::string extra = esp + "/EFI/Linux/u-1.efi.extra.d/";
	std::filesystem::copy_file(fixture("addon-linux.addon.efi"), extra + "a-linux.addon.efi");
	std::filesystem::copy_file(fixture("addon-uname.addon.efi"), extra + "b-uname.addon.efi");
	std::ofstream(extra + "c-garbage.addon.efi") << "not a PE";
	std::filesystem::copy_file(fixture("addon-cmdline.addon.efi"), extra + "d-good.addon.efi");
	EngineConfig config = espConfig(esp);
	Stager stager(*kernel_, config);
	ASSERT_TRUE(stager.start().ok());
	auto r = stager.stageDefault({}, {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	ASSERT_EQ((*r)["addons"].size(), 1u);
	EXPECT_EQ((*r)["addons"][0]["path"], extra + "d-good.addon.efi");
	ASSERT_EQ((*r)["skipped_addons"].size(), 3u) << (*r)["skipped_addons"].dump();
	EXPECT_EQ((*r)["skipped_addons"][0]["path"], extra + "a-linux.addon.efi");
	EXPECT_EQ((*r)["skipped_addons"][1]["path"], extra + "b-uname.addon.efi");
	EXPECT_EQ((*r)["skipped_addons"][2]["path"], extra + "c-garbage.addon.efi");
	EXPECT_EQ(readText(fake_ + "/cmdline.bin"), std::string("console=ttyS0 kexecd.uki=1 kexecd.addon=1") + '\0');

	/* Passed explicitly, the same addon is an error. */
	auto e = stager.stage(request("uki.efi", { "addon-uname.addon.efi" }), {});
	ASSERT_FALSE(e.ok());
	EXPECT_EQ(e.error().code, Code::InvalidImage);
}

TEST_F(StagerTest, BpfRefusalFallsBackOnlyWhenConfigured)
{
	if (config_.parserPath.empty())
		GTEST_SKIP() << "KEXECD_PARSER_CONTAINER not set (built without BPF parsers)";
	EngineConfig config = config_;
	config.allowSchemeFallback = true;
	Stager stager(*kernel_, config);
	ASSERT_TRUE(stager.start().ok());
	setKnob("support.json", R"({"bpf_parser": true})");

	/* The kernel claims support but refuses the parser container once:
	 * with fallback allowed, auto stages classic and says why. */
	setKnob("fail-load-once", "8"); // ENOEXEC
	auto r = stager.stage(request("uki.efi"), {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ((*r)["scheme"], "classic");
	EXPECT_NE((*r)["scheme_reason"].get<std::string>().find("fell back to classic"), std::string::npos);
	EXPECT_FALSE(r->contains("container"));
	EXPECT_EQ(readText(fake_ + "/cmdline.bin"), std::string("console=ttyS0 kexecd.uki=1") + '\0');
	EXPECT_EQ(readText(fake_ + "/kernel.bin"), readText(fixture("vmlinuz")));
	/* The verdicts are the classic scheme's, for what was loaded in the end. */
	EXPECT_EQ((*r)["signatures"]["objects"].back()["object"], "kernel");

	/* An explicit scheme=bpf never falls back. */
	setKnob("fail-load-once", "8");
	StageRequest forced = request("uki.efi");
	forced.scheme = Scheme::Bpf;
	auto refused = stager.stage(std::move(forced), {});
	ASSERT_FALSE(refused.ok());
	EXPECT_EQ(refused.error().code, Code::KernelRefused);
	EXPECT_EQ(stager.staged(), *r);
}

namespace {

/* A copy of a fixture with one section's first byte replaced, or the
 * name of a section replaced (8 bytes). */
std::string patchedFixture(const std::string &dir, const std::string &name, const std::string &section,
			   std::optional<uint8_t> firstByte, std::optional<std::string> newName = {})
{
	std::vector<uint8_t> bytes = readFile(fixture(name));
	auto pe = PeFile::parse({ bytes.data(), bytes.size() }, name);
	EXPECT_TRUE(pe.ok());
	const uint8_t *base = bytes.data();
	for (const PeSection &s : pe->sections()) {
		if (s.name != section)
			continue;
		if (firstByte)
			bytes[s.pointerToRawData] = *firstByte;
		if (newName) {
			/* The section header's name field holds the name's bytes. */
			for (size_t off = 0; off + 8 <= bytes.size(); off++)
				if (std::memcmp(base + off, section.c_str(), section.size()) == 0 &&
				    std::memcmp(base + off + 20, &s.pointerToRawData, 4) == 0) {
					std::memcpy(bytes.data() + off, newName->data(), 8);
					break;
				}
		}
	}
	const std::string out = dir + "/patched-" + name;
	std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char *>(bytes.data()),
						   static_cast<std::streamsize>(bytes.size()));
	return out;
}

} // namespace

/* The total input limit is a named error in both schemes, whether the
 * addon over it was placed or not, and the staged kernel stays. */
TEST_F(StagerTest, InputsOverTheTotalLimitAreRefusedByName)
{
	auto first = stager_->stage(request("uki.efi"), {});
	ASSERT_TRUE(first.ok()) << first.error().message;
	const std::string kernelBefore = readText(fake_ + "/kernel.bin");
	EngineConfig config = config_;
	config.limits.maxTotalInput =
		readFile(fixture("uki.efi")).size() + readFile(fixture("addon-cmdline.addon.efi")).size() - 1;
	Stager tight(*kernel_, config);
	ASSERT_TRUE(tight.start().ok());
	for (Scheme scheme : { Scheme::Classic, Scheme::Bpf }) {
		if (scheme == Scheme::Bpf) {
			if (config_.parserPath.empty())
				continue;
			setKnob("support.json", R"({"bpf_parser": true})");
		}
		StageRequest req = request("uki.efi", { "addon-cmdline.addon.efi" });
		req.scheme = scheme;
		auto r = tight.stage(std::move(req), {});
		ASSERT_FALSE(r.ok()) << schemeName(scheme);
		EXPECT_EQ(r.error().code, Code::InvalidArgument);
		EXPECT_NE(r.error().message.find("inputs add up to more than the limit"), std::string::npos)
			<< r.error().message;
		EXPECT_EQ(readText(fake_ + "/kernel.bin"), kernelBefore);
		EXPECT_EQ(tight.staged(), *first);
	}
}

TEST_F(StagerTest, NonUtf8CmdlineIsRefusedByNameAndNothingWedges)
{
	const std::string bad = patchedFixture(dir_, "uki.efi", ".cmdline", 0xff);
	StageRequest r;
	r.uki = openInput(bad);
	auto result = stager_->stage(std::move(r), {});
	ASSERT_FALSE(result.ok());
	EXPECT_EQ(result.error().code, Code::InvalidImage);
	EXPECT_NE(result.error().message.find(".cmdline is not valid UTF-8 (byte 0xff at offset 0)"),
		  std::string::npos) << result.error().message;
	EXPECT_EQ(stager_->state(), StageState::Idle);
	/* Not busy: the next staging runs. */
	auto good = stager_->stage(request("uki.efi"), {});
	ASSERT_TRUE(good.ok()) << good.error().message;
}

TEST_F(StagerTest, NonUtf8DisplayTextIsEscapedInTheRecord)
{
	const std::string bad = patchedFixture(dir_, "uki.efi", ".osrel", 0xff);
	const std::string badName = patchedFixture(dir_, "addon-cmdline.addon.efi", ".cmdline", std::nullopt,
						   std::string(".cm\xf4line", 8));
	StageRequest r;
	r.uki = openInput(bad);
	r.uki.origin = "/efi/EFI/Linux/\xff\x1b[31m.efi";
	r.addons.push_back(openInput(badName));
	auto result = stager_->stage(std::move(r), {});
	ASSERT_TRUE(result.ok()) << result.error().message;
	const std::string text = result->dump(); // throws on invalid UTF-8
	EXPECT_EQ((*result)["uki"]["path"], "/efi/EFI/Linux/\\xff\\x1b[31m.efi");
	EXPECT_EQ(nlohmann::json::parse(readText(config_.statePath)), *result);
}

TEST_F(StagerTest, RecordThatCannotBeWrittenUnloadsTheNewKernel)
{
	ASSERT_TRUE(stager_->stage(request("uki.efi"), {}).ok());
	/* Only the final write fails: the directory turns world-writable
	 * right after the load, which the state file refuses to trust. */
	const std::string runDir = dir_ + "/run";
	config_.testHook = [runDir](std::string_view phase) {
		if (phase == "loaded")
			::chmod(runDir.c_str(), 0777);
	};
	Stager stager(*kernel_, config_);
	ASSERT_TRUE(stager.start().ok());
	ASSERT_EQ(stager.state(), StageState::Staged);
	auto r = stager.stage(request("uki.efi", { "addon-cmdline.addon.efi" }), {});
	ASSERT_FALSE(r.ok());
	EXPECT_NE(r.error().message.find("the new kernel was unloaded again"), std::string::npos)
		<< r.error().message;
	EXPECT_EQ(stager.state(), StageState::Idle);
	EXPECT_TRUE(stager.staged().empty()) << "never describes the previous kernel";
	EXPECT_EQ(readText(fake_ + "/loaded"), "0\n");
	EXPECT_FALSE(std::filesystem::exists(config_.statePath));
}

TEST_F(StagerTest, AThrowInsideStagingIsInternalAndReleasesBusy)
{
	auto armed = std::make_shared<bool>(true);
	config_.testHook = [armed](std::string_view phase) {
		if (*armed && phase == "compose")
			throw std::runtime_error("injected");
	};
	Stager stager(*kernel_, config_);
	ASSERT_TRUE(stager.start().ok());
	auto r = stager.stage(request("uki.efi"), {});
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::Internal);
	EXPECT_NE(r.error().message.find("injected"), std::string::npos);
	EXPECT_EQ(stager.state(), StageState::Idle);
	*armed = false;
	auto again = stager.stage(request("uki.efi"), {});
	EXPECT_TRUE(again.ok()) << "busy_ was released: " << again.error().message;
}
