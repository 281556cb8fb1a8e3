// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// What the firmware path leaves in EFI variables, read under the
// configured efivars root (kexecd.conf EFIVARS=, a directory in tests).
//  - The loader snapshot: every volatile variable of systemd-boot's vendor
//    GUID (LoaderEntrySelected, LoaderBootCountPath, LoaderTime*USec,
//    StubInfo, StubPcrKernelImage, ...). Volatile ones are set once per
//    firmware boot and read-only after ExitBootServices, so a kexec boot
//    sees exactly the previous firmware boot's: equal snapshots mean no
//    firmware boot came between. NV variables (LoaderEntryDefault, ...)
//    are left out: the OS writes those.
//  - Firmware requests: what a user asked the next firmware boot to do
//    (systemctl reboot --firmware-setup, --boot-loader-entry=,
//    --boot-loader-menu=, a capsule update, BootNext). A kexec would
//    silently drop each of them.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "result.h"

namespace kexecd {

/* The EFI global variable GUID (OsIndications, BootNext). */
inline constexpr const char *kEfiGlobalGuid = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
/* UEFI 2.10 8.5.4 OsIndications bits. */
inline constexpr uint64_t kOsIndicationsBootToFwUi = 0x1;
inline constexpr uint64_t kOsIndicationsFileCapsuleDelivery = 0x4;

/* Bounds on what a snapshot reads: the directory is the firmware's. */
inline constexpr size_t kMaxSnapshotVariables = 128;
inline constexpr size_t kMaxSnapshotVariableSize = 64 * 1024;

/* name -> SHA-256 of the variable's efivarfs bytes (attributes included). */
struct LoaderSnapshot {
	std::map<std::string, std::string> digests;

	bool empty() const { return digests.empty(); }
	bool operator==(const LoaderSnapshot &o) const { return digests == o.digests; }
	nlohmann::json toJson() const;
	static Result<LoaderSnapshot> fromJson(const nlohmann::json &j);
};

/* Never fails: an unreadable directory gives an empty snapshot. */
LoaderSnapshot readLoaderSnapshot(const std::string &efivarsDir);

struct FirmwareRequests {
	std::vector<std::string> reasons; // empty: nothing asks for the firmware path
	bool any() const { return !reasons.empty(); }
};

/* entryDefaultAtStaging: LoaderEntryDefault as it read when the staged
 * kernel was staged (nullopt: it was unset); a change since is a request. */
FirmwareRequests readFirmwareRequests(const std::string &efivarsDir,
				      const std::optional<std::string> &entryDefaultAtStaging);

/* Writes a Loader* string variable (UTF-16LE, NUL-terminated) with
 * attributes NV|BS|RT, as systemd-boot writes LoaderEntryLastBooted.
 * Only NV variables: volatile ones cannot be written after
 * ExitBootServices, and an NV look-alike would break the next firmware
 * boot's own. */
Result<void> writeLoaderNvVariable(const std::string &efivarsDir, const std::string &name, const std::string &value);

} // namespace kexecd
