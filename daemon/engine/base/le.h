// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Little-endian reads from a byte span (PE/COFF, WIN_CERTIFICATE): the
// callers check bounds first.

#include <cstdint>
#include <span>

namespace kexecd::detail {

inline uint16_t le16(std::span<const uint8_t> b, uint64_t off)
{
	return static_cast<uint16_t>(b[off] | (b[off + 1] << 8));
}

inline uint32_t le32(std::span<const uint8_t> b, uint64_t off)
{
	return static_cast<uint32_t>(b[off]) | (static_cast<uint32_t>(b[off + 1]) << 8) |
	       (static_cast<uint32_t>(b[off + 2]) << 16) | (static_cast<uint32_t>(b[off + 3]) << 24);
}

inline uint64_t le64(std::span<const uint8_t> b, uint64_t off)
{
	return static_cast<uint64_t>(le32(b, off)) | (static_cast<uint64_t>(le32(b, off + 4)) << 32);
}

} // namespace kexecd::detail
