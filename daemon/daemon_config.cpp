// SPDX-License-Identifier: LGPL-2.1-or-later
#include "daemon_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "config.h"

namespace kexecd {

namespace {

std::string_view trim(std::string_view s)
{
	const char *ws = " \t\r";
	size_t b = s.find_first_not_of(ws);
	if (b == std::string_view::npos)
		return {};
	size_t e = s.find_last_not_of(ws);
	return s.substr(b, e - b + 1);
}

std::optional<bool> parseBool(std::string_view v)
{
	if (v == "1" || v == "yes" || v == "true" || v == "on")
		return true;
	if (v == "0" || v == "no" || v == "false" || v == "off")
		return false;
	return std::nullopt;
}

std::optional<uint64_t> parseUnsigned(std::string_view v)
{
	uint64_t n = 0;
	auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
	if (ec != std::errc() || end != v.data() + v.size())
		return std::nullopt;
	return n;
}

/* "123", "512K", "64M", "1G" (1024-based, like systemd's sizes). */
std::optional<uint64_t> parseSize(std::string_view v)
{
	uint64_t factor = 1;
	if (!v.empty()) {
		switch (v.back()) {
		case 'K': factor = uint64_t{ 1 } << 10; break;
		case 'M': factor = uint64_t{ 1 } << 20; break;
		case 'G': factor = uint64_t{ 1 } << 30; break;
		case 'T': factor = uint64_t{ 1 } << 40; break;
		default: break;
		}
		if (factor != 1)
			v.remove_suffix(1);
	}
	auto n = parseUnsigned(v);
	if (!n || *n > std::numeric_limits<uint64_t>::max() / factor)
		return std::nullopt;
	return *n * factor;
}

bool isAbsolutePath(std::string_view v)
{
	return !v.empty() && v.front() == '/' && v.find('\0') == std::string_view::npos;
}

std::string runtimeDirectory()
{
	/* systemd passes a colon-separated list when several are configured. */
	const char *env = secure_getenv("RUNTIME_DIRECTORY");
	if (!env || env[0] != '/')
		return {};
	std::string dir(env);
	return dir.substr(0, dir.find(':'));
}

} // namespace

DaemonConfig defaultConfig()
{
	DaemonConfig config;
	EngineConfig &engine = config.engine;
	engine.trustDir = KEXECD_TRUST_DIR;
	engine.parserPath = KEXECD_PARSER_DIR "/kexecd-parsers.elf";
	std::string runtime = runtimeDirectory();
	engine.statePath = runtime.empty() ? std::string(KEXECD_STATE_FILE) : runtime + "/staged.json";
	/* Persistent across boots (StateDirectory=): it must outlive the kexec. */
	const char *state = secure_getenv("STATE_DIRECTORY");
	const std::string stateDir = state && state[0] == '/' ? std::string(state).substr(0, std::string(state).find(':'))
							    : std::string("/var/lib/kexecd");
	config.reboot.kexecRecordPath = stateDir + "/last-kexec.json";
	return config;
}

Result<void> parseConfig(std::string_view text, const std::string &origin, DaemonConfig &config,
			 std::vector<std::string> &warnings)
{
	const DaemonConfig defaults = defaultConfig();
	EngineConfig &engine = config.engine;
	std::string section;
	unsigned lineNo = 0;

	while (!text.empty()) {
		size_t nl = text.find('\n');
		std::string_view raw = text.substr(0, nl);
		text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
		lineNo++;

		std::string_view line = trim(raw);
		if (line.empty() || line.front() == '#' || line.front() == ';')
			continue;

		auto where = fmt::format("{}:{}", origin, lineNo);
		if (line.front() == '[') {
			if (line.back() != ']')
				return makeError(Code::InvalidArgument,
						 fmt::format("{}: malformed section header '{}'", where, line));
			section = std::string(line.substr(1, line.size() - 2));
			if (section != "Manager")
				warnings.push_back(fmt::format("{}: unknown section [{}], ignoring", where, section));
			continue;
		}

		size_t eq = line.find('=');
		if (eq == std::string_view::npos)
			return makeError(Code::InvalidArgument,
					 fmt::format("{}: expected Key=Value, got '{}'", where, line));
		std::string key(trim(line.substr(0, eq)));
		std::string_view value = trim(line.substr(eq + 1));

		if (section.empty()) {
			warnings.push_back(fmt::format("{}: assignment outside of a section, ignoring", where));
			continue;
		}
		if (section != "Manager")
			continue;

		auto bad = [&](std::string_view expected) {
			return makeError(Code::InvalidArgument,
					 fmt::format("{}: invalid value '{}' for {}=: expected {}", where,
						     value, key, expected));
		};
		/* As in systemd, an empty value resets the key to its default. */
		const bool reset = value.empty();

		if (key == "SignaturePolicy") {
			if (reset) {
				engine.policy = defaults.engine.policy;
				continue;
			}
			auto p = parsePolicy(value);
			if (!p)
				return bad("auto|enforce|warn");
			engine.policy = *p;
		} else if (key == "Scheme") {
			if (reset) {
				engine.scheme = defaults.engine.scheme;
				continue;
			}
			auto s = parseScheme(value);
			if (!s)
				return bad("auto|bpf|classic");
			engine.scheme = *s;
		} else if (key == "AllowSchemeFallback" || key == "UseFirmwareDb" ||
			   key == "EnforceFirmwareVerdict" || key == "StageOnInstall" || key == "StageOnBoot" ||
			   key == "DebianLayout" || key == "KexecDespiteTpm") {
			bool *target = key == "DebianLayout"             ? &engine.discovery.debianLayout
				       : key == "AllowSchemeFallback"      ? &engine.allowSchemeFallback
				       : key == "UseFirmwareDb"          ? &engine.useFirmwareDb
				       : key == "EnforceFirmwareVerdict" ? &engine.enforceFirmwareVerdict
				       : key == "StageOnInstall"         ? &config.stageOnInstall
				       : key == "KexecDespiteTpm"        ? &config.reboot.kexecDespiteTpm
									 : &config.stageOnBoot;
			const bool def = key == "DebianLayout"             ? defaults.engine.discovery.debianLayout
					 : key == "AllowSchemeFallback"      ? defaults.engine.allowSchemeFallback
					 : key == "UseFirmwareDb"          ? defaults.engine.useFirmwareDb
					 : key == "EnforceFirmwareVerdict" ? defaults.engine.enforceFirmwareVerdict
					 : key == "StageOnInstall"         ? defaults.stageOnInstall
					 : key == "KexecDespiteTpm"        ? defaults.reboot.kexecDespiteTpm
									   : defaults.stageOnBoot;
			if (reset) {
				*target = def;
				continue;
			}
			auto b = parseBool(value);
			if (!b)
				return bad("a boolean (yes|no)");
			*target = *b;
		} else if (key == "TrustDirectory" || key == "StateFile" || key == "ParserContainer") {
			std::string *target = key == "TrustDirectory" ? &engine.trustDir
					      : key == "StateFile"    ? &engine.statePath
								      : &engine.parserPath;
			const std::string &def = key == "TrustDirectory" ? defaults.engine.trustDir
						 : key == "StateFile"    ? defaults.engine.statePath
									 : defaults.engine.parserPath;
			if (reset) {
				*target = def;
				continue;
			}
			if (!isAbsolutePath(value))
				return bad("an absolute path");
			*target = std::string(value);
		} else if (key == "ESP" || key == "XBOOTLDR") {
			std::string &target = key == "ESP" ? engine.discovery.esp : engine.discovery.xbootldr;
			if (reset) {
				target.clear();
				continue;
			}
			if (!isAbsolutePath(value))
				return bad("an absolute path");
			target = std::string(value);
		} else if (key == "DebianRoot") {
			if (reset) {
				engine.discovery.debianRoot = defaults.engine.discovery.debianRoot;
				continue;
			}
			if (!isAbsolutePath(value))
				return bad("an absolute path");
			engine.discovery.debianRoot = std::string(value);
		} else if (key == "EFIVARS") {
			if (reset) {
				engine.efivarsDir = engine.discovery.efivarsDir = defaults.engine.efivarsDir;
				continue;
			}
			if (!isAbsolutePath(value))
				return bad("an absolute path");
			engine.efivarsDir = engine.discovery.efivarsDir = std::string(value);
		} else if (key == "MaxImageSize") {
			if (reset) {
				engine.limits.pe.maxFileSize = defaults.engine.limits.pe.maxFileSize;
				continue;
			}
			auto n = parseSize(value);
			/* The composed container must stay below 4 GiB. */
			if (!n || *n == 0 || *n > (uint64_t{ 4 } << 30))
				return bad("a size between 1 and 4G (suffixes K, M, G)");
			engine.limits.pe.maxFileSize = *n;
		} else if (key == "MaxAddons") {
			if (reset) {
				engine.limits.maxAddons = defaults.engine.limits.maxAddons;
				continue;
			}
			auto n = parseUnsigned(value);
			/* One fd per addon plus the UKI's in one Stage message, and
			 * the system bus carries 16. */
			if (!n || *n > kMaxAddonsOnBus)
				return bad(fmt::format("a number between 0 and {} (a D-Bus message carries at most "
						       "16 file descriptors: the UKI's and one per addon)",
						       kMaxAddonsOnBus));
			engine.limits.maxAddons = static_cast<unsigned>(*n);
		} else if (key == "RebootTimeoutSec") {
			if (reset) {
				config.reboot.timeoutSec = defaults.reboot.timeoutSec;
				continue;
			}
			auto n = parseUnsigned(value);
			if (!n || *n < 10 || *n > 3600)
				return bad("a number of seconds between 10 and 3600");
			config.reboot.timeoutSec = static_cast<unsigned>(*n);
		} else if (key == "BootCounting") {
			if (reset) {
				config.reboot.bootCounting = defaults.reboot.bootCounting;
				continue;
			}
			auto mode = parseBootCounting(std::string(value));
			if (!mode)
				return bad("emulate, refuse or ignore");
			config.reboot.bootCounting = *mode;
		} else if (key == "RebootRequiredFile") {
			if (reset) {
				config.reboot.requiredFile = defaults.reboot.requiredFile;
				continue;
			}
			if (!isAbsolutePath(value))
				return bad("an absolute path");
			config.reboot.requiredFile = std::string(value);
		} else if (key == "CryptTab") {
			if (reset) {
				config.cryptTab = defaults.cryptTab;
				continue;
			}
			if (!isAbsolutePath(value))
				return bad("an absolute path");
			config.cryptTab = std::string(value);
		} else if (key == "MaxCmdline") {
			if (reset) {
				engine.limits.maxCmdline = defaults.engine.limits.maxCmdline;
				continue;
			}
			auto n = parseSize(value);
			if (!n || *n < 256 || *n > (uint64_t{ 1 } << 20))
				return bad("a size between 256 and 1M");
			engine.limits.maxCmdline = static_cast<size_t>(*n);
		} else {
			warnings.push_back(fmt::format("{}: unknown key {}=, ignoring", where, key));
		}
	}
	return {};
}

Result<void> loadConfigFile(const std::string &path, DaemonConfig &config,
			    std::vector<std::string> &warnings)
{
	std::ifstream in(path);
	if (!in) {
		if (errno == ENOENT)
			return {};
		return makeError(Code::Io, fmt::format("{}: {}", path, strerror(errno)), errno);
	}
	std::ostringstream text;
	text << in.rdbuf();
	if (in.bad())
		return makeError(Code::Io, fmt::format("{}: read error", path));
	return parseConfig(text.str(), path, config, warnings);
}

Result<void> applyOverrides(const ConfigOverrides &overrides, DaemonConfig &config)
{
	EngineConfig &engine = config.engine;
	auto path = [](const std::optional<std::string> &value, const char *flag,
		       std::string &target) -> Result<void> {
		if (!value)
			return {};
		if (!isAbsolutePath(*value))
			return makeError(Code::InvalidArgument,
					 fmt::format("{}: '{}' is not an absolute path", flag, *value));
		target = *value;
		return {};
	};
	KEXECD_TRY(path(overrides.stateFile, "--state-file", engine.statePath));
	/* A daemon pointed at another state file (tests, a second instance)
	 * keeps its kexec record beside it, not in the system's. */
	if (overrides.stateFile && !secure_getenv("STATE_DIRECTORY"))
		config.reboot.kexecRecordPath = engine.statePath.substr(0, engine.statePath.rfind('/')) + "/last-kexec.json";
	KEXECD_TRY(path(overrides.trustDir, "--trust-dir", engine.trustDir));
	KEXECD_TRY(path(overrides.parser, "--parser", engine.parserPath));
	if (overrides.signaturePolicy) {
		auto p = parsePolicy(*overrides.signaturePolicy);
		if (!p)
			return makeError(Code::InvalidArgument,
					 fmt::format("--signature-policy: invalid value '{}': expected auto|enforce|warn",
						     *overrides.signaturePolicy));
		engine.policy = *p;
	}
	if (overrides.scheme) {
		auto s = parseScheme(*overrides.scheme);
		if (!s)
			return makeError(Code::InvalidArgument,
					 fmt::format("--scheme: invalid value '{}': expected auto|bpf|classic",
						     *overrides.scheme));
		engine.scheme = *s;
	}
	return {};
}

SystemPaths systemPathsFromEnvironment()
{
	SystemPaths paths;
	const char *root = secure_getenv("KEXECD_SYSFS_ROOT");
	if (root && root[0] == '/') {
		paths.sysRoot = std::string(root) + "/sys";
		paths.procRoot = std::string(root) + "/proc";
	}
	return paths;
}

void applySystemPaths(const SystemPaths &paths, EngineConfig &engine)
{
	const SystemPaths defaults;
	if (paths.sysRoot != defaults.sysRoot) {
		engine.efivarsDir = paths.sysRoot + "/firmware/efi/efivars";
		engine.mokVariablesDir = paths.sysRoot + "/firmware/efi/mok-variables";
	}
	if (paths.procRoot != defaults.procRoot) {
		engine.procKeys = paths.procRoot + "/keys";
		engine.discovery.procCmdline = paths.procRoot + "/cmdline";
	}
}

} // namespace kexecd
