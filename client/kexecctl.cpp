// SPDX-License-Identifier: LGPL-2.1-or-later
// kexecctl: the client of kexecd. Every verb but `inspect` is one call on
// org.kexecd1.Manager; `inspect` runs the engine locally, unprivileged.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
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
#include "terminal.h"
#include "text.h"

namespace kexecd {

namespace {


struct StageOptions {
	std::string uki;
	bool noAddons = false;
	std::vector<std::string> addons;
	std::string profile;
	std::string scheme;
	/* --cmdline-extra appends (bus option cmdline_append), as kexec-tools'
	 * --append does; --cmdline-replace is systemd-stub's loader options,
	 * which replace the UKI's .cmdline (bus option cmdline_extra). */
	std::optional<std::string> cmdlineAppend;
	std::optional<std::string> cmdlineReplace;
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


/* Decided before a pager takes standard output: the terminal is the
 * pager's. */
FormatOptions formatOptions(const GlobalOptions &global)
{
	return FormatOptions{ .color = colorEnabled(STDOUT_FILENO), .legend = !global.noLegend };
}

/* status and list: the document as JSON or as text, through the pager
 * on a terminal (formatOptions() was decided before it took the output). */
int printDocument(const GlobalOptions &global, const nlohmann::json &doc,
		  std::string (*format)(const nlohmann::json &, const FormatOptions &))
{
	const FormatOptions options = formatOptions(global);
	Pager pager;
	if (!global.noPager)
		pager.open();
	if (global.json)
		fmt::print("{}", global.jsonOut(doc));
	else
		fmt::print("{}", format(doc, options));
	return ExitOk;
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
	return printDocument(global, doc, formatStatus);
}

/* Stage and StageDefault: asynchronous, so Progress signals are
 * dispatched by the same loop that waits for the reply. */
using HintFn = std::function<std::string(const sdbus::Error &)>;

template<typename... Args>
int runStaging(const GlobalOptions &global, const HintFn &hint, const char *method, const Args &...args)
{
	int exitCode = ExitOk;
	auto connection = connectBus(global, exitCode);
	if (!connection)
		return exitCode;

	std::optional<ProgressBar> bar;
	if (!global.json && !global.quiet && ::isatty(STDOUT_FILENO))
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
				    .callMethodAsync(dbus::MethodName{ method })
				    .onInterface(dbus::InterfaceName{ org::kexecd1::Manager_proxy::INTERFACE_NAME })
				    .withTimeout(kStageTimeout)
				    .withArguments(args...)
				    .uponReplyInvoke([&](dbus::ReplyError e, Options reply) {
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
		return reportBusError(global, *error, Verb::Stage, hint ? hint(*error) : std::string{});

	json record = mapToJson(staged);
	if (global.json) {
		fmt::print("{}", global.jsonOut(record));
	} else if (!global.quiet) {
		const std::string path = record.value(json::json_pointer("/uki/path"),
						      record.value(json::json_pointer("/image/path"), std::string{}));
		const char *what = record.value("slot", std::string{}) == "crash" ? "as the crash kernel" : "";
		fmt::print("{}\n", path.empty() ? fmt::format("Staged{}{}.", *what ? " " : "", what)
					: fmt::format("Staged '{}'{}{}.", path, *what ? " " : "", what));
		fmt::print("{}", formatStaged(record, formatOptions(global)));
	}
	/* Staged, but not what Secure Boot would boot, or without a command
	 * line: said even with --quiet and --json (on stderr). */
	for (const std::string &warning : stagedWarnings(record))
		printWarning(warning);
	return ExitOk;
}

/* The hint for a file given as a UKI that is a plain kernel image. */
std::string plainKernelHint(const sdbus::Error &error, const std::string &path)
{
	if (error.getName() != "org.kexecd1.Error.InvalidImage")
		return {};
	/* A kernel image is some MiB; the bzImage check needs all of it. */
	auto bytes = detail::readSmallFile(path, 512 << 20);
	if (!bytes)
		return {};
	auto info = probeKernelImage(std::span(reinterpret_cast<const uint8_t *>(bytes->data()), bytes->size()), path);
	if (!info)
		return {};
	return fmt::format("it is a plain kernel image ({}): stage it with --kernel", kernelFormatName(info->format));
}

/* Where kexecd found no ESP, what would give it one (or none needed). */
std::string noEspHint(std::string_view message, bool list)
{
	if (message.find("no ESP found") == std::string_view::npos)
		return {};
	return list ? "name it with --esp DIR, or set ESP= in kexecd.conf; DebianLayout=yes in kexecd.conf "
		      "lists Debian's /vmlinuz and /initrd.img instead"
		    : "set ESP= in kexecd.conf(5), or DebianLayout=yes to stage Debian's /vmlinuz and "
		      "/initrd.img; or name a file: kexecctl stage FILE.efi, or --kernel FILE";
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
	if (!opts.uki.empty() || !opts.addons.empty() || !opts.profile.empty() || opts.cmdlineAppend ||
	    opts.cmdlineReplace)
		return report(global, { ExitUsage, "usage",
					"--kernel stages a plain kernel: a UKI, --addon, --profile, --cmdline-extra "
					"and --cmdline-replace do not apply (its command line: --append, "
					"--command-line, --reuse-cmdline)" });
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
	return runStaging(global, nullptr, "StageKernel", kernel, initrds, *cmdline, options);
}

int cmdStage(const GlobalOptions &global, const StageOptions &opts)
{
	int exitCode = ExitOk;

	Options options = authOptions(global);
	if (!opts.profile.empty())
		options["profile"] = sdbus::Variant{ opts.profile };
	if (!opts.scheme.empty())
		options["scheme"] = sdbus::Variant{ opts.scheme };
	if (opts.cmdlineAppend && opts.cmdlineReplace)
		return report(global, { ExitUsage, "usage",
					"--cmdline-extra (append) and --cmdline-replace exclude each other" });
	/* Empty: nothing to add, nothing replaced (systemd-stub, too, keeps
	 * the .cmdline for empty loader options). */
	if (opts.cmdlineAppend && !opts.cmdlineAppend->empty())
		options["cmdline_append"] = sdbus::Variant{ *opts.cmdlineAppend };
	if (opts.cmdlineReplace && !opts.cmdlineReplace->empty())
		options["cmdline_extra"] = sdbus::Variant{ *opts.cmdlineReplace };
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
		return runStaging(
			global, [](const sdbus::Error &e) { return noEspHint(e.getMessage(), false); },
			"StageDefault", options);
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

	const std::string ukiPath = absolutePath(opts.uki);
	options["uki_path"] = sdbus::Variant{ ukiPath };
	options["addon_paths"] = sdbus::Variant{ addonPaths };
	return runStaging(
		global, [&ukiPath](const sdbus::Error &e) { return plainKernelHint(e, ukiPath); }, "Stage", uki,
		addons, options);
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
					fmt::print("{}", global.jsonOut(json{ { "verb", "unstage" }, { "result", "kept" } }));
				else if (!global.quiet)
					fmt::print("Not unstaging: the staged {}kernel is not {}.\n",
						   opts.crash ? "crash " : "", ifKernel);
				return ExitOk;
			}
		}
		Options options = authOptions(global);
		if (opts.crash)
			options["crash"] = sdbus::Variant{ true };
		manager.proxy()
			.callMethod(dbus::MethodName{ "Unstage" })
			.onInterface(dbus::InterfaceName{ org::kexecd1::Manager_proxy::INTERFACE_NAME })
			.withTimeout(kAuthTimeout)
			.withArguments(options);
	} catch (const sdbus::Error &e) {
		/* Nothing to unload is not a failure, as for kexec -u. */
		if (e.getName() != "org.kexecd1.Error.NotStaged")
			return reportBusError(global, e, Verb::Unstage);
		if (global.json)
			fmt::print("{}", global.jsonOut(json{ { "verb", "unstage" }, { "result", "not-staged" },
							      { "slot", opts.crash ? "crash" : "reboot" } }));
		else if (!global.quiet)
			fmt::print("Nothing to unstage: no {}kernel is staged.\n", opts.crash ? "crash " : "");
		return ExitOk;
	}

	if (global.json)
		fmt::print("{}", global.jsonOut(json{ { "verb", "unstage" }, { "result", "ok" },
						      { "slot", opts.crash ? "crash" : "reboot" } }));
	else if (!global.quiet)
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

	const FormatOptions format = formatOptions(global);
	Pager pager;
	if (!global.noPager)
		pager.open();
	if (global.json)
		fmt::print("{}", global.jsonOut(*result));
	else
		fmt::print("{}", formatInspect(*result, format));
	return ExitOk;
}

/* A root given on the command line must be a directory: said naming it,
 * rather than as "no ESP". */
bool checkRootOption(const GlobalOptions &global, const char *option, const std::string &dir, int &exitCode)
{
	std::error_code ec;
	auto status = std::filesystem::status(dir, ec);
	if (ec || !std::filesystem::is_directory(status)) {
		std::string why = ec ? ec.message() : "not a directory";
		if (!ec && status.type() == std::filesystem::file_type::not_found)
			why = std::strerror(ENOENT);
		exitCode = report(global, { ExitInvalid, "invalid-argument",
					    fmt::format("{} '{}': {}", option, dir, why) });
		return false;
	}
	return true;
}

/* "" is "none" in the engine's entries; JSON says null (kexecctl(1)). */
json orNull(const std::string &value)
{
	return value.empty() ? json(nullptr) : json(value);
}

/* Local, like inspect: the same discovery rules StageDefault uses, so a
 * user can see what `kexecctl stage` without a UKI would pick. */
int cmdList(const GlobalOptions &global, const ListOptions &opts)
{
	int exitCode = ExitOk;
	if (!opts.esp.empty() && !checkRootOption(global, "--esp", opts.esp, exitCode))
		return exitCode;
	if (!opts.xbootldr.empty() && !checkRootOption(global, "--xbootldr", opts.xbootldr, exitCode))
		return exitCode;
	/* The daemon's roots (kexecd.conf), unless given here. */
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
	if (!entries) {
		ClientError error = describeEngineError(entries.error());
		if (std::string hint = noEspHint(entries.error().message, true); !hint.empty())
			error.message += "; " + hint;
		return report(global, error);
	}

	std::string why;
	std::string defaultId;
	if (auto def = defaultUki(paths, &why))
		defaultId = def->id;

	json doc = json::object();
	auto esp = findEsp(paths);
	doc["esp"] = esp ? json(*esp) : json(nullptr);
	doc["xbootldr"] = orNull(findXbootldr(paths, esp ? *esp : std::string()));
	doc["default"] = orNull(defaultId);
	doc["default_reason"] = defaultId.empty() ? json(nullptr) : orNull(why);
	doc["entries"] = json::array();
	for (const UkiEntry &e : *entries) {
		doc["entries"].push_back({
			{ "id", e.id },
			{ "kind", e.kind },
			{ "type", e.type },
			{ "entry_file", orNull(e.entryFile) },
			{ "profile", e.profile < 0 ? json(nullptr) : json(e.profile) },
			{ "path", e.path },
			{ "initrds", e.initrds },
			{ "options", orNull(e.options) },
			{ "machine_id", orNull(e.machineId) },
			{ "sort_key", orNull(e.sortKey) },
			{ "devicetree", orNull(e.devicetree) },
			{ "problem", orNull(e.problem) },
			{ "version", orNull(e.version) },
			{ "title", orNull(e.title) },
			{ "os_version", orNull(e.osVersion) },
			{ "source", e.source },
			{ "tries_left", e.triesLeft },
			{ "tries_done", e.triesDone },
			{ "bad", e.bad() },
			{ "default", e.id == defaultId },
			{ "addons", e.isKernel() ? std::vector<std::string>{} : findAddons(paths, e.path, &notes) },
		});
	}
	doc["notes"] = notes;

	return printDocument(global, doc, formatList);
}

} // namespace

} // namespace kexecd

namespace kexecd {

namespace {

const std::vector<std::string> kVerbs{ "status", "stage", "unstage", "reboot", "soft-reboot", "list", "inspect" };

/* The first word that is not an option (nor a global option's value) is
 * the verb: one this kexecctl does not have is said as systemd's tools
 * say it, not as "argument not expected". */
std::optional<std::string> unknownVerb(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		std::string_view arg = argv[i];
		if (arg == "--") {
			if (i + 1 < argc && std::find(kVerbs.begin(), kVerbs.end(), argv[i + 1]) == kVerbs.end())
				return std::string{ argv[i + 1] };
			return std::nullopt;
		}
		if (arg.size() > 1 && arg[0] == '-') {
			if (arg == "--config" || arg == "--bus")
				i++;
			continue;
		}
		if (std::find(kVerbs.begin(), kVerbs.end(), arg) == kVerbs.end())
			return std::string{ arg };
		return std::nullopt;
	}
	return std::nullopt;
}

/* Whether the command line asks for JSON, for errors found before or
 * while it is parsed. */
bool jsonRequested(int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		std::string_view arg = argv[i];
		if (arg == "--")
			break;
		if (arg == "--json" || arg.starts_with("--json="))
			json = arg != "--json=off";
	}
	return json;
}

/* "--json[=MODE]" in the help, where CLI11 would show --json{pretty}. */
class HelpFormatter : public CLI::Formatter
{
public:
	std::string make_option_name(const CLI::Option *opt, bool positional) const override
	{
		if (opt->get_name() == "--json")
			return "--json[=MODE]";
		return CLI::Formatter::make_option_name(opt, positional);
	}
};

constexpr const char *kGlobalGroup = "Global options";

/* A file, directory, version or address that is "": a usage error, not
 * "none given" (stage --kernel "" must not stage the default entry, nor
 * unstage --if-kernel "" whatever is staged). */
const CLI::Validator kNonEmpty(
	[](std::string &value) { return value.empty() ? std::string("must not be empty") : std::string(); }, "",
	"non-empty");

/* The global options, on the main command and on each verb, so they may
 * follow the verb and each verb's --help shows them. */
void addGlobalOptions(CLI::App &app, GlobalOptions &global, std::string &jsonMode)
{
	app.add_flag("--json{pretty}", jsonMode,
		     "JSON output: pretty (also without =MODE), short (one line) or off")
		->group(kGlobalGroup);
	app.add_flag("--no-pager", global.noPager, "Do not pipe status, list and inspect into a pager")
		->group(kGlobalGroup);
	app.add_flag("--no-legend", global.noLegend, "Do not print table headers and footers")
		->group(kGlobalGroup);
	app.add_flag("-q,--quiet", global.quiet,
		     "Print nothing when stage, unstage or reboot succeed (warnings and errors still)")
		->group(kGlobalGroup);
	app.add_flag("--no-ask-password", global.noAskPassword,
		     "Do not ask for a password when authorization is needed")
		->group(kGlobalGroup);
	app.add_option("--config", global.config,
		       "kexecd.conf whose ESP=, XBOOTLDR=, EFIVARS= stage and list use (default " KEXECD_CONF_FILE ")")
		->type_name("FILE")
		->check(kNonEmpty)
		->group(kGlobalGroup);
	app.add_option("--bus", global.bus, "'system' (default) or a D-Bus address to talk to kexecd on")
		->type_name("system|ADDRESS")
		->check(kNonEmpty)
		->group(kGlobalGroup);
	app.set_version_flag("--version", "kexecctl " KEXECD_VERSION, "Print the version and exit")
		->group(kGlobalGroup);
}

/* One line for every usage error, as every other error (kexecctl(1)). */
int usageError(const GlobalOptions &global, std::string message)
{
	for (char &c : message)
		if (c == '\n')
			c = ' ';
	while (!message.empty() && message.back() == ' ')
		message.pop_back();
	return report(global, { ExitUsage, "usage", message });
}

} // namespace

} // namespace kexecd

int main(int argc, char **argv)
{
	using namespace kexecd;

	GlobalOptions global;
	global.json = jsonRequested(argc, argv);
	if (auto verb = unknownVerb(argc, argv))
		return usageError(global, fmt::format("Unknown verb '{}'.", *verb));

	CLI::App app{ "Stage the next kernel for kexec and soft-reboot through kexecd" };
	app.name("kexecctl");
	app.formatter(std::make_shared<HelpFormatter>());
	/* No verb: status, as systemd's *ctl tools show their status. */
	app.require_subcommand(0, 1);
	/* Global options may follow the verb: `kexecctl status --json`. */
	app.fallthrough();
	app.footer("Without a verb: status. See kexecctl(1).\n");

	std::string jsonMode;
	addGlobalOptions(app, global, jsonMode);
	auto verb = [&](const char *name, const char *description) {
		CLI::App *sub = app.add_subcommand(name, description);
		sub->footer("See kexecctl(1).\n");
		addGlobalOptions(*sub, global, jsonMode);
		return sub;
	};

	const std::vector<std::string> schemes{ "auto", "bpf", "classic" };

	auto *status = verb("status", "Show what is staged and what the kernel supports");

	StageOptions stageOpts;
	auto *stage = verb("stage", "Stage a UKI (and addons) as the next kernel");
	stage->add_option("UKI", stageOpts.uki, "Unified kernel image (.efi); none: the default entry")
		->check(kNonEmpty);
	stage->add_option("--addon", stageOpts.addons, "UKI addon (.addon.efi); may be repeated")
		->type_name("FILE")
		->check(kNonEmpty)
		->allow_extra_args(false);
	stage->add_flag("--no-addons", stageOpts.noAddons,
			"Do not add the addons systemd-stub would load for a UKI on the ESP");
	stage->add_option("--profile", stageOpts.profile, "UKI profile: number (@N) or ID")->check(kNonEmpty);
	stage->add_option("--scheme", stageOpts.scheme, "How the kernel is handed over")
		->check(CLI::IsMember(schemes));
	stage->add_option("--cmdline-extra", stageOpts.cmdlineAppend,
			  "Appended to the UKI's command line, after its addons' (refused under Secure Boot "
			  "when the UKI has a .cmdline)")
		->type_name("STRING");
	stage->add_option("--cmdline-replace", stageOpts.cmdlineReplace,
			  "Replaces the UKI's (or profile's) .cmdline, as boot loader options do; addons' "
			  "still follow (refused under Secure Boot when the UKI has a .cmdline)")
		->type_name("STRING");
	stage->add_option("--signature-policy", stageOpts.signaturePolicy,
			  "Authenticode pre-check policy")
		->check(CLI::IsMember({ "auto", "enforce", "warn" }));
	stage->add_option("--kernel", stageOpts.kernel,
			  "Plain kernel image (bzImage, EFI stub, arm64 Image, zboot) instead of a UKI")
		->type_name("FILE")
		->check(kNonEmpty);
	stage->add_option("--initrd", stageOpts.initrds,
			  "Initrd for --kernel; may be repeated, concatenated in order")
		->type_name("FILE")
		->check(kNonEmpty)
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
	auto *unstage = verb("unstage", "Drop the staged kernel (nothing staged: success)");
	unstage->add_option("--if-kernel", unstageOpts.ifKernel,
			    "Only if the staged kernel is this version (kernel-install remove)")
		->type_name("VERSION")
		->check(kNonEmpty);
	unstage->add_flag("--crash", unstageOpts.crash, "Drop the crash kernel (the other slot stays)");

	RebootOptions rebootOpts;
	auto *reboot = verb("reboot", "Reboot through logind: into the staged kernel by default");
	auto *modes = reboot->add_option_group("mode", "Which reboot (default --kexec)");
	modes->add_flag_callback("--auto", [&] { rebootOpts.mode = "auto"; },
				 "Soft-reboot if the staged kernel is the running one, kexec if it is "
				 "another, a plain reboot if none is staged");
	modes->add_flag_callback("--kexec", [&] { rebootOpts.mode = "kexec"; }, "Into the staged kernel");
	modes->add_flag_callback("--soft", [&] { rebootOpts.mode = "soft"; },
				 "Restart userspace only (systemd >= 254)");
	modes->add_flag_callback("--cold", [&] { rebootOpts.mode = "cold"; },
				 "Through the firmware (the staged kernel is unloaded once logind accepted)");
	modes->require_option(0, 1);
	reboot->add_flag("--dry-run", rebootOpts.dryRun,
			 "Print the decision and its reasons, exit as the call would; change nothing");
	reboot->add_flag("--require-staged", rebootOpts.requireStaged,
			 "--auto: refuse instead of a plain reboot when nothing is staged");
	reboot->add_flag("--ignore-inhibitors", rebootOpts.ignoreInhibitors,
			 "Reboot despite block inhibitors (polkit org.kexecd1.reboot-ignore-inhibit)");
	reboot->add_flag("--ignore-tpm", rebootOpts.ignoreTpm,
			 "Kexec although a TPM2-bound volume would not unlock after it "
			 "(polkit org.kexecd1.reboot-ignore-tpm)");
	reboot->add_flag("--force", rebootOpts.force, "Kexec immediately, without logind (root only)");

	RebootOptions softOpts;
	auto *softReboot = verb("soft-reboot", "Restart userspace only (logind soft-reboot)");
	softReboot->add_flag("--dry-run", softOpts.dryRun,
			     "Print the decision and its reasons, exit as the call would; change nothing");
	softReboot->add_flag("--ignore-inhibitors", softOpts.ignoreInhibitors,
			     "Despite block inhibitors (polkit org.kexecd1.reboot-ignore-inhibit)");

	InspectOptions inspectOpts;
	auto *inspect = verb("inspect", "Analyse a UKI locally (no daemon, no privileges)");
	inspect->add_option("FILE", inspectOpts.file, "Unified kernel image (.efi)")->required()->check(kNonEmpty);
	inspect->add_option("--addon", inspectOpts.addons, "UKI addon; may be repeated")
		->type_name("FILE")
		->check(kNonEmpty)
		->allow_extra_args(false);
	inspect->add_option("--profile", inspectOpts.profile, "UKI profile: number (@N) or ID")->check(kNonEmpty);
	inspect->add_option("--scheme", inspectOpts.scheme, "bpf: also describe the image container")
		->check(CLI::IsMember(schemes));
	inspect->add_option("--trust-dir", inspectOpts.trustDir,
			    "Certificates for the signature verdict")
		->type_name("DIR")
		->check(kNonEmpty)
		->capture_default_str();

	ListOptions listOpts;
	auto *list = verb("list", "List the boot entries: UKIs, Type #1 entries, the Debian layout (local)");
	list->add_option("--esp", listOpts.esp, "EFI system partition (default: /efi, /boot, /boot/efi)")
		->type_name("DIR")
		->check(kNonEmpty);
	list->add_option("--xbootldr", listOpts.xbootldr, "Extended boot loader partition")
		->type_name("DIR")
		->check(kNonEmpty);

	try {
		app.parse(argc, argv);
	} catch (const CLI::CallForHelp &e) {
		return app.exit(e);
	} catch (const CLI::CallForAllHelp &e) {
		return app.exit(e);
	} catch (const CLI::CallForVersion &e) {
		return app.exit(e);
	} catch (const CLI::ParseError &e) {
		return usageError(global, e.what());
	}

	/* --json= is no mode; CLI11 would take it for the default. */
	for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; i++)
		if (std::string_view(argv[i]) == "--json=")
			return usageError(global, "--json= needs a mode: pretty, short or off");
	if (!jsonMode.empty() && jsonMode != "pretty" && jsonMode != "short" && jsonMode != "off")
		return usageError(global, fmt::format("Unknown --json mode '{}': pretty, short or off", jsonMode));
	global.json = !jsonMode.empty() && jsonMode != "off";
	global.jsonShort = jsonMode == "short";

	if (*stage)
		return cmdStage(global, stageOpts);
	if (*unstage)
		return cmdUnstage(global, unstageOpts);
	if (*reboot) {
		if (rebootOpts.force && !rebootOpts.mode.empty() && rebootOpts.mode != "kexec")
			return usageError(global, "--force only applies to --kexec");
		return cmdReboot(global, Verb::Reboot, rebootOpts);
	}
	if (*softReboot)
		return cmdReboot(global, Verb::SoftReboot, softOpts);
	if (*inspect)
		return cmdInspect(global, inspectOpts);
	if (*list)
		return cmdList(global, listOpts);
	(void)status;
	return cmdStatus(global);
}
