// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// /etc/kexecd/kexecd.conf (kexecd.conf(5)): systemd-style INI, one
// [Manager] section, turned into the engine's EngineConfig. Command line
// flags override the file; the file overrides compiled defaults and the
// RUNTIME_DIRECTORY given by systemd. (Not named config.h: that name is
// the generated build configuration, found through daemon/'s implicit
// include directory by the engine too.)

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel.h"
#include "result.h"
#include "manager.h"
#include "stager.h"

namespace kexecd {

/* The reboot side of the daemon (daemon/bus), outside the engine. */
struct DaemonConfig {
	EngineConfig engine;
	RebootSettings reboot;
	bool stageOnInstall = false; // read by the kernel-install plugin, not the daemon
	bool stageOnBoot = false;    // read by kexecd-stage-on-boot.service, not the daemon
	/* CryptTab=: the volumes the unlock check reads (tpm/unlock_check.h,
	 * UnlockPaths::crypttab). */
	std::string cryptTab = "/etc/crypttab";
};

/* Compiled defaults, with the state file under $RUNTIME_DIRECTORY when
 * systemd provides one. */
DaemonConfig defaultConfig();

/* Applies text (origin names it in messages: "origin:line: ...") on top of
 * config. Bad values fail; unknown keys and sections only warn. */
Result<void> parseConfig(std::string_view text, const std::string &origin, DaemonConfig &config,
			 std::vector<std::string> &warnings);

/* A missing file leaves config as it is. */
Result<void> loadConfigFile(const std::string &path, DaemonConfig &config,
			    std::vector<std::string> &warnings);

struct ConfigOverrides {
	std::optional<std::string> stateFile;
	std::optional<std::string> trustDir;
	std::optional<std::string> parser;
	std::optional<std::string> signaturePolicy;
	std::optional<std::string> scheme;
};

Result<void> applyOverrides(const ConfigOverrides &overrides, DaemonConfig &config);

/* KEXECD_SYSFS_ROOT prefixes the kernel's /sys and /proc for tests. */
SystemPaths systemPathsFromEnvironment();

/* The signature verdicts' /sys and /proc reads (efivarfs, the MOK
 * configuration table, /proc/keys) under the same roots. */
void applySystemPaths(const SystemPaths &paths, EngineConfig &engine);

} // namespace kexecd
