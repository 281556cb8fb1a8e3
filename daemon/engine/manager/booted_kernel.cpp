// SPDX-License-Identifier: LGPL-2.1-or-later
#include "booted_kernel.h"

#include <strings.h>

#include <optional>

#include <fmt/format.h>

#include "boot_files.h"
#include "compose.h"
#include "digest.h"
#include "efi_vars.h"
#include "kernel_image.h"
#include "memfd.h"
#include "pe.h"
#include "uki.h"

namespace kexecd {

namespace {

/* The bytes staging would hand the kernel for this entry; nullopt when
 * stop came first. */
Result<std::optional<std::string>> entryKernelDigest(const UkiEntry &entry, const Limits &limits, const std::stop_token &stop)
{
	auto files = openEntryFiles(entry);
	if (!files)
		return files.takeError();
	auto memfd = SealedMemfd::copyFrom(files->image.fd.get(), files->image.origin, limits.pe.maxFileSize);
	if (!memfd)
		return memfd.takeError();
	if (stop.stop_requested())
		return std::optional<std::string>();
	if (entry.isKernel()) {
		auto image = readKernelImage(memfd->bytes(), files->image.origin);
		if (!image)
			return image.takeError();
		return std::optional(image->unpacked.empty() ? sha256Hex(memfd->bytes()) : sha256Hex(image->unpacked));
	}
	auto pe = PeFile::parse(memfd->bytes(), files->image.origin, limits.pe);
	if (!pe)
		return pe.takeError();
	auto uki = UkiImage::fromPe(std::move(*pe), files->image.origin, ImageRole::Uki);
	if (!uki)
		return uki.takeError();
	auto profile = uki->findProfile(entry.profile >= 0 ? "@" + std::to_string(entry.profile) : "");
	if (!profile)
		return profile.takeError();
	/* The kernel only: composing the initrd too would copy it for nothing. */
	bool zboot = false;
	auto kernel = classicKernel(*uki, *profile, &zboot);
	if (!kernel)
		return kernel.takeError();
	if (stop.stop_requested())
		return std::optional<std::string>();
	return std::optional(sha256Hex(kernel->bytes()));
}

} // namespace

BootedKernel findBootedKernel(const DiscoveryPaths &paths, const Limits &limits, std::stop_token stop)
{
	BootedKernel booted;
	const auto selected = readLoaderVariable(paths.efivarsDir, "LoaderEntrySelected");
	if (!selected || selected->empty()) {
		booted.why = "no LoaderEntrySelected: the boot loader did not say which entry it booted";
		return booted;
	}
	booted.entry = *selected;
	auto entries = listUkis(paths);
	if (!entries) {
		booted.why = "the boot entries cannot be listed: " + entries.error().message;
		return booted;
	}
	for (const UkiEntry &entry : *entries) {
		/* systemd-boot compares ids ignoring case. */
		if (strcasecmp(entry.id.c_str(), selected->c_str()) != 0)
			continue;
		auto digest = entryKernelDigest(entry, limits, stop);
		if (!digest) {
			booted.why = fmt::format("the booted entry '{}' cannot be read: {}", *selected,
						 digest.error().message);
			return booted;
		}
		if (!*digest) {
			booted.why = "the daemon stopped before the booted entry's kernel was read";
			return booted;
		}
		booted.sha256 = **digest;
		booted.why = fmt::format("the kernel of the booted entry '{}' ({})", *selected, entry.path);
		return booted;
	}
	booted.why = fmt::format("the booted entry '{}' is no longer on the boot partitions", *selected);
	return booted;
}

} // namespace kexecd
