// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// How kexecctl turns a D-Bus error into one line a human can act on and an
// exit code a script can branch on. No sdbus-c++ types here, so the table
// is testable and documented in one place (kexecctl(1) "EXIT STATUS").

#include <string>
#include <string_view>

namespace kexecd {

enum ExitCode : int {
	ExitOk = 0,
	ExitFailure = 1,
	ExitUsage = 2,
	ExitAccessDenied = 3,
	ExitInvalid = 4,           // invalid image or argument
	ExitSignatureRejected = 5,
	ExitNotStaged = 6,
	ExitBusy = 7,
	ExitKernelRefused = 8,
	ExitUnsupported = 9,
	ExitUnreachable = 10,      // no bus, or no kexecd on it
	ExitInhibited = 11,        // a block inhibitor refuses the reboot
	ExitNoCrashMemory = 12,    // no crashkernel= memory for the crash slot
	ExitFirmwareRequest = 13,  // a firmware request needs the firmware path
	ExitBootAssessment = 14,   // boot counting needs the firmware path
	ExitWouldNotUnlock = 15,   // a TPM2-bound volume would not unlock after a kexec
};

/* The privileged verbs, each guarded by one polkit action. */
enum class Verb { Status, Stage, Unstage, Reboot, SoftReboot, Inspect };

const char *verbName(Verb verb);       // "stage", "soft-reboot", ...
const char *polkitAction(Verb verb);   // "org.kexecd1.stage", or "" for read-only verbs

struct ClientError {
	int exitCode = ExitFailure;
	std::string kind;     // stable token for --json: "access-denied", "busy", ...
	std::string message;  // one line, no trailing newline
};

/* name: D-Bus error name, message: the error's text as the daemon sent it. */
ClientError describeBusError(std::string_view name, std::string_view message, Verb verb);

/* A message of the daemon's in kexecctl's words: the bus options it names
 * become the options that send them ("force=true" -> "--force",
 * "cmdline_append" -> "--cmdline-extra"), and D-Bus error names plain
 * words ("...DBus.Error.FileExists" -> "file exists"; dropped where the
 * error's own message follows them). */
std::string cliWords(std::string_view message);

} // namespace kexecd
