// SPDX-License-Identifier: LGPL-2.1-or-later
// The UKI kind of staging (DESIGN.md §2): addons found or given, the
// scheme chosen, every input copied once to where the kernel reads it,
// parsed, verified and composed, then the shared load-and-record tail
// (stage_load.cpp).
#include "stager.h"

#include <cerrno>
#include <future>

#include <fmt/format.h>

#include "boot_entry.h"
#include "bpf_limits.h"
#include "compose.h"
#include "kernel_image.h"
#include "record.h"
#include "signature_check.h"
#include "stage_default.h"
#include "stage_input.h"
#include "text.h"
#include "trust_sources.h"
#include "uki.h"

namespace kexecd {

Result<nlohmann::json> Stager::stageLocked(StageRequest request, const ProgressFn &progress,
					   Outcome &outcome)
{
	if (request.kind == InputKind::Kernel)
		return stageKernelLocked(std::move(request), progress, outcome);
	const auto startTime = std::chrono::steady_clock::now();
	const Limits &limits = config_.limits;
	for (const auto &[what, text] : { std::pair{ "cmdline_extra", &request.cmdlineExtra },
					  std::pair{ "cmdline_append", &request.cmdlineAppend } })
		if (text->size() > limits.maxCmdlineExtra)
			return makeError(Code::InvalidArgument, fmt::format("{} is {} bytes, more than the limit of {}",
									    what, text->size(), limits.maxCmdlineExtra));

	/* systemd-boot would not pick an entry whose tries are used up, and
	 * StageDefault does not either; named, not staged, when a caller
	 * names one itself (its name only: the file is the caller's fd). */
	if (request.discoveredId.empty()) {
		const std::string &origin = request.uki.origin;
		const TriesCounter tc = parseTriesCounter(origin.substr(origin.rfind('/') + 1), ".efi");
		if (tc.left == 0)
			return makeError(Code::BootAssessment,
					 fmt::format("'{}' has no boot tries left (boot counting): systemd-boot falls back to "
						     "another entry; stage that one, or bless this one first", origin));
	}

	auto support = probeForStaging();
	if (!support)
		return support.takeError();

	std::vector<std::string> discoveryNotes;
	size_t discovered = 0; // the first addons, found by discovery
	if (request.discoverAddons) {
		if (request.uki.origin.empty() || request.uki.origin.front() != '/')
			return makeError(Code::InvalidArgument, "addon discovery needs the UKI's absolute path");
		const size_t given = request.addons.size();
		KEXECD_TRY(addDiscoveredAddons(request, config_.discovery, &discoveryNotes));
		discovered = request.addons.size() - given;
	}

	/* Scheme choice (DESIGN.md §3), before reading: it says where the
	 * UKI's bytes go as they are read. */
	const Scheme requested = request.scheme.value_or(config_.scheme);
	Scheme scheme = requested;
	std::string reason;
	if (requested == Scheme::Bpf && !support->bpfParser)
		return makeError(Code::Unsupported,
				 fmt::format("scheme 'bpf' requested but {}", support->detail));
	if (requested == Scheme::Auto) {
		scheme = support->bpfParser ? Scheme::Bpf : Scheme::Classic;
		reason = support->bpfParser ? "auto: kernel has the BPF parser series"
					    : "auto: kernel has no BPF parser (" + support->detail + ")";
	} else {
		reason = fmt::format("requested '{}'", schemeName(requested));
	}
	if (scheme == Scheme::Bpf && (!request.cmdlineExtra.empty() || !request.cmdlineAppend.empty()))
		return makeError(Code::InvalidArgument,
				 fmt::format("{} cannot be used with the BPF scheme: the kernel composes the command line "
					     "from signed sections only",
					     request.cmdlineExtra.empty() ? "cmdline_append" : "cmdline_extra"));
	/* The BPF parser's limits before the bulk of the bytes is read. */
	if (scheme == Scheme::Bpf)
		KEXECD_TRY(checkBpfInputSizes(request.uki, request.addons));

	auto in = readAndParse(request.uki, request.addons, request.profile, limits, progress, discovered,
			       scheme == Scheme::Bpf ? UkiPlacement::Container : UkiPlacement::Classic);
	if (!in)
		return in.takeError();
	hook("read");
	if (scheme == Scheme::Bpf)
		KEXECD_TRY(checkBpfLimits(*in));
	KEXECD_TRY(checkLoaderOptions(in->uki->resolve(in->profile), request.cmdlineExtra, support->secureBoot));
	KEXECD_TRY(checkLoaderOptions(in->uki->resolve(in->profile), request.cmdlineAppend, support->secureBoot,
				      "cmdline_append"));
	/* A UKI built for another architecture (issue 31) is named before
	 * anything is loaded, instead of the kernel's ENOEXEC (x86) or EINVAL
	 * (arm64). Checked once .linux's bytes are in place (payloads are
	 * placed after parsing, not read with the headers): the classic
	 * scheme's composed kernel, a zboot's unpacked; the container's. */
	const std::string linuxOrigin = in->uki->origin() + ":.linux";

	const SignaturePolicy policy = effectivePolicy(request.policy.value_or(config_.policy), *support);
	auto store = loadTrust(config_);
	if (!store)
		return store.takeError();
	/* The addons' payloads are placed before any verdict on them: what
	 * is signed is the file, payloads included. */
	if (scheme == Scheme::Classic)
		KEXECD_TRY(placeClassicPayloads(*in, request.profile, request.sidecars ? &*request.sidecars : nullptr,
						limits));
	auto skipped = std::move(in->skipped);
	for (auto &s : skipAddonsTheStubWouldSkip(*in, discovered - skipped.size(), *store, support->secureBoot))
		skipped.push_back(std::move(s));
	auto sources = trustSourcesForVerify(progress);
	if (!sources)
		return sources.takeError();

	const auto addonPtrs = in->addonPointers();
	const SectionSet resolved = in->uki->resolve(in->profile);
	const std::string cmdline = appendCmdline(composeCmdline(resolved, addonPtrs, request.cmdlineExtra),
						  request.cmdlineAppend);

	nlohmann::json record = recordBase(InputKind::Uki, policy, cmdline, request);
	record["uki"]["size"] = in->files[0].size;
	record["uki"]["path"] = in->files[0].origin;
	addUkiIdentity(record["uki"], *in->uki);
	record["profile"] = profileJson(in->profile);
	record["addons"] = nlohmann::json::array();
	for (size_t i = 1; i < in->files.size(); i++) {
		nlohmann::json a = { { "size", in->files[i].size } };
		a["path"] = in->files[i].origin;
		record["addons"].push_back(a);
	}
	if (!discoveryNotes.empty())
		record["discovery_notes"] = discoveryNotes;
	if (!skipped.empty())
		record["skipped_addons"] = skipped;

	LoadRequest load;
	std::optional<ClassicParts> classic;
	std::optional<SealedMemfd> composedContainer;
	const SealedMemfd *container = nullptr;
	std::optional<ParserContainer> parser;

	auto composeClassicLoad = [&]() -> Result<void> {
		KEXECD_TRY(placeClassicPayloads(*in, request.profile,
						request.sidecars ? &*request.sidecars : nullptr, limits));
		ClassicOptions opts;
		if (in->inPlace) {
			opts.placedKernel = in->inPlace->kernel();
			opts.placedInitrd = in->inPlace->initrd();
		}
		opts.profile = in->profile;
		opts.cmdlineExtra = request.cmdlineExtra;
		opts.cmdlineAppend = request.cmdlineAppend;
		opts.sidecars = request.sidecars ? &*request.sidecars : nullptr;
		opts.maxCmdline = limits.maxCmdline;
		auto parts = composeClassic(*in->uki, addonPtrs, opts);
		if (!parts)
			return parts.takeError();
		KEXECD_TRY(checkUkiKernelMachine(parts->kernel.bytes(), parts->kernelWasZboot, support->machine,
						 linuxOrigin));
		classic = std::move(*parts);
		load = {};
		load.kernelFd = classic->kernel.fd();
		load.initrdFd = classic->initrd ? classic->initrd->fd() : -1;
		load.cmdline = classic->cmdline;
		load.slot = slot_;
		load.flags = classic->initrd ? 0 : kKexecFileNoInitramfs;
		return checkCrashMemory(*support, classic->kernel.bytes().size() +
						   (classic->initrd ? classic->initrd->bytes().size() : 0));
	};

	if (scheme == Scheme::Bpf) {
		auto pc = openParserContainer(config_.parserPath, limits.pe.maxFileSize, *store, policy);
		if (!pc)
			return pc.takeError();
		parser = std::move(*pc);
		auto c = composeContainer(*in, composedContainer);
		if (!c)
			return c.takeError();
		container = *c;
		if (const SectionSet sections = in->uki->resolve(in->profile); sections.count(".linux"))
			KEXECD_TRY(checkUkiKernelMachine(sections.at(".linux"), false, support->machine, linuxOrigin));
		load.kernelFd = parser->memfd.fd();
		load.initrdFd = container->fd();
		load.cmdlineEmpty = true;
		load.slot = slot_;
		KEXECD_TRY(checkCrashMemory(*support, container->bytes().size()));
	} else {
		KEXECD_TRY(composeClassicLoad());
	}
	/* Record-only digests: the addons' run on another core while this one
	 * verifies; the UKI's were computed while it was read (placed_file.h).
	 * The inputs are sealed, so nothing sees the bytes change. The future
	 * waits in its destructor, so no early return leaves it reading
	 * unmapped memory. */
	auto fileDigestsDone = std::async(std::launch::async, [&in = *in] { return fileDigests(in); });
	auto signatures = scheme == Scheme::Bpf
		? verifyComposed(*in, *sources, policy, config_, *support, {}, false, parser->memfd.bytes())
		: verifyComposed(*in, *sources, policy, config_, *support, classic->kernel.bytes(), classic->kernelWasZboot, {},
				 placedKernelHashers(*in, *classic));
	if (!signatures)
		return signatures.takeError();
	recordSignatures(record, *signatures, *sources);
	hook("compose");
	if (progress)
		progress("compose", 0.75);

	const std::vector<std::string> digests = fileDigestsDone.get();
	record["uki"]["sha256"] = digests[0];
	for (size_t i = 1; i < digests.size(); i++)
		record["addons"][i - 1]["sha256"] = digests[i];
	/* The kernel handed over is the bytes the kernel verdict hashed. */
	auto kernelPart = [&]() {
		const std::string digest = signatures->kernelSha256();
		return digest.empty() ? partJson(classic->kernel.bytes()) : partJson(classic->kernel.size(), digest);
	};

	auto describeParts = [&](nlohmann::json &r) {
		r["scheme"] = schemeName(scheme);
		r["scheme_reason"] = reason;
		if (scheme == Scheme::Bpf) {
			r["parser"] = parser->info;
			r["container"] = containerJson(*container, digests);
			r["kernel"] = nullptr;
			r["initrd"] = nullptr;
			/* Only what is really asked of the kernel: our parsers send
			 * VERIFY_SIG only when the kernel's context asks for it. */
			r["covered_by_kernel_signature_check"] = bpfKernelCoverage(support->sigMode);
		} else {
			r["kernel"] = kernelPart();
			r["kernel"]["zboot"] = classic->kernelWasZboot;
			r["initrd"] = classic->initrd ? initrdJson(classic->initrd->size(), classic->initrdLayout)
						      : nlohmann::json(nullptr);
			if (!classic->devicetree.empty())
				r["devicetree"] = classic->devicetree;
			r["covered_by_kernel_signature_check"] =
				"kernel only: initrd and cmdline are checked by kexecd's userspace pre-check, not by the kernel";
		}
	};
	describeParts(record);

	/* auto may fall back to classic when the kernel refuses the BPF
	 * parser container, if so configured. */
	auto refused = [&](const Error &bpfRefusal) -> Result<std::optional<std::pair<LoadRequest, nlohmann::json>>> {
		const bool notThisFormat = bpfRefusal.errnum == ENOEXEC || bpfRefusal.errnum == EINVAL;
		using Next = std::optional<std::pair<LoadRequest, nlohmann::json>>;
		if (scheme != Scheme::Bpf || !notThisFormat)
			return Next{};
		if (requested != Scheme::Auto || !config_.allowSchemeFallback) {
			Error e = bpfRefusal;
			nameCrashMemoryError(e, *support);
			e.message += "; the kernel claimed BPF parser support but refused the parser "
				     "container (bad signature or layout looks the same): read the kernel log";
			return e;
		}
		KEXECD_TRY(composeClassicLoad());
		auto classicSignatures = verifyComposed(*in, *sources, policy, config_, *support, classic->kernel.bytes(),
							classic->kernelWasZboot, {});
		if (!classicSignatures)
			return classicSignatures.takeError();
		recordSignatures(record, *classicSignatures, *sources);
		*signatures = std::move(*classicSignatures);
		scheme = Scheme::Classic;
		reason = "auto: the kernel refused the BPF parser container (" + bpfRefusal.message +
			 "); fell back to classic as configured";
		describeParts(record);
		record.erase("parser");
		record.erase("container");
		return Next{ std::make_pair(load, record) };
	};
	auto recorded = loadAndRecord(load, std::move(record), *support, outcome, startTime, progress, refused);
	retire(std::move(*in), std::move(classic), std::move(composedContainer), std::move(parser));
	return recorded;
}

} // namespace kexecd
