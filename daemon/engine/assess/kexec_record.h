// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// kexecd's own record of what runs. The loader variables a booted OS
// reads describe the last firmware boot, and after a kexec they are
// stale (firmware_state.h), so kexecd keeps its own account:
//  - Before every kexec it performs or lets systemd perform, it writes a
//    KexecRecord (StateDirectory, /var/lib/kexecd/last-kexec.json): this
//    boot's ID, the entry and file it boots, the kernel's digest, the
//    composed command line, and the loader snapshot as it reads now.
//  - Early in every boot decideBootOrigin() compares: a record from
//    another boot whose snapshot equals today's means no firmware boot
//    came between, so this boot is the kexec the record describes. The
//    decision is kept for the boot in /run/kexecd/booted.json (a later
//    record for the next kexec must not change what this boot was).
// Everything here reads and writes files below paths the configuration
// names; nothing a caller names.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "firmware_state.h"
#include "result.h"

namespace kexecd {

inline constexpr const char *kKexecRecordFormat = "kexecd-kexec-record/1";
inline constexpr const char *kBootOriginFormat = "kexecd-boot-origin/1";

struct KexecRecord {
	std::string bootId;        // the boot that prepared the kexec
	std::string entry;         // the entry id, counter stripped ("" for a file staged by fd)
	std::string file;          // the entry's file as the kexec'd boot finds it (after counting)
	std::string countedFrom;   // its name before kexecd took a try ("" when not counted)
	std::string kernelSha256;  // the staged kernel
	std::string cmdline;       // the command line the kexec'd kernel gets
	std::string time;          // when the kexec was committed (ISO 8601)
	std::string firmwareBoot;  // when the firmware boot whose variables these are started
	LoaderSnapshot loader;

	nlohmann::json toJson() const;
	/* Code::InvalidArgument naming the field for a foreign or corrupt one. */
	static Result<KexecRecord> fromJson(const nlohmann::json &j);
};

enum class BootVia { Firmware, Kexec };

struct BootOrigin {
	BootVia via = BootVia::Firmware;
	std::string bootId;        // this boot
	std::string entry;         // kexec: the record's entry; firmware: LoaderEntrySelected
	std::string file;          // kexec: the entry file to bless ("" none)
	bool counted = false;      // kexec: kexecd took a try from file
	std::string kernelSha256;  // kexec: the kernel kexecd booted
	std::string since;         // kexec: when it was committed
	std::string firmwareBoot;  // when the firmware boot the EFI variables describe started
	std::string why;

	nlohmann::json toJson() const;
	static Result<BootOrigin> fromJson(const nlohmann::json &j);
	/* One line for status: "kexec by kexecd into 'x' at T" / "firmware". */
	std::string summary() const;
};

struct CurrentBoot {
	std::string bootId;        // /proc/sys/kernel/random/boot_id
	std::string bootTime;      // this boot's start (ISO 8601)
	std::string cmdline;       // /proc/cmdline
	LoaderSnapshot loader;     // readLoaderSnapshot() now
	std::optional<std::string> entrySelected; // LoaderEntrySelected
};

/* record: the one read from the state directory (nullopt: none), or the
 * error it could not be read with (the decision then says why). */
BootOrigin decideBootOrigin(const Result<std::optional<KexecRecord>> &record, const CurrentBoot &now);

/* This boot's origin, decided once per boot: read from originPath when
 * it was decided already in this boot (kexecd-bless-boot at early boot,
 * or an earlier kexecd), else decided from the record at recordPath and
 * written to originPath. "" paths: no record, no cache. */
BootOrigin establishBootOrigin(const std::string &recordPath, const std::string &originPath,
			       const std::string &procRoot, const std::string &efivarsDir);

/* Reads boot_id, the boot time and /proc/cmdline below procRoot and the
 * loader variables below efivarsDir. */
CurrentBoot readCurrentBoot(const std::string &procRoot, const std::string &efivarsDir);

} // namespace kexecd
