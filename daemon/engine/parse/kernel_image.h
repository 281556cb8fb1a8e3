// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The second kind of input (issue 15): a plain kernel image, recognised by
// its headers, never by its file name.
//
//   format     how it is recognised                              handed to the kernel
//   bzimage    x86 setup header: 0xAA55 at 0x1fe, "HdrS" at      the file as it is (an EFI
//              0x202, boot protocol >= 2.00 (EFI stub kernels    stub kernel is a bzImage
//              are these too, with an MZ/PE envelope)            inside a PE envelope)
//   arm64      "ARM\x64" at 0x38 (arm64 booting.rst)             the file as it is
//   riscv      "RSC\x05" at 0x38 (riscv boot-image-header.rst)   the file as it is
//   zboot      MZ + "zimg" (zboot.h)                             the decompressed payload,
//                                                                which must be one of the above
//
// A bzImage shorter than its setup header says ((setup_sects + 1) * 512 +
// syssize * 16) is truncated and refused; so is anything else, with an
// error naming the file and what was looked for. An arm64 Image header must
// say what arm64's kexec_file_load needs (arch/arm64/kernel/kexec_image.c):
// an image_size (0 before 3.17; the kernel refuses it) that covers the file
// (the segment's memory size is image_size + text_offset, and a segment larger
// than its memory is EINVAL) and a text_offset inside the 2 MiB alignment it
// is an offset into.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace kexecd {

enum class KernelFormat { BzImage, Arm64Image, RiscvImage, Zboot };

const char *kernelFormatName(KernelFormat format);

struct KernelImageInfo {
	KernelFormat format = KernelFormat::BzImage;
	/* zboot: the format of the decompressed payload. */
	std::optional<KernelFormat> payloadFormat;
	bool efiStub = false;     // the file is a PE (MZ + PE header): it can carry Authenticode
	uint16_t bootProtocol = 0; // bzImage: setup header version, e.g. 0x020f
	std::string version;      // bzImage: the kernel_version string ("" when absent)
	std::string compression;  // zboot: as the header names it
	uint64_t textOffset = 0;  // arm64 Image header: text_offset
	uint64_t imageSize = 0;   // arm64 Image header: image_size (the file + bss)
};

/* Recognise the bytes; Code::InvalidImage naming origin when they are no
 * kernel image kexecd can hand to kexec_file_load (or a truncated one). */
Result<KernelImageInfo> probeKernelImage(std::span<const uint8_t> bytes, const std::string &origin);

/* A probed image and the bytes kexec_file_load gets: the file itself, or
 * a zboot image's decompressed payload (which is probed in turn). */
struct KernelImage {
	KernelImageInfo info;
	std::vector<uint8_t> unpacked; // zboot only: the payload
};

Result<KernelImage> readKernelImage(std::span<const uint8_t> bytes, const std::string &origin);

/* Whether the running kernel (uname's machine, KernelSupport::machine)
 * takes this image: an x86 bzImage on x86_64 only, an arm64 Image (or a
 * zboot holding one) on aarch64 only, riscv on riscv64. Any other machine,
 * or "", checks nothing. kexec_file_load would refuse the wrong one with an
 * errno that names nothing (ENOEXEC on x86, EINVAL on arm64): this names
 * the file and both architectures, before anything is loaded. */
Result<void> checkKernelMachine(const KernelImageInfo &info, std::string_view machine, const std::string &origin);

/* The same for the kernel inside a UKI (origin names the UKI and its
 * .linux section): kernel is what the kernel is handed, a zboot's payload
 * already unpacked when wasZboot. Bytes no probe recognises, or a zboot
 * still packed (the BPF scheme's kernel side unpacks it), are left to
 * kexec_file_load as before: only an image of a known other architecture
 * is refused. */
Result<void> checkUkiKernelMachine(std::span<const uint8_t> kernel, bool wasZboot, std::string_view machine,
				   const std::string &origin);

/* The running system's command line made reusable, as kexec-tools'
 * --reuse-cmdline and Debian's kexec-load do: the boot loader's
 * BOOT_IMAGE= and initrd= words go (they name files of this boot), the
 * rest stays in order. Words split at spaces outside double quotes, as
 * the kernel's parser splits them; the trailing newline of /proc/cmdline
 * goes too. */
std::string reusableCmdline(std::string_view procCmdline);

} // namespace kexecd
