// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stager.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>

#include <fmt/format.h>

#include "compose.h"
#include "config.h"
#include "digest.h"
#include "record.h"
#include "bpf_limits.h"
#include "stage_default.h"
#include "stage_input.h"
#include "text.h"
#include "signature_check.h"
#include "trust_sources.h"
#include "uki.h"

namespace kexecd {

const char *stateName(StageState state)
{
	switch (state) {
	case StageState::Idle: return "idle";
	case StageState::Staging: return "staging";
	case StageState::Staged: return "staged";
	case StageState::Foreign: return "foreign";
	case StageState::Failed: return "failed";
	case StageState::Rebooting: return "rebooting";
	}
	return "idle";
}

/* ---- Stager ---------------------------------------------------------- */

std::string slotStatePath(const std::string &statePath, Slot slot)
{
	if (slot == Slot::Reboot)
		return statePath;
	const std::string suffix = ".json";
	if (statePath.size() > suffix.size() &&
	    statePath.compare(statePath.size() - suffix.size(), suffix.size(), suffix) == 0)
		return statePath.substr(0, statePath.size() - suffix.size()) + "-crash" + suffix;
	return statePath + "-crash";
}

Stager::Stager(KexecKernel &kernel, EngineConfig config, Slot slot)
	: kernel_(kernel), slot_(slot), config_(std::move(config)),
	  stateFile_(slotStatePath(config_.statePath, slot))
{
}

const char *Stager::loadedFlag() const
{
	return slot_ == Slot::Crash ? "/sys/kernel/kexec_crash_loaded" : "/sys/kernel/kexec_loaded";
}

Result<void> Stager::checkCrashMemory(const KernelSupport &support, uint64_t bytes) const
{
	if (slot_ != Slot::Crash)
		return {};
	if (support.crashSize == 0)
		return makeError(Code::NoCrashMemory,
				 "no memory is reserved for a crash kernel (/sys/kernel/kexec_crash_size is 0): "
				 "boot the running kernel with crashkernel= (e.g. crashkernel=256M)");
	auto size = [](uint64_t n) {
		return n < (1 << 20) ? fmt::format("{} KiB", (n + 1023) >> 10)
				     : fmt::format("{} MiB", (n + (1 << 20) - 1) >> 20);
	};
	if (bytes > support.crashSize)
		return makeError(Code::NoCrashMemory,
				 fmt::format("the crash kernel's images are {}, more than the {} "
					     "crashkernel= reserved: reserve more", size(bytes), size(support.crashSize)));
	return {};
}

void Stager::nameCrashMemoryError(Error &e, const KernelSupport &support) const
{
	if (slot_ != Slot::Crash || (e.errnum != ENOMEM && e.errnum != EADDRNOTAVAIL))
		return;
	e.code = Code::NoCrashMemory;
	e.message += fmt::format("; the crash kernel does not fit in the {} MiB crashkernel= reserved: "
				 "reserve more", support.crashSize >> 20);
}

void Stager::setChangeCallback(std::function<void()> callback)
{
	std::lock_guard lock(mutex_);
	changed_ = std::move(callback);
}

void Stager::setState(StageState state, std::optional<nlohmann::json> staged,
		      std::optional<std::string> lastError)
{
	std::function<void()> notify;
	{
		std::lock_guard lock(mutex_);
		state_ = state;
		if (staged)
			staged_ = std::move(*staged);
		if (lastError)
			lastError_ = std::move(*lastError);
		notify = changed_;
	}
	if (notify)
		notify();
}

StageState Stager::state() const
{
	std::lock_guard lock(mutex_);
	return state_;
}

nlohmann::json Stager::staged() const
{
	std::lock_guard lock(mutex_);
	return staged_;
}

nlohmann::json Stager::kernelSupport() const
{
	std::lock_guard lock(mutex_);
	return { { "kexec_file", support_.kexecFile },
		 { "bpf_parser", support_.bpfParser },
		 { "generation", support_.generation },
		 { "sig_mode", support_.sigMode },
		 { "lockdown", support_.lockdown },
		 { "secure_boot", support_.secureBoot },
		 { "load_disabled", support_.loadDisabled },
		 { "crash_size", support_.crashSize },
		 { "detail", support_.detail } };
}

std::string Stager::lastError() const
{
	std::lock_guard lock(mutex_);
	return lastError_;
}

Result<nlohmann::json> Stager::stage(StageRequest request, const ProgressFn &progress)
{
	if (busy_.exchange(true))
		return makeError(Code::Busy, "another staging operation is in progress");
	BusyGuard guard(busy_);
	/* Held while the kernel and the record change; refresh() only
	 * tries it. */
	std::lock_guard op(opMutex_);
	const StageState before = state();
	if (before == StageState::Rebooting)
		return makeError(Code::Busy, "a reboot into the staged kernel is in progress");
	setState(StageState::Staging);

	Outcome outcome;
	Result<nlohmann::json> result = makeError(Code::Internal, "staging did not run");
	try {
		result = stageLocked(std::move(request), progress, outcome);
	} catch (const std::exception &e) {
		/* A bug, but never a wedge: the kernel swaps images only after a
		 * complete load, so the previous stage is intact unless the
		 * outcome says the load happened. */
		result = makeError(Code::Internal, std::string("staging failed unexpectedly: ") + e.what());
	} catch (...) {
		result = makeError(Code::Internal, "staging failed unexpectedly");
	}

	if (!result) {
		Error e = result.takeError();
		/* The display rule (text.h), once, for everything a staging
		 * can say: error names, LastError and the journal. */
		e.message = displayText(e.message);
		if (outcome.stateOnFailure)
			setState(*outcome.stateOnFailure, nlohmann::json::object(), e.message);
		else /* nothing we did changed the kernel: report what was there */
			setState(before == StageState::Staging ? StageState::Idle : before, std::nullopt,
				 e.message);
		return e;
	}
	setState(StageState::Staged, *result, "");
	return result;
}

void Stager::hook(std::string_view phase) const
{
	if (config_.testHook)
		config_.testHook(phase);
}

Result<KernelSupport> Stager::probe()
{
	auto support = kernel_.probe();
	if (!support)
		return support.takeError();
	std::lock_guard lock(mutex_);
	support_ = *support;
	return support;
}

Result<KernelSupport> Stager::probeForStaging()
{
	auto support = probe();
	if (!support)
		return support.takeError();
	if (support->loadDisabled)
		return makeError(Code::Unsupported, "kexec is disabled on this system (kernel.kexec_load_disabled = 1)");
	if (!support->kexecFile)
		return makeError(Code::Unsupported, "the running kernel has no kexec_file_load");
	/* Before any reading: without crashkernel= there is nothing to do. */
	KEXECD_TRY(checkCrashMemory(*support, 0));
	return support;
}

Result<TrustSources> Stager::trustSourcesForVerify(const ProgressFn &progress)
{
	auto sources = loadTrustSources(trustSourcePaths(config_));
	if (!sources)
		return sources.takeError();
	hook("verify");
	if (progress)
		progress("verify", 0.55);
	return sources;
}

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

nlohmann::json Stager::recordBase(InputKind kind, SignaturePolicy policy, const std::string &cmdline,
				  const StageRequest &request) const
{
	nlohmann::json record;
	record["kind"] = inputKindName(kind);
	record["slot"] = slotName(slot_);
	record["signature_policy"] = policyName(policy);
	record["cmdline"] = cmdline;
	if (!request.discoveredId.empty())
		record["discovery"] = discoveryRecord(request);
	return record;
}

Result<nlohmann::json> Stager::loadAndRecord(LoadRequest load, nlohmann::json record, const KernelSupport &support,
					     Outcome &outcome, std::chrono::steady_clock::time_point startTime,
					     const ProgressFn &progress, const Refused &refused)
{
	record["flags"] = kexecFileFlags(load);
	/* Intent first: if we die between load and record, the next start
	 * knows the loaded kernel is not the one staged.json describes. */
	KEXECD_TRY(stateFile_.writePending(record));
	hook("pending");

	/* No unload first: the kernel swaps images only after the new one is
	 * fully loaded, so a refused load keeps the previous kernel staged. */
	auto loaded = kernel_.load(load);
	if (!loaded && refused) {
		auto next = refused(loaded.error());
		if (!next) {
			stateFile_.removePending();
			return next.takeError();
		}
		if (*next) {
			load = std::move((*next)->first);
			record = std::move((*next)->second);
			record["flags"] = kexecFileFlags(load);
			loaded = kernel_.load(load);
		}
	}
	if (!loaded) {
		stateFile_.removePending();
		Error e = loaded.takeError();
		nameCrashMemoryError(e, support);
		return e;
	}
	return recordLoad(std::move(record), outcome, startTime, progress);
}

Result<nlohmann::json> Stager::recordLoad(nlohmann::json record, Outcome &outcome,
					  std::chrono::steady_clock::time_point startTime,
					  const ProgressFn &progress)
{
	hook("loaded");
	if (progress)
		progress("load", 0.9);
	if (auto k = kernel_.loaded(slot_); k && !*k) {
		/* Whatever was staged before is gone with the swap. */
		stateFile_.removePending();
		stateFile_.remove();
		outcome.stateOnFailure = StageState::Idle;
		return makeError(Code::KernelRefused,
				 fmt::format("kexec_file_load succeeded but {} is still 0", loadedFlag()));
	}

	const auto now = std::chrono::system_clock::now();
	record["staged_at"] = isoTime(now);
	record["staged_at_usec"] =
		std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
	record["duration_usec"] = std::chrono::duration_cast<std::chrono::microseconds>(
					  std::chrono::steady_clock::now() - startTime).count();
	record["version"] = KEXECD_VERSION;
	if (auto written = stateFile_.write(record); !written) {
		/* The previous kernel was replaced by the load, so the old record
		 * must go. Without a record the new kernel is one we cannot
		 * vouch for: unload it, and say so. */
		stateFile_.remove();
		Error e = written.takeError();
		if (auto unloaded = kernel_.unload(slot_); unloaded) {
			stateFile_.removePending();
			outcome.stateOnFailure = StageState::Idle;
			e.message = "the state file could not be written (" + e.message +
				    "), so the new kernel was unloaded again; nothing is staged";
		} else {
			/* The pending marker stays: a restart comes back foreign. */
			outcome.stateOnFailure = StageState::Foreign;
			e.message = "the state file could not be written (" + e.message +
				    ") and unloading the new kernel failed (" + unloaded.error().message +
				    "); the loaded kernel is not described";
		}
		return e;
	}
	stateFile_.removePending();
	hook("recorded");
	if (progress)
		progress("record", 1.0);
	return record;
}

} // namespace kexecd
