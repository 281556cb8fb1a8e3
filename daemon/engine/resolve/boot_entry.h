// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The boot entry model every resolver shares (discovery.h describes the
// rules): where to look, one menu entry, the limits on what is read, and
// the version and tries-counter rules of systemd-boot's menu order.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kexecd {

inline constexpr size_t kMaxUkis = 256;
inline constexpr size_t kMaxAddons = 64;
inline constexpr size_t kMaxDirEntries = 4096;
inline constexpr size_t kMaxFileNameLength = 255;

inline constexpr size_t kMaxSidecarFile = 256 * 1024 * 1024;
inline constexpr size_t kMaxSidecarTotal = 1024 * 1024 * 1024;

inline constexpr const char *kXbootldrTypeGuid = "bc13c2ff-59e6-4262-a352-b275fd779172";

struct DiscoveryPaths {
	std::vector<std::string> espCandidates = { "/efi", "/boot", "/boot/efi" };
	std::string esp;      // explicit (configuration) wins when non-empty
	std::string xbootldr; // explicit (configuration) wins when non-empty
	std::vector<std::string> xbootldrCandidates = { "/boot" };
	std::string udevDataDir = "/run/udev/data"; // partition types of block devices
	std::string modulesDir = "/usr/lib/modules";
	std::string efivarsDir = "/sys/firmware/efi/efivars";
	/* Without any Boot Loader Spec entry, Debian's kernel symlinks
	 * (debian_layout.h) under debianRoot, with the command line of
	 * procCmdline. Off unless kexecd.conf says DebianLayout=yes. */
	bool debianLayout = false;
	std::string debianRoot = "/";
	std::string procCmdline = "/proc/cmdline";
	/* The EFI architecture name a Type #1 "architecture" must match;
	 * "" = this machine's. */
	std::string efiArchitecture;
};

struct UkiEntry {
	std::string id;      // as systemd-boot names it: lower-case file name without tries counter[@profile]
	std::string idWithoutProfile; // the id of profile 0
	int profile = -1;    // profile index of a multi-profile UKI, -1 for a UKI without profiles
	std::string path;
	/* Kernel version: $UNAME for "modules", else .uname, else the id
	 * from its first "-<digit>" on, less ".efi" ("" when none). */
	std::string version;
	std::string title;     // .osrel PRETTY_NAME, IMAGE_ID, NAME or ID ("" unparsed)
	std::string sortKey;   // .osrel IMAGE_ID or ID
	std::string osVersion; // .osrel IMAGE_VERSION, VERSION, VERSION_ID or BUILD_ID
	int triesLeft = -1;  // -1: no boot counting
	int triesDone = -1;
	std::string source;  // "esp", "xbootldr", "modules", "debian"
	std::string root;    // the partition the UKI is on ("" for modules)
	// "type2" (EFI/Linux/*.efi), "type1" (loader/entries/*.conf),
	// "modules", "debian" (the /vmlinuz symlinks).
	std::string type = "type2";
	std::string kind = "uki"; // "uki" or "kernel" (linux + initrds + options)
	/* Type #1 and Debian: the entry file ("" for Debian), the kernel (""
	 * when the entry names a UKI, which is then path), the initrds in
	 * order, the options joined by spaces. Paths are absolute, beneath
	 * root; checked again when staged. */
	std::string entryFile;
	std::string linux;
	std::vector<std::string> initrds;
	std::string options;
	std::string machineId;
	std::string devicetree;
	std::string architecture;
	/* Set when the entry cannot be staged (a ".." path, a missing
	 * kernel): it keeps its place in the menu, as in systemd-boot, and
	 * staging it fails with this message (Code::InvalidEntry). */
	std::string problem;

	bool bad() const { return triesLeft == 0; }
	/* What staging it makes: a UKI, or a plain kernel. */
	bool isKernel() const { return kind == "kernel"; }
};

/* systemd's strverscmp_improved(): <0, 0, >0 as a is older, equal, newer. */
int compareVersions(std::string_view a, std::string_view b);

/* "name+3-1.efi" -> id "name.efi", left 3, done 1. Without a valid
 * counter the id is the name and both counts are -1. */
struct TriesCounter {
	std::string id;
	int left = -1;
	int done = -1;
};
TriesCounter parseTriesCounter(std::string_view fileName, std::string_view suffix);

} // namespace kexecd
