// SPDX-License-Identifier: LGPL-2.1-or-later
#include "compose.h"

#include <fmt/format.h>

#include "elf_container.h"
#include "zboot.h"

namespace kexecd {

namespace {

std::span<const uint8_t> sectionOf(const SectionSet &set, std::string_view name)
{
	auto it = set.find(name);
	return it == set.end() ? std::span<const uint8_t>{} : it->second;
}

} // namespace

std::vector<std::span<const uint8_t>> initrdParts(const SectionSet &uki,
						  std::span<const UkiImage *const> addons)
{
	/* systemd-stub order: microcode first so the early loader finds it,
	 * most specific first (addons in reverse, then the UKI's); then the
	 * UKI's initrd; then the addons' initrds in order. cpio archives
	 * concatenate, so this is the whole composition. */
	std::vector<std::span<const uint8_t>> parts;
	for (auto it = addons.rbegin(); it != addons.rend(); ++it)
		if (auto s = sectionOf((*it)->base(), ".ucode"); !s.empty())
			parts.push_back(s);
	if (auto s = sectionOf(uki, ".ucode"); !s.empty())
		parts.push_back(s);
	if (auto s = sectionOf(uki, ".initrd"); !s.empty())
		parts.push_back(s);
	for (const UkiImage *addon : addons)
		if (auto s = sectionOf(addon->base(), ".initrd"); !s.empty())
			parts.push_back(s);
	return parts;
}

std::string composeCmdline(const SectionSet &uki, std::span<const UkiImage *const> addons,
			   std::string_view extra)
{
	std::string out = sectionText(sectionOf(uki, ".cmdline"));
	auto add = [&out](const std::string &part) {
		if (part.empty())
			return;
		if (!out.empty())
			out += ' ';
		out += part;
	};
	for (const UkiImage *addon : addons)
		add(sectionText(sectionOf(addon->base(), ".cmdline")));
	add(std::string(extra));
	return out;
}

Result<ClassicParts> composeClassic(const UkiImage &uki, std::span<const UkiImage *const> addons,
				    const ClassicOptions &options)
{
	const SectionSet sections = uki.resolve(options.profile);
	const auto kernelImage = sectionOf(sections, ".linux");
	if (kernelImage.empty())
		return makeError(Code::InvalidImage, fmt::format("'{}': no .linux section", uki.origin()));

	ClassicParts parts;
	parts.cmdline = composeCmdline(sections, addons, options.cmdlineExtra);
	/* The kernel wants cmdline_len including the NUL within COMMAND_LINE_SIZE. */
	if (parts.cmdline.size() + 1 > options.maxCmdline)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': composed command line is {} bytes, more than the limit of {}",
					     uki.origin(), parts.cmdline.size() + 1, options.maxCmdline));

	if (probeZboot(kernelImage)) {
		auto unpacked = unpackZboot(kernelImage, uki.origin() + ":.linux");
		if (!unpacked)
			return unpacked.takeError();
		auto kernel = SealedMemfd::fromBytes(*unpacked, "kernel");
		if (!kernel)
			return kernel.takeError();
		parts.kernel = std::move(*kernel);
		parts.kernelWasZboot = true;
	} else {
		auto kernel = SealedMemfd::fromBytes(kernelImage, "kernel");
		if (!kernel)
			return kernel.takeError();
		parts.kernel = std::move(*kernel);
	}

	const auto initrd = initrdParts(sections, addons);
	if (!initrd.empty()) {
		auto memfd = SealedMemfd::concat(initrd, "initrd");
		if (!memfd)
			return memfd.takeError();
		parts.initrd = std::move(*memfd);
	}
	return parts;
}

Result<SealedMemfd> composeImageContainer(std::span<const ContainerEntry> entries,
					  std::optional<unsigned> profileIndex)
{
	std::vector<ElfSection> sections;
	std::vector<std::string> names;
	names.reserve(entries.size());
	for (size_t i = 0; i < entries.size(); i++) {
		sections.push_back({ fmt::format(".pe.{}", i + 1), entries[i].pe });
		if (!entries[i].ima.empty())
			sections.push_back({ ".ima", entries[i].ima });
	}
	const std::string select = profileIndex ? std::to_string(*profileIndex) : std::string();
	if (profileIndex)
		sections.push_back({ kSelectSection,
				     { reinterpret_cast<const uint8_t *>(select.data()), select.size() } });
	if (sections.size() > kMaxContainerSections)
		return makeError(Code::InvalidArgument,
				 fmt::format("the image container would need {} sections; the kernel's parser "
					     "reads at most {} (UKI + addons + IMA signatures)",
					     sections.size(), kMaxContainerSections));
	const std::vector<uint8_t> bytes = writeElfContainer(sections);
	return SealedMemfd::fromBytes(bytes, "image-container");
}

} // namespace kexecd
