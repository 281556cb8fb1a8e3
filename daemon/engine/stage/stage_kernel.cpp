// SPDX-License-Identifier: LGPL-2.1-or-later
// The plain kernel kind of staging (issue 15): a kernel image, initrds and
// a command line, with the same guarantees as a UKI: every input read once
// into a sealed memfd, the initrds padded and concatenated as systemd-stub
// does, the signature policy applied to the kernel, and the same record.

#include "stager.h"

#include <fmt/format.h>

#include "compose.h"
#include "kernel_image.h"
#include "record.h"
#include "signature_check.h"
#include "stage_default.h"
#include "stage_input.h"
#include "text.h"
#include "trust_sources.h"

namespace kexecd {

namespace {

Result<void> checkKernelRequest(const StageRequest &request, const Limits &limits)
{
	if (!request.kernel.fd.valid())
		return makeError(Code::InvalidArgument, "no kernel image given");
	if (request.initrds.size() > limits.maxInitrds)
		return makeError(Code::InvalidArgument,
				 fmt::format("{} initrds is more than the limit of {}", request.initrds.size(),
					     limits.maxInitrds));
	if (request.cmdline.size() > limits.maxCmdline)
		return makeError(Code::InvalidArgument,
				 fmt::format("the command line is {} bytes, more than the limit of {}",
					     request.cmdline.size(), limits.maxCmdline));
	/* The kernel takes the command line up to the first NUL; what
	 * follows would be recorded but never seen. */
	if (request.cmdline.find('\0') != std::string::npos)
		return makeError(Code::InvalidArgument, "the command line contains a NUL byte");
	if (const size_t at = invalidUtf8At(request.cmdline); at != std::string_view::npos)
		return makeError(Code::InvalidArgument,
				 fmt::format("the command line is not UTF-8 (byte {})", at));
	if (!request.profile.empty() || !request.cmdlineExtra.empty() || !request.cmdlineAppend.empty() ||
	    !request.addons.empty())
		return makeError(Code::InvalidArgument,
				 "profiles, addons, cmdline_extra and cmdline_append belong to UKIs, not to a plain "
				 "kernel (its command line is given whole)");
	if (request.scheme == Scheme::Bpf)
		return makeError(Code::Unsupported,
				 "scheme 'bpf' carries UKIs only; a plain kernel is loaded with the classic scheme");
	return {};
}

} // namespace

Result<nlohmann::json> Stager::stageKernelLocked(StageRequest request, const ProgressFn &progress,
						 Outcome &outcome)
{
	const auto startTime = std::chrono::steady_clock::now();
	const Limits &limits = config_.limits;
	KEXECD_TRY(checkKernelRequest(request, limits));
	auto support = probeForStaging();
	if (!support)
		return support.takeError();

	/* Read once: the kernel into its memfd, the initrds straight to
	 * their offsets in the initrd (or, when that cannot be, each whole
	 * and then concatenated); nothing below looks at the caller's files
	 * again. */
	auto kernelRead = readOnce(request.kernel, limits);
	if (!kernelRead)
		return kernelRead.takeError();
	KEXECD_TRY(checkTotalInput(kernelRead->size, limits));
	auto initrdsPlaced = placeInitrds(request.initrds, limits, kernelRead->size);
	if (!initrdsPlaced)
		return initrdsPlaced.takeError();
	std::vector<LoadedFile> files;
	files.push_back(std::move(*kernelRead));
	if (!*initrdsPlaced) {
		auto read = readEachOnce(request.initrds, limits, files[0].size);
		if (!read)
			return read.takeError();
		for (auto &f : *read)
			files.push_back(std::move(f));
	}
	if (progress)
		progress("read", 0.3);
	const LoadedFile &kernelFile = files[0];
	auto image = readKernelImage(kernelFile.memfd.bytes(), kernelFile.origin);
	if (!image)
		return image.takeError();
	KEXECD_TRY(checkKernelMachine(image->info, support->machine, kernelFile.origin));
	hook("read");
	if (progress)
		progress("parse", 0.4);

	const SignaturePolicy policy = effectivePolicy(request.policy.value_or(config_.policy), *support);
	auto sources = trustSourcesForVerify(progress);
	if (!sources)
		return sources.takeError();

	std::optional<SealedMemfd> unpacked;
	if (!image->unpacked.empty()) {
		auto m = SealedMemfd::fromBytes(image->unpacked, "kernel");
		if (!m)
			return m.takeError();
		unpacked = std::move(*m);
		image->unpacked = {};
	}
	const SealedMemfd &kernel = unpacked ? *unpacked : kernelFile.memfd;

	const bool enforce = policy == SignaturePolicy::Enforce;
	const bool kernelEnforces = kernelEnforcesSignatures(*support);
	auto signatures = enforceKernelSignatures({ kernelFile.origin, kernelFile.memfd.bytes(), kernel.bytes(),
						    unpacked.has_value() },
						  *sources,
						  { enforce && kernelEnforces, enforce && config_.enforceFirmwareVerdict });
	if (!signatures)
		return signatures.takeError();
	signatures->kernelEnforces = kernelEnforces;

	/* The same rule as the stub's combine_initrds(): each initrd padded
	 * to 4 bytes, or the kernel drops every archive after an odd-sized
	 * compressed one (issue 9). */
	InitrdComposition read;
	for (size_t i = 1; i < files.size(); i++)
		read.add(files[i].origin, files[i].memfd.bytes());
	const InitrdComposition &composition = *initrdsPlaced ? (*initrdsPlaced)->composition : read;
	std::optional<SealedMemfd> initrd;
	if (*initrdsPlaced) {
		auto m = (*initrdsPlaced)->memfd.duplicate();
		if (!m)
			return m.takeError();
		initrd = std::move(*m);
	} else if (!composition.parts().empty()) {
		auto m = SealedMemfd::concat(composition.padded(), "initrd");
		if (!m)
			return m.takeError();
		initrd = std::move(*m);
	}

	nlohmann::json record = recordBase(InputKind::Kernel, policy, request.cmdline, request);
	/* The kernel object's digest, taken beside its verdict, is the
	 * image's too unless the image was unpacked. */
	const std::string kernelSha256 = signatures->kernelSha256();
	record["image"] = unpacked || kernelSha256.empty() ? partJson(kernelFile.memfd.bytes())
							   : partJson(kernelFile.size, kernelSha256);
	record["image"]["path"] = kernelFile.origin;
	record["image"]["format"] = kernelFormatName(image->info.format);
	if (image->info.payloadFormat)
		record["image"]["payload_format"] = kernelFormatName(*image->info.payloadFormat);
	record["image"]["efi_stub"] = image->info.efiStub;
	if (image->info.bootProtocol)
		record["image"]["boot_protocol"] = fmt::format("{}.{:02}", image->info.bootProtocol >> 8,
							       image->info.bootProtocol & 0xff);
	record["image"]["version"] = image->info.version;
	record["initrds"] = nlohmann::json::array();
	if (*initrdsPlaced)
		for (size_t i = 0; i < composition.parts().size(); i++) {
			nlohmann::json part = partJson(composition.parts()[i].data.size(),
						       (*initrdsPlaced)->files[i]->sha256Hex());
			part["path"] = composition.parts()[i].what;
			record["initrds"].push_back(std::move(part));
		}
	for (size_t i = 1; i < files.size(); i++) {
		nlohmann::json part = partJson(files[i].memfd.bytes());
		part["path"] = files[i].origin;
		record["initrds"].push_back(std::move(part));
	}
	record["addons"] = nlohmann::json::array();
	record["cmdline_source"] = request.cmdlineSource.empty() ? "append" : request.cmdlineSource;
	recordSignatures(record, *signatures, *sources);
	record["scheme"] = schemeName(Scheme::Classic);
	record["scheme_reason"] = "a plain kernel is always loaded with the classic scheme";
	record["kernel"] = kernelSha256.empty() ? partJson(kernel.bytes()) : partJson(kernel.size(), kernelSha256);
	record["kernel"]["zboot"] = unpacked.has_value();
	/* As for a UKI, the initrd is described by its parts: each is a whole
	 * initrd file, whose digest is in "initrds" (issue 16). */
	std::vector<InitrdPartRecord> parts;
	const std::vector<uint64_t> offsets = composition.offsets();
	for (size_t i = 0; i < composition.parts().size(); i++) {
		const InitrdPart &p = composition.parts()[i];
		parts.push_back({ p.what, offsets[i], p.data.size(), p.what, 0, {} });
	}
	record["initrd"] = initrd ? initrdJson(initrd->size(), parts) : nlohmann::json(nullptr);
	record["covered_by_kernel_signature_check"] =
		"kernel only: the initrds and the command line carry no signature, and nothing checks them";
	hook("compose");
	if (progress)
		progress("compose", 0.75);

	LoadRequest load;
	load.kernelFd = kernel.fd();
	load.initrdFd = initrd ? initrd->fd() : -1;
	load.cmdline = request.cmdline;
	load.slot = slot_;
	load.flags = initrd ? 0 : kKexecFileNoInitramfs;
	KEXECD_TRY(checkCrashMemory(*support, kernel.size() + (initrd ? initrd->size() : 0)));
	auto recorded = loadAndRecord(load, std::move(record), *support, outcome, startTime, progress);
	retire(std::move(files), std::move(*initrdsPlaced), std::move(unpacked), std::move(initrd));
	return recorded;
}

} // namespace kexecd
