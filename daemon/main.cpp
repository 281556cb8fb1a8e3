// SPDX-License-Identifier: LGPL-2.1-or-later
// kexecd: parse options, build the engine, publish it on the bus, loop.

#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <sdbus-c++/sdbus-c++.h>

#include "bus/event_loop.h"
#include "bus/logind.h"
#include "bus/manager_adaptor.h"
#include "bus/polkit.h"
#include "config.h"
#include "daemon_config.h"
#include "log.h"
#include "sdbus_compat.h"

using namespace kexecd;

static std::unique_ptr<sdbus::IConnection> openBus(const std::string &bus)
{
	/* The system bus honours DBUS_SYSTEM_BUS_ADDRESS: tests use that. */
	if (bus == "system")
		return sdbus::createSystemBusConnection();
	if (bus == "session")
		return sdbus::createSessionBusConnection();
	return sdbus::createSessionBusConnectionWithAddress(bus);
}

/* Tests only: KEXECD_TEST_HOOK_DIR lets a test stop a staging at a named
 * phase (DIR/stop-at holds the phase; the daemon writes DIR/reached and
 * waits to be killed) or slow it down there (DIR/delay-PHASE holds
 * milliseconds). Nothing happens without the variable. */
static std::function<void(std::string_view)> testHookFromEnvironment()
{
	const char *dir = secure_getenv("KEXECD_TEST_HOOK_DIR");
	if (!dir || !*dir)
		return {};
	return [dir = std::string(dir)](std::string_view phase) {
		std::string stopAt, delay;
		std::ifstream(dir + "/stop-at") >> stopAt;
		if (stopAt == phase) {
			std::ofstream(dir + "/reached") << phase << "\n";
			for (;;)
				pause();
		}
		std::ifstream(dir + "/delay-" + std::string(phase)) >> delay;
		if (!delay.empty())
			std::this_thread::sleep_for(std::chrono::milliseconds(std::atoll(delay.c_str())));
		/* One byte per pass: a test can wait until an earlier staging
		 * has passed a phase before it arms stop-at for the next. */
		std::ofstream(dir + "/passed-" + std::string(phase), std::ios::app) << '.';
	};
}

/* Callers' fds wait in the daemon while polkit decides (bounded by the
 * CallerBudget); poll(), not select(), so a higher soft limit is safe. */
static void raiseFileLimit()
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The Manager's log lines, to the journal (the engine itself has no log). */
void journalLog(const LogLine &line)
{
	const log::Fields slot = { { "KEXECD_SLOT", line.slot } };
	const log::Fields none = {};
	const log::Fields &fields = line.slot.empty() ? none : slot;
	switch (line.level) {
	case LogLevel::Info: log::info(fields, "{}", line.message); break;
	case LogLevel::Warning: log::warning(fields, "{}", line.message); break;
	case LogLevel::Error: log::error(fields, "{}", line.message); break;
	}
}

int main(int argc, char **argv)
{
	CLI::App app{ "kexecd: keeps the next kernel staged for kexec and soft-reboot", "kexecd" };
	std::string kernelSpec = "real", configPath = KEXECD_CONF_FILE, bus = "system";
	const char *envLevel = secure_getenv("KEXECD_LOG_LEVEL");
	std::string logLevel = envLevel ? envLevel : "info";
	ConfigOverrides overrides;
	app.add_option("--kernel", kernelSpec,
		       "real, bpf-reference (real, with the BPF scheme decomposed by tests/kernel/kexecd_ref.ko), "
		       "fake:DIR to record loads into DIR (tests), or null to fstat() and drop them (benchmarks)");
	app.add_option("--config", configPath, "Configuration file (missing: defaults)");
	app.add_option("--state-file", overrides.stateFile, "Where the staged record is kept");
	app.add_option("--trust-dir", overrides.trustDir, "Certificates trusted for Authenticode");
	app.add_option("--parser", overrides.parser, "Signed BPF parser container");
	app.add_option("--signature-policy", overrides.signaturePolicy, "auto|enforce|warn");
	app.add_option("--scheme", overrides.scheme, "auto|bpf|classic");
	app.add_option("--bus", bus, "system, session or a D-Bus address");
	app.add_option("--log-level", logLevel, "debug|info|warning|error (env KEXECD_LOG_LEVEL)");
	app.set_version_flag("--version", KEXECD_VERSION);
	CLI11_PARSE(app, argc, argv);

	if (auto r = log::setup(logLevel); !r) {
		fmt::print(stderr, "kexecd: {}\n", r.error().message);
		return EXIT_FAILURE;
	}

	DaemonConfig config = defaultConfig();
	std::vector<std::string> warnings;
	auto loaded = loadConfigFile(configPath, config, warnings);
	for (const auto &w : warnings)
		log::warning("{}", w);
	if (!loaded || !(loaded = applyOverrides(overrides, config))) {
		log::error("{}", loaded.error().message);
		return EXIT_FAILURE;
	}

	applySystemPaths(systemPathsFromEnvironment(), config.engine);
	config.reboot.procRoot = systemPathsFromEnvironment().procRoot;
	if (const char *root = secure_getenv("KEXECD_SYSFS_ROOT"); root && root[0] == '/')
		config.reboot.runRoot = std::string(root) + "/run";
	config.reboot.discovery = config.engine.discovery;
	/* The unlock check (issue 27) reads sysfs where the engine does. */
	config.reboot.unlock.crypttab = config.cryptTab;
	config.reboot.unlock.efivarsDir = config.engine.efivarsDir;
	config.reboot.unlock.tpmDir = systemPathsFromEnvironment().sysRoot + "/class/tpm/tpm0";
	/* Per boot, beside staged.json (RuntimeDirectory=). */
	config.reboot.bootOriginPath = config.engine.statePath.substr(0, config.engine.statePath.rfind('/')) + "/booted.json";
	config.engine.testHook = testHookFromEnvironment();
	raiseFileLimit();

	auto kernel = makeKernel(kernelSpec, systemPathsFromEnvironment());
	if (!kernel) {
		log::error("{}", kernel.error().message);
		return EXIT_FAILURE;
	}
	Stager stager(**kernel, config.engine);
	Stager crash(**kernel, config.engine, Slot::Crash);
	for (Stager *slot : { &stager, &crash }) {
		if (auto r = slot->start(); !r) {
			log::error({ { "ERRNO", std::to_string(r.error().errnum) } }, "Failed to start: {}",
				   r.error().message);
			return EXIT_FAILURE;
		}
	}

	try {
		auto connection = openBus(bus);
		EventLoop loop(*connection);
		Authorizer authorizer(*connection);
		Logind logind(*connection);
		Manager manager(stager, crash, **kernel, loop, config.reboot, journalLog);
		ManagerAdaptor adaptor(*connection, loop, manager, authorizer, logind, config.engine.limits);
		/* Last: a client activated by this name finds the object. */
		connection->requestName(dbus::ServiceName{ ManagerAdaptor::kBusName });
		log::info("kexecd {} ready on the {} bus, state {}", KEXECD_VERSION, bus,
			  stateName(stager.state()));
		if (auto r = loop.run(); !r) {
			log::error("{}", r.error().message);
			return EXIT_FAILURE;
		}
	} catch (const sdbus::Error &e) {
		log::error("D-Bus: {}: {}", e.getName(), e.getMessage());
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
