// SPDX-License-Identifier: LGPL-2.1-or-later
// kexecctl: the client of kexecd. Every verb but `inspect` is one call on
// org.kexecd1.Manager; `inspect` runs the engine locally, unprivileged.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sdbus-c++/sdbus-c++.h>

#include "bus_client.h"
#include "config.h"
#include "daemon_config.h"
#include "discovery.h"
#include "errors.h"
#include "file_util.h"
#include "format.h"
#include "kernel_image.h"
#include "manager_proxy.h"
#include "inspect.h"
#include "stager.h"
#include "text.h"

namespace kexecd {

namespace {


struct StageOptions {
	std::string uki;
	bool noAddons = false;
	std::vector<std::string> addons;
	std::string profile;
	std::string scheme;
	std::string cmdlineExtra;
	std::string signaturePolicy;
	/* A plain kernel, the kexec-tools way. */
	std::string kernel;
	std::vector<std::string> initrds;
	std::optional<std::string> append;
	std::optional<std::string> commandLine;
	bool reuseCmdline = false;
	bool crash = false;
};

struct UnstageOptions {
	std::string ifKernel;
	bool crash = false;
};

struct InspectOptions {
	std::string file;
	std::vector<std::string> addons;
	std::string profile;
	std::string scheme;
	std::string trustDir = KEXECD_TRUST_DIR;
};

struct ListOptions {
	std::string esp;
	std::string xbootldr;
};


std::string absolutePath(const std::string &path)
{
	std::error_code ec;
	std::filesystem::path p = std::filesystem::absolute(path, ec);
	return ec ? path : p.lexically_normal().string();
}

/* Opening the files here means the daemon can only stage what this caller
 * may read. */
std::optional<int> openInput(const GlobalOptions &global, const std::string &path, int &exitCode)
{
	int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int err = errno;
		exitCode = report(global, { err == EACCES ? ExitAccessDenied : ExitInvalid,
					    err == EACCES ? "access-denied" : "invalid-argument",
					    fmt::format("Cannot open '{}': {}", path, std::strerror(err)) });
		return std::nullopt;
	}
	return fd;
}

/* Each of paths opened with the caller's rights; false (exitCode set)
 * when one cannot be. */
bool openInputs(const GlobalOptions &global, const std::vector<std::string> &paths,
		std::vector<sdbus::UnixFd> &fds, std::vector<std::string> &absolute, int &exitCode)
{
	for (const std::string &path : paths) {
		std::optional<int> fd = openInput(global, path, exitCode);
		if (!fd)
			return false;
		fds.emplace_back(*fd, sdbus::adopt_fd);
		absolute.push_back(absolutePath(path));
	}
	return true;
}


int cmdStatus(const GlobalOptions &global)
{
	int exitCode = ExitOk;
	auto connection = connectBus(global, exitCode);
	if (!connection)
		return exitCode;

	std::string text;
	try {
		ManagerProxy manager(*connection);
		text = manager.Describe();
	} catch (const sdbus::Error &e) {
		return reportBusError(global, e, Verb::Status);
	}

	json doc = json::parse(text, nullptr, false);
	if (doc.is_discarded()) {
		return report(global, { ExitFailure, "failed",
					"kexecd sent a status document that is not valid JSON" });
	}
	if (global.json)
		fmt::print("{}\n", jsonText(doc, 2));
	else
		fmt::print("{}", formatStatus(doc));
	return ExitOk;
}

/* Stage and StageDefault: asynchronous, so Progress signals are
 * dispatched by the same loop that waits for the reply. */
template<typename... Args>
int runStaging(const GlobalOptions &global, const char *method, const Args &...args)
{
	int exitCode = ExitOk;
	auto connection = connectBus(global, exitCode);
	if (!connection)
		return exitCode;

	std::optional<ProgressBar> bar;
	if (!global.json && ::isatty(STDOUT_FILENO))
		bar.emplace(stdout);

	std::optional<sdbus::Error> error;
	Options staged;
	try {
		ManagerProxy manager(*connection);
		if (bar)
			manager.progress = [&bar](const std::string &phase, double fraction) {
				bar->update(phase, fraction);
			};

		auto call = manager.proxy()
				    .callMethodAsync(method)
				    .onInterface(org::kexecd1::Manager_proxy::INTERFACE_NAME)
				    .withTimeout(kStageTimeout)
				    .withArguments(args...)
				    .uponReplyInvoke([&](const sdbus::Error *e, Options reply) {
					    if (e)
						    error = *e;
					    else
						    staged = std::move(reply);
					    connection->leaveEventLoop();
				    });
		(void)call;
		connection->enterEventLoop();
	} catch (const sdbus::Error &e) {
		error = e;
	}
	if (bar)
		bar->finish();

	if (error)
		return reportBusError(global, *error, Verb::Stage);

	json record = mapToJson(staged);
	if (global.json) {
		fmt::print("{}\n", jsonText(record, 2));
	} else {
		const std::string path = record.value(json::json_pointer("/uki/path"),
						      record.value(json::json_pointer("/image/path"), std::string{}));
		const char *what = record.value("slot", std::string{}) == "crash" ? "as the crash kernel" : "";
		fmt::print("{}\n", path.empty() ? fmt::format("Staged{}{}.", *what ? " " : "", what)
					: fmt::format("Staged '{}'{}{}.", path, *what ? " " : "", what));
		fmt::print("{}", formatStaged(record));
	}
	return ExitOk;
}

ClientError describeEngineError(const Error &error);

/* The ESP and XBOOTLDR the daemon uses: kexecd.conf's, else the defaults. */
std::optional<DiscoveryPaths> configuredRoots(const GlobalOptions &global, int &exitCode)
{
	DaemonConfig config = defaultConfig();
	std::vector<std::string> warnings;
	if (auto r = loadConfigFile(global.config, config, warnings); !r) {
		exitCode = report(global, describeEngineError(r.error()));
		return std::nullopt;
	}
	return config.engine.discovery;
}

/* systemd-stub loads addons only for an image it booted from the ESP or
 * XBOOTLDR: global ones, then <uki>.extra.d/ (boot counter stripped). */
std::optional<std::vector<std::string>> stubAddonsFor(const GlobalOptions &global,
							const std::string &ukiPath, int &exitCode)
{
	auto paths = configuredRoots(global, exitCode);
	if (!paths)
		return std::nullopt;
	std::vector<std::string> roots;
	if (auto esp = findEsp(*paths))
		roots.push_back(*esp);
	if (!paths->xbootldr.empty())
		roots.push_back(paths->xbootldr);
	for (std::string root : roots) {
		while (root.size() > 1 && root.back() == '/')
			root.pop_back();
		if (ukiPath.size() > root.size() && ukiPath.compare(0, root.size(), root) == 0 &&
		    ukiPath[root.size()] == '/') {
			std::vector<std::string> notes;
			return findAddons(*paths, ukiPath, &notes);
		}
	}
	return std::vector<std::string>{};
}

/* kexec-tools' rules: --command-line sets the line, --reuse-cmdline
 * takes the running one less BOOT_IMAGE= and initrd=, --append adds to
 * either (or is the whole line). */
std::optional<std::string> kernelCmdline(const GlobalOptions &global, const StageOptions &opts, int &exitCode)
{
	if (opts.commandLine && opts.reuseCmdline) {
		exitCode = report(global, { ExitUsage, "usage", "--command-line and --reuse-cmdline exclude each other" });
		return std::nullopt;
	}
	std::string cmdline = opts.commandLine.value_or("");
	if (opts.reuseCmdline) {
		auto proc = detail::readSmallFile("/proc/cmdline", 64 * 1024);
		if (!proc) {
			exitCode = report(global, { ExitFailure, "io", "Cannot read /proc/cmdline" });
			return std::nullopt;
		}
		cmdline = reusableCmdline(*proc);
	}
	if (opts.append && !opts.append->empty())
		cmdline += (cmdline.empty() ? "" : " ") + *opts.append;
	return cmdline;
}

int cmdStageKernel(const GlobalOptions &global, const StageOptions &opts, Options options)
{
	int exitCode = ExitOk;
	if (!opts.uki.empty() || !opts.addons.empty() || !opts.profile.empty() || !opts.cmdlineExtra.empty())
		return report(global, { ExitUsage, "usage",
					"--kernel stages a plain kernel: a UKI, --addon, --profile and "
					"--cmdline-extra do not apply" });
	if (opts.initrds.size() > kMaxAddonsOnBus)
		return report(global, { ExitInvalid, "invalid-argument",
					fmt::format("{} initrds: one StageKernel call carries at most {}",
						    opts.initrds.size(), kMaxAddonsOnBus) });
	auto cmdline = kernelCmdline(global, opts, exitCode);
	if (!cmdline)
		return exitCode;
	std::optional<int> kernelFd = openInput(global, opts.kernel, exitCode);
	if (!kernelFd)
		return exitCode;
	sdbus::UnixFd kernel{ *kernelFd, sdbus::adopt_fd };
	std::vector<sdbus::UnixFd> initrds;
	std::vector<std::string> initrdPaths;
	if (!openInputs(global, opts.initrds, initrds, initrdPaths, exitCode))
		return exitCode;
	options["kernel_path"] = sdbus::Variant{ absolutePath(opts.kernel) };
	options["initrd_paths"] = sdbus::Variant{ initrdPaths };
	options["cmdline_source"] = sdbus::Variant{ std::string(opts.reuseCmdline ? "reuse" : "append") };
	return runStaging(global, "StageKernel", kernel, initrds, *cmdline, options);
}

int cmdStage(const GlobalOptions &global, const StageOptions &opts)
{
	int exitCode = ExitOk;

	Options options = authOptions(global);
	if (!opts.profile.empty())
		options["profile"] = sdbus::Variant{ opts.profile };
	if (!opts.scheme.empty())
		options["scheme"] = sdbus::Variant{ opts.scheme };
	if (!opts.cmdlineExtra.empty())
		options["cmdline_extra"] = sdbus::Variant{ opts.cmdlineExtra };
	if (!opts.signaturePolicy.empty())
		options["signature_policy"] = sdbus::Variant{ opts.signaturePolicy };
	if (opts.crash)
		options["crash"] = sdbus::Variant{ true };

	if (!opts.kernel.empty())
		return cmdStageKernel(global, opts, std::move(options));
	if (!opts.initrds.empty() || opts.append || opts.commandLine || opts.reuseCmdline)
		return report(global, { ExitUsage, "usage",
					"--initrd, --append, --command-line and --reuse-cmdline need --kernel" });

	/* No UKI: the daemon picks the default entry (Boot Loader Spec). */
	if (opts.uki.empty()) {
		if (!opts.addons.empty())
			return report(global, { ExitUsage, "usage", "--addon needs an explicit UKI" });
		return runStaging(global, "StageDefault", options);
	}

	std::optional<int> ukiFd = openInput(global, opts.uki, exitCode);
	if (!ukiFd)
		return exitCode;
	sdbus::UnixFd uki{ *ukiFd, sdbus::adopt_fd };

	/* What systemd-stub would load for this file, found and opened here
	 * with the caller's rights: the daemon opens no path a caller names. */
	std::vector<std::string> addonFiles;
	if (!opts.noAddons) {
		auto found = stubAddonsFor(global, absolutePath(opts.uki), exitCode);
		if (!found)
			return exitCode;
		addonFiles = std::move(*found);
	}
	addonFiles.insert(addonFiles.end(), opts.addons.begin(), opts.addons.end());
	if (addonFiles.size() > kMaxAddonsOnBus)
		return report(global, { ExitInvalid, "invalid-argument",
					fmt::format("{} addons for '{}': one Stage call carries at most {} (the UKI "
						    "and each addon are file descriptors, and a D-Bus message "
						    "carries 16)", addonFiles.size(), opts.uki, kMaxAddonsOnBus) });

	std::vector<sdbus::UnixFd> addons;
	std::vector<std::string> addonPaths;
	if (!openInputs(global, addonFiles, addons, addonPaths, exitCode))
		return exitCode;

	options["uki_path"] = sdbus::Variant{ absolutePath(opts.uki) };
	options["addon_paths"] = sdbus::Variant{ addonPaths };
	return runStaging(global, "Stage", uki, addons, options);
}

/* Whether the staged record is kernel version `version`: its .uname, or
 * an ESP file name kernel-install gives it (TOKEN-VERSION.efi, boot
 * counted TOKEN-VERSION+LEFT[-DONE].efi). */
bool stagedIsKernel(const json &staged, const std::string &version)
{
	for (const char *pointer : { "/uki/uname", "/image/version" })
		if (staged.value(json::json_pointer(pointer), std::string{}) == version)
			return true;
	std::string name = std::filesystem::path(staged.value(json::json_pointer("/uki/path"), std::string{}))
				   .filename()
				   .string();
	const std::string suffix = ".efi";
	if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
		return false;
	name.resize(name.size() - suffix.size());
	if (auto plus = name.rfind('+'); plus != std::string::npos &&
	    name.find_first_not_of("0123456789-", plus + 1) == std::string::npos)
		name.resize(plus);
	const std::string tail = "-" + version;
	return name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
}

int cmdUnstage(const GlobalOptions &global, const UnstageOptions &opts)
{
	const std::string &ifKernel = opts.ifKernel;
	const char *slotKey = opts.crash ? "/crash/staged" : "/staged";
	int exitCode = ExitOk;
	auto connection = connectBus(global, exitCode);
	if (!connection)
		return exitCode;

	try {
		ManagerProxy manager(*connection);
		if (!ifKernel.empty()) {
			json doc = json::parse(manager.Describe(), nullptr, false);
			json staged = doc.is_object() ? doc.value(json::json_pointer(slotKey), json::object())
						      : json::object();
			if (!staged.is_object() || staged.empty() || !stagedIsKernel(staged, ifKernel)) {
				if (global.json)
					fmt::print("{}\n", jsonText(json{ { "verb", "unstage" }, { "result", "kept" } }, 2));
				else
					fmt::print("Not unstaging: the staged {}kernel is not {}.\n",
						   opts.crash ? "crash " : "", ifKernel);
				return ExitOk;
			}
		}
		Options options = authOptions(global);
		if (opts.crash)
			options["crash"] = sdbus::Variant{ true };
		manager.proxy()
			.callMethod("Unstage")
			.onInterface(org::kexecd1::Manager_proxy::INTERFACE_NAME)
			.withTimeout(kAuthTimeout)
			.withArguments(options);
	} catch (const sdbus::Error &e) {
		return reportBusError(global, e, Verb::Unstage);
	}

	if (global.json)
		fmt::print("{}\n", jsonText(json{ { "verb", "unstage" }, { "result", "ok" },
						   { "slot", opts.crash ? "crash" : "reboot" } }, 2));
	else
		fmt::print("Unstaged: no {}kernel is staged any more.\n", opts.crash ? "crash " : "");
	return ExitOk;
}

/* The engine's codes are the daemon's error names, so a file refused by
 * `inspect` reads (and exits) the same as when `stage` refuses it. */
ClientError describeEngineError(const Error &error)
{
	const std::string name = error.code == Code::AccessDenied
					 ? std::string{ "org.freedesktop.DBus.Error.AccessDenied" }
					 : std::string{ "org.kexecd1.Error." } + codeName(error.code);
	return describeBusError(name, error.message, Verb::Inspect);
}

int cmdInspect(const GlobalOptions &global, const InspectOptions &opts)
{
	int exitCode = ExitOk;

	std::optional<int> fd = openInput(global, opts.file, exitCode);
	if (!fd)
		return exitCode;
	InputFile uki{ UniqueFd{ *fd }, absolutePath(opts.file) };

	std::vector<InputFile> addons;
	for (const std::string &path : opts.addons) {
		std::optional<int> addonFd = openInput(global, path, exitCode);
		if (!addonFd)
			return exitCode;
		addons.push_back(InputFile{ UniqueFd{ *addonFd }, absolutePath(path) });
	}

	EngineConfig config;
	config.trustDir = opts.trustDir;

	Result<json> result = inspectImage(std::move(uki), std::move(addons), opts.profile, config,
					   opts.scheme == "bpf");
	if (!result)
		return report(global, describeEngineError(result.error()));

	if (global.json)
		fmt::print("{}\n", result->dump(2));
	else
		fmt::print("{}", formatInspect(*result));
	return ExitOk;
}

/* Local, like inspect: the same discovery rules StageDefault uses, so a
 * user can see what `kexecctl stage` without a UKI would pick. */
int cmdList(const GlobalOptions &global, const ListOptions &opts)
{
	/* The daemon's roots (kexecd.conf), unless given here. */
	int exitCode = ExitOk;
	auto configured = configuredRoots(global, exitCode);
	if (!configured)
		return exitCode;
	DiscoveryPaths paths = *configured;
	if (!opts.esp.empty())
		paths.esp = absolutePath(opts.esp);
	if (!opts.xbootldr.empty())
		paths.xbootldr = absolutePath(opts.xbootldr);

	std::vector<std::string> notes;
	auto entries = listUkis(paths, &notes);
	if (!entries)
		return report(global, describeEngineError(entries.error()));

	std::string why;
	std::string defaultId;
	if (auto def = defaultUki(paths, &why))
		defaultId = def->id;

	json doc = json::object();
	if (auto esp = findEsp(paths))
		doc["esp"] = *esp;
	const std::string xbootldr = findXbootldr(paths, doc.value("esp", std::string()));
	doc["xbootldr"] = xbootldr.empty() ? json(nullptr) : json(xbootldr);
	doc["default"] = defaultId.empty() ? json(nullptr) : json(defaultId);
	doc["default_reason"] = why;
	doc["entries"] = json::array();
	for (const UkiEntry &e : *entries) {
		doc["entries"].push_back({
			{ "id", e.id },
			{ "kind", e.kind },
			{ "type", e.type },
			{ "entry_file", e.entryFile.empty() ? json(nullptr) : json(e.entryFile) },
			{ "profile", e.profile < 0 ? json(nullptr) : json(e.profile) },
			{ "path", e.path },
			{ "initrds", e.initrds },
			{ "options", e.options },
			{ "machine_id", e.machineId },
			{ "sort_key", e.sortKey },
			{ "devicetree", e.devicetree },
			{ "problem", e.problem.empty() ? json(nullptr) : json(e.problem) },
			{ "version", e.version },
			{ "title", e.title },
			{ "os_version", e.osVersion },
			{ "source", e.source },
			{ "tries_left", e.triesLeft },
			{ "tries_done", e.triesDone },
			{ "bad", e.bad() },
			{ "default", e.id == defaultId },
			{ "addons", e.isKernel() ? std::vector<std::string>{} : findAddons(paths, e.path, &notes) },
		});
	}
	doc["notes"] = notes;

	if (global.json)
		fmt::print("{}\n", jsonText(doc, 2));
	else
		fmt::print("{}", formatList(doc));
	return ExitOk;
}

} // namespace

} // namespace kexecd

int main(int argc, char **argv)
{
	using namespace kexecd;

	CLI::App app{ "Stage the next kernel for kexec and soft-reboot through kexecd" };
	app.name("kexecctl");
	app.set_version_flag("--version", KEXECD_VERSION);
	app.require_subcommand(1);
	/* Global options may follow the verb: `kexecctl status --json`. */
	app.fallthrough();

	GlobalOptions global;
	app.add_flag("--json", global.json, "Machine-readable output (stable keys, see kexecctl(1))");
	app.add_flag("--no-ask-password", global.noAskPassword,
		     "Do not ask for a password when authorization is needed");
	app.add_option("--config", global.config,
		       "kexecd.conf whose ESP=, XBOOTLDR=, EFIVARS= stage and list use (default " KEXECD_CONF_FILE ")");
	app.add_option("--bus", global.bus, "'system' (default) or a D-Bus address to talk to kexecd on")
		->type_name("system|ADDRESS");

	const std::vector<std::string> schemes{ "auto", "bpf", "classic" };

	auto *status = app.add_subcommand("status", "Show what is staged and what the kernel supports");

	StageOptions stageOpts;
	auto *stage = app.add_subcommand("stage", "Stage a UKI (and addons) as the next kernel");
	stage->add_option("UKI", stageOpts.uki, "Unified kernel image (.efi); none: the default entry");
	stage->add_option("--addon", stageOpts.addons, "UKI addon (.addon.efi); may be repeated")
		->type_name("FILE")
		->allow_extra_args(false);
	stage->add_flag("--no-addons", stageOpts.noAddons,
			"Do not add the addons systemd-stub would load for a UKI on the ESP");
	stage->add_option("--profile", stageOpts.profile, "UKI profile: number (@N) or ID");
	stage->add_option("--scheme", stageOpts.scheme, "How the kernel is handed over")
		->check(CLI::IsMember(schemes));
	stage->add_option("--cmdline-extra", stageOpts.cmdlineExtra,
			  "Appended to the command line (refused under Secure Boot)");
	stage->add_option("--signature-policy", stageOpts.signaturePolicy,
			  "Authenticode pre-check policy")
		->check(CLI::IsMember({ "auto", "enforce", "warn" }));
	stage->add_option("--kernel", stageOpts.kernel,
			  "Plain kernel image (bzImage, EFI stub, arm64 Image, zboot) instead of a UKI")
		->type_name("FILE");
	stage->add_option("--initrd", stageOpts.initrds,
			  "Initrd for --kernel; may be repeated, concatenated in order")
		->type_name("FILE")
		->allow_extra_args(false);
	stage->add_option("--append", stageOpts.append, "--kernel: append to the command line")
		->type_name("STRING");
	stage->add_option("--command-line", stageOpts.commandLine, "--kernel: the whole command line")
		->type_name("STRING");
	stage->add_flag("--reuse-cmdline", stageOpts.reuseCmdline,
			"--kernel: the running system's command line, less BOOT_IMAGE= and initrd=");
	stage->add_flag("--crash", stageOpts.crash,
			"Stage the crash kernel a panic starts (KEXEC_FILE_ON_CRASH; needs crashkernel=)");

	UnstageOptions unstageOpts;
	auto *unstage = app.add_subcommand("unstage", "Drop the staged kernel");
	unstage->add_option("--if-kernel", unstageOpts.ifKernel,
			    "Only if the staged kernel is this version (kernel-install remove)")
		->type_name("VERSION");
	unstage->add_flag("--crash", unstageOpts.crash, "Drop the crash kernel (the other slot stays)");

	RebootOptions rebootOpts;
	auto *reboot = app.add_subcommand("reboot", "Reboot through logind: into the staged kernel by default");
	auto *modes = reboot->add_option_group("mode", "Which reboot (default --kexec)");
	modes->add_flag_callback("--auto", [&] { rebootOpts.mode = "auto"; },
				 "Soft-reboot if the staged kernel is the running one, kexec if it is "
				 "another, a plain reboot if none is staged");
	modes->add_flag_callback("--kexec", [&] { rebootOpts.mode = "kexec"; }, "Into the staged kernel");
	modes->add_flag_callback("--soft", [&] { rebootOpts.mode = "soft"; },
				 "Restart userspace only (systemd >= 254)");
	modes->add_flag_callback("--cold", [&] { rebootOpts.mode = "cold"; },
				 "Through the firmware (unloads a staged kernel first)");
	modes->require_option(0, 1);
	reboot->add_flag("--dry-run", rebootOpts.dryRun, "Print the decision and its reasons; change nothing");
	reboot->add_flag("--require-staged", rebootOpts.requireStaged,
			 "--auto: refuse instead of a plain reboot when nothing is staged");
	reboot->add_flag("--ignore-inhibitors", rebootOpts.ignoreInhibitors,
			 "Reboot despite block inhibitors (polkit org.kexecd1.reboot-ignore-inhibit)");
	reboot->add_flag("--force", rebootOpts.force, "Kexec immediately, without logind (root only)");

	RebootOptions softOpts;
	auto *softReboot = app.add_subcommand("soft-reboot", "Restart userspace only (logind soft-reboot)");
	softReboot->add_flag("--dry-run", softOpts.dryRun, "Print the decision and its reasons; change nothing");
	softReboot->add_flag("--ignore-inhibitors", softOpts.ignoreInhibitors,
			     "Despite block inhibitors (polkit org.kexecd1.reboot-ignore-inhibit)");

	InspectOptions inspectOpts;
	auto *inspect = app.add_subcommand("inspect", "Analyse a UKI locally (no daemon, no privileges)");
	inspect->add_option("FILE", inspectOpts.file, "Unified kernel image (.efi)")->required();
	inspect->add_option("--addon", inspectOpts.addons, "UKI addon; may be repeated")
		->type_name("FILE")
		->allow_extra_args(false);
	inspect->add_option("--profile", inspectOpts.profile, "UKI profile: number (@N) or ID");
	inspect->add_option("--scheme", inspectOpts.scheme, "bpf: also describe the image container")
		->check(CLI::IsMember(schemes));
	inspect->add_option("--trust-dir", inspectOpts.trustDir,
			    "Certificates for the signature verdict")
		->capture_default_str();

	ListOptions listOpts;
	auto *list = app.add_subcommand("list", "List the boot entries: UKIs, Type #1 entries, the Debian layout (local)");
	list->add_option("--esp", listOpts.esp, "EFI system partition (default: /efi, /boot, /boot/efi)")
		->type_name("DIR");
	list->add_option("--xbootldr", listOpts.xbootldr, "Extended boot loader partition")
		->type_name("DIR");

	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		int r = app.exit(e);
		return r == 0 ? ExitOk : ExitUsage;
	}

	if (*status)
		return cmdStatus(global);
	if (*stage)
		return cmdStage(global, stageOpts);
	if (*unstage)
		return cmdUnstage(global, unstageOpts);
	if (*reboot) {
		if (rebootOpts.force && !rebootOpts.mode.empty() && rebootOpts.mode != "kexec") {
			fmt::print(stderr, "--force only applies to --kexec\n");
			return ExitUsage;
		}
		return cmdReboot(global, Verb::Reboot, rebootOpts);
	}
	if (*softReboot)
		return cmdReboot(global, Verb::SoftReboot, softOpts);
	if (*inspect)
		return cmdInspect(global, inspectOpts);
	if (*list)
		return cmdList(global, listOpts);
	return ExitUsage;
}
