// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// What a staging is asked to do and within which limits: the request the
// bus adaptor (or a test) builds, the engine's configuration, and the
// limits on every user-controlled input. Plain data, no behaviour beyond
// names, so every stage of the pipeline can include it.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boot_entry.h"
#include "fd.h"
#include "input_file.h"
#include "pe.h"
#include "scheme.h"
#include "stub_cpio.h"

namespace kexecd {

/* dbus-daemon's default max_message_unix_fds (16), less the UKI's fd. */
inline constexpr unsigned kMaxAddonsOnBus = 15;

/* What a staging is made of: a UKI (with addons), or a plain kernel
 * image with initrds and a command line (kernel_image.h). */
enum class InputKind { Uki, Kernel };

const char *inputKindName(InputKind kind);

/* Every limit on user-controlled input, in one place. */
struct Limits {
	PeLimits pe;                           // per file: size and section count
	/* Stage passes the UKI and each addon as an fd, and the system bus
	 * carries at most 16 fds in one message (dbus-daemon's
	 * max_message_unix_fds). */
	unsigned maxAddons = kMaxAddonsOnBus;
	/* A plain kernel's initrds travel as fds too, with the kernel's. */
	unsigned maxInitrds = kMaxAddonsOnBus;
	size_t maxCmdline = 4096;              // composed command line, bytes
	size_t maxCmdlineExtra = 1024;
	size_t maxProfileName = 64;
	uint64_t maxTotalInput = uint64_t{ 4 } << 30; // all inputs together (container < 4 GiB)
};

struct EngineConfig {
	std::string trustDir;        // *.pem|*.crt trusted for Authenticode
	std::string efivarsDir = "/sys/firmware/efi/efivars";
	bool useFirmwareDb = true;   // read db, dbx, MokListRT, MokListXRT, SbatLevelRT
	std::string mokVariablesDir = "/sys/firmware/efi/mok-variables";
	std::string procKeys = "/proc/keys"; // the kernel's builtin/secondary keyrings
	/* Under 'enforce', also refuse what shim would refuse (the firmware
	 * verdict), not only what the kernel would: in the classic scheme the
	 * kernel checks .linux alone, so this is what covers initrd, cmdline
	 * and addons. */
	bool enforceFirmwareVerdict = true;
	std::string parserPath;      // signed parser container (BPF scheme)
	std::string statePath;       // staged.json
	SignaturePolicy policy = SignaturePolicy::Auto;
	Scheme scheme = Scheme::Auto;
	bool allowSchemeFallback = false; // auto: BPF refused -> try classic
	DiscoveryPaths discovery;    // ESP/XBOOTLDR/modules for StageDefault and addon discovery
	Limits limits;
	/* Tests only (kexecd's KEXECD_TEST_HOOK_DIR): called at each phase
	 * of a staging, so a test can kill the daemon exactly there. */
	std::function<void(std::string_view phase)> testHook;
};


struct StageRequest {
	InputKind kind = InputKind::Uki;
	InputFile uki;
	std::vector<InputFile> addons;
	std::string profile;       // "" = default profile (@0 or base)
	/* The loader's options: replace the UKI's .cmdline, as systemd-stub
	 * takes them; refused under Secure Boot when the UKI has a .cmdline. */
	std::string cmdlineExtra;
	/* Appended with one space to the command line composed as above (the
	 * UKI's or the loader's options, then the addons'), as kexec-tools'
	 * --append does; refused where cmdlineExtra is (Secure Boot with a
	 * .cmdline, the BPF scheme). */
	std::string cmdlineAppend;
	std::optional<Scheme> scheme;
	std::optional<SignaturePolicy> policy;
	/* Add the addons systemd-stub would find for uki.origin (global,
	 * then <uki>.extra.d/) before the explicit ones. Needs a path. */
	bool discoverAddons = false;
	/* Credentials, sysext and confext images systemd-stub would pack
	 * for this UKI; read by discovery from under the configured roots. */
	std::optional<SidecarFiles> sidecars;
	/* kind Kernel: the kernel image, its initrds in the order they are
	 * concatenated, and the whole command line (nothing is composed). */
	InputFile kernel;
	std::vector<InputFile> initrds;
	std::string cmdline;
	/* Where cmdline came from, for the record: "append", "reuse",
	 * "entry" (Type #1 options), "debian-layout". */
	std::string cmdlineSource;
	/* Set by stageDefault(): which entry discovery chose and why. */
	std::string discoveredId;
	std::string discoveredWhy;
	std::string discoveredType;  // UkiEntry::type
	std::string discoveredEntry; // the Type #1 entry file
	std::string discoveredDevicetree; // its devicetree, which kexec_file_load cannot apply
};

using ProgressFn = std::function<void(std::string_view phase, double fraction)>;

} // namespace kexecd
