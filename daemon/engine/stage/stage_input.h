// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline steps 2-4 (DESIGN.md §2) shared by staging and `inspect`:
// read each input once into a sealed memfd, parse it, verify it.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel.h"
#include "memfd.h"
#include "signature_check.h"
#include "request.h"
#include "trust.h"
#include "trust_sources.h"
#include "uki.h"
#include "placed_file.h"

namespace kexecd {

struct LoadedFile {
	SealedMemfd memfd;        // the file, when it was read whole (not placed)
	/* The file, when it was read straight into its host's memfds (an
	 * addon beside the UKI: placed_file.h). */
	std::unique_ptr<PlacedFile> placed;
	std::string origin;
	std::vector<uint8_t> ima; // security.ima of the original file
	uint64_t size = 0;

	/* The file's bytes, wherever they are (for a skeleton, without its
	 * payloads until they are placed). */
	std::span<const uint8_t> bytes() const { return placed ? placed->view().base : memfd.bytes(); }
};

/* Where the UKI's bytes go while they are read (placed_file.h). */
enum class UkiPlacement {
	Whole,     // its own memfd (inspect, plain reads)
	Container, // the BPF scheme's image container
	Classic,   // the classic scheme's kernel and initrd memfds
};

/* Everything parsed from one request. UkiImages borrow the memfds'
 * mappings, which stay put when LoadedFile objects move. */
struct ParsedInput {
	/* Owns the UKI's bytes when they were read in place, and the memfds
	 * the addons were placed in; declared first so it goes last. */
	std::unique_ptr<PlacedFile> inPlace;
	std::vector<LoadedFile> files; // [0] = UKI, then addons (placed, or read whole)
	std::optional<UkiImage> uki;
	std::vector<UkiImage> addons;
	const UkiProfile *profile = nullptr;
	std::vector<nlohmann::json> skipped; // addons systemd-stub would not load

	std::vector<const UkiImage *> addonPointers() const
	{
		std::vector<const UkiImage *> out;
		for (const UkiImage &a : addons)
			out.push_back(&a);
		return out;
	}
};

/* How an input is named in messages and the record. */
std::string inputOrigin(const InputFile &input);

/* Step 2 for one input: its bytes into a sealed memfd (at most
 * limits.pe.maxFileSize), its security.ima kept for the container. */
Result<LoadedFile> readOnce(InputFile &input, const Limits &limits);
/* Named error when total input bytes pass limits.maxTotalInput. */
Result<void> checkTotalInput(uint64_t total, const Limits &limits);
/* readOnce() for each input, within limits.maxTotalInput together with
 * the before bytes read already. */
Result<std::vector<LoadedFile>> readEachOnce(std::vector<InputFile> &inputs, const Limits &limits, uint64_t before);

/* A plain kernel's initrds (issue 15), straight into one memfd, each at
 * its offset in the stub's concatenation (InitrdComposition) and hashed
 * while it lands: no copy but that one. */
struct InitrdsInPlace {
	SealedMemfd memfd;
	InitrdComposition composition; // its parts are in memfd
	std::vector<std::unique_ptr<PlacedFile>> files; // after memfd: they go first
};
/* nullptr when an initrd is no regular file or is empty (they are then
 * read whole); before: the bytes read already, within
 * limits.maxTotalInput with these. */
Result<std::unique_ptr<InitrdsInPlace>> placeInitrds(std::vector<InputFile> &initrds, const Limits &limits,
						     uint64_t before);

/* lenient: the first addons were discovered; one that systemd-stub would
 * not load (no PE, a .linux, another .uname) is skipped and named in
 * ParsedInput::skipped, as the stub skips it with a log line. */
Result<ParsedInput> readAndParse(InputFile &uki, std::vector<InputFile> &addons,
				 const std::string &profile, const Limits &limits, const ProgressFn &progress,
				 size_t lenient = 0, UkiPlacement placement = UkiPlacement::Whole);

/* The SHA-256 of each input for the record, [0] the UKI: computed while it
 * was read when it was placed, else now. */
std::vector<std::string> fileDigests(ParsedInput &in);

/* BPF scheme: the image container of in's files, finished around the UKI
 * read into it in place, or else composed into storage. */
Result<const SealedMemfd *> composeContainer(ParsedInput &in, std::optional<SealedMemfd> &storage);

/* Classic scheme, for a UKI read with UkiPlacement::Classic: place its
 * and its addons' payloads where composeClassic() will find them
 * (placed_file.h) and parse them again from there; a no-op otherwise.
 * Before any verdict on an addon: its payloads are part of what is signed. */
Result<void> placeClassicPayloads(ParsedInput &in, const std::string &profile, const SidecarFiles *sidecars,
				  const Limits &limits);

/* The classic kernel's digests computed while it was placed, when
 * classic's kernel is that one (else null: they are computed when
 * needed). */
const FileHashers *placedKernelHashers(const ParsedInput &in, const ClassicParts &classic);

/* systemd-stub's load_addons() skips, with a log line, an addon the
 * firmware refuses to load under Secure Boot, and boots the rest
 * (PROOFS.md). Discovered addons (the first `discovered`) get the same;
 * an addon the caller named is its will, and the signature policy decides. */
std::vector<nlohmann::json> skipAddonsTheStubWouldSkip(ParsedInput &in, size_t discovered,
							const TrustStore &store, bool secureBoot);

/* trust.d plus, when configured, the firmware db. */
Result<TrustStore> loadTrust(const EngineConfig &config);
SignaturePolicy effectivePolicy(SignaturePolicy policy, const KernelSupport &support);
/* Secure Boot or lockdown: the kernel refuses what its verdict refuses. */
bool kernelEnforcesSignatures(const KernelSupport &support);
TrustSourcePaths trustSourcePaths(const EngineConfig &config);
/* Firmware and kernel verdicts for what is about to be loaded (kernel:
 * the classic scheme's .linux, with its digests when they were computed
 * while it was placed; parser: the BPF scheme's container), refused
 * under 'enforce'. */
Result<SignatureCheck> verifyComposed(const ParsedInput &in, const TrustSources &sources,
				      SignaturePolicy policy, const EngineConfig &config, const KernelSupport &support,
				      std::span<const uint8_t> kernel, bool zboot, std::span<const uint8_t> parser,
				      const FileHashers *kernelHashers = nullptr);


} // namespace kexecd
