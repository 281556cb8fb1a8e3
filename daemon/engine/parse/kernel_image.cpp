// SPDX-License-Identifier: LGPL-2.1-or-later
#include "kernel_image.h"

#include <cstring>

#include <fmt/format.h>

#include "le.h"
#include "text.h"
#include "zboot.h"

namespace kexecd {

namespace {

using detail::le16;
using detail::le32;
using detail::le64;

/* arch/x86/include/uapi/asm/bootparam.h, Documentation/arch/x86/boot.rst */
constexpr size_t kSetupSects = 0x1f1;
constexpr size_t kSysSize = 0x1f4;
constexpr size_t kBootFlag = 0x1fe;
constexpr size_t kHeaderMagic = 0x202;
constexpr size_t kVersion = 0x206;
constexpr size_t kKernelVersion = 0x20e;
/* The image header of arm64 and riscv: magic at 0x38, PE offset at 0x3c. */
constexpr size_t kImageMagic = 0x38;
constexpr size_t kImageHeaderSize = 0x40;
/* arm64 Image header fields (Documentation/arch/arm64/booting.rst). */
constexpr size_t kArm64TextOffset = 0x08;
constexpr size_t kArm64ImageSize = 0x10;
/* The Image is placed at a 2 MiB-aligned base plus text_offset
 * (MIN_KIMG_ALIGN); 0x80000 before 5.8, 0 since. */
constexpr uint64_t kArm64Align = uint64_t{ 2 } << 20;
constexpr size_t kMaxVersionString = 256;

bool hasPeEnvelope(std::span<const uint8_t> b)
{
	if (b.size() < 0x40 || b[0] != 'M' || b[1] != 'Z')
		return false;
	const uint32_t pe = le32(b, 0x3c);
	return pe <= b.size() - 4 && std::memcmp(b.data() + pe, "PE\0\0", 4) == 0;
}

bool magicAt(std::span<const uint8_t> b, size_t offset, const char *magic)
{
	return b.size() >= offset + 4 && std::memcmp(b.data() + offset, magic, 4) == 0;
}

Result<KernelImageInfo> probeBzImage(std::span<const uint8_t> b, const std::string &origin)
{
	KernelImageInfo info;
	info.format = KernelFormat::BzImage;
	info.efiStub = hasPeEnvelope(b);
	info.bootProtocol = le16(b, kVersion);
	/* kexec_file_load's bzImage64 loader wants protocol 2.12 (64-bit
	 * entry); the older ones cannot carry what it needs anyway. */
	if (info.bootProtocol < 0x020c)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': x86 boot protocol {}.{:02} is older than 2.12, which kexec_file_load needs",
					     origin, info.bootProtocol >> 8, info.bootProtocol & 0xff));
	if (le16(b, kBootFlag) != 0xaa55)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': bzImage setup header has no 0xAA55 boot flag", origin));
	const uint64_t setupSects = b[kSetupSects] ? b[kSetupSects] : 4;
	const uint64_t expected = (setupSects + 1) * 512 + uint64_t{ le32(b, kSysSize) } * 16;
	if (b.size() < expected)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': truncated bzImage: the setup header says {} bytes, the file has {}",
					     origin, expected, b.size()));
	/* kernel_version points 0x200 before the string, inside the setup. */
	const uint16_t kv = le16(b, kKernelVersion);
	const uint64_t at = uint64_t{ kv } + 0x200;
	if (kv && at < (setupSects + 1) * 512) {
		const auto rest = b.subspan(at, std::min<size_t>(kMaxVersionString, b.size() - at));
		const char *s = reinterpret_cast<const char *>(rest.data());
		std::string_view text(s, strnlen(s, rest.size()));
		/* "6.1.0-57-amd64 (debian-kernel@…) #1 SMP …": the release is
		 * the first word, as uname -r prints it. */
		info.version = displayText(text.substr(0, text.find(' ')));
	}
	return info;
}

Result<KernelImageInfo> probeArm64(std::span<const uint8_t> b, const std::string &origin, bool efiStub)
{
	KernelImageInfo info;
	info.format = KernelFormat::Arm64Image;
	info.efiStub = efiStub;
	info.textOffset = le64(b, kArm64TextOffset);
	info.imageSize = le64(b, kArm64ImageSize);
	if (info.imageSize == 0)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': arm64 Image header: image_size is 0 (a kernel older than 3.17), "
					     "which arm64's kexec_file_load refuses",
					     origin));
	if (info.textOffset >= kArm64Align)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': arm64 Image header: text_offset 0x{:x} lies past the 2 MiB "
					     "alignment it is an offset into",
					     origin, info.textOffset));
	if (info.imageSize > kMaxDecompressedKernel)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': arm64 Image header: image_size 0x{:x} is more than {} MiB",
					     origin, info.imageSize, kMaxDecompressedKernel >> 20));
	if (info.imageSize < b.size())
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': arm64 Image header: image_size 0x{:x} is smaller than the "
					     "{}-byte file, which kexec_file_load refuses (a segment larger than "
					     "its memory)",
					     origin, info.imageSize, b.size()));
	return info;
}

Result<KernelImageInfo> probePlain(std::span<const uint8_t> b, const std::string &origin)
{
	if (magicAt(b, kHeaderMagic, "HdrS") && b.size() >= 0x240)
		return probeBzImage(b, origin);
	KernelImageInfo info;
	info.efiStub = hasPeEnvelope(b);
	if (b.size() >= kImageHeaderSize && magicAt(b, kImageMagic, "ARM\x64"))
		return probeArm64(b, origin, info.efiStub);
	if (b.size() >= kImageHeaderSize && magicAt(b, kImageMagic, "RSC\x05")) {
		info.format = KernelFormat::RiscvImage;
		return info;
	}
	if (b.size() < kImageHeaderSize)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}' is not a kernel image: {} bytes is shorter than any kernel header",
					     origin, b.size()));
	return makeError(Code::InvalidImage,
			 fmt::format("'{}' is not a kernel image kexecd knows: no x86 setup header ('HdrS' at 0x202), "
				     "no arm64 or riscv Image magic at 0x38, no zboot header{}",
				     origin, info.efiStub ? " (a PE file: stage a UKI without --kernel)" : ""));
}

} // namespace

const char *kernelFormatName(KernelFormat format)
{
	switch (format) {
	case KernelFormat::BzImage: return "bzimage";
	case KernelFormat::Arm64Image: return "arm64-image";
	case KernelFormat::RiscvImage: return "riscv-image";
	case KernelFormat::Zboot: return "zboot";
	}
	return "unknown";
}

Result<KernelImageInfo> probeKernelImage(std::span<const uint8_t> bytes, const std::string &origin)
{
	if (auto z = probeZboot(bytes)) {
		KernelImageInfo info;
		info.format = KernelFormat::Zboot;
		info.efiStub = hasPeEnvelope(bytes);
		info.compression = z->compression;
		return info;
	}
	return probePlain(bytes, origin);
}

Result<void> checkKernelMachine(const KernelImageInfo &info, std::string_view machine, const std::string &origin)
{
	struct Native {
		std::string_view machine;
		KernelFormat format;
		const char *name;
	};
	static constexpr Native kNative[] = {
		{ "x86_64", KernelFormat::BzImage, "an x86 bzImage" },
		{ "aarch64", KernelFormat::Arm64Image, "an arm64 Image" },
		{ "riscv64", KernelFormat::RiscvImage, "a riscv Image" },
	};
	const KernelFormat format = info.payloadFormat.value_or(info.format);
	const Native *want = nullptr, *have = nullptr;
	for (const Native &n : kNative) {
		if (n.machine == machine)
			want = &n;
		if (n.format == format)
			have = &n;
	}
	if (!want || !have || want == have)
		return {};
	return makeError(Code::InvalidImage,
			 fmt::format("'{}' is {}{}, but the running kernel is {}: its kexec_file_load takes {}{}", origin,
				     have->name, info.payloadFormat ? " (in a zboot image)" : "", machine, want->name,
				     want->format == KernelFormat::BzImage ? "" : " or a zboot image holding one"));
}

Result<void> checkUkiKernelMachine(std::span<const uint8_t> kernel, bool wasZboot, std::string_view machine,
				   const std::string &origin)
{
	if (machine.empty() || (!wasZboot && probeZboot(kernel)))
		return {};
	/* Only the architecture is asked here: a UKI's .linux was never
	 * probed before issue 31, and a header kexecd cannot read stays the
	 * kernel's to judge. */
	auto info = probePlain(kernel, origin);
	if (!info)
		return {};
	if (wasZboot) {
		info->payloadFormat = info->format;
		info->format = KernelFormat::Zboot;
	}
	return checkKernelMachine(*info, machine, origin);
}

std::string reusableCmdline(std::string_view text)
{
	std::string out;
	size_t i = 0;
	const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n'; };
	while (i < text.size()) {
		while (i < text.size() && space(text[i]))
			i++;
		const size_t start = i;
		bool quoted = false;
		while (i < text.size() && (quoted || !space(text[i]))) {
			if (text[i] == '"')
				quoted = !quoted;
			i++;
		}
		const std::string_view word = text.substr(start, i - start);
		if (word.empty() || word.starts_with("BOOT_IMAGE=") || word.starts_with("initrd="))
			continue;
		if (!out.empty())
			out += ' ';
		out += word;
	}
	return out;
}

Result<KernelImage> readKernelImage(std::span<const uint8_t> bytes, const std::string &origin)
{
	auto info = probeKernelImage(bytes, origin);
	if (!info)
		return info.takeError();
	KernelImage image{ *info, {} };
	if (info->format != KernelFormat::Zboot)
		return image;
	auto unpacked = unpackZboot(bytes, origin);
	if (!unpacked)
		return unpacked.takeError();
	const std::string inner = origin + " (zboot payload)";
	auto payload = probePlain(*unpacked, inner);
	if (!payload)
		return payload.takeError();
	image.info.payloadFormat = payload->format;
	if (image.info.version.empty())
		image.info.version = payload->version;
	image.unpacked = std::move(*unpacked);
	return image;
}

} // namespace kexecd
