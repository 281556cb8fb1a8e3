// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stager.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "digest.h"
#include "elf_container.h"
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

std::string catFiles(std::initializer_list<std::string> files)
{
	std::string out;
	for (const auto &f : files)
		out += readText(fixture(f));
	return out;
}

} // namespace

TEST_F(StagerTest, ClassicStageRecordsWhatTheKernelGot)
{
	std::vector<std::pair<std::string, double>> progress;
	auto r = stager_->stage(request("uki.efi", { "addon-cmdline.addon.efi", "addon-initrd.addon.efi" }),
				[&](std::string_view phase, double f) { progress.emplace_back(phase, f); });
	ASSERT_TRUE(r.ok()) << r.error().message;

	EXPECT_EQ(readText(fake_ + "/kernel.bin"), readText(fixture("vmlinuz")));
	EXPECT_EQ(readText(fake_ + "/initrd.bin"), catFiles({ "addon-ucode.cpio", "initrd.cpio", "addon-initrd.cpio" }));
	EXPECT_EQ(readText(fake_ + "/cmdline.bin"),
		  std::string("console=ttyS0 kexecd.uki=1 kexecd.addon=1 kexecd.addon2=1") + '\0');
	EXPECT_EQ(readText(fake_ + "/flags"), "0x0\n");

	const nlohmann::json &rec = *r;
	EXPECT_EQ(rec["scheme"], "classic");
	EXPECT_EQ(rec["uki"]["sha256"], sha(fixture("uki.efi")));
	EXPECT_EQ(rec["uki"]["path"], fixture("uki.efi"));
	EXPECT_EQ(rec["uki"]["os_release"]["pretty_name"], "Debian GNU/Linux 12 (bookworm)");
	EXPECT_EQ(rec["kernel"]["sha256"], sha(fixture("vmlinuz")));
	EXPECT_EQ(rec["initrd"]["sha256"], sha(fake_ + "/initrd.bin"));
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
	auto r = stager_->stage(request("uki-noinitrd.efi"), {});
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ(readText(fake_ + "/flags"), "0x4\n");
	EXPECT_FALSE(std::filesystem::exists(fake_ + "/initrd.bin"));
	EXPECT_TRUE((*r)["initrd"].is_null());
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
	EXPECT_EQ((*r)["container"]["sha256"], sha(fake_ + "/initrd.bin"));
	EXPECT_EQ((*r)["parser"]["signature"]["verdict"], "trusted");
	EXPECT_EQ((*r)["cmdline"], "base=1 debug kexecd.addon=1 kexecd.addon2=1");

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

	EngineConfig config = config_;
	config.discovery.esp = esp;
	config.discovery.efivarsDir = dir_ + "/no-efivars";
	config.discovery.modulesDir = dir_ + "/no-modules";
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
