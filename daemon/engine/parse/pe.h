// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 3 ("parse"): a bounds-checked PE/COFF reader over a byte
// span. It never trusts a header field: every offset and size is checked
// against the span, and every count against an explicit limit.

#include <algorithm>
#include <cstdint>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "result.h"

namespace kexecd {

/* A file's bytes, some of whose section payloads live elsewhere: staging
 * reads a UKI's .linux and .initrd straight into the memfds the kernel
 * gets (issue 16), and the rest into a same-sized memfd with holes there. */
struct FileView {
	struct Redirect {
		uint64_t offset = 0;             // file offset of the payload
		std::span<const uint8_t> bytes;  // where its bytes are
	};
	std::span<const uint8_t> base;       // the file; redirected ranges read as holes
	std::vector<Redirect> redirects;     // sorted by offset, disjoint

	uint64_t size() const { return base.size(); }
	/* f(span) for [offset, offset + length) in order, from base or the
	 * redirects; false if the range is past the end. */
	template<class F>
	bool forEach(uint64_t offset, uint64_t length, F &&f) const
	{
		if (offset > size() || length > size() - offset)
			return false;
		const uint64_t end = offset + length;
		for (const Redirect &r : redirects) {
			const uint64_t rEnd = r.offset + r.bytes.size();
			if (rEnd <= offset || r.offset >= end)
				continue;
			if (r.offset > offset)
				f(base.subspan(offset, r.offset - offset));
			const uint64_t from = std::max(offset, r.offset), to = std::min(end, rEnd);
			f(r.bytes.subspan(from - r.offset, to - from));
			offset = to;
		}
		if (end > offset)
			f(base.subspan(offset, end - offset));
		return true;
	}
};

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
	 * and handed padding to the kernel. Authenticode hashes all
	 * SizeOfRawData bytes, through the file's view. */
	std::span<const uint8_t> data;
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
	/* The same over a view whose redirects are exactly section payloads
	 * (after the headers, clear of the certificate table). */
	static Result<PeFile> parse(FileView view, const std::string &name, const PeLimits &limits = {});

	/* The file's bytes; where view().redirects say, holes. */
	std::span<const uint8_t> bytes() const { return view_.base; }
	const FileView &view() const { return view_; }
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

	/* The SHA-256 Authenticode digest, computed while the bytes were read
	 * (stream_digest.h): authenticode.h takes it instead of a second pass
	 * over the file, waiting for it if need be. nullopt: none, or failed. */
	using PendingDigest = std::shared_future<std::optional<std::vector<uint8_t>>>;
	std::optional<std::vector<uint8_t>> knownAuthenticodeSha256() const
	{
		return knownSha256_.valid() ? knownSha256_.get() : std::nullopt;
	}
	void setPendingAuthenticodeSha256(PendingDigest digest) { knownSha256_ = std::move(digest); }

private:
	PeFile() = default;

	FileView view_;
	PendingDigest knownSha256_;
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
