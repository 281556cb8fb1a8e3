// SPDX-License-Identifier: LGPL-2.1-or-later
// The Manager's rules without a bus: slots, one staging at a time,
// "rebooting" and its bound, the staged kernel around logind's answer,
// Reboot(force), the reboot-required sentinel and Describe. Stagings are
// real (fixtures) into the recording kernel; timers fire by hand.
#include "manager.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "firmware_state.h"
#include "kexec_record.h"
#include "state_file.h"
#include "test_util.h"

using namespace kexecd;
using namespace kexecd::test;

namespace {

class FakeTimers final : public Timers
{
public:
	Id after(std::chrono::milliseconds delay, std::function<void()> fn) override
	{
		const Id id = next_++;
		timers_[id] = { delay, std::move(fn) };
		return id;
	}
	void cancel(Id id) override { timers_.erase(id); }

	/* Runs the armed timer of this delay (a test knows which it wants). */
	bool fire(std::chrono::milliseconds delay)
	{
		for (auto it = timers_.begin(); it != timers_.end(); ++it) {
			if (it->second.first != delay)
				continue;
			auto fn = std::move(it->second.second);
			timers_.erase(it);
			fn();
			return true;
		}
		return false;
	}
	size_t armed(std::chrono::milliseconds delay) const
	{
		size_t n = 0;
		for (const auto &[id, t] : timers_)
			n += t.first == delay;
		return n;
	}

private:
	Id next_ = 1;
	std::map<Id, std::pair<std::chrono::milliseconds, std::function<void()>>> timers_;
};

void writeText(const std::string &path, const std::string &text)
{
	std::filesystem::create_directories(std::filesystem::path(path).parent_path());
	std::ofstream(path) << text;
}

bool exists(const std::string &path)
{
	return std::filesystem::exists(path);
}

class ManagerTest : public ::testing::Test
{
protected:
	static constexpr std::chrono::seconds kTimeout{ 30 };

	void SetUp() override
	{
		REQUIRE_FIXTURES();
		dir_ = makeTempDir();
		fake_ = dir_ + "/kernel";
		std::filesystem::create_directories(fake_);
		EngineConfig config;
		config.trustDir = fixture("trust");
		config.useFirmwareDb = false;
		config.procKeys = dir_ + "/no-proc-keys";
		config.statePath = dir_ + "/run/staged.json";
		config.policy = SignaturePolicy::Warn;
		config.scheme = Scheme::Classic;
		config.discovery.efivarsDir = dir_ + "/efivars";
		std::filesystem::create_directories(config.discovery.efivarsDir);
		kernel_ = makeRecordingKernel(fake_);
		reboot_ = std::make_unique<Stager>(*kernel_, config);
		crash_ = std::make_unique<Stager>(*kernel_, config, Slot::Crash);
		ASSERT_TRUE(reboot_->start().ok());
		ASSERT_TRUE(crash_->start().ok());
		/* The running system: another kernel than the fixtures'. */
		writeText(dir_ + "/proc/sys/kernel/osrelease", "6.1.0-99-amd64\n");
		writeText(dir_ + "/proc/cmdline", "root=/dev/vda ro\n");
		std::filesystem::create_directories(dir_ + "/run");
		writeText(dir_ + "/proc/sys/kernel/random/boot_id", "22222222-this-boot\n");
		settings_.discovery.efivarsDir = config.discovery.efivarsDir;
		settings_.kexecRecordPath = dir_ + "/state/last-kexec.json";
		settings_.bootOriginPath = dir_ + "/run/booted.json";
		std::filesystem::create_directories(dir_ + "/state");
		RebootSettings &settings = settings_;
		settings.timeoutSec = kTimeout.count();
		settings.requiredFile = dir_ + "/run/reboot-required";
		settings.procRoot = dir_ + "/proc";
		settings.runRoot = dir_ + "/run";
		/* The unlock check reads nothing of the host's: no crypttab is
		 * no volumes. */
		settings.unlock.crypttab = dir_ + "/crypttab";
		settings.unlock.devRoot = dir_;
		settings.unlock.efivarsDir = config.discovery.efivarsDir;
		settings.unlock.tpmDir = dir_ + "/tpm0";
		manager_ = std::make_unique<Manager>(*reboot_, *crash_, *kernel_, timers_, settings,
						     [this](const LogLine &l) { logged_.push_back(l.message); });
		manager_->start();
	}

	void stage(Slot slot = Slot::Reboot)
	{
		StageRequest r;
		r.uki = openInput(fixture("uki.efi"));
		auto staged = manager_->slot(slot).stage(std::move(r), {});
		ASSERT_TRUE(staged.ok()) << staged.error().message;
	}

	bool kernelLoaded(Slot slot = Slot::Reboot)
	{
		auto l = kernel_->loaded(slot);
		return l && *l;
	}

	std::string kernelLog()
	{
		return readText(fake_ + "/calls.log");
	}

	LogindCapabilities logind() const
	{
		LogindCapabilities caps;
		caps.probed = caps.available = caps.kexec = caps.softReboot = true;
		caps.detail = "test logind";
		return caps;
	}

	/* A second Manager, as a restarted daemon would be. */
	void restartManager()
	{
		manager_.reset();
		manager_ = std::make_unique<Manager>(*reboot_, *crash_, *kernel_, timers_, settings_,
						     [this](const LogLine &l) { logged_.push_back(l.message); });
		manager_->start();
	}

	RebootSettings settings_;
	std::string dir_, fake_;
	FakeTimers timers_;
	std::unique_ptr<KexecKernel> kernel_;
	std::unique_ptr<Stager> reboot_, crash_;
	std::unique_ptr<Manager> manager_;
	std::vector<std::string> logged_;
};

TEST_F(ManagerTest, EachSlotHasItsStager)
{
	EXPECT_EQ(&manager_->slot(Slot::Reboot), reboot_.get());
	EXPECT_EQ(&manager_->slot(Slot::Crash), crash_.get());
	stage(Slot::Reboot);
	EXPECT_TRUE(kernelLoaded(Slot::Reboot));
	EXPECT_FALSE(kernelLoaded(Slot::Crash));
	EXPECT_EQ(crash_->state(), StageState::Idle);
}

TEST_F(ManagerTest, OneStagingAtATimeAcrossBothSlots)
{
	ASSERT_TRUE(manager_->beginStaging().ok());
	auto second = manager_->beginStaging();
	ASSERT_FALSE(second.ok());
	EXPECT_EQ(second.error().code, Code::Busy);
	/* Unstaging either slot waits for the staging too. */
	auto unstage = manager_->unstage(Slot::Crash);
	ASSERT_FALSE(unstage.ok());
	EXPECT_EQ(unstage.error().code, Code::Busy);
	manager_->endStaging();
	EXPECT_TRUE(manager_->beginStaging().ok());
	manager_->endStaging();
}

TEST_F(ManagerTest, NoStagingWhileRebooting)
{
	stage();
	RebootRequest kexec;
	auto plan = manager_->planReboot(kexec, logind());
	ASSERT_TRUE(plan.ok()) << plan.error().message;
	EXPECT_EQ(plan->action, RebootAction::Kexec);
	ASSERT_TRUE(manager_->checkBeforeLogind(*plan).ok());
	ASSERT_TRUE(manager_->logindAccepted(*plan).ok());
	EXPECT_TRUE(manager_->rebooting());
	auto busy = manager_->beginStaging();
	ASSERT_FALSE(busy.ok());
	EXPECT_EQ(busy.error().code, Code::Busy);
	EXPECT_NE(busy.error().message.find("reboot"), std::string::npos);
}

TEST_F(ManagerTest, RebootingEndsWhenNoShutdownComes)
{
	stage();
	auto plan = manager_->planReboot({}, logind());
	ASSERT_TRUE(plan.ok());
	ASSERT_TRUE(manager_->logindAccepted(*plan).ok());
	EXPECT_EQ(timers_.armed(kTimeout), 1u);
	ASSERT_TRUE(timers_.fire(kTimeout));
	EXPECT_EQ(reboot_->state(), StageState::Staged);
	EXPECT_TRUE(kernelLoaded());
	EXPECT_NE(reboot_->lastError().find("no shutdown within 30 s"), std::string::npos);
	EXPECT_TRUE(manager_->beginStaging().ok());
	manager_->endStaging();
}

TEST_F(ManagerTest, CancelledShutdownKeepsTheStagedKernel)
{
	stage();
	auto plan = manager_->planReboot({}, logind());
	ASSERT_TRUE(plan.ok());
	ASSERT_TRUE(manager_->logindAccepted(*plan).ok());
	manager_->prepareForShutdown(true); // the shutdown begins: still rebooting
	EXPECT_TRUE(manager_->rebooting());
	manager_->prepareForShutdown(false);
	EXPECT_EQ(reboot_->state(), StageState::Staged);
	EXPECT_NE(reboot_->lastError().find("cancelled or failed"), std::string::npos);
	/* The bound is disarmed with it. */
	EXPECT_EQ(timers_.armed(kTimeout), 0u);
}

TEST_F(ManagerTest, ColdRebootUnloadsOnlyOnceLogindAccepted)
{
	stage();
	RebootRequest cold;
	cold.mode = RebootMode::Cold;
	auto plan = manager_->planReboot(cold, logind());
	ASSERT_TRUE(plan.ok()) << plan.error().message;
	EXPECT_EQ(plan->action, RebootAction::Cold);
	EXPECT_TRUE(plan->unloadFirst);
	ASSERT_TRUE(manager_->checkBeforeLogind(*plan).ok());
	EXPECT_TRUE(kernelLoaded()); // nothing is lost before logind answers

	/* logind refuses (not running, an inhibitor, polkit): still staged,
	 * and LastError says what happened. */
	manager_->logindRefused(*plan, Error{ Code::Unsupported, 0, "systemd-logind is not running" });
	EXPECT_TRUE(kernelLoaded());
	EXPECT_EQ(reboot_->state(), StageState::Staged);
	EXPECT_NE(reboot_->lastError().find("cold reboot did not happen: systemd-logind is not running"),
		  std::string::npos)
		<< reboot_->lastError();

	/* logind accepts: the cold reboot must not find a kernel to kexec. */
	ASSERT_TRUE(manager_->logindAccepted(*plan).ok());
	EXPECT_FALSE(kernelLoaded());
	EXPECT_EQ(reboot_->state(), StageState::Idle);
	EXPECT_FALSE(manager_->rebooting());
}

TEST_F(ManagerTest, SoftRebootKeepsTheStagedKernel)
{
	stage();
	RebootRequest soft;
	soft.mode = RebootMode::Soft;
	auto plan = manager_->planReboot(soft, logind());
	ASSERT_TRUE(plan.ok()) << plan.error().message;
	EXPECT_EQ(plan->action, RebootAction::Soft);
	ASSERT_TRUE(manager_->logindAccepted(*plan).ok());
	EXPECT_TRUE(kernelLoaded());
	EXPECT_FALSE(manager_->rebooting());
}

TEST_F(ManagerTest, KexecRefusedWhenTheKernelLostItsImage)
{
	stage();
	auto plan = manager_->planReboot({}, logind());
	ASSERT_TRUE(plan.ok());
	/* kexec -u between the plan and logind (polkit was asking). */
	ASSERT_TRUE(kernel_->unload(Slot::Reboot).ok());
	auto r = manager_->checkBeforeLogind(*plan);
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::NotStaged);
}

TEST_F(ManagerTest, ForceIsRootOnlyAndKeepsTheKernelWhenRefused)
{
	RebootRequest force;
	force.force = true;
	auto nothing = manager_->planReboot(force, logind());
	ASSERT_FALSE(nothing.ok());
	EXPECT_EQ(nothing.error().code, Code::NotStaged);

	stage();
	auto plan = manager_->planReboot(force, logind());
	ASSERT_TRUE(plan.ok()) << plan.error().message;
	EXPECT_EQ(plan->action, RebootAction::Kexec);

	auto user = manager_->prepareForceReboot(1000);
	ASSERT_FALSE(user.ok());
	EXPECT_EQ(user.error().code, Code::AccessDenied);
	EXPECT_EQ(reboot_->state(), StageState::Staged);

	writeText(fake_ + "/fail-reboot", "1\n");
	ASSERT_TRUE(manager_->prepareForceReboot(0).ok());
	EXPECT_TRUE(manager_->rebooting());
	auto failed = manager_->forceRebootNow();
	ASSERT_FALSE(failed.ok());
	EXPECT_EQ(reboot_->state(), StageState::Staged);
	EXPECT_TRUE(kernelLoaded());

	std::filesystem::remove(fake_ + "/fail-reboot");
	ASSERT_TRUE(manager_->prepareForceReboot(0).ok());
	ASSERT_TRUE(manager_->forceRebootNow().ok());
	EXPECT_NE(kernelLog().find("reboot-kexec"), std::string::npos);
}

TEST_F(ManagerTest, RebootRequiredFollowsWhatIsStaged)
{
	const std::string sentinel = dir_ + "/run/reboot-required";
	EXPECT_FALSE(exists(sentinel)); // nothing staged
	stage();
	const auto changed = manager_->takeChangedProperties();
	EXPECT_NE(std::find(changed.begin(), changed.end(), "State"), changed.end());
	EXPECT_NE(std::find(changed.begin(), changed.end(), "Staged"), changed.end());
	ASSERT_TRUE(exists(sentinel));
	const std::string reason = readText(sentinel);
	EXPECT_EQ(reason.rfind("kexecd: ", 0), 0u) << reason;
	EXPECT_EQ(reason, manager_->rebootRequired());

	/* Nothing changed: nothing to publish, the file stays. */
	EXPECT_TRUE(manager_->takeChangedProperties().empty());
	ASSERT_TRUE(manager_->unstage(Slot::Reboot).ok());
	EXPECT_FALSE(manager_->takeChangedProperties().empty());
	EXPECT_FALSE(exists(sentinel));
}

TEST_F(ManagerTest, RebootRequiredForAForeignKernel)
{
	/* Another tool loads a kernel (kexec -l); the slow re-check sees it. */
	writeText(fake_ + "/loaded", "1\n");
	ASSERT_TRUE(timers_.fire(Manager::kRecheckInterval));
	EXPECT_EQ(reboot_->state(), StageState::Foreign);
	(void)manager_->takeChangedProperties();
	EXPECT_EQ(readText(dir_ + "/run/reboot-required"), "kexecd: a kernel staged by another tool is loaded\n");
	/* The re-check arms itself again. */
	EXPECT_EQ(timers_.armed(Manager::kRecheckInterval), 1u);
}

TEST_F(ManagerTest, DescribeSaysWhatIsStagedInBothSlots)
{
	stage();
	const nlohmann::json doc = manager_->describe(logind());
	EXPECT_EQ(doc.at("state"), "staged");
	EXPECT_EQ(doc.at("staged").at("uki").at("sha256"), reboot_->staged().at("uki").at("sha256"));
	EXPECT_EQ(doc.at("crash").at("state"), "idle");
	EXPECT_TRUE(doc.at("reboot").at("kexec").get<bool>());
	EXPECT_EQ(doc.at("reboot").at("reboot_required_file"), dir_ + "/run/reboot-required");
	EXPECT_EQ(doc.at("last_error"), "");
	EXPECT_TRUE(doc.contains("version"));
	LogindCapabilities gone;
	gone.probed = true;
	EXPECT_FALSE(manager_->describe(gone).at("reboot").at("kexec").get<bool>());
}

TEST_F(ManagerTest, BootedKernelIsKept)
{
	BootedKernel booted;
	booted.sha256 = std::string(64, 'a');
	booted.why = "test";
	manager_->setBootedKernel(booted);
	EXPECT_EQ(manager_->bootedKernel().sha256, booted.sha256);
	RebootRequest request;
	EXPECT_EQ(manager_->rebootFacts(request, logind()).running.linuxSha256, booted.sha256);
	EXPECT_FALSE(logged_.empty());
}

/* Issue 26: after a kexec, LoaderEntrySelected still names the entry the
 * firmware booted. kexecd booted kernel B from firmware-booted A; staging
 * A again is another kernel than the running one, so auto must kexec, not
 * soft-reboot into B. */
TEST_F(ManagerTest, AfterAKexecTheRunningKernelIsTheRecordedOne)
{
	stage();
	const std::string a = reboot_->staged().at("kernel").at("sha256");
	BootedKernel firmwareBooted;
	firmwareBooted.sha256 = a; // LoaderEntrySelected: the firmware boot's entry, A
	firmwareBooted.why = "LoaderEntrySelected";

	KexecRecord record;
	record.bootId = "11111111-the-boot-before";
	record.entry = "b.efi";
	record.kernelSha256 = std::string(64, 'b');
	record.cmdline = "root=/dev/vda ro";
	record.time = "2026-12-07T10:00:00Z";
	record.loader = readLoaderSnapshot(settings_.discovery.efivarsDir);
	ASSERT_TRUE(StateFile(settings_.kexecRecordPath).write(record.toJson()).ok());
	/* The first boot after the kexec: nothing decided for it yet. */
	std::filesystem::remove(settings_.bootOriginPath);
	restartManager();
	manager_->setBootedKernel(firmwareBooted);

	EXPECT_EQ(manager_->bootOrigin().via, BootVia::Kexec);
	RebootRequest automatic;
	automatic.mode = RebootMode::Auto;
	RebootFacts facts;
	auto plan = manager_->planReboot(automatic, logind(), &facts);
	ASSERT_TRUE(plan.ok()) << plan.error().message;
	EXPECT_EQ(plan->action, RebootAction::Kexec) << planJson(facts, plan).dump(1);
	EXPECT_EQ(facts.running.linuxSha256, std::string(64, 'b'));
	EXPECT_EQ(planJson(facts, plan).at("booted").at("via"), "kexec");

	/* Without the record the firmware's word is all there is: same kernel. */
	StateFile(settings_.kexecRecordPath).remove();
	std::filesystem::remove(settings_.bootOriginPath);
	restartManager();
	manager_->setBootedKernel(firmwareBooted);
	EXPECT_EQ(manager_->bootOrigin().via, BootVia::Firmware);
	plan = manager_->planReboot(automatic, logind());
	ASSERT_TRUE(plan.ok());
	EXPECT_EQ(plan->action, RebootAction::Soft);
}

/* The decision is made once per boot: a record written for the next kexec
 * does not change what this boot was. */
TEST_F(ManagerTest, BootOriginIsDecidedOncePerBoot)
{
	KexecRecord record;
	record.bootId = "11111111-the-boot-before";
	record.kernelSha256 = std::string(64, 'b');
	record.cmdline = "root=/dev/vda ro";
	record.loader = readLoaderSnapshot(settings_.discovery.efivarsDir);
	ASSERT_TRUE(StateFile(settings_.kexecRecordPath).write(record.toJson()).ok());
	std::filesystem::remove(settings_.bootOriginPath);
	restartManager();
	ASSERT_EQ(manager_->bootOrigin().via, BootVia::Kexec);
	record.bootId = "22222222-this-boot"; // this boot prepares the next kexec
	ASSERT_TRUE(StateFile(settings_.kexecRecordPath).write(record.toJson()).ok());
	restartManager();
	EXPECT_EQ(manager_->bootOrigin().via, BootVia::Kexec);
}

/* Firmware requests win: auto goes cold, kexec is refused by name, and a
 * reboot someone else started unloads the kernel (issue 26). */
TEST_F(ManagerTest, FirmwareRequestsWin)
{
	stage();
	const std::string osIndications = settings_.discovery.efivarsDir + "/OsIndications-" + kEfiGlobalGuid;
	writeText(osIndications, std::string("\x07\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00", 12));
	RebootRequest kexec;
	kexec.mode = RebootMode::Kexec;
	auto refused = manager_->planReboot(kexec, logind());
	ASSERT_FALSE(refused.ok());
	EXPECT_EQ(refused.error().code, Code::FirmwareRequest);
	EXPECT_NE(refused.error().message.find("firmware setup"), std::string::npos) << refused.error().message;
	RebootRequest automatic;
	automatic.mode = RebootMode::Auto;
	RebootFacts facts;
	auto cold = manager_->planReboot(automatic, logind(), &facts);
	ASSERT_TRUE(cold.ok());
	EXPECT_EQ(cold->action, RebootAction::Cold);
	EXPECT_TRUE(cold->unloadFirst);
	EXPECT_EQ(planJson(facts, cold).at("firmware_requests").size(), 1u);

	/* systemctl reboot --firmware-setup with kexecd's kernel loaded. */
	manager_->prepareForShutdown(true, true);
	EXPECT_FALSE(kernelLoaded());
	EXPECT_NE(reboot_->lastError().find("firmware"), std::string::npos) << reboot_->lastError();
	EXPECT_FALSE(exists(settings_.kexecRecordPath));
}

/* A reboot someone else started with kexecd's kernel loaded is recorded
 * before systemd kexecs; a power-off is not. */
TEST_F(ManagerTest, ForeignRebootIntoTheStagedKernelIsRecorded)
{
	stage();
	manager_->prepareForShutdown(true, false);
	EXPECT_FALSE(exists(settings_.kexecRecordPath));
	manager_->prepareForShutdown(true, true);
	ASSERT_TRUE(exists(settings_.kexecRecordPath));
	EXPECT_TRUE(kernelLoaded());
	auto j = StateFile(settings_.kexecRecordPath).read();
	ASSERT_TRUE(j.ok() && j->has_value());
	auto record = KexecRecord::fromJson(**j);
	ASSERT_TRUE(record.ok()) << record.error().message;
	EXPECT_EQ(record->bootId, "22222222-this-boot");
	EXPECT_EQ(record->kernelSha256, reboot_->staged().at("kernel").at("sha256").get<std::string>());
}

/* Issue 27: a reboot someone else started with kexecd's kernel loaded goes
 * through the firmware when a volume would not unlock after the kexec:
 * the kernel is unloaded, LastError names the volume, nothing is
 * committed. Without a check made for the staged kernel, the Manager
 * checks then. */
TEST_F(ManagerTest, ForeignRebootUnloadsWhenAVolumeWouldLockOut)
{
	/* A device that is not there: unknown, which blocks a kexec. */
	writeText(settings_.unlock.crypttab, "data /dev/disk/by-uuid/gone none luks\n");
	stage();
	manager_->prepareForShutdown(true, true);
	EXPECT_FALSE(kernelLoaded());
	EXPECT_NE(reboot_->lastError().find("'data'"), std::string::npos) << reboot_->lastError();
	EXPECT_NE(reboot_->lastError().find("firmware"), std::string::npos) << reboot_->lastError();
	EXPECT_FALSE(exists(settings_.kexecRecordPath));
	/* The check it made is what status shows. */
	const nlohmann::json tpm2 = manager_->describe(logind()).at("tpm2");
	ASSERT_EQ(tpm2.size(), 1u);
	EXPECT_EQ(tpm2.at(0).at("volume"), "data");
	EXPECT_EQ(tpm2.at(0).at("verdict"), "unknown");
}

/* `systemctl reboot --firmware-setup` on a machine whose volume would also
 * lock out: the firmware request is what the user asked for, so it is the
 * reason given (e2e-boot-assessment has both). */
TEST_F(ManagerTest, FirmwareRequestIsTheReasonBeforeALockout)
{
	writeText(settings_.unlock.crypttab, "data /dev/disk/by-uuid/gone none luks\n");
	stage();
	writeText(settings_.discovery.efivarsDir + "/OsIndications-" + kEfiGlobalGuid,
		  std::string("\x07\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00", 12));
	manager_->prepareForShutdown(true, true);
	EXPECT_FALSE(kernelLoaded());
	EXPECT_NE(reboot_->lastError().find("firmware setup"), std::string::npos) << reboot_->lastError();
	EXPECT_EQ(reboot_->lastError().find("'data'"), std::string::npos) << reboot_->lastError();
}

/* KexecDespiteTpm=yes keeps the kernel: the reboot kexecs and is recorded. */
TEST_F(ManagerTest, KexecDespiteTpmKeepsTheKernel)
{
	writeText(settings_.unlock.crypttab, "data /dev/disk/by-uuid/gone none luks\n");
	settings_.kexecDespiteTpm = true;
	restartManager();
	stage();
	manager_->prepareForShutdown(true, true);
	EXPECT_TRUE(kernelLoaded());
	EXPECT_TRUE(exists(settings_.kexecRecordPath));
}

/* The last check decides at shutdown when it was made for the kernel
 * staged now (the bus makes it off the loop); one made for other inputs
 * is made again. */
TEST_F(ManagerTest, ShutdownUsesTheLastUnlockCheckForThisKernel)
{
	writeText(settings_.unlock.crypttab, "data /dev/disk/by-uuid/gone none luks\n");
	stage();
	/* The record says what the UKI carries; the fixture has no .pcrsig. */
	EXPECT_EQ(reboot_->staged().at("uki").at("pcrsig"), false);
	EXPECT_EQ(reboot_->staged().at("uki").at("pcrpkey"), false);
	EXPECT_FALSE(manager_->unlockInput().targetHasPcrsig);
	VolumeAssessment fine;
	fine.volume = "data";
	fine.verdict = fine.unattended = UnlockVerdict::Unlocks;
	fine.reason = "bound to PCR 7 only";
	UnlockInput stale = manager_->unlockInput();
	stale.targetHasPcrsig = true;
	manager_->setUnlockAssessment(stale, { fine });
	manager_->prepareForShutdown(true, true); // checked again: unknown, unloaded
	EXPECT_FALSE(kernelLoaded());

	stage();
	/* A plan carries the check the bus made; it is kept. */
	RebootRequest request;
	request.mode = RebootMode::Kexec;
	request.unlock = std::vector<VolumeAssessment>{ fine };
	auto plan = manager_->planReboot(request, logind());
	ASSERT_TRUE(plan.ok()) << plan.error().message;
	manager_->prepareForShutdown(true, true);
	EXPECT_TRUE(kernelLoaded());
	EXPECT_TRUE(exists(settings_.kexecRecordPath));
}

/* The plan refuses a kexec the check speaks against, unless ignoreTpm. */
TEST_F(ManagerTest, PlanRefusesAKexecThatWouldLockOut)
{
	stage();
	VolumeAssessment locked;
	locked.volume = "data";
	locked.device = "/dev/vdb";
	locked.verdict = locked.unattended = UnlockVerdict::NeedsPassphrase;
	locked.decidingPcr = 11;
	locked.reason = "signed PCR 11 policy";
	RebootRequest request;
	request.mode = RebootMode::Kexec;
	request.unlock = std::vector<VolumeAssessment>{ locked };
	auto refused = manager_->planReboot(request, logind());
	ASSERT_FALSE(refused.ok());
	EXPECT_EQ(refused.error().code, Code::WouldNotUnlock);
	request.ignoreTpm = true;
	RebootFacts facts;
	auto kexec = manager_->planReboot(request, logind(), &facts);
	ASSERT_TRUE(kexec.ok()) << kexec.error().message;
	EXPECT_EQ(kexec->action, RebootAction::Kexec);
	EXPECT_TRUE(planJson(facts, kexec).at("ignore_tpm").get<bool>());
	EXPECT_EQ(planJson(facts, kexec).at("tpm2").at(0).at("reason"), "signed PCR 11 policy");

	/* force (root's kexec without logind) is held to the same rule. */
	request.force = true;
	request.ignoreTpm = false;
	auto forced = manager_->planReboot(request, logind());
	ASSERT_FALSE(forced.ok());
	EXPECT_EQ(forced.error().code, Code::WouldNotUnlock);
	EXPECT_NE(forced.error().message.find("'data'"), std::string::npos) << forced.error().message;
	request.ignoreTpm = true;
	EXPECT_TRUE(manager_->planReboot(request, logind()).ok());
}

} // namespace
