// SPDX-License-Identifier: LGPL-2.1-or-later
// kexecctl reboot / soft-reboot: one Reboot call with a mode, or with
// --dry-run one PlanReboot call that prints the decision and its reasons.
#include "bus_client.h"

#include <unistd.h>

#include <fmt/format.h>

#include "terminal.h"
#include "text.h"

namespace kexecd {

namespace {

/* A dry run sends what the real call would, --force and whether polkit
 * may ask included: kexecd plans with the same decision code and answers
 * as the call would (issue 28). */
Options rebootOptions(const GlobalOptions &global, const RebootOptions &opts, Verb verb, bool dryRun)
{
	Options options = authOptions(global);
	/* SoftReboot is Reboot with mode soft; its plan says so. */
	if (verb == Verb::SoftReboot && dryRun)
		options["mode"] = sdbus::Variant{ std::string{ "soft" } };
	else if (verb == Verb::Reboot && !opts.mode.empty())
		options["mode"] = sdbus::Variant{ opts.mode };
	if (opts.requireStaged)
		options["require_staged"] = sdbus::Variant{ true };
	if (opts.ignoreInhibitors)
		options["ignore_inhibitors"] = sdbus::Variant{ true };
	if (opts.ignoreTpm)
		options["ignore_tpm"] = sdbus::Variant{ true };
	if (opts.force)
		options["force"] = sdbus::Variant{ true };
	return options;
}

int printPlan(const GlobalOptions &global, const std::string &text)
{
	json plan = json::parse(text, nullptr, false);
	if (plan.is_discarded())
		return report(global, { ExitFailure, "failed", "kexecd sent a reboot plan that is not valid JSON" });
	if (global.json) {
		fmt::print("{}", global.jsonOut(plan));
	} else {
		const std::string decision = plan.value("decision", "?");
		fmt::print("Decision: {}", paint(decision, decision == "refuse" ? Tone::Bad : Tone::Plain,
						 colorEnabled(STDOUT_FILENO)));
		if (plan.contains("logind_flags"))
			fmt::print(" (logind RebootWithFlags {:#x})", plan.value("logind_flags", 0));
		fmt::print("\n");
		for (const auto &r : plan.value("reasons", json::array()))
			if (r.is_string())
				fmt::print("  - {}\n", cliWords(r.get<std::string>()));
		for (const auto &i : plan.value("block_inhibitors", json::array()))
			fmt::print("  block inhibitor: '{}' (uid {}, pid {}): {}\n", i.value("who", ""),
				   i.value("uid", 0), i.value("pid", 0), i.value("why", ""));
		if (!global.noLegend)
			fmt::print("Nothing was changed (--dry-run).\n");
	}
	/* A plan that refuses exits as the real call would. */
	if (plan.value("decision", "") == "refuse" && plan.contains("error")) {
		const json &e = plan["error"];
		/* The plan names the engine's code; AccessDenied travels as the
		 * bus's own error name, every other one as kexecd's. */
		const std::string name = e.value("name", std::string{ "Internal" });
		ClientError ce = describeBusError(name == "AccessDenied" ? "org.freedesktop.DBus.Error.AccessDenied"
									 : "org.kexecd1.Error." + name,
						  e.value("message", ""), Verb::Reboot);
		return ce.exitCode;
	}
	return ExitOk;
}

} // namespace

int cmdReboot(const GlobalOptions &global, Verb verb, const RebootOptions &opts)
{
	int exitCode = ExitOk;
	auto connection = connectBus(global, exitCode);
	if (!connection)
		return exitCode;

	const dbus::InterfaceName iface{ org::kexecd1::Manager_proxy::INTERFACE_NAME };
	try {
		ManagerProxy manager(*connection);
		if (opts.dryRun) {
			std::string text;
			manager.proxy()
				.callMethod(dbus::MethodName{ "PlanReboot" })
				.onInterface(iface)
				.withTimeout(kAuthTimeout)
				.withArguments(rebootOptions(global, opts, verb, true))
				.storeResultsTo(text);
			return printPlan(global, text);
		}
		manager.proxy()
			.callMethod(dbus::MethodName{ verb == Verb::SoftReboot ? "SoftReboot" : "Reboot" })
			.onInterface(iface)
			.withTimeout(kAuthTimeout)
			.withArguments(rebootOptions(global, opts, verb, false));
	} catch (const sdbus::Error &e) {
		return reportBusError(global, e, verb);
	}

	const std::string mode = verb == Verb::SoftReboot ? "soft" : opts.mode.empty() ? "kexec" : opts.mode;
	if (global.json)
		fmt::print("{}", global.jsonOut(json{ { "verb", verbName(verb) }, { "mode", mode }, { "result", "ok" } }));
	else if (!global.quiet)
		fmt::print("{}\n", mode == "soft"   ? "Soft-rebooting."
				   : mode == "cold" ? "Rebooting through the firmware."
				   : mode == "auto" ? "Rebooting (kexecd chose the kind: see 'kexecctl reboot --auto --dry-run')."
						    : "Rebooting into the staged kernel.");
	return ExitOk;
}

} // namespace kexecd
