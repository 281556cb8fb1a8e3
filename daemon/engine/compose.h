// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 5 ("compose"): turn a UKI and its addons into exactly what
// kexec_file_load receives, for either scheme (DESIGN.md §3).

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "memfd.h"
#include "result.h"
#include "uki.h"

namespace kexecd {

/* Classic scheme: userspace decomposition. */
struct ClassicParts {
	SealedMemfd kernel;
	std::optional<SealedMemfd> initrd; // nullopt -> KEXEC_FILE_NO_INITRAMFS
	std::string cmdline;               // without the trailing NUL
	bool kernelWasZboot = false;
};

struct ClassicOptions {
	const UkiProfile *profile = nullptr;
	std::string cmdlineExtra; // appended last; the caller decides whether it is allowed
	size_t maxCmdline = 4096;
};

/* Section payloads in the order the kernel must see them (for tests and
 * for the BPF host model, which must agree byte for byte). */
std::vector<std::span<const uint8_t>> initrdParts(const SectionSet &uki,
						  std::span<const UkiImage *const> addons);
std::string composeCmdline(const SectionSet &uki, std::span<const UkiImage *const> addons,
			   std::string_view extra);

Result<ClassicParts> composeClassic(const UkiImage &uki, std::span<const UkiImage *const> addons,
				    const ClassicOptions &options);

/* BPF scheme: the image container (KERNEL-ABI.md §2). */
struct ContainerEntry {
	std::span<const uint8_t> pe;
	std::vector<uint8_t> ima; // security.ima xattr; empty = none
};

/* The parser has a fixed scan window: at most this many sections. */
constexpr unsigned kMaxContainerSections = 15;
/* Section carrying the selected profile index (decimal ASCII) for our
 * parser; the drafts' parsers skip unknown names. */
constexpr const char *kSelectSection = ".select";

Result<SealedMemfd> composeImageContainer(std::span<const ContainerEntry> entries,
					  std::optional<unsigned> profileIndex);

} // namespace kexecd
