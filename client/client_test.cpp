// SPDX-License-Identifier: LGPL-2.1-or-later
// kexecctl's error table and human output, without a bus.

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "errors.h"
#include "format.h"
#include "terminal.h"

namespace kexecd {
namespace {

TEST(ClientErrors, EveryXmlErrorHasItsExitCode)
{
	/* The XML lists the error names; a new one must get a row (and a
	 * line in kexecctl(1)), not fall through to the generic code. */
	std::ifstream xml(KEXECD_MANAGER_XML);
	ASSERT_TRUE(xml) << KEXECD_MANAGER_XML;
	std::stringstream ss;
	ss << xml.rdbuf();
	const std::string text = ss.str();

	std::set<std::string> names;
	const std::regex re(R"(org\.kexecd1\.Error\.[A-Za-z]+)");
	for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
		names.insert(it->str());
	ASSERT_FALSE(names.empty());

	for (const std::string &name : names) {
		ClientError e = describeBusError(name, "detail", Verb::Stage);
		EXPECT_NE(e.kind, "failed") << name << " has no row in client/errors.cpp";
		EXPECT_NE(e.message.find("detail"), std::string::npos) << name;
		EXPECT_EQ(e.message.find('\n'), std::string::npos) << name;
	}
}

TEST(ClientErrors, ExitCodes)
{
	EXPECT_EQ(describeBusError("org.kexecd1.Error.InvalidImage", "", Verb::Stage).exitCode, ExitInvalid);
	EXPECT_EQ(describeBusError("org.kexecd1.Error.InvalidArgument", "", Verb::Stage).exitCode, ExitInvalid);
	EXPECT_EQ(describeBusError("org.kexecd1.Error.SignatureRejected", "", Verb::Stage).exitCode,
		  ExitSignatureRejected);
	EXPECT_EQ(describeBusError("org.kexecd1.Error.NotStaged", "", Verb::Reboot).exitCode, ExitNotStaged);
	EXPECT_EQ(describeBusError("org.kexecd1.Error.Busy", "", Verb::Stage).exitCode, ExitBusy);
	EXPECT_EQ(describeBusError("org.kexecd1.Error.KernelRefused", "", Verb::Stage).exitCode,
		  ExitKernelRefused);
	EXPECT_EQ(describeBusError("org.kexecd1.Error.Unsupported", "", Verb::Stage).exitCode, ExitUnsupported);
	EXPECT_EQ(describeBusError("org.kexecd1.Error.Internal", "", Verb::Stage).exitCode, ExitFailure);
	EXPECT_EQ(describeBusError("org.kexecd1.Error.WouldNotUnlock", "", Verb::Reboot).exitCode, 15);
	EXPECT_EQ(describeBusError("org.freedesktop.DBus.Error.ServiceUnknown", "", Verb::Status).exitCode,
		  ExitUnreachable);
	EXPECT_EQ(describeBusError("org.freedesktop.DBus.Error.NoReply", "", Verb::Stage).exitCode,
		  ExitUnreachable);
}

TEST(ClientErrors, AccessDeniedNamesTheAction)
{
	struct {
		Verb verb;
		const char *action;
	} cases[] = {
		{ Verb::Stage, "org.kexecd1.stage" },
		{ Verb::Unstage, "org.kexecd1.unstage" },
		{ Verb::Reboot, "org.kexecd1.reboot" },
		{ Verb::SoftReboot, "org.kexecd1.soft-reboot" },
	};
	for (const auto &c : cases) {
		ClientError e = describeBusError("org.freedesktop.DBus.Error.AccessDenied",
						 std::string("Not authorized for polkit action ") + c.action, c.verb);
		EXPECT_EQ(e.exitCode, ExitAccessDenied);
		EXPECT_TRUE(e.message.starts_with("Access denied: ")) << e.message;
		EXPECT_NE(e.message.find(c.action), std::string::npos) << e.message;
	}
	EXPECT_EQ(describeBusError("org.freedesktop.DBus.Error.AccessDenied", "", Verb::Stage).message,
		  "Access denied: staging needs authorization (polkit action org.kexecd1.stage)");
	/* The daemon's own reason is shown, in kexecctl's words. */
	EXPECT_EQ(describeBusError("org.freedesktop.DBus.Error.AccessDenied",
				   "Reboot with force=true is reserved to root", Verb::Reboot).message,
		  "Access denied: reboot --force is reserved to root");
}

/* Issue 28: what the client prints speaks the CLI's words, not the bus's. */
TEST(ClientErrors, CliWords)
{
	EXPECT_EQ(cliWords("force=true only applies to mode 'kexec'"), "--force only applies to --kexec");
	EXPECT_EQ(cliWords("option 'cmdline_append' is longer than 1024 bytes"), "--cmdline-extra is longer than 1024 bytes");
	EXPECT_EQ(cliWords("option 'cmdline_extra' contains the control character 0x0a"),
		  "--cmdline-replace contains the control character 0x0a");
	EXPECT_EQ(cliWords("cmdline_extra is refused: Secure Boot is on"), "--cmdline-replace is refused: Secure Boot is on");
	EXPECT_EQ(cliWords("no kernel is staged (require_staged)"), "no kernel is staged (--require-staged)");
	EXPECT_EQ(cliWords("unless ignore_inhibitors is granted"), "unless --ignore-inhibitors is granted");
	EXPECT_EQ(cliWords("systemd-logind is not running: org.freedesktop.DBus.Error.ServiceUnknown: The name "
			   "org.freedesktop.login1 was not provided by any .service files"),
		  "systemd-logind is not running: The name org.freedesktop.login1 was not provided by any .service files");
	EXPECT_EQ(cliWords("logind said org.freedesktop.DBus.Error.FileExists"), "logind said file exists");
	EXPECT_EQ(cliWords("failed: System.Error.EEXIST"), "failed: File exists");
	/* Values, paths and words that only look alike stay. */
	EXPECT_EQ(cliWords("unknown scheme 'force' (auto, bpf, classic)"), "unknown scheme 'force' (auto, bpf, classic)");
	EXPECT_EQ(cliWords("'/efi/cmdline_extra/x.efi': no .linux section"), "'/efi/cmdline_extra/x.efi': no .linux section");
	EXPECT_EQ(cliWords("kernel_path has 2 entries"), "kernel_path has 2 entries");

	/* Through describeBusError, for each kind of error. */
	ClientError e = describeBusError("org.kexecd1.Error.InvalidArgument",
					 "option 'cmdline_append' is longer than 1024 bytes", Verb::Stage);
	EXPECT_EQ(e.message, "Invalid argument: --cmdline-extra is longer than 1024 bytes");
	EXPECT_EQ(e.exitCode, ExitInvalid);
	e = describeBusError("org.kexecd1.Error.Unsupported",
			     "systemd-logind is not running (org.freedesktop.DBus.Error.ServiceUnknown: gone); "
			     "Reboot with force=true kexecs directly", Verb::Reboot);
	EXPECT_EQ(e.message, "Unsupported: systemd-logind is not running (gone); reboot --force kexecs directly");
	e = describeBusError("org.freedesktop.DBus.Error.FileExists", "", Verb::Reboot);
	EXPECT_EQ(e.message, "Failed to reboot: file exists");
	e = describeBusError("org.freedesktop.DBus.Error.FileExists", "already rebooting", Verb::Reboot);
	EXPECT_EQ(e.message, "Failed to reboot: already rebooting (file exists)");
	EXPECT_EQ(e.exitCode, ExitFailure);
}

/* An option this kexecctl sends that the running kexecd does not know:
 * the daemon is older (exit 9), not the user's argument invalid. */
TEST(ClientErrors, UnknownOptionMeansAnOlderDaemon)
{
	ClientError e = describeBusError("org.kexecd1.Error.InvalidArgument", "unknown option 'cmdline_append'",
					 Verb::Stage);
	EXPECT_EQ(e.exitCode, ExitUnsupported);
	EXPECT_EQ(e.kind, "unsupported");
	EXPECT_EQ(e.message, "Unsupported: the running kexecd does not know --cmdline-extra (it is older than this kexecctl)");
	/* One it never sends stays an invalid argument. */
	e = describeBusError("org.kexecd1.Error.InvalidArgument", "unknown option 'frob'", Verb::Stage);
	EXPECT_EQ(e.exitCode, ExitInvalid);
}

TEST(ClientErrors, InhibitedNamesTheInhibitor)
{
	ClientError e = describeBusError("org.kexecd1.Error.Inhibited",
					 "The reboot is blocked by 'backup' (uid 0, pid 42): nightly", Verb::Reboot);
	EXPECT_EQ(e.exitCode, ExitInhibited);
	EXPECT_EQ(e.kind, "inhibited");
	EXPECT_EQ(e.message, "Inhibited: The reboot is blocked by 'backup' (uid 0, pid 42): nightly");
}

TEST(ClientErrors, UnknownErrorKeepsItsName)
{
	ClientError e = describeBusError("com.example.Weird", "it broke", Verb::Unstage);
	EXPECT_EQ(e.exitCode, ExitFailure);
	EXPECT_NE(e.message.find("it broke"), std::string::npos);
	EXPECT_NE(e.message.find("com.example.Weird"), std::string::npos);
}

nlohmann::json describeDoc()
{
	return nlohmann::json::parse(R"json({
		"state": "staged",
		"last_error": "",
		"version": "0.1.0",
		"kernel_support": { "kexec_file": true, "bpf_parser": false, "generation": "",
				    "lockdown": "none", "secure_boot": false, "load_disabled": false,
				    "detail": "no BTF" },
		"staged": {
			"uki": { "path": "/efi/EFI/Linux/debian.efi", "sha256": "aaaa", "size": 3,
				 "uname": "6.1.0-18-amd64",
				 "os_release": { "id": "debian", "pretty_name": "Debian GNU/Linux 12 (bookworm)" },
				 "signature": { "verdict": "unsigned", "signer": "", "detail": "no certificate table" } },
			"addons": [ { "path": "/efi/a.addon.efi", "sha256": "cccc" } ],
			"signature_policy": "warn",
			"cmdline": "console=ttyS0",
			"scheme": "classic",
			"scheme_reason": "requested 'classic'",
			"kernel": { "sha256": "kkkk", "size": 1 },
			"initrd": null,
			"signatures": { "objects": [
				{ "object": "uki", "firmware": { "verdict": "unsigned", "reason": "no certificate table" },
				  "kernel": null },
				{ "object": "addon", "firmware": { "verdict": "revoked", "reason": "SBAT: x" }, "kernel": null },
				{ "object": "kernel", "firmware": null,
				  "kernel": { "verdict": "trusted", "anchor": "platform keyring (MokListRT): CN=Debian Secure Boot CA" } } ] },
			"staged_at": "2026-11-25T18:00:00Z"
		}
	})json");
}

TEST(ClientFormat, StatusIsAlignedAndComplete)
{
	const std::string out = formatStatus(describeDoc());
	std::istringstream lines(out);
	std::string line;
	size_t colon = std::string::npos;
	while (std::getline(lines, line)) {
		size_t c = line.find(": ");
		ASSERT_NE(c, std::string::npos) << line;
		if (colon == std::string::npos)
			colon = c;
		EXPECT_EQ(c, colon) << "misaligned: '" << line << "'";
	}
	for (const char *want : { "State: staged", "UKI: /efi/EFI/Linux/debian.efi",
				  "Kernel version: 6.1.0-18-amd64", "Addons: /efi/a.addon.efi",
				  "Scheme: classic (requested 'classic')", "Command line: console=ttyS0",
				  /* The worst verdict, not the UKI's (issue 28). */
				  "Signature: revoked (firmware verdict of addon 0: SBAT: x), policy warn",
				  "Firmware verdict, uki: unsigned (no certificate table)",
				  "Firmware verdict, addon 0: revoked (SBAT: x)",
				  "Kernel verdict, .linux: trusted via platform keyring (MokListRT): CN=Debian Secure Boot CA",
				  "Kernel SHA256: kkkk", "UKI SHA256: aaaa", "Lockdown: none",
				  "Secure Boot: no", "BPF parser: no (no BTF)" })
		EXPECT_NE(out.find(want), std::string::npos) << "missing '" << want << "' in\n" << out;
	/* A null initrd and an empty last_error leave no empty lines. */
	EXPECT_EQ(out.find("Initrd"), std::string::npos);
	EXPECT_EQ(out.find("Last error"), std::string::npos);
}

/* A plain kernel (issue 15): the kind, the image and its initrds, the
 * entry discovery chose and why, and no UKI lines. */
TEST(ClientFormat, PlainKernelStatus)
{
	const std::string out = formatStatus(nlohmann::json::parse(R"json({
		"state": "staged", "last_error": "", "version": "0.1.0", "kernel_support": {},
		"staged": {
			"kind": "kernel",
			"image": { "path": "/vmlinuz", "format": "bzimage", "version": "6.1.0-57-amd64", "sha256": "iiii",
				   "signature": { "verdict": "untrusted-signer", "signer": "CN=Debian", "detail": "no chain" } },
			"initrds": [ { "path": "/initrd.img", "sha256": "aaaa" }, { "path": "/extra.img", "sha256": "bbbb" } ],
			"discovery": { "id": "/vmlinuz", "why": "no Boot Loader Spec entry; DebianLayout=yes" },
			"cmdline": "root=/dev/vda ro", "cmdline_source": "debian-layout", "scheme": "classic",
			"kernel": { "sha256": "iiii" }, "initrd": { "sha256": "cccc" }, "signature_policy": "warn",
			"signatures": { "objects": [ { "object": "kernel",
				"firmware": { "verdict": "untrusted-signer", "reason": "no chain" },
				"kernel": { "verdict": "unknown", "reason": "keyrings unknown" } } ] }
		}
	})json"));
	for (const char *want : { "Kind: kernel", "Entry: /vmlinuz (no Boot Loader Spec entry; DebianLayout=yes)",
				  "Kernel image: /vmlinuz (bzimage)", "Kernel version: 6.1.0-57-amd64",
				  "Initrds: /initrd.img (aaaa), /extra.img (bbbb)",
				  "Signature: untrusted-signer (firmware verdict of kernel image: no chain), policy warn",
				  "Firmware verdict, kernel image: untrusted-signer",
				  "Image SHA256: iiii", "Initrd SHA256: cccc" })
		EXPECT_NE(out.find(want), std::string::npos) << "missing '" << want << "' in\n" << out;
	EXPECT_EQ(out.find("UKI"), std::string::npos) << out;
}

TEST(ClientFormat, IdleStatus)
{
	const std::string out = formatStatus(nlohmann::json::parse(
		R"({"state":"idle","staged":{},"kernel_support":{},"last_error":"","version":"0.1.0"})"));
	EXPECT_NE(out.find("State: idle"), std::string::npos) << out;
	EXPECT_EQ(out.find("UKI"), std::string::npos) << out;
	/* Nothing staged has no kind (issue 28). */
	EXPECT_EQ(out.find("Kind"), std::string::npos) << out;
	EXPECT_EQ(out.find("Command line"), std::string::npos) << out;
}

/* All trusted: the UKI's signer, as before. */
TEST(ClientFormat, SignatureAllTrusted)
{
	const std::string out = formatStaged(nlohmann::json::parse(R"json({
		"uki": { "path": "/u.efi", "signature": { "verdict": "trusted", "signer": "CN=Debian", "detail": "db" } },
		"signature_policy": "enforce", "cmdline": "quiet",
		"signatures": { "objects": [
			{ "object": "uki", "firmware": { "verdict": "trusted", "anchor": "db" }, "kernel": null },
			{ "object": "kernel", "firmware": null, "kernel": { "verdict": "trusted", "anchor": "builtin" } } ] }
	})json"));
	EXPECT_NE(out.find("Signature: trusted by CN=Debian (db), policy enforce"), std::string::npos) << out;
	EXPECT_TRUE(stagedWarnings(nlohmann::json::parse(R"json({
		"uki": { "path": "/u.efi" }, "cmdline": "quiet",
		"signatures": { "objects": [ { "object": "uki", "firmware": { "verdict": "trusted" } } ] } })json"))
			    .empty());
}

/* Issue 28: every object not trusted is named with its verdicts. */
TEST(ClientFormat, StagedWarnings)
{
	auto warnings = stagedWarnings(describeDoc()["staged"]);
	ASSERT_EQ(warnings.size(), 2u);
	EXPECT_EQ(warnings[0], "UKI is not trusted: firmware verdict unsigned (no certificate table)");
	EXPECT_EQ(warnings[1], "addon 0 is not trusted: firmware verdict revoked (SBAT: x)");

	warnings = stagedWarnings(nlohmann::json::parse(R"json({
		"uki": { "path": "/efi/u.efi" }, "cmdline": "root=/dev/vda",
		"signatures": { "objects": [
			{ "object": "uki", "path": "/efi/u.efi", "firmware": { "verdict": "trusted" }, "kernel": null },
			{ "object": "addon", "path": "/efi/a.addon.efi", "firmware": { "verdict": "bad-signature", "reason": "digest" } },
			{ "object": "kernel", "path": "/efi/u.efi", "firmware": null,
			  "kernel": { "verdict": "unknown", "reason": "keyrings unknown" } } ] } })json"));
	ASSERT_EQ(warnings.size(), 2u);
	EXPECT_EQ(warnings[0], "addon 0 '/efi/a.addon.efi' is not trusted: firmware verdict bad-signature (digest)");
	EXPECT_EQ(warnings[1], ".linux of '/efi/u.efi' is not trusted: kernel verdict unknown (keyrings unknown)");
}

/* Issue 28: an empty command line is a row of its own, and a warning. */
TEST(ClientFormat, EmptyCommandLine)
{
	const nlohmann::json staged = nlohmann::json::parse(R"json({
		"kind": "kernel", "image": { "path": "/vmlinuz" }, "cmdline": "", "scheme": "classic" })json");
	const std::string out = formatStatus({ { "state", "staged" }, { "staged", staged } });
	EXPECT_NE(out.find("Command line:\n"), std::string::npos) << out;
	auto warnings = stagedWarnings(staged);
	ASSERT_EQ(warnings.size(), 1u);
	EXPECT_NE(warnings[0].find("empty command line"), std::string::npos) << warnings[0];
	EXPECT_NE(warnings[0].find("--append"), std::string::npos) << warnings[0];
}

/* Issue 27: status names each volume a kexec would lock out (one line
 * each, none for those that unlock), and says a kexec boot never measures
 * the staged UKI's .pcrsig. */
TEST(ClientFormat, TpmLockoutLines)
{
	const nlohmann::json doc = nlohmann::json::parse(R"json({
		"state": "staged",
		"staged": { "uki": { "path": "/efi/u.efi", "pcrsig": true, "pcrpkey": true } },
		"tpm2": [
			{ "volume": "root", "verdict": "unlocks", "reason": "bound to PCR 7 only" },
			{ "volume": "data", "verdict": "needs_passphrase", "reason": "signed PCR 11 policy" },
			{ "volume": "swap", "verdict": "unknown", "reason": "no such device" } ] })json");
	const std::string out = formatStatus(doc);
	EXPECT_NE(out.find("'data' would not unlock: signed PCR 11 policy"), std::string::npos) << out;
	EXPECT_NE(out.find("'swap' would not unlock: no such device"), std::string::npos) << out;
	EXPECT_EQ(out.find("'root'"), std::string::npos) << out;
	EXPECT_NE(out.find(".pcrsig and .pcrpkey carried; a kexec boot never measures them"), std::string::npos) << out;
}

TEST(ClientFormat, ColourOnlyWhenAsked)
{
	nlohmann::json doc = describeDoc();
	doc["state"] = "failed";
	doc["last_error"] = "it broke";
	EXPECT_EQ(formatStatus(doc).find('\x1b'), std::string::npos);
	const std::string out = formatStatus(doc, { .color = true });
	EXPECT_NE(out.find(paint("failed", Tone::Bad, true)), std::string::npos) << out;
	EXPECT_NE(out.find(paint("it broke", Tone::Bad, true)), std::string::npos) << out;
	EXPECT_NE(out.find(paint("revoked", Tone::Bad, true)), std::string::npos) << out;
	EXPECT_EQ(out.find(paint("trusted", Tone::Bad, true)), std::string::npos) << out;
	EXPECT_EQ(paint("x", Tone::Bad, false), "x");
	EXPECT_EQ(paint("x", Tone::Plain, true), "x");
}

const char *testEnv(const char *name);
std::map<std::string, std::string> gEnv;
const char *testEnv(const char *name)
{
	auto it = gEnv.find(name);
	return it == gEnv.end() ? nullptr : it->second.c_str();
}

/* systemd's rules: SYSTEMD_COLORS first, then NO_COLOR, TERM=dumb, a terminal. */
TEST(ClientTerminal, ColourEnvironment)
{
	const int pipeFd = -1; // never a terminal
	gEnv = {};
	EXPECT_FALSE(colorEnabled(pipeFd, testEnv));
	gEnv = { { "SYSTEMD_COLORS", "1" } };
	EXPECT_TRUE(colorEnabled(pipeFd, testEnv));
	gEnv = { { "SYSTEMD_COLORS", "256" }, { "NO_COLOR", "1" } };
	EXPECT_TRUE(colorEnabled(pipeFd, testEnv));
	gEnv = { { "SYSTEMD_COLORS", "0" } };
	EXPECT_FALSE(colorEnabled(pipeFd, testEnv));
	gEnv = { { "SYSTEMD_COLORS", "bogus" }, { "NO_COLOR", "1" } };
	EXPECT_FALSE(colorEnabled(pipeFd, testEnv));
	gEnv = { { "SYSTEMD_COLORS", "yes" }, { "TERM", "dumb" } };
	EXPECT_TRUE(colorEnabled(pipeFd, testEnv));

	/* A terminal, but TERM unset or dumb: none (an init's console). */
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	ASSERT_GE(master, 0);
	ASSERT_EQ(grantpt(master), 0);
	ASSERT_EQ(unlockpt(master), 0);
	int tty = open(ptsname(master), O_RDWR | O_NOCTTY);
	ASSERT_GE(tty, 0);
	gEnv = { { "TERM", "xterm" } };
	EXPECT_TRUE(colorEnabled(tty, testEnv));
	gEnv = { { "TERM", "dumb" } };
	EXPECT_FALSE(colorEnabled(tty, testEnv));
	gEnv = {};
	EXPECT_FALSE(colorEnabled(tty, testEnv));
	gEnv = { { "TERM", "xterm" }, { "NO_COLOR", "" } };
	EXPECT_TRUE(colorEnabled(tty, testEnv)); // set but empty: no-color.org says ignore it
	gEnv = { { "TERM", "xterm" }, { "NO_COLOR", "1" } };
	EXPECT_FALSE(colorEnabled(tty, testEnv));
	close(tty);
	close(master);
}

TEST(ClientFormat, NoLegend)
{
	const nlohmann::json list = nlohmann::json::parse(R"json({
		"esp": "/efi", "default": "b.efi",
		"entries": [ { "id": "b.efi", "path": "/efi/EFI/Linux/b.efi", "default": true, "addons": [] } ] })json");
	EXPECT_NE(formatList(list).find("1 entry listed."), std::string::npos);
	EXPECT_EQ(formatList(list, { .legend = false }).find("listed"), std::string::npos);
	const nlohmann::json inspect = nlohmann::json::parse(R"json({
		"uki": { "path": "/u.efi", "sections": [ { "name": ".linux", "offset": 1, "size": 2 } ] } })json");
	EXPECT_NE(formatInspect(inspect).find("NAME"), std::string::npos);
	const std::string bare = formatInspect(inspect, { .legend = false });
	EXPECT_EQ(bare.find("NAME"), std::string::npos) << bare;
	EXPECT_EQ(bare.find("Sections:"), std::string::npos) << bare;
	EXPECT_NE(bare.find(".linux"), std::string::npos) << bare;
}

TEST(ClientFormat, ListMarksTheDefault)
{
	const std::string out = formatList(nlohmann::json::parse(R"json({
		"esp": "/efi", "xbootldr": null, "default": "b.efi", "default_reason": "newest",
		"entries": [
			{ "id": "b.efi", "path": "/efi/EFI/Linux/b.efi", "version": "6.2", "title": "B",
			  "tries_left": 0, "tries_done": 3, "bad": true, "default": true, "addons": [] },
			{ "id": "a.efi", "path": "/efi/EFI/Linux/a.efi", "version": "6.1", "title": "A",
			  "tries_left": -1, "tries_done": -1, "bad": false, "default": false,
			  "addons": [ "/efi/loader/addons/x.addon.efi" ] }
		],
		"notes": [ "ignored 'c.txt': not a .efi file" ]
	})json"));
	for (const char *want : { "Default: b.efi (newest)", "* b.efi\n", "  a.efi\n",
				  "Tries: 0 left, 3 done (bad)", "Addons: /efi/loader/addons/x.addon.efi",
				  "Note: ignored 'c.txt'" })
		EXPECT_NE(out.find(want), std::string::npos) << "missing '" << want << "' in\n" << out;
	EXPECT_EQ(out.find("XBOOTLDR"), std::string::npos) << out;

	const std::string none = formatList(nlohmann::json::parse(R"({"esp":"/efi","default":null,"entries":[]})"));
	EXPECT_NE(none.find("Default: none"), std::string::npos) << none;
	EXPECT_NE(none.find("No boot entries found."), std::string::npos) << none;
}

TEST(ClientFormat, ProgressBar)
{
	char buf[512] = {};
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
	ASSERT_NE(f, nullptr);
	{
		ProgressBar bar(f, 10);
		bar.update("verify", 0.5);
	}
	std::fclose(f);
	const std::string out = buf;
	EXPECT_NE(out.find("[#####     ]  50% verify"), std::string::npos) << out;
	/* Destruction erases the bar so later output starts clean. */
	EXPECT_TRUE(out.ends_with("\r\x1b[K")) << out;
}

} // namespace
} // namespace kexecd
