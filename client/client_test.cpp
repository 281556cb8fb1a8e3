// SPDX-License-Identifier: LGPL-2.1-or-later
// kexecctl's error table and human output, without a bus.

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "errors.h"
#include "format.h"

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
	/* The daemon's own reason is shown as it is. */
	EXPECT_EQ(describeBusError("org.freedesktop.DBus.Error.AccessDenied",
				   "Reboot with force=true is reserved to root", Verb::Reboot).message,
		  "Access denied: Reboot with force=true is reserved to root");
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
				  "Signature: unsigned (no certificate table), policy warn",
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
				  "Signature: untrusted-signer by CN=Debian (no chain), policy warn",
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
