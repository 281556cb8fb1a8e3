// SPDX-License-Identifier: LGPL-2.1-or-later
#include "pe.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "le.h"
#include "text.h"

namespace kexecd {

namespace {

constexpr uint32_t kDosHeaderSize = 64;
constexpr uint32_t kCoffHeaderSize = 20;
constexpr uint32_t kSectionHeaderSize = 40;
constexpr uint16_t kMagicPe32 = 0x10b;
constexpr uint16_t kMagicPe32Plus = 0x20b;

using detail::le16;
using detail::le32;

bool fits(std::span<const uint8_t> b, uint64_t off, uint64_t len)
{
	return off <= b.size() && len <= b.size() - off;
}

} // namespace

const char *machineName(uint16_t machine)
{
	switch (machine) {
	case PeFile::kMachineAmd64: return "x86_64";
	case PeFile::kMachineArm64: return "aarch64";
	case PeFile::kMachineI386: return "i386";
	case PeFile::kMachineRiscv64: return "riscv64";
	case PeFile::kMachineLoongArch64: return "loongarch64";
	default: return "unknown";
	}
}

Result<PeFile> PeFile::parse(std::span<const uint8_t> bytes, const std::string &name,
			     const PeLimits &limits)
{
	return parse(FileView{ bytes, {} }, name, limits);
}

Result<PeFile> PeFile::parse(FileView view, const std::string &name, const PeLimits &limits)
{
	const std::span<const uint8_t> bytes = view.base;
	auto invalid = [&name](const std::string &what) {
		return makeError(Code::InvalidImage, fmt::format("'{}': {}", name, what));
	};

	if (bytes.size() > limits.maxFileSize)
		return invalid(fmt::format("{} bytes is larger than the limit of {} bytes",
					   bytes.size(), limits.maxFileSize));
	if (bytes.empty())
		return invalid("file is empty");
	if (bytes.size() < 2 || bytes[0] != 'M' || bytes[1] != 'Z') {
		if (bytes.size() >= 4 && std::memcmp(bytes.data(), "\x7f" "ELF", 4) == 0)
			return invalid("is an ELF file, not a PE image (UKIs and addons are PE files)");
		return invalid("no MZ signature: not a PE image");
	}
	if (bytes.size() < kDosHeaderSize)
		return invalid("truncated inside the DOS header");

	PeFile pe;
	pe.view_ = std::move(view);
	const std::vector<FileView::Redirect> &redirects = pe.view_.redirects;
	size_t redirected = 0;
	pe.peOffset_ = le32(bytes, 0x3c);
	const uint64_t peOff = pe.peOffset_;
	if (peOff < kDosHeaderSize || peOff >= bytes.size())
		return invalid(fmt::format("PE header offset 0x{:x} (e_lfanew) is outside the file", peOff));
	if (!fits(bytes, peOff, 4 + kCoffHeaderSize))
		return invalid("truncated inside the PE/COFF header");
	if (std::memcmp(bytes.data() + peOff, "PE\0\0", 4) != 0)
		return invalid("no PE signature at e_lfanew");

	const uint64_t coff = peOff + 4;
	pe.machine_ = le16(bytes, coff);
	const unsigned numSections = le16(bytes, coff + 2);
	const unsigned optSize = le16(bytes, coff + 16);
	if (numSections == 0)
		return invalid("no sections");
	if (numSections > limits.maxSections)
		return invalid(fmt::format("{} sections is more than the limit of {}", numSections,
					   limits.maxSections));

	const uint64_t opt = coff + kCoffHeaderSize;
	if (optSize < 2 || !fits(bytes, opt, optSize))
		return invalid("truncated inside the optional header");
	const uint16_t magic = le16(bytes, opt);
	if (magic != kMagicPe32 && magic != kMagicPe32Plus)
		return invalid(fmt::format("unknown optional header magic 0x{:x}", magic));
	pe.pe32Plus_ = magic == kMagicPe32Plus;

	/* Field offsets inside the optional header differ between PE32 and PE32+. */
	const uint32_t dirCountOff = pe.pe32Plus_ ? 108 : 92;
	if (optSize < dirCountOff + 4)
		return invalid("optional header too small");
	pe.sizeOfHeaders_ = le32(bytes, opt + 60);
	pe.checksumOffset_ = static_cast<uint32_t>(opt + 64);
	const uint32_t dirCount = le32(bytes, opt + dirCountOff);
	if (dirCount > 16 || dirCountOff + 4 + uint64_t{ dirCount } * 8 > optSize)
		return invalid(fmt::format("{} data directories do not fit the optional header", dirCount));
	for (uint32_t i = 0; i < dirCount; i++) {
		const uint64_t d = opt + dirCountOff + 4 + i * 8;
		pe.dataDirectories_.push_back({ le32(bytes, d), le32(bytes, d + 4) });
	}
	if (dirCount > kCertificateTable)
		pe.certDirOffset_ = static_cast<uint32_t>(opt + dirCountOff + 4 + kCertificateTable * 8);

	const uint64_t table = opt + optSize;
	if (!fits(bytes, table, uint64_t{ numSections } * kSectionHeaderSize))
		return invalid("section table extends past the end of the file");
	if (pe.sizeOfHeaders_ > bytes.size() ||
	    pe.sizeOfHeaders_ < table + uint64_t{ numSections } * kSectionHeaderSize)
		return invalid(fmt::format("SizeOfHeaders 0x{:x} is inconsistent with the file", pe.sizeOfHeaders_));

	for (unsigned i = 0; i < numSections; i++) {
		const uint64_t h = table + uint64_t{ i } * kSectionHeaderSize;
		PeSection s;
		const char *rawName = reinterpret_cast<const char *>(bytes.data() + h);
		/* Names reach messages and the record: the display rule (text.h). */
		s.name = displayText(std::string_view(rawName, strnlen(rawName, 8)));
		s.virtualSize = le32(bytes, h + 8);
		s.virtualAddress = le32(bytes, h + 12);
		s.sizeOfRawData = le32(bytes, h + 16);
		s.pointerToRawData = le32(bytes, h + 20);
		s.characteristics = le32(bytes, h + 36);
		if (s.sizeOfRawData > 0) {
			if (!fits(bytes, s.pointerToRawData, s.sizeOfRawData))
				return invalid(fmt::format("section '{}' (offset 0x{:x}, size 0x{:x}) extends past the end of the file",
							   s.name, s.pointerToRawData, s.sizeOfRawData));
			if (s.pointerToRawData < pe.sizeOfHeaders_)
				return invalid(fmt::format("section '{}' overlaps the headers", s.name));
			const uint32_t payload = (s.virtualSize != 0 && s.virtualSize < s.sizeOfRawData)
							 ? s.virtualSize
							 : s.sizeOfRawData;
			s.data = bytes.subspan(s.pointerToRawData, payload);
			for (const FileView::Redirect &r : redirects)
				if (r.offset == s.pointerToRawData && r.bytes.size() == payload) {
					s.data = r.bytes;
					redirected++;
				}
		}
		pe.sections_.push_back(std::move(s));
	}

	/* Overlapping raw data would let one byte range mean two things
	 * (e.g. .cmdline aliasing part of .linux). */
	std::vector<const PeSection *> byOffset;
	for (const PeSection &s : pe.sections_)
		if (s.sizeOfRawData > 0)
			byOffset.push_back(&s);
	std::sort(byOffset.begin(), byOffset.end(), [](const PeSection *a, const PeSection *b) {
		return a->pointerToRawData < b->pointerToRawData;
	});
	for (size_t i = 1; i < byOffset.size(); i++) {
		const PeSection &prev = *byOffset[i - 1];
		if (uint64_t{ prev.pointerToRawData } + prev.sizeOfRawData > byOffset[i]->pointerToRawData)
			return invalid(fmt::format("sections '{}' and '{}' overlap in the file",
						   prev.name, byOffset[i]->name));
	}

	/* A redirect stands for exactly one section payload, and the view's
	 * builder placed it so: anything else means the view is not of this
	 * file. */
	if (redirected != redirects.size())
		return makeError(Code::Internal, fmt::format("'{}': read layout does not match its sections", name));

	if (auto cert = pe.dataDirectory(kCertificateTable); cert && cert->size > 0) {
		/* For the certificate table, VirtualAddress is a file offset. */
		if (!fits(bytes, cert->virtualAddress, cert->size))
			return invalid("certificate table extends past the end of the file");
		for (const FileView::Redirect &r : redirects)
			if (r.offset < uint64_t{ cert->virtualAddress } + cert->size &&
			    cert->virtualAddress < r.offset + r.bytes.size())
				return makeError(Code::Internal,
						 fmt::format("'{}': read layout covers the certificate table", name));
		pe.certTable_ = bytes.subspan(cert->virtualAddress, cert->size);
	}
	return pe;
}

std::optional<DataDirectory> PeFile::dataDirectory(unsigned index) const
{
	if (index >= dataDirectories_.size())
		return std::nullopt;
	return dataDirectories_[index];
}

const PeSection *PeFile::section(std::string_view name) const
{
	for (const PeSection &s : sections_)
		if (s.name == name)
			return &s;
	return nullptr;
}

} // namespace kexecd
