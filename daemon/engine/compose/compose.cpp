// SPDX-License-Identifier: LGPL-2.1-or-later
#include "compose.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "digest.h"
#include "elf_container.h"
#include "zboot.h"

namespace kexecd {

namespace {

std::span<const uint8_t> sectionOf(const SectionSet &set, std::string_view name)
{
	auto it = set.find(name);
	return it == set.end() ? std::span<const uint8_t>{} : it->second;
}

/* Each part at its offset, and where a section part comes from. */
std::vector<InitrdPartRecord> initrdRecord(const InitrdComposition &initrd, const UkiImage &uki,
					   std::span<const UkiImage *const> addons)
{
	std::vector<InitrdPartRecord> out;
	const std::vector<uint64_t> offsets = initrd.offsets();
	for (size_t i = 0; i < initrd.parts().size(); i++) {
		const InitrdPart &p = initrd.parts()[i];
		InitrdPartRecord r{ p.what, offsets[i], p.data.size(), {}, 0, {} };
		auto findIn = [&](const UkiImage &img) {
			for (const PeSection &s : img.pe().sections())
				if (!s.data.empty() && s.data.data() == p.data.data() && s.data.size() == p.data.size()) {
					r.from = img.origin();
					r.fromOffset = s.pointerToRawData;
					return true;
				}
			return false;
		};
		bool found = findIn(uki);
		for (const UkiImage *a : addons)
			found = found || findIn(*a);
		if (!found)
			r.sha256 = sha256Hex(p.data);
		out.push_back(std::move(r));
	}
	return out;
}

/* placed holds exactly initrd.padded(): each part at its offset (a part
 * read in place is there by address; the rest, small, by content) and
 * the padding, which placement never writes, still a hole. */
bool holdsComposition(const SealedMemfd &placed, const std::vector<InitrdPartRecord> &layout,
		      const InitrdComposition &initrd)
{
	if (placed.size() != initrd.paddedSize())
		return false;
	const std::span<const uint8_t> bytes = placed.bytes();
	for (size_t i = 0; i < layout.size(); i++) {
		const auto data = initrd.parts()[i].data;
		const uint8_t *at = bytes.data() + layout[i].offset;
		if (data.data() != at && (data.empty() || std::memcmp(data.data(), at, data.size()) != 0))
			return false;
		const uint64_t end = layout[i].offset + data.size();
		const uint64_t next = i + 1 < layout.size() ? layout[i + 1].offset : bytes.size();
		for (uint64_t z = end; z < next; z++)
			if (bytes[z] != 0)
				return false;
	}
	return true;
}

} // namespace

std::vector<std::span<const uint8_t>> initrdParts(const SectionSet &uki,
						  std::span<const UkiImage *const> addons)
{
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

void InitrdComposition::add(std::string what, std::span<const uint8_t> data)
{
	/* The stub skips unset sections; an empty one adds nothing either. */
	if (!data.empty())
		parts_.push_back({ std::move(what), data });
}

void InitrdComposition::addGenerated(std::string what, std::vector<uint8_t> archive)
{
	if (archive.empty())
		return;
	generated_.push_back(std::make_unique<std::vector<uint8_t>>(std::move(archive)));
	parts_.push_back({ std::move(what), *generated_.back() });
}

uint64_t InitrdComposition::padAfter(uint64_t size, size_t count)
{
	return count > 1 ? (4 - size % 4) % 4 : 0;
}

std::vector<std::span<const uint8_t>> InitrdComposition::padded() const
{
	static constexpr uint8_t zeros[3] = {};
	std::vector<std::span<const uint8_t>> out;
	for (const InitrdPart &p : parts_) {
		out.push_back(p.data);
		if (const uint64_t pad = padAfter(p.data.size(), parts_.size()))
			out.push_back({ zeros, pad });
	}
	return out;
}

std::vector<uint64_t> InitrdComposition::offsetsFor(std::span<const uint64_t> sizes, uint64_t &total)
{
	std::vector<uint64_t> out;
	total = 0;
	for (uint64_t size : sizes) {
		out.push_back(total);
		total += size + padAfter(size, sizes.size());
	}
	return out;
}

std::vector<uint64_t> InitrdComposition::offsets() const
{
	std::vector<uint64_t> sizes;
	for (const InitrdPart &p : parts_)
		sizes.push_back(p.data.size());
	uint64_t total;
	return offsetsFor(sizes, total);
}

uint64_t InitrdComposition::paddedSize() const
{
	uint64_t n = 0;
	for (auto s : padded())
		n += s.size();
	return n;
}

InitrdComposition composeInitrd(const SectionSet &resolved, const UkiProfile *profile,
				std::span<const UkiImage *const> addons, const SidecarFiles *sidecars)
{
	InitrdComposition c;
	/* The kernel takes the first microcode it finds: the most specific
	 * (last loaded) addon's goes first. */
	for (auto it = addons.rbegin(); it != addons.rend(); ++it)
		c.add(fmt::format(".ucode of '{}'", (*it)->origin()), sectionOf((*it)->base(), ".ucode"));
	c.add(".ucode", sectionOf(resolved, ".ucode"));
	c.add(".initrd", sectionOf(resolved, ".initrd"));

	if (sidecars) {
		const std::pair<const std::vector<CpioFile> *, const CpioTarget *> generated[] = {
			{ &sidecars->credentials, &kCpioCredentials },
			{ &sidecars->globalCredentials, &kCpioGlobalCredentials },
			{ &sidecars->sysext, &kCpioSysext },
			{ &sidecars->globalSysext, &kCpioGlobalSysext },
			{ &sidecars->confext, &kCpioConfext },
			{ &sidecars->globalConfext, &kCpioGlobalConfext },
		};
		for (const auto &[files, target] : generated)
			c.addGenerated(fmt::format("/{}/", target->dir), packStubCpio(*files, *target));
	}

	const std::pair<std::span<const uint8_t>, const char *> meta[] = {
		{ sectionOf(resolved, ".pcrsig"), "tpm2-pcr-signature.json" },
		{ sectionOf(resolved, ".pcrpkey"), "tpm2-pcr-public-key.pem" },
		{ sectionOf(resolved, ".osrel"), "os-release" },
		{ profile ? profile->raw : std::span<const uint8_t>{}, "profile" },
	};
	for (const auto &[data, name] : meta)
		if (!data.empty())
			c.addGenerated(fmt::format("/{}/{}", kCpioMeta.dir, name),
				       packStubCpioLiteral(data, kCpioMeta, name));

	for (const UkiImage *addon : addons)
		c.add(fmt::format(".initrd of '{}'", addon->origin()), sectionOf(addon->base(), ".initrd"));
	return c;
}

std::string stubCmdlineText(std::span<const uint8_t> data)
{
	std::string s(reinterpret_cast<const char *>(data.data()), data.size());
	s.resize(std::min(s.size(), s.find('\0')));
	for (char &c : s)
		if (static_cast<unsigned char>(c) <= 0x1f)
			c = ' ';
	while (!s.empty() && s.back() == ' ')
		s.pop_back();
	return s;
}

std::string composeCmdline(const SectionSet &uki, std::span<const UkiImage *const> addons,
			   std::string_view loaderOptions)
{
	const std::span<const uint8_t> options(reinterpret_cast<const uint8_t *>(loaderOptions.data()),
					       loaderOptions.size());
	std::string out = stubCmdlineText(options);
	if (out.empty())
		out = stubCmdlineText(sectionOf(uki, ".cmdline"));
	for (const UkiImage *addon : addons) {
		const std::string part = stubCmdlineText(sectionOf(addon->base(), ".cmdline"));
		if (part.empty())
			continue;
		if (!out.empty())
			out += ' ';
		out += part;
	}
	return out;
}

Result<void> checkLoaderOptions(const SectionSet &uki, std::string_view loaderOptions, bool secureBoot,
				std::string_view what)
{
	if (loaderOptions.empty() || !secureBoot || !uki.count(".cmdline"))
		return {};
	return makeError(Code::InvalidArgument,
			 fmt::format("{} is refused: Secure Boot is on and the UKI has a .cmdline, so "
				     "systemd-stub would ignore the loader's options", what));
}

std::string appendCmdline(std::string composed, std::string_view append)
{
	if (append.empty())
		return composed;
	if (!composed.empty())
		composed += ' ';
	composed += append;
	return composed;
}

std::string devicetreeNote(const SectionSet &resolved, std::span<const UkiImage *const> addons)
{
	std::vector<std::string> found;
	for (const char *name : { ".dtbauto", ".dtb" })
		if (resolved.count(name)) {
			found.push_back(fmt::format("{} of the UKI", name));
			break; // the stub prefers .dtbauto
		}
	for (const UkiImage *addon : addons)
		for (const char *name : { ".dtbauto", ".dtb" })
			if (addon->base().count(name)) {
				found.push_back(fmt::format("{} of '{}'", name, addon->origin()));
				break;
			}
	if (found.empty())
		return {};
	return fmt::format("devicetree from the UKI not applied: {}; kexec_file_load takes no devicetree, "
			   "the next kernel gets the running kernel's (systemd-stub would install it)",
			   fmt::join(found, ", "));
}

Result<SealedMemfd> classicKernel(const UkiImage &uki, const UkiProfile *profile, bool *wasZboot)
{
	const auto kernelImage = sectionOf(uki.resolve(profile), ".linux");
	if (kernelImage.empty())
		return makeError(Code::InvalidImage, fmt::format("'{}': no .linux section", uki.origin()));
	*wasZboot = probeZboot(kernelImage).has_value();
	if (!*wasZboot)
		return SealedMemfd::fromBytes(kernelImage, "kernel");
	auto unpacked = unpackZboot(kernelImage, uki.origin() + ":.linux");
	if (!unpacked)
		return unpacked.takeError();
	return SealedMemfd::fromBytes(*unpacked, "kernel");
}

Result<ClassicParts> composeClassic(const UkiImage &uki, std::span<const UkiImage *const> addons,
				    const ClassicOptions &options)
{
	const SectionSet sections = uki.resolve(options.profile);
	if (sectionOf(sections, ".linux").empty())
		return makeError(Code::InvalidImage, fmt::format("'{}': no .linux section", uki.origin()));

	ClassicParts parts;
	parts.cmdline = appendCmdline(composeCmdline(sections, addons, options.cmdlineExtra), options.cmdlineAppend);
	parts.devicetree = devicetreeNote(sections, addons);
	/* The kernel wants cmdline_len including the NUL within COMMAND_LINE_SIZE. */
	if (parts.cmdline.size() + 1 > options.maxCmdline)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': composed command line is {} bytes, more than the limit of {}",
					     uki.origin(), parts.cmdline.size() + 1, options.maxCmdline));

	const auto kernelImage = sectionOf(sections, ".linux");
	const SealedMemfd *placed = options.placedKernel;
	parts.kernelPlaced = placed && placed->bytes().data() == kernelImage.data() &&
			     placed->size() == kernelImage.size() && !probeZboot(kernelImage);
	auto kernel = parts.kernelPlaced ? placed->duplicate()
					 : classicKernel(uki, options.profile, &parts.kernelWasZboot);
	if (!kernel)
		return kernel.takeError();
	parts.kernel = std::move(*kernel);

	const InitrdComposition initrd = composeInitrd(sections, options.profile, addons, options.sidecars);
	parts.initrdLayout = initrdRecord(initrd, uki, addons);
	if (!initrd.parts().empty()) {
		auto memfd = options.placedInitrd && holdsComposition(*options.placedInitrd, parts.initrdLayout, initrd)
				     ? options.placedInitrd->duplicate()
				     : SealedMemfd::concat(initrd.padded(), "initrd");
		if (!memfd)
			return memfd.takeError();
		parts.initrd = std::move(*memfd);
	}
	return parts;
}

Result<std::vector<ElfSection>> imageContainerSections(std::span<const ContainerEntry> entries,
						       std::optional<unsigned> profileIndex, std::string &select)
{
	std::vector<ElfSection> sections;
	for (size_t i = 0; i < entries.size(); i++) {
		sections.push_back({ fmt::format(".pe.{}", i + 1), entries[i].pe });
		if (!entries[i].ima.empty())
			sections.push_back({ ".ima", entries[i].ima });
	}
	select = profileIndex ? std::to_string(*profileIndex) : std::string();
	if (profileIndex)
		sections.push_back({ kSelectSection,
				     { reinterpret_cast<const uint8_t *>(select.data()), select.size() } });
	if (sections.size() > kMaxContainerSections)
		return makeError(Code::InvalidArgument,
				 fmt::format("the image container would need {} sections; the kernel's parser "
					     "reads at most {} (UKI + addons + IMA signatures)",
					     sections.size(), kMaxContainerSections));
	return sections;
}

Result<SealedMemfd> composeImageContainer(std::span<const ContainerEntry> entries,
					  std::optional<unsigned> profileIndex)
{
	std::string select;
	auto sections = imageContainerSections(entries, profileIndex, select);
	if (!sections)
		return sections.takeError();
	/* Each file's bytes go from its sealed input straight into the
	 * container memfd: no heap copy in between. */
	const ElfContainerLayout layout = layoutElfContainer(*sections);
	const auto pieces = layout.pieces();
	return SealedMemfd::concat(pieces, "image-container");
}

} // namespace kexecd
