// SPDX-License-Identifier: LGPL-2.1-or-later
// kexecd.conf parsing (daemon/daemon_config.cpp): values reach the
// EngineConfig, bad values fail naming file:line, unknown keys only warn,
// command line flags override, RUNTIME_DIRECTORY moves the state file.

#include "daemon_config.h"

#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace kexecd {
namespace {

struct Parsed {
	DaemonConfig config = defaultConfig();
	std::vector<std::string> warnings;
	Result<void> result;
};

Parsed parse(std::string_view text)
{
	Parsed p;
	p.result = parseConfig(text, "test.conf", p.config, p.warnings);
	return p;
}

TEST(Config, DefaultsWithoutFile)
{
	DaemonConfig config = defaultConfig();
	std::vector<std::string> warnings;
	ASSERT_TRUE(loadConfigFile("/nonexistent/kexecd.conf", config, warnings).ok());
	EXPECT_TRUE(warnings.empty());
	EXPECT_EQ(config.engine.trustDir, KEXECD_TRUST_DIR);
	EXPECT_EQ(config.engine.policy, SignaturePolicy::Auto);
	EXPECT_EQ(config.engine.scheme, Scheme::Auto);
	EXPECT_FALSE(config.stageOnInstall);
	/* Off by default: a machine with a boot loader entry never needs it,
	 * and one without opts in (kexecd.conf(5)). */
	EXPECT_FALSE(config.engine.discovery.debianLayout);
}

TEST(Config, EveryKeyReachesTheEngine)
{
	auto p = parse("# comment\n"
		       "; also a comment\n"
		       "\n"
		       "[Manager]\n"
		       "SignaturePolicy = enforce\n"
		       "TrustDirectory=/etc/kexecd/other.d\n"
		       "Scheme=classic\n"
		       "AllowSchemeFallback=yes\n"
		       "StateFile=/run/x/staged.json\n"
		       "ParserContainer=/usr/lib/kexecd/p.container\n"
		       "MaxImageSize=64M\n"
		       "MaxAddons=4\n"
		       "MaxCmdline=2K\n"
		       "UseFirmwareDb=no\n"
		       "EnforceFirmwareVerdict=no\n"
		       "StageOnInstall=on\n"
		       "ESP=/efi\n"
		       "XBOOTLDR=/boot\n"
		       "EFIVARS=/tmp/efivars\n"
		       "DebianLayout=yes\n"
		       "DebianRoot=/sysroot\n");
	ASSERT_TRUE(p.result.ok()) << p.result.error().message;
	EXPECT_TRUE(p.warnings.empty());
	const EngineConfig &e = p.config.engine;
	EXPECT_EQ(e.policy, SignaturePolicy::Enforce);
	EXPECT_EQ(e.trustDir, "/etc/kexecd/other.d");
	EXPECT_EQ(e.scheme, Scheme::Classic);
	EXPECT_TRUE(e.allowSchemeFallback);
	EXPECT_EQ(e.statePath, "/run/x/staged.json");
	EXPECT_EQ(e.parserPath, "/usr/lib/kexecd/p.container");
	EXPECT_EQ(e.limits.pe.maxFileSize, uint64_t{ 64 } << 20);
	EXPECT_EQ(e.limits.maxAddons, 4u);
	EXPECT_EQ(e.limits.maxCmdline, 2048u);
	EXPECT_FALSE(e.useFirmwareDb);
	EXPECT_FALSE(e.enforceFirmwareVerdict);
	EXPECT_TRUE(p.config.stageOnInstall);
	EXPECT_EQ(p.config.engine.discovery.esp, "/efi");
	EXPECT_EQ(p.config.engine.discovery.xbootldr, "/boot");
	/* One efivarfs root for the firmware db and the Loader* variables. */
	EXPECT_EQ(p.config.engine.efivarsDir, "/tmp/efivars");
	EXPECT_EQ(p.config.engine.discovery.efivarsDir, "/tmp/efivars");
	EXPECT_TRUE(p.config.engine.discovery.debianLayout);
	EXPECT_EQ(p.config.engine.discovery.debianRoot, "/sysroot");
}

TEST(Config, EmptyValueResetsToDefault)
{
	auto p = parse("[Manager]\nScheme=bpf\nScheme=\nMaxAddons=3\nMaxAddons=\n");
	ASSERT_TRUE(p.result.ok());
	EXPECT_EQ(p.config.engine.scheme, Scheme::Auto);
	EXPECT_EQ(p.config.engine.limits.maxAddons, Limits{}.maxAddons);
}

TEST(Config, BadValueNamesFileLineAndKey)
{
	auto p = parse("[Manager]\n\nScheme=fast\n");
	ASSERT_FALSE(p.result.ok());
	EXPECT_EQ(p.result.error().code, Code::InvalidArgument);
	EXPECT_NE(p.result.error().message.find("test.conf:3"), std::string::npos)
		<< p.result.error().message;
	EXPECT_NE(p.result.error().message.find("Scheme="), std::string::npos);
	EXPECT_NE(p.result.error().message.find("'fast'"), std::string::npos);
}

TEST(Config, RejectsEachKindOfBadValue)
{
	for (const char *line : { "SignaturePolicy=maybe", "AllowSchemeFallback=2",
				  "TrustDirectory=relative/dir", "StateFile=", "MaxImageSize=0",
				  "MaxImageSize=5G", "MaxImageSize=12X", "MaxAddons=-1",
				  "MaxAddons=99999", "MaxAddons=16", "MaxCmdline=10", "ESP=efi", "EFIVARS=efivars", "NoEquals",
				  "RebootTimeoutSec=5", "RebootTimeoutSec=3601", "RebootTimeoutSec=soon",
				  "RebootRequiredFile=run/reboot-required", "StageOnBoot=often", "DebianLayout=maybe", "DebianRoot=sysroot" }) {
		auto p = parse(std::string("[Manager]\n") + line + "\n");
		/* StateFile= with no value is a reset, not an error. */
		if (std::string_view(line) == "StateFile=") {
			EXPECT_TRUE(p.result.ok());
			continue;
		}
		EXPECT_FALSE(p.result.ok()) << line;
		if (!p.result.ok()) {
			EXPECT_NE(p.result.error().message.find("test.conf:2"), std::string::npos)
				<< p.result.error().message;
		}
	}
}

TEST(Config, UnknownKeysAndSectionsWarn)
{
	auto p = parse("Orphan=1\n[Manager]\nFrobnicate=yes\n[Other]\nScheme=bpf\n");
	ASSERT_TRUE(p.result.ok());
	ASSERT_EQ(p.warnings.size(), 3u);
	EXPECT_NE(p.warnings[0].find("test.conf:1"), std::string::npos);
	EXPECT_NE(p.warnings[1].find("Frobnicate="), std::string::npos);
	EXPECT_NE(p.warnings[2].find("[Other]"), std::string::npos);
	/* Keys of an unknown section are not applied. */
	EXPECT_EQ(p.config.engine.scheme, Scheme::Auto);
}

TEST(Config, MalformedSectionHeaderFails)
{
	auto p = parse("[Manager\n");
	EXPECT_FALSE(p.result.ok());
}

TEST(Config, FileThenOverrides)
{
	char path[] = "/tmp/kexecd-test-config-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	close(fd);
	{
		std::ofstream out(path);
		out << "[Manager]\nScheme=classic\nSignaturePolicy=warn\nStateFile=/run/a.json\n";
	}
	DaemonConfig config = defaultConfig();
	std::vector<std::string> warnings;
	auto r = loadConfigFile(path, config, warnings);
	unlink(path);
	ASSERT_TRUE(r.ok()) << r.error().message;
	EXPECT_EQ(config.engine.scheme, Scheme::Classic);

	ConfigOverrides overrides;
	overrides.scheme = "bpf";
	overrides.stateFile = "/run/b.json";
	ASSERT_TRUE(applyOverrides(overrides, config).ok());
	EXPECT_EQ(config.engine.scheme, Scheme::Bpf);
	EXPECT_EQ(config.engine.statePath, "/run/b.json");
	EXPECT_EQ(config.engine.policy, SignaturePolicy::Warn); // not overridden

	overrides = {};
	overrides.trustDir = "relative";
	EXPECT_FALSE(applyOverrides(overrides, config).ok());
	overrides = {};
	overrides.signaturePolicy = "strict";
	EXPECT_FALSE(applyOverrides(overrides, config).ok());
}

TEST(Config, RuntimeDirectoryMovesStateFile)
{
	setenv("RUNTIME_DIRECTORY", "/run/kexecd-test:/run/second", 1);
	DaemonConfig config = defaultConfig();
	unsetenv("RUNTIME_DIRECTORY");
	EXPECT_EQ(config.engine.statePath, "/run/kexecd-test/staged.json");
	EXPECT_EQ(defaultConfig().engine.statePath, KEXECD_STATE_FILE);
}

TEST(Config, SysfsRootFromEnvironment)
{
	setenv("KEXECD_SYSFS_ROOT", "/tmp/root", 1);
	SystemPaths paths = systemPathsFromEnvironment();
	unsetenv("KEXECD_SYSFS_ROOT");
	EXPECT_EQ(paths.sysRoot, "/tmp/root/sys");
	EXPECT_EQ(paths.procRoot, "/tmp/root/proc");
}

/* Issue 27's unlock check reads the volumes from CryptTab=. */
TEST(Config, CryptTab)
{
	EXPECT_EQ(defaultConfig().cryptTab, "/etc/crypttab");
	auto p = parse("[Manager]\nCryptTab=/etc/kexecd/crypttab\n");
	ASSERT_TRUE(p.result.ok());
	EXPECT_EQ(p.config.cryptTab, "/etc/kexecd/crypttab");
	p = parse("[Manager]\nCryptTab=/etc/kexecd/crypttab\nCryptTab=\n");
	ASSERT_TRUE(p.result.ok());
	EXPECT_EQ(p.config.cryptTab, "/etc/crypttab");
	p = parse("[Manager]\nCryptTab=etc/crypttab\n");
	ASSERT_FALSE(p.result.ok());
	EXPECT_NE(p.result.error().message.find("test.conf:2"), std::string::npos) << p.result.error().message;
}

/* A reboot someone else starts kexecs despite a volume that would lock out
 * only when asked to (issue 27). */
TEST(Config, KexecDespiteTpm)
{
	EXPECT_FALSE(defaultConfig().reboot.kexecDespiteTpm);
	auto p = parse("[Manager]\nKexecDespiteTpm=yes\n");
	ASSERT_TRUE(p.result.ok());
	EXPECT_TRUE(p.config.reboot.kexecDespiteTpm);
	p = parse("[Manager]\nKexecDespiteTpm=yes\nKexecDespiteTpm=\n");
	ASSERT_TRUE(p.result.ok());
	EXPECT_FALSE(p.config.reboot.kexecDespiteTpm);
	p = parse("[Manager]\nKexecDespiteTpm=maybe\n");
	ASSERT_FALSE(p.result.ok());
	EXPECT_NE(p.result.error().message.find("test.conf:2"), std::string::npos) << p.result.error().message;
}

} // namespace
} // namespace kexecd
