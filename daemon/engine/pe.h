// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 3 ("parse"): a bounds-checked PE/COFF reader over a byte
// span. It never trusts a header field: every offset and size is checked
// against the span, and every count against an explicit limit.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "result.h"

namespace kexecd {

struct PeLimits {
	uint64_t maxFileSize = uint64_t{ 1 } << 30; // 1 GiB
	unsigned maxSections = 96;                   // PE spec allows 96 in images
};

struct PeSection {
	std::string name;          // up to 8 bytes, NUL-trimmed, display rule of text.h
	uint32_t virtualSize = 0;
	uint32_t virtualAddress = 0;
	uint32_t sizeOfRawData = 0;
	uint32_t pointerToRawData = 0;
	uint32_t characteristics = 0;
	/* The section's real payload: VirtualSize bytes when VirtualSize is set
	 * and not larger than SizeOfRawData (the raw size is padded to
	 * FileAlignment), else SizeOfRawData. kexec-tools trusted SizeOfRawData
	 * and handed padding to the kernel. */
	std::span<const uint8_t> data;
	/* All SizeOfRawData bytes as stored in the file (Authenticode hashes these). */
	std::span<const uint8_t> raw;
};

struct DataDirectory {
	uint32_t virtualAddress = 0; // for the certificate table: a file offset
	uint32_t size = 0;
};

class PeFile
{
public:
	static constexpr unsigned kCertificateTable = 4;
	static constexpr uint16_t kMachineAmd64 = 0x8664;
	static constexpr uint16_t kMachineArm64 = 0xaa64;
	static constexpr uint16_t kMachineI386 = 0x14c;
	static constexpr uint16_t kMachineRiscv64 = 0x5064;
	static constexpr uint16_t kMachineLoongArch64 = 0x6264;

	/* name labels errors ("'uki.efi': section table past end of file"). */
	static Result<PeFile> parse(std::span<const uint8_t> bytes, const std::string &name,
				    const PeLimits &limits = {});

	std::span<const uint8_t> bytes() const { return bytes_; }
	uint16_t machine() const { return machine_; }
	bool isPe32Plus() const { return pe32Plus_; }
	uint32_t peOffset() const { return peOffset_; }
	uint32_t sizeOfHeaders() const { return sizeOfHeaders_; }
	/* File offsets the Authenticode hash must skip. */
	uint32_t checksumOffset() const { return checksumOffset_; }
	uint32_t certDirectoryOffset() const { return certDirOffset_; } // 0 if absent
	std::optional<DataDirectory> dataDirectory(unsigned index) const;
	/* The certificate table bytes (WIN_CERTIFICATE list), empty if unsigned. */
	std::span<const uint8_t> certificateTable() const { return certTable_; }
	const std::vector<PeSection> &sections() const { return sections_; }
	/* First section with this name, or nullptr. */
	const PeSection *section(std::string_view name) const;

private:
	PeFile() = default;

	std::span<const uint8_t> bytes_;
	uint16_t machine_ = 0;
	bool pe32Plus_ = false;
	uint32_t peOffset_ = 0;
	uint32_t sizeOfHeaders_ = 0;
	uint32_t checksumOffset_ = 0;
	uint32_t certDirOffset_ = 0;
	std::vector<DataDirectory> dataDirectories_;
	std::span<const uint8_t> certTable_;
	std::vector<PeSection> sections_;
};

const char *machineName(uint16_t machine);

} // namespace kexecd
