// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stage_input.h"

#include <sys/xattr.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "compose.h"
#include "digest.h"
#include "record.h"
#include "signature_check.h"
#include "trust_sources.h"
#include "text.h"

namespace kexecd {

namespace {

constexpr const char *kFirmwareDb = "db-d719b2cb-3d3a-4596-a3bc-dad00e67656f";

std::vector<uint8_t> readImaXattr(int fd)
{
	/* IMA signatures are small; the draft builder caps them at 1 KiB. */
	std::vector<uint8_t> buf(1024);
	ssize_t n = ::fgetxattr(fd, "security.ima", buf.data(), buf.size());
	if (n <= 0)
		return {};
	buf.resize(static_cast<size_t>(n));
	return buf;
}

} // namespace

std::string inputOrigin(const InputFile &input)
{
	/* Paths come from callers and file names: the display rule (text.h). */
	return input.origin.empty() ? fmt::format("fd {}", input.fd.get()) : displayText(input.origin);
}

Result<LoadedFile> readOnce(InputFile &input, const Limits &limits)
{
	LoadedFile f;
	f.origin = inputOrigin(input);
	f.ima = readImaXattr(input.fd.get());
	auto memfd = SealedMemfd::copyFrom(input.fd.get(), f.origin, limits.pe.maxFileSize);
	if (!memfd)
		return memfd.takeError();
	f.memfd = std::move(*memfd);
	f.size = f.memfd.size();
	return f;
}

namespace {

/* The UKI read in place (placed_file.h), for a regular file within the
 * limit; nullptr for anything else, which is read whole. */
Result<std::unique_ptr<PlacedFile>> placeUki(InputFile &uki, const std::vector<InputFile> &addons,
						   UkiPlacement placement, const std::string &origin,
						   const Limits &limits)
{
	const auto size = PlacedFile::placeableSize(uki.fd.get(), limits.pe.maxFileSize);
	if (placement == UkiPlacement::Whole || !size)
		return std::unique_ptr<PlacedFile>();
	if (placement == UkiPlacement::Classic)
		return PlacedFile::skeleton(uki.fd.get(), origin, *size, limits.pe);
	/* Room for the addons, their IMA signatures and the container's own
	 * bytes after the UKI: address space only, never touched unless used.
	 * An addon that cannot be placed is read whole and checked then. */
	uint64_t capacity = PlacedFile::kContainerDataOffset + *size + (1u << 20);
	for (const InputFile &a : addons)
		if (const auto addon = PlacedFile::placeableSize(a.fd.get(), limits.pe.maxFileSize))
			capacity += *addon + 4096;
	return PlacedFile::intoContainer(uki.fd.get(), origin, *size, capacity, limits.pe);
}

} // namespace

Result<void> checkTotalInput(uint64_t total, const Limits &limits)
{
	if (total > limits.maxTotalInput)
		return makeError(Code::InvalidArgument,
				 fmt::format("inputs add up to more than the limit of {} bytes", limits.maxTotalInput));
	return {};
}

Result<std::vector<LoadedFile>> readEachOnce(std::vector<InputFile> &inputs, const Limits &limits, uint64_t before)
{
	std::vector<LoadedFile> files;
	uint64_t total = before;
	for (InputFile &input : inputs) {
		auto f = readOnce(input, limits);
		if (!f)
			return f.takeError();
		total += f->size;
		KEXECD_TRY(checkTotalInput(total, limits));
		files.push_back(std::move(*f));
	}
	return files;
}

namespace {

/* An addon read as its UKI was: beside it in the container, or as a
 * skeleton; read whole when it cannot be (not a regular file, no room). */
Result<LoadedFile> readAddon(InputFile &input, PlacedFile *host, const Limits &limits)
{
	if (!host)
		return readOnce(input, limits);
	LoadedFile f;
	f.origin = inputOrigin(input);
	f.ima = readImaXattr(input.fd.get());
	Result<std::unique_ptr<PlacedFile>> placed = std::unique_ptr<PlacedFile>();
	if (host->isContainer())
		placed = PlacedFile::besideInContainer(*host, input.fd.get(), f.origin, limits.pe);
	else if (const auto size = PlacedFile::placeableSize(input.fd.get(), limits.pe.maxFileSize))
		placed = PlacedFile::skeleton(input.fd.get(), f.origin, *size, limits.pe);
	if (!placed)
		return placed.takeError();
	if (!*placed)
		return readOnce(input, limits);
	f.placed = std::move(*placed);
	f.size = f.placed->size();
	return f;
}

/* The image of one file; for a placed one, with its pending Authenticode
 * digest. */
Result<UkiImage> parseImage(const LoadedFile &f, const PlacedFile *placed, ImageRole role, const PeLimits &limits)
{
	auto pe = placed ? PeFile::parse(placed->view(), f.origin, limits) : PeFile::parse(f.memfd.bytes(), f.origin, limits);
	if (!pe)
		return pe.takeError();
	if (placed)
		placed->lendAuthenticode(*pe);
	return UkiImage::fromPe(std::move(*pe), f.origin, role);
}

} // namespace

Result<std::unique_ptr<InitrdsInPlace>> placeInitrds(std::vector<InputFile> &initrds, const Limits &limits,
						     uint64_t before)
{
	std::vector<uint64_t> sizes;
	uint64_t sum = 0;
	for (const InputFile &input : initrds) {
		const auto size = PlacedFile::placeableSize(input.fd.get(), limits.pe.maxFileSize);
		if (!size)
			return std::unique_ptr<InitrdsInPlace>();
		sizes.push_back(*size);
		sum += *size;
	}
	if (sizes.empty())
		return std::unique_ptr<InitrdsInPlace>();
	KEXECD_TRY(checkTotalInput(before + sum, limits));
	uint64_t total = 0;
	const std::vector<uint64_t> offsets = InitrdComposition::offsetsFor(sizes, total);
	auto r = std::make_unique<InitrdsInPlace>();
	auto memfd = SealedMemfd::create("initrd", total);
	if (!memfd)
		return memfd.takeError();
	r->memfd = std::move(*memfd);
	for (size_t i = 0; i < initrds.size(); i++) {
		const std::string origin = inputOrigin(initrds[i]);
		auto placed = PlacedFile::intoMemfd(r->memfd, offsets[i], initrds[i].fd.get(), origin, sizes[i]);
		if (!placed)
			return placed.takeError();
		r->files.push_back(std::move(*placed));
		r->composition.add(origin, r->memfd.bytes().subspan(offsets[i], sizes[i]));
	}
	for (auto &f : r->files)
		KEXECD_TRY(f->seal());
	KEXECD_TRY(r->memfd.seal());
	return r;
}

Result<ParsedInput> readAndParse(InputFile &uki, std::vector<InputFile> &addons,
				 const std::string &profile, const Limits &limits, const ProgressFn &progress,
				 size_t lenient, UkiPlacement placement)
{
	if (addons.size() > limits.maxAddons)
		return makeError(Code::InvalidArgument,
				 fmt::format("{} addons is more than the limit of {}", addons.size(), limits.maxAddons));
	if (profile.size() > limits.maxProfileName)
		return makeError(Code::InvalidArgument, "profile selector is too long");

	ParsedInput in;
	const std::string ukiOrigin = inputOrigin(uki);
	auto inPlace = placeUki(uki, addons, placement, ukiOrigin, limits);
	if (!inPlace)
		return inPlace.takeError();
	in.inPlace = std::move(*inPlace);
	if (in.inPlace) {
		LoadedFile f;
		f.origin = ukiOrigin;
		f.ima = readImaXattr(uki.fd.get());
		f.size = in.inPlace->size();
		/* The container's .ima section for the UKI comes next. */
		if (in.inPlace->isContainer())
			in.inPlace->extendContainer(f.ima.size());
		in.files.push_back(std::move(f));
	} else {
		auto f = readOnce(uki, limits);
		if (!f)
			return f.takeError();
		in.files.push_back(std::move(*f));
	}
	auto img = parseImage(in.files[0], in.inPlace.get(), ImageRole::Uki, limits.pe);
	if (!img)
		return img.takeError();
	in.uki.emplace(std::move(*img));

	/* Each addon read, parsed and kept or skipped before the next is
	 * read, so that the next one takes a skipped one's place. */
	uint64_t total = in.files[0].size;
	for (size_t i = 0; i < addons.size(); i++) {
		auto f = readAddon(addons[i], in.inPlace.get(), limits);
		if (!f)
			return f.takeError();
		total += f->size;
		KEXECD_TRY(checkTotalInput(total, limits));
		if (progress)
			progress("read", 0.3 * double(i + 2) / double(addons.size() + 1));
		auto addon = parseImage(*f, f->placed.get(), ImageRole::Addon, limits.pe);
		Result<void> fits = addon ? checkAddonFits(*in.uki, *addon) : Result<void>();
		if ((!addon || !fits) && i < lenient) {
			in.skipped.push_back({ { "path", f->origin },
					       { "why", (!addon ? addon.error() : fits.error()).message +
								"; systemd-stub would skip it" } });
			total -= f->size;
			continue;
		}
		if (!addon)
			return addon.takeError();
		KEXECD_TRY(std::move(fits));
		/* Placed or read whole (then copied in when the container is
		 * finished), the addon and its .ima come next in the container. */
		if (in.inPlace && in.inPlace->isContainer())
			in.inPlace->extendContainer(f->size + f->ima.size());
		in.addons.push_back(std::move(*addon));
		in.files.push_back(std::move(*f));
	}
	auto p = in.uki->findProfile(profile);
	if (!p)
		return p.takeError();
	in.profile = *p;
	if (progress)
		progress("parse", 0.4);
	return in;
}

std::vector<std::string> fileDigests(ParsedInput &in)
{
	std::vector<std::string> digests;
	for (size_t i = 0; i < in.files.size(); i++) {
		PlacedFile *placed = i == 0 ? in.inPlace.get() : in.files[i].placed.get();
		digests.push_back(placed ? placed->sha256Hex() : sha256Hex(in.files[i].memfd.bytes()));
	}
	return digests;
}

Result<const SealedMemfd *> composeContainer(ParsedInput &in, std::optional<SealedMemfd> &storage)
{
	if (in.inPlace && !in.inPlace->isContainer())
		return makeError(Code::Internal, "the UKI was read for the classic scheme, not into a container");
	std::vector<ContainerEntry> entries;
	for (size_t i = 0; i < in.files.size(); i++)
		entries.push_back({ i == 0 && in.inPlace ? in.inPlace->view().base : in.files[i].bytes(),
				    in.files[i].ima });
	const auto profileIndex = in.profile ? std::optional(in.profile->index) : std::nullopt;
	if (in.inPlace) {
		/* The addons' hashers read the container: done before it is sealed. */
		for (LoadedFile &f : in.files)
			if (f.placed)
				KEXECD_TRY(f.placed->seal());
		std::string select;
		auto sections = imageContainerSections(entries, profileIndex, select);
		if (!sections)
			return sections.takeError();
		auto finished = in.inPlace->finishContainer(*sections);
		if (!finished)
			return finished.takeError();
		if (*finished)
			return &in.inPlace->container();
		/* An addon dropped after it was placed (Secure Boot) moves the
		 * ones after it: composed anew, from where they are. */
	}
	auto c = composeImageContainer(entries, profileIndex);
	if (!c)
		return c.takeError();
	storage = std::move(*c);
	return &*storage;
}

Result<void> placeClassicPayloads(ParsedInput &in, const std::string &profile, const SidecarFiles *sidecars,
				  const Limits &limits)
{
	if (!in.inPlace || in.inPlace->isContainer())
		return {};
	std::vector<PlacedFile *> guests;
	for (size_t i = 1; i < in.files.size(); i++)
		guests.push_back(in.files[i].placed.get());
	const bool host = in.inPlace->needsPlacing();
	std::vector<bool> placing;
	for (PlacedFile *g : guests)
		placing.push_back(g && g->needsPlacing());
	if (!host && std::find(placing.begin(), placing.end(), true) == placing.end())
		return {};
	std::erase(guests, nullptr);
	const auto addons = in.addonPointers();
	const SectionSet resolved = in.uki->resolve(in.profile);
	KEXECD_TRY(in.inPlace->placeClassic(resolved, composeInitrd(resolved, in.profile, addons, sidecars), guests));
	/* Parsed again from where the bytes now are: the same headers, so
	 * the same images, with their payloads readable. */
	for (size_t i = 0; i < placing.size(); i++) {
		if (!placing[i])
			continue;
		LoadedFile &f = in.files[i + 1];
		auto img = parseImage(f, f.placed.get(), ImageRole::Addon, limits.pe);
		if (!img)
			return img.takeError();
		in.addons[i] = std::move(*img);
	}
	if (host) {
		auto img = parseImage(in.files[0], in.inPlace.get(), ImageRole::Uki, limits.pe);
		if (!img)
			return img.takeError();
		in.uki.emplace(std::move(*img));
		auto p = in.uki->findProfile(profile);
		if (!p)
			return p.takeError();
		in.profile = *p;
	}
	/* Guests first: their hashers read the host's initrd memfd. */
	for (PlacedFile *g : guests)
		KEXECD_TRY(g->seal());
	return in.inPlace->seal();
}

const FileHashers *placedKernelHashers(const ParsedInput &in, const ClassicParts &classic)
{
	return classic.kernelPlaced && in.inPlace ? in.inPlace->kernelHashers() : nullptr;
}

/* ---- verification ---------------------------------------------------- */

Result<TrustStore> loadTrust(const EngineConfig &config)
{
	auto store = TrustStore::loadDirectory(config.trustDir);
	if (!store)
		return store.takeError();
	if (config.useFirmwareDb) {
		const std::string db = config.efivarsDir + "/" + kFirmwareDb;
		/* An odd or absent db must not block staging: the kernel
		 * checks against its platform keyring anyway. */
		std::error_code ec;
		if (std::filesystem::exists(db, ec))
			(void)store->addEfiVariableFile(db);
	}
	return store;
}

SignaturePolicy effectivePolicy(SignaturePolicy policy, const KernelSupport &support)
{
	if (policy != SignaturePolicy::Auto)
		return policy;
	return kernelEnforcesSignatures(support) ? SignaturePolicy::Enforce : SignaturePolicy::Warn;
}

std::vector<nlohmann::json> skipAddonsTheStubWouldSkip(ParsedInput &in, size_t discovered,
							const TrustStore &store, bool secureBoot)
{
	std::vector<nlohmann::json> skipped;
	if (!secureBoot)
		return skipped;
	for (size_t i = std::min(discovered, in.addons.size()); i-- > 0;) {
		auto report = verifyAuthenticode(in.addons[i].pe(), store);
		if (report && report->verdict == Verdict::Trusted)
			continue;
		nlohmann::json s = signatureJson(report ? *report : SignatureReport{});
		s["path"] = in.files[i + 1].origin;
		s["why"] = "Secure Boot is on and the addon does not verify: systemd-stub would skip it";
		skipped.insert(skipped.begin(), std::move(s));
		/* The image borrows the file's mapping: drop both. */
		in.addons.erase(in.addons.begin() + static_cast<std::ptrdiff_t>(i));
		in.files.erase(in.files.begin() + static_cast<std::ptrdiff_t>(i) + 1);
	}
	return skipped;
}

TrustSourcePaths trustSourcePaths(const EngineConfig &config)
{
	TrustSourcePaths p;
	p.trustDir = config.trustDir;
	p.efivarsDir = config.efivarsDir;
	p.mokVariablesDir = config.mokVariablesDir;
	p.procKeys = config.procKeys;
	p.useFirmwareDb = config.useFirmwareDb;
	return p;
}

bool kernelEnforcesSignatures(const KernelSupport &support)
{
	return support.secureBoot || (!support.lockdown.empty() && support.lockdown != "none");
}

/* Both verdicts for what is about to be loaded (signature_check.h). */
Result<SignatureCheck> verifyComposed(const ParsedInput &in, const TrustSources &sources, SignaturePolicy policy,
				      const EngineConfig &config, const KernelSupport &support,
				      std::span<const uint8_t> kernel, bool zboot, std::span<const uint8_t> parser,
				      const FileHashers *kernelHashers)
{
	/* The kernel verdict predicts a refusal only where the kernel enforces
	 * kexec signatures (Secure Boot, lockdown); elsewhere the kernel loads
	 * the image whatever its signature, and refusing it would not be a
	 * prediction. The firmware verdict is enforced either way. */
	const bool enforce = policy == SignaturePolicy::Enforce;
	const bool kernelEnforces = kernelEnforcesSignatures(support);
	auto check = enforceSignatures({ &*in.uki, in.addonPointers(), !parser.empty(), kernel, zboot, parser,
					 config.parserPath, support.sigMode, kernelHashers },
				       sources, { enforce && kernelEnforces, enforce && config.enforceFirmwareVerdict });
	if (check)
		check->kernelEnforces = kernelEnforces;
	return check;
}

} // namespace kexecd
