// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// crypttab(5) as systemd-cryptsetup-generator reads it: one volume a line,
// "name device [keyfile [options]]". A line that does not parse becomes an
// entry carrying an error (the unlock check names it "unknown"); nothing in
// the file can make the parser fail as a whole except its size.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace kexecd {

struct CrypttabLimits {
	size_t maxFileSize = 256 * 1024;
	size_t maxLines = 4096;
	size_t maxLineLength = 4096; // longer lines become error entries
	size_t maxEntries = 256;     // volumes past this become one error entry
};

enum class CrypttabDevice {
	Path,      // an absolute path: a block device, or a LUKS2 image file
	Uuid,      // UUID=: /dev/disk/by-uuid/
	PartUuid,  // PARTUUID=: /dev/disk/by-partuuid/
	Label,     // LABEL=: /dev/disk/by-label/
	PartLabel, // PARTLABEL=: /dev/disk/by-partlabel/
};

struct CrypttabEntry {
	unsigned line = 0; // 1-based
	std::string volume;
	std::string device;      // the field as written
	CrypttabDevice deviceKind = CrypttabDevice::Path;
	std::string deviceValue; // the path, or what follows UUID= etc.
	std::string keyFile;     // "" for none, "-" or an absent field
	std::vector<std::string> options; // as written, in order

	bool noauto = false;
	bool nofail = false;
	bool headless = false;
	bool tpm2MeasurePcr = false; // tpm2-measure-pcr=yes: the volume key goes into PCR 15
	std::optional<std::string> tpm2Device;
	std::optional<std::string> tpm2Pcrs;
	std::optional<std::string> tpm2Signature;
	std::optional<std::string> tpm2Pcrlock;

	/* Non-empty: the line is malformed; the fields above hold what could
	 * be read (at least line, usually volume). */
	std::string error;
};

struct Crypttab {
	std::vector<CrypttabEntry> entries;
};

/* Never fails: malformed lines become entries with an error. Text past
 * maxFileSize or maxLines ends in one error entry naming the limit. */
Crypttab parseCrypttab(std::string_view text, const CrypttabLimits &limits = {});

/* A missing file is an empty crypttab (no volume to unlock); an unreadable
 * one or one over maxFileSize is an Io / InvalidArgument error. */
Result<Crypttab> readCrypttab(const std::string &path, const CrypttabLimits &limits = {});

const char *crypttabDeviceName(CrypttabDevice kind);

/* The absolute path the device names (opened below a root by the LUKS2
 * reader): UUID=… → /dev/disk/by-uuid/… (lower case, as udev names it).
 * Labels with characters udev escapes (a space is "\x20") are not
 * translated. */
std::string crypttabDevicePath(const CrypttabEntry &entry);

} // namespace kexecd
