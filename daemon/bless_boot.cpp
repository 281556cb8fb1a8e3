// SPDX-License-Identifier: LGPL-2.1-or-later
// kexecd-bless-boot: systemd-bless-boot's part for boots kexecd kexec'ed.
// After a kexec, LoaderBootCountPath still names the firmware boot's
// entry, so systemd-bless-boot would bless the wrong one (or fail when it
// is gone). Units call this instead (systemd/kexecd-bless-boot*.service):
//   detect  early in every boot: decides whether this boot is a kexec by
//           kexecd (kexec_record.h), keeps the answer in /run/kexecd, sets
//           the flag that keeps systemd-bless-boot away in kexec boots,
//           and writes LoaderEntryLastBooted where loader.conf says
//           "default @saved", as systemd-boot does at a firmware boot
//   good    after boot-complete.target: the kexec'd entry is blessed
//   bad     marks it bad (no tries left), as systemd-bless-boot bad
//   status  says what this boot is and what its counter is
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "boot_assessment.h"
#include "boot_counter.h"
#include "daemon_config.h"
#include "discovery.h"
#include "firmware_state.h"
#include "kexec_record.h"
#include "config.h"
#include "state_file.h"

using namespace kexecd;

namespace {

std::string dirOf(const std::string &path)
{
	return path.substr(0, path.rfind('/'));
}

int detect(const DaemonConfig &config, const BootOrigin &origin)
{
	const std::string flag = dirOf(config.reboot.bootOriginPath) + "/kexec-boot";
	if (origin.via != BootVia::Kexec) {
		(void)unlink(flag.c_str());
		fmt::print("{} ({})\n", origin.summary(), origin.why);
		return EXIT_SUCCESS;
	}
	auto written = StateFile(flag).write(nlohmann::json{ { "entry", origin.entry }, { "file", origin.file } });
	if (!written) {
		fmt::print(stderr, "kexecd-bless-boot: cannot write {}: {}\n", flag, written.error().message);
		return EXIT_FAILURE;
	}
	fmt::print("{} ({})\n", origin.summary(), origin.why);
	if (!origin.entry.empty() && defaultIsSaved(config.reboot.discovery)) {
		auto r = writeLoaderNvVariable(config.reboot.discovery.efivarsDir, "LoaderEntryLastBooted", origin.entry);
		if (!r)
			fmt::print(stderr, "kexecd-bless-boot: default @saved, but LoaderEntryLastBooted cannot be written: {}\n",
				   r.error().message);
		else
			fmt::print("LoaderEntryLastBooted={} (default @saved)\n", origin.entry);
	}
	return EXIT_SUCCESS;
}

int status(const BootOrigin &origin)
{
	fmt::print("{}\n", origin.summary());
	if (origin.via != BootVia::Kexec || !origin.counted) {
		fmt::print("counter: none of kexecd's (systemd-bless-boot status tells the firmware boot's)\n");
		return EXIT_SUCCESS;
	}
	const std::string name = origin.file.substr(origin.file.rfind('/') + 1);
	auto c = parseBootCounter(name, ".efi");
	if (!c)
		c = parseBootCounter(name, ".conf");
	if (access(origin.file.c_str(), F_OK) != 0)
		fmt::print("counter: {} is gone: blessed, marked bad or removed\n", origin.file);
	else if (c)
		fmt::print("counter: indeterminate ({}: {} tries left, {} done)\n", origin.file, c->left, c->done);
	return EXIT_SUCCESS;
}

} // namespace

int main(int argc, char **argv)
{
	CLI::App app{ "Boot assessment for boots kexecd kexec'ed (kexecd-bless-boot(8))" };
	std::string verb, configPath = KEXECD_CONF_FILE;
	app.add_option("verb", verb, "detect | good | bad | status")->required()->check(
		CLI::IsMember({ "detect", "good", "bad", "status" }));
	app.add_option("--config", configPath, "kexecd.conf to read the ESP, EFIVARS and state paths from");
	CLI11_PARSE(app, argc, argv);

	DaemonConfig config = defaultConfig();
	std::vector<std::string> warnings;
	if (auto r = loadConfigFile(configPath, config, warnings); !r) {
		fmt::print(stderr, "kexecd-bless-boot: {}\n", r.error().message);
		return EXIT_FAILURE;
	}
	applySystemPaths(systemPathsFromEnvironment(), config.engine);
	config.reboot.procRoot = systemPathsFromEnvironment().procRoot;
	config.reboot.discovery = config.engine.discovery;
	config.reboot.bootOriginPath = dirOf(config.engine.statePath) + "/booted.json";

	const BootOrigin origin = establishBootOrigin(config.reboot.kexecRecordPath, config.reboot.bootOriginPath,
						      config.reboot.procRoot, config.reboot.discovery.efivarsDir);
	if (verb == "detect")
		return detect(config, origin);
	if (verb == "status")
		return status(origin);
	auto r = blessKexecBoot(origin, verb == "good" ? BootVerdict::Good : BootVerdict::Bad);
	if (!r) {
		fmt::print(stderr, "kexecd-bless-boot: {}\n", r.error().message);
		return EXIT_FAILURE;
	}
	fmt::print("{}\n", *r);
	return EXIT_SUCCESS;
}
