// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// arm64/riscv/loongarch "zboot" EFI images (KERNEL-ABI.md §7): a PE whose
// DOS header says "zimg" and points at a compressed kernel. The classic
// scheme must hand the kernel the decompressed Image.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "result.h"

namespace kexecd {

struct ZbootHeader {
	uint32_t payloadOffset = 0;
	uint32_t payloadSize = 0;
	std::string compression; // as written in the header ("gzip", "zstd22", ...), display rule of text.h
};

/* nullopt when the bytes are not a zboot image at all. */
std::optional<ZbootHeader> probeZboot(std::span<const uint8_t> image);

/* The kernel caps decompression at 512 MiB (lib/post_decompress.c). */
constexpr uint64_t kMaxDecompressedKernel = uint64_t{ 512 } << 20;

/* Decompress the payload, choosing the decompressor by its magic as the
 * kernel does (not by the header string). */
Result<std::vector<uint8_t>> unpackZboot(std::span<const uint8_t> image, const std::string &origin,
					 uint64_t limit = kMaxDecompressedKernel);

} // namespace kexecd
