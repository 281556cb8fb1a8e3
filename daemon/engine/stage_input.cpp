// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stage_input.h"

#include <sys/stat.h>
#include <sys/xattr.h>

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

Result<LoadedFile> readOnce(InputFile &input, const Limits &limits)
{
	LoadedFile f;
	/* Paths come from callers and file names: the display rule (text.h). */
	f.origin = input.origin.empty() ? fmt::format("fd {}", input.fd.get()) : displayText(input.origin);
	f.ima = readImaXattr(input.fd.get());
	auto memfd = SealedMemfd::copyFrom(input.fd.get(), f.origin, limits.pe.maxFileSize);
	if (!memfd)
		return memfd.takeError();
	f.memfd = std::move(*memfd);
	f.size = f.memfd.size();
	return f;
}

namespace {

/* The UKI read in place (uki_in_place.h), for a regular file within the
 * limit; nullptr for anything else, which is read whole. */
Result<std::unique_ptr<UkiInPlace>> readUkiInPlace(InputFile &uki, const std::vector<InputFile> &addons,
						   UkiPlacement placement, const std::string &origin,
						   const Limits &limits)
{
	struct stat st;
	if (placement == UkiPlacement::Whole || ::fstat(uki.fd.get(), &st) < 0 || !S_ISREG(st.st_mode) ||
	    static_cast<uint64_t>(st.st_size) > limits.pe.maxFileSize || st.st_size == 0)
		return std::unique_ptr<UkiInPlace>();
	const uint64_t size = static_cast<uint64_t>(st.st_size);
	if (placement == UkiPlacement::Classic)
		return UkiInPlace::skeleton(uki.fd.get(), origin, size, limits.pe);
	/* Room for the addons, their IMA signatures and the container's own
	 * bytes after the UKI: address space only, never touched unless used. */
	uint64_t capacity = UkiInPlace::kContainerDataOffset + size + (1u << 20);
	for (const InputFile &a : addons)
		if (::fstat(a.fd.get(), &st) == 0 && S_ISREG(st.st_mode))
			capacity += std::min<uint64_t>(static_cast<uint64_t>(st.st_size), limits.pe.maxFileSize) + 4096;
	return UkiInPlace::intoContainer(uki.fd.get(), origin, size, capacity, limits.pe);
}

} // namespace

Result<std::vector<LoadedFile>> readAllOnce(InputFile &first, std::vector<InputFile> &rest, const Limits &limits,
					   const ProgressFn &progress)
{
	std::vector<LoadedFile> files;
	uint64_t total = 0;
	const size_t count = rest.size() + 1;
	for (size_t i = 0; i < count; i++) {
		auto f = readOnce(i == 0 ? first : rest[i - 1], limits);
		if (!f)
			return f.takeError();
		total += f->memfd.size();
		if (total > limits.maxTotalInput)
			return makeError(Code::InvalidArgument,
					 fmt::format("inputs add up to more than the limit of {} bytes", limits.maxTotalInput));
		files.push_back(std::move(*f));
		if (progress)
			progress("read", 0.3 * double(i + 1) / double(count));
	}
	return files;
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
	const std::string ukiOrigin =
		uki.origin.empty() ? fmt::format("fd {}", uki.fd.get()) : displayText(uki.origin);
	auto inPlace = readUkiInPlace(uki, addons, placement, ukiOrigin, limits);
	if (!inPlace)
		return inPlace.takeError();
	in.inPlace = std::move(*inPlace);
	if (in.inPlace) {
		LoadedFile f;
		f.origin = ukiOrigin;
		f.ima = readImaXattr(uki.fd.get());
		f.size = in.inPlace->size();
		uint64_t total = f.size;
		in.files.push_back(std::move(f));
		for (size_t i = 0; i < addons.size(); i++) {
			auto a = readOnce(addons[i], limits);
			if (!a)
				return a.takeError();
			total += a->size;
			if (total > limits.maxTotalInput)
				return makeError(Code::InvalidArgument,
						 fmt::format("inputs add up to more than the limit of {} bytes",
							     limits.maxTotalInput));
			in.files.push_back(std::move(*a));
			if (progress)
				progress("read", 0.3 * double(i + 2) / double(addons.size() + 1));
		}
	} else {
		auto files = readAllOnce(uki, addons, limits, progress);
		if (!files)
			return files.takeError();
		in.files = std::move(*files);
	}

	for (size_t i = 0, addon = 0; i < in.files.size(); i++) {
		const LoadedFile &f = in.files[i];
		auto pe = i == 0 && in.inPlace ? PeFile::parse(in.inPlace->view(), f.origin, limits.pe)
					       : PeFile::parse(f.memfd.bytes(), f.origin, limits.pe);
		if (pe && i == 0 && in.inPlace)
			in.inPlace->lendAuthenticode(*pe);
		Result<UkiImage> img = pe ? UkiImage::fromPe(std::move(*pe), f.origin, i == 0 ? ImageRole::Uki : ImageRole::Addon)
					  : Result<UkiImage>(pe.takeError());
		Result<void> fits = img && i > 0 ? checkAddonFits(*in.uki, *img) : Result<void>();
		if ((!img || !fits) && i > 0 && addon++ < lenient) {
			in.skipped.push_back({ { "path", f.origin },
					       { "why", (!img ? img.error() : fits.error()).message +
								"; systemd-stub would skip it" } });
			in.files.erase(in.files.begin() + static_cast<std::ptrdiff_t>(i--));
			continue;
		}
		if (!img)
			return img.takeError();
		if (i == 0)
			in.uki.emplace(std::move(*img));
		else {
			KEXECD_TRY(std::move(fits));
			in.addons.push_back(std::move(*img));
		}
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
	for (size_t i = 0; i < in.files.size(); i++)
		digests.push_back(i == 0 && in.inPlace ? in.inPlace->sha256Hex() : sha256Hex(in.files[i].memfd.bytes()));
	return digests;
}

Result<const SealedMemfd *> composeContainer(ParsedInput &in, std::optional<SealedMemfd> &storage)
{
	if (in.inPlace && !in.inPlace->isContainer())
		return makeError(Code::Internal, "the UKI was read for the classic scheme, not into a container");
	std::vector<ContainerEntry> entries;
	for (size_t i = 0; i < in.files.size(); i++)
		entries.push_back({ i == 0 && in.inPlace ? in.inPlace->view().base : in.files[i].memfd.bytes(),
				    in.files[i].ima });
	const auto profileIndex = in.profile ? std::optional(in.profile->index) : std::nullopt;
	if (in.inPlace && in.inPlace->isContainer()) {
		std::string select;
		auto sections = imageContainerSections(entries, profileIndex, select);
		if (!sections)
			return sections.takeError();
		KEXECD_TRY(in.inPlace->finishContainer(*sections));
		return &in.inPlace->container();
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
	if (!in.inPlace || !in.inPlace->needsPlacing())
		return {};
	const auto addons = in.addonPointers();
	const SectionSet resolved = in.uki->resolve(in.profile);
	KEXECD_TRY(in.inPlace->placeClassic(resolved, composeInitrd(resolved, in.profile, addons, sidecars)));
	/* Parsed again from where the bytes now are: the same headers, so
	 * the same image, with its payloads readable. */
	auto pe = PeFile::parse(in.inPlace->view(), in.files[0].origin, limits.pe);
	if (!pe)
		return pe.takeError();
	in.inPlace->lendAuthenticode(*pe);
	KEXECD_TRY(in.inPlace->seal());
	auto img = UkiImage::fromPe(std::move(*pe), in.files[0].origin, ImageRole::Uki);
	if (!img)
		return img.takeError();
	in.uki.emplace(std::move(*img));
	auto p = in.uki->findProfile(profile);
	if (!p)
		return p.takeError();
	in.profile = *p;
	return {};
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
				      std::span<const uint8_t> kernel, bool zboot, std::span<const uint8_t> parser)
{
	/* The kernel verdict predicts a refusal only where the kernel enforces
	 * kexec signatures (Secure Boot, lockdown); elsewhere the kernel loads
	 * the image whatever its signature, and refusing it would not be a
	 * prediction. The firmware verdict is enforced either way. */
	const bool enforce = policy == SignaturePolicy::Enforce;
	const bool kernelEnforces = kernelEnforcesSignatures(support);
	auto check = enforceSignatures({ &*in.uki, in.addonPointers(), !parser.empty(), kernel, zboot, parser,
					 config.parserPath, support.sigMode },
				       sources, { enforce && kernelEnforces, enforce && config.enforceFirmwareVerdict });
	if (check)
		check->kernelEnforces = kernelEnforces;
	return check;
}

} // namespace kexecd
