// SPDX-License-Identifier: LGPL-2.1-or-later
#include "errors.h"

#include <array>

namespace kexecd {

namespace {

constexpr std::string_view kPrefix = "org.kexecd1.Error.";

/* What a denied verb needed, phrased for the access-denied line. */
const char *verbGerund(Verb verb)
{
	switch (verb) {
	case Verb::Stage:
		return "staging";
	case Verb::Unstage:
		return "unstaging";
	case Verb::Reboot:
		return "rebooting into the staged kernel";
	case Verb::SoftReboot:
		return "soft-rebooting";
	case Verb::Status:
	case Verb::Inspect:
		break;
	}
	return "this operation";
}

std::string withDetail(std::string head, std::string_view detail)
{
	if (!detail.empty()) {
		head += ": ";
		head += detail;
	}
	return head;
}

struct BusErrorRow {
	std::string_view name;
	int exitCode;
	const char *kind;
	const char *title;
};

/* Errors of other services that mean "kexecd is not there". */
constexpr std::array kUnreachable = {
	std::string_view{ "org.freedesktop.DBus.Error.ServiceUnknown" },
	std::string_view{ "org.freedesktop.DBus.Error.NameHasNoOwner" },
	std::string_view{ "org.freedesktop.DBus.Error.NoReply" },
	std::string_view{ "org.freedesktop.DBus.Error.Disconnected" },
	std::string_view{ "org.freedesktop.DBus.Error.NoServer" },
	std::string_view{ "org.freedesktop.DBus.Error.Timeout" },
	std::string_view{ "org.freedesktop.DBus.Error.TimedOut" },
	std::string_view{ "org.freedesktop.DBus.Error.Spawn.ServiceNotFound" },
	std::string_view{ "org.freedesktop.DBus.Error.Spawn.ChildExited" },
	std::string_view{ "org.freedesktop.DBus.Error.Spawn.ExecFailed" },
	std::string_view{ "org.freedesktop.DBus.Error.FileNotFound" },
};

/* One row per org.kexecd1.Error.* name of dbus/org.kexecd1.Manager.xml. */
constexpr std::array kKexecdErrors = {
	BusErrorRow{ "InvalidArgument", ExitInvalid, "invalid-argument", "Invalid argument" },
	BusErrorRow{ "InvalidImage", ExitInvalid, "invalid-image", "Invalid image" },
	BusErrorRow{ "InvalidEntry", ExitInvalid, "invalid-entry", "Invalid boot loader entry" },
	BusErrorRow{ "SignatureRejected", ExitSignatureRejected, "signature-rejected", "Signature rejected" },
	BusErrorRow{ "NotStaged", ExitNotStaged, "not-staged", "Nothing staged" },
	BusErrorRow{ "Busy", ExitBusy, "busy", "Busy" },
	BusErrorRow{ "KernelRefused", ExitKernelRefused, "kernel-refused", "Kernel refused" },
	BusErrorRow{ "Unsupported", ExitUnsupported, "unsupported", "Unsupported" },
	BusErrorRow{ "Inhibited", ExitInhibited, "inhibited", "Inhibited" },
	BusErrorRow{ "NoCrashMemory", ExitNoCrashMemory, "no-crash-memory", "No crash kernel memory" },
	BusErrorRow{ "Io", ExitFailure, "io", "I/O error" },
	BusErrorRow{ "Internal", ExitFailure, "internal", "Internal error in kexecd" },
};

} // namespace

const char *verbName(Verb verb)
{
	switch (verb) {
	case Verb::Status:
		return "status";
	case Verb::Stage:
		return "stage";
	case Verb::Unstage:
		return "unstage";
	case Verb::Reboot:
		return "reboot";
	case Verb::SoftReboot:
		return "soft-reboot";
	case Verb::Inspect:
		return "inspect";
	}
	return "?";
}

const char *polkitAction(Verb verb)
{
	switch (verb) {
	case Verb::Stage:
		return "org.kexecd1.stage";
	case Verb::Unstage:
		return "org.kexecd1.unstage";
	case Verb::Reboot:
		return "org.kexecd1.reboot";
	case Verb::SoftReboot:
		return "org.kexecd1.soft-reboot";
	case Verb::Status:
	case Verb::Inspect:
		break;
	}
	return "";
}

ClientError describeBusError(std::string_view name, std::string_view message, Verb verb)
{
	if (name == "org.freedesktop.DBus.Error.AccessDenied" ||
	    name == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" ||
	    name == "org.freedesktop.PolicyKit1.Error.NotAuthorized") {
		/* The daemon's own reason first ("force is reserved to
		 * root", the polkit action it asked for); the generic hint
		 * only when it sent none. */
		if (!message.empty())
			return { ExitAccessDenied, "access-denied", "Access denied: " + std::string{ message } };
		std::string line = "Access denied: ";
		line += verbGerund(verb);
		line += " needs authorization";
		if (*polkitAction(verb)) {
			line += " (polkit action ";
			line += polkitAction(verb);
			line += ")";
		}
		return { ExitAccessDenied, "access-denied", line };
	}

	if (name.starts_with(kPrefix)) {
		std::string_view shortName = name.substr(kPrefix.size());
		for (const BusErrorRow &row : kKexecdErrors) {
			if (row.name != shortName)
				continue;
			std::string detail{ message };
			if (detail.empty() && row.exitCode == ExitNotStaged)
				detail = "no kernel is staged (run 'kexecctl stage' first)";
			if (detail.empty() && row.exitCode == ExitBusy)
				detail = "another staging is in progress, try again when it has finished";
			return { row.exitCode, row.kind, withDetail(row.title, detail) };
		}
	}

	for (std::string_view unreachable : kUnreachable) {
		if (name == unreachable)
			return { ExitUnreachable, "unreachable",
				 withDetail("kexecd is not reachable on the bus", message) };
	}

	if (name == "org.freedesktop.DBus.Error.UnknownMethod" ||
	    name == "org.freedesktop.DBus.Error.UnknownInterface" ||
	    name == "org.freedesktop.DBus.Error.UnknownObject" ||
	    name == "org.freedesktop.DBus.Error.UnknownProperty")
		return { ExitUnsupported, "unsupported",
			 withDetail("Unsupported: the running kexecd does not implement this", message) };

	if (name == "org.freedesktop.DBus.Error.InvalidArgs")
		return { ExitInvalid, "invalid-argument", withDetail("Invalid argument", message) };

	std::string line{ "Failed to " };
	line += verbName(verb);
	line += ": ";
	line += message.empty() ? std::string{ name } : std::string{ message };
	if (!message.empty() && !name.empty()) {
		line += " (";
		line += name;
		line += ")";
	}
	return { ExitFailure, "failed", line };
}

} // namespace kexecd
