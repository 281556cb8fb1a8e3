// SPDX-License-Identifier: LGPL-2.1-or-later
#include "errors.h"

#include <array>
#include <cctype>
#include <cstring>
#include <functional>
#include <regex>

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
	BusErrorRow{ "FirmwareRequest", ExitFirmwareRequest, "firmware-request", "Firmware request pending" },
	BusErrorRow{ "BootAssessment", ExitBootAssessment, "boot-assessment", "Boot assessment needs the firmware" },
	BusErrorRow{ "WouldNotUnlock", ExitWouldNotUnlock, "would-not-unlock", "A TPM2-bound volume would not unlock after a kexec" },
	BusErrorRow{ "Io", ExitFailure, "io", "I/O error" },
	BusErrorRow{ "Internal", ExitFailure, "internal", "Internal error in kexecd" },
};

/* Each bus option kexecctl sends and the option of kexecctl that sends it. */
struct OptionWord {
	std::string_view bus;
	std::string_view cli;
};
constexpr std::array kOptionWords = {
	OptionWord{ "cmdline_append", "--cmdline-extra" },
	OptionWord{ "cmdline_extra", "--cmdline-replace" },
	OptionWord{ "signature_policy", "--signature-policy" },
	OptionWord{ "ignore_inhibitors", "--ignore-inhibitors" },
	OptionWord{ "ignore_tpm", "--ignore-tpm" },
	OptionWord{ "require_staged", "--require-staged" },
	OptionWord{ "force", "--force" },
	OptionWord{ "crash", "--crash" },
	OptionWord{ "profile", "--profile" },
	OptionWord{ "scheme", "--scheme" },
};

std::string_view cliOption(std::string_view bus)
{
	for (const OptionWord &w : kOptionWords)
		if (w.bus == bus)
			return w.cli;
	return {};
}

/* "FileExists" -> "file exists", "EEXIST" -> "File exists". */
std::string plainWords(std::string_view name)
{
	if (name == "InvalidArgs")
		return "invalid arguments";
	if (name.size() > 1 && name[0] == 'E' && std::isupper(static_cast<unsigned char>(name[1]))) {
		for (int e = 1; e < 200; e++)
			if (const char *symbol = strerrorname_np(e); symbol && name == symbol)
				return std::strerror(e);
	}
	std::string words;
	for (size_t i = 0; i < name.size(); i++) {
		const unsigned char c = static_cast<unsigned char>(name[i]);
		if (c == '.') {
			words += ": ";
			continue;
		}
		if (std::isupper(c) && i > 0 && name[i - 1] != '.' &&
		    !std::isupper(static_cast<unsigned char>(name[i - 1])))
			words += ' ';
		words += static_cast<char>(std::tolower(c));
	}
	return words;
}

std::string replaceAll(std::string text, const std::regex &re,
		       const std::function<std::string(const std::smatch &)> &with)
{
	std::string out;
	auto begin = std::sregex_iterator(text.begin(), text.end(), re);
	size_t last = 0;
	for (auto it = begin; it != std::sregex_iterator(); ++it) {
		out.append(text, last, it->position() - last);
		out += with(*it);
		last = it->position() + it->length();
	}
	out.append(text, last);
	return out;
}

/* "unknown option 'cmdline_append'" for an option this kexecctl sent:
 * the running kexecd is older than kexecctl. */
std::string_view unknownOption(std::string_view message)
{
	static const std::regex re(R"(unknown option '([a-z_]+)')");
	std::match_results<std::string_view::const_iterator> m;
	if (!std::regex_search(message.begin(), message.end(), m, re))
		return {};
	return cliOption(std::string_view(&*m[1].first, m[1].length()));
}

} // namespace

std::string cliWords(std::string_view message)
{
	std::string text{ message };
	/* D-Bus error names: "NAME: message" keeps the message, a name alone
	 * becomes words. */
	static const std::regex errorName(
		R"(\b(?:org\.freedesktop\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*?\.Error|org\.kexecd1\.Error|System\.Error)\.([A-Za-z0-9_.]*[A-Za-z0-9_])(: )?)");
	text = replaceAll(text, errorName, [](const std::smatch &m) {
		return m[2].matched ? std::string{} : plainWords(m[1].str());
	});
	static const std::regex rebootForce(R"(\bReboot with force=true\b)");
	text = std::regex_replace(text, rebootForce, "reboot --force");
	/* force=true, ignore_inhibitors=true, ... */
	static const std::regex boolOption(R"(\b([a-z_]+)=true\b)");
	text = replaceAll(text, boolOption, [](const std::smatch &m) {
		std::string_view cli = cliOption(m[1].str());
		return cli.empty() ? m.str() : std::string{ cli };
	});
	/* "option 'name'" and "mode 'kexec'" */
	static const std::regex quoted(R"(\b(option|mode) '([a-z_]+)')");
	text = replaceAll(text, quoted, [](const std::smatch &m) {
		if (m[1] == "mode") {
			const std::string mode = m[2].str();
			if (mode == "auto" || mode == "kexec" || mode == "soft" || mode == "cold")
				return "--" + mode;
			return m.str();
		}
		std::string_view cli = cliOption(m[2].str());
		return cli.empty() ? m.str() : std::string{ cli };
	});
	/* The multi-word option names, wherever they stand, but not in a
	 * path or a file name. */
	static const std::regex bare(R"((^|[^A-Za-z0-9_'./-])([a-z]+_[a-z_]+)(?![A-Za-z0-9_/-]|\.[A-Za-z0-9]))");
	text = replaceAll(text, bare, [](const std::smatch &m) {
		std::string_view cli = cliOption(m[2].str());
		return cli.empty() ? m.str() : m[1].str() + std::string{ cli };
	});
	return text;
}

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
			return { ExitAccessDenied, "access-denied", "Access denied: " + cliWords(message) };
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
		if (shortName == "InvalidArgument") {
			if (std::string_view cli = unknownOption(message); !cli.empty())
				return { ExitUnsupported, "unsupported",
					 "Unsupported: the running kexecd does not know " + std::string{ cli } +
						 " (it is older than this kexecctl)" };
		}
		for (const BusErrorRow &row : kKexecdErrors) {
			if (row.name != shortName)
				continue;
			std::string detail = cliWords(message);
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
				 withDetail("kexecd is not reachable on the bus", cliWords(message)) };
	}

	if (name == "org.freedesktop.DBus.Error.UnknownMethod" ||
	    name == "org.freedesktop.DBus.Error.UnknownInterface" ||
	    name == "org.freedesktop.DBus.Error.UnknownObject" ||
	    name == "org.freedesktop.DBus.Error.UnknownProperty")
		return { ExitUnsupported, "unsupported",
			 withDetail("Unsupported: the running kexecd does not implement this", cliWords(message)) };

	if (name == "org.freedesktop.DBus.Error.InvalidArgs")
		return { ExitInvalid, "invalid-argument", withDetail("Invalid argument", cliWords(message)) };

	/* A standard name is said in words; another service's own name is
	 * all there is to go by, so it stays. */
	std::string what{ name };
	if (std::string words = cliWords(name); words != name)
		what = words;
	std::string line{ "Failed to " };
	line += verbName(verb);
	line += ": ";
	line += message.empty() ? what : cliWords(message);
	if (!message.empty() && !what.empty()) {
		line += " (";
		line += what;
		line += ")";
	}
	return { ExitFailure, "failed", line };
}

} // namespace kexecd
