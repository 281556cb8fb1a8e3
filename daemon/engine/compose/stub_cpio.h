// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The cpio archives systemd-stub generates at boot (src/boot/cpio.c and
// the tables in src/boot/stub.c), byte for byte: newc format, lower-case
// hex, inode numbers from 1 in each archive, uid/gid/mtime 0, nlink 1,
// the leading directories first (0555, the last one with the target's
// mode), file names sorted by strcmp, every header and body padded to 4
// bytes, a trailer without further padding. Nothing here opens a file:
// callers pass bytes, so they decide where the files come from.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kexecd {

/* Where a generated archive puts its files, and with which modes. */
struct CpioTarget {
	const char *dir; // without leading '/', as the stub writes it
	uint32_t dirMode;
	uint32_t fileMode;
};

inline constexpr CpioTarget kCpioCredentials{ ".extra/credentials", 0500, 0400 };
inline constexpr CpioTarget kCpioGlobalCredentials{ ".extra/global_credentials", 0500, 0400 };
inline constexpr CpioTarget kCpioSysext{ ".extra/sysext", 0555, 0444 };
inline constexpr CpioTarget kCpioGlobalSysext{ ".extra/global_sysext", 0555, 0444 };
inline constexpr CpioTarget kCpioConfext{ ".extra/confext", 0555, 0444 };
inline constexpr CpioTarget kCpioGlobalConfext{ ".extra/global_confext", 0555, 0444 };
/* .pcrsig, .pcrpkey, .osrel and .profile (pack_cpio_literal). */
inline constexpr CpioTarget kCpioMeta{ ".extra", 0555, 0444 };

struct CpioFile {
	std::string name; // a plain file name, no '/'
	std::vector<uint8_t> data;
};

/* What systemd-stub picks up beside a UKI and packs into generated cpio
 * archives (stub.c generate_sidecar_initrds()). The caller reads the
 * files (discovery, from under the configured ESP/XBOOTLDR only); compose
 * never opens a path. */
struct SidecarFiles {
	std::vector<CpioFile> credentials;       // <uki>.extra.d/*.cred
	std::vector<CpioFile> globalCredentials; // loader/credentials/*.cred
	std::vector<CpioFile> sysext;            // <uki>.extra.d/*.raw, not *.confext.raw
	std::vector<CpioFile> globalSysext;      // loader/extensions/*.raw, not *.confext.raw
	std::vector<CpioFile> confext;           // <uki>.extra.d/*.confext.raw
	std::vector<CpioFile> globalConfext;     // loader/extensions/*.confext.raw

	bool empty() const
	{
		return credentials.empty() && globalCredentials.empty() && sysext.empty() &&
		       globalSysext.empty() && confext.empty() && globalConfext.empty();
	}
};

/* One archive holding files (sorted here, by strcmp) under target; empty
 * when files is empty, as the stub then generates nothing. */
std::vector<uint8_t> packStubCpio(std::vector<CpioFile> files, const CpioTarget &target);
/* One archive holding one file (pack_cpio_literal). */
std::vector<uint8_t> packStubCpioLiteral(std::span<const uint8_t> data, const CpioTarget &target,
					 std::string_view name);

/* The stub's filter for a directory entry it packs: not hidden, ASCII,
 * at most 255 bytes, ending in suffix and not in exclude (both compared
 * ignoring case; exclude may be empty). */
bool stubPicksUp(std::string_view name, std::string_view suffix, std::string_view exclude);

} // namespace kexecd
