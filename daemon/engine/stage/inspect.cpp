// SPDX-License-Identifier: LGPL-2.1-or-later
// kexecctl inspect: local, read-only analysis of a UKI and its addons.
#include "inspect.h"

#include <fmt/format.h>

#include "compose.h"
#include "record.h"
#include "scheme.h"
#include "bpf_limits.h"
#include "stage_input.h"
#include "trust.h"

namespace kexecd {

Result<nlohmann::json> inspectImage(InputFile uki, std::vector<InputFile> addons, const std::string &profile,
				    const EngineConfig &config, bool showContainer)
{
	/* Read as staging reads, so inspect costs what staging costs. */
	auto in = readAndParse(uki, addons, profile, config.limits, {}, 0,
			       showContainer ? UkiPlacement::Container : UkiPlacement::Classic);
	if (!in)
		return in.takeError();
	const auto addonPtrs = in->addonPointers();
	KEXECD_TRY(placeClassicPayloads(*in, profile, nullptr, config.limits));
	const std::vector<std::string> digests = fileDigests(*in);
	nlohmann::json j;
	auto describe = [&](const UkiImage &img, const LoadedFile &f, const std::string &digest) {
		nlohmann::json d = partJson(f.size, digest);
		d["path"] = f.origin;
		d["machine"] = machineName(img.pe().machine());
		d["sections"] = nlohmann::json::array();
		for (const PeSection &s : img.pe().sections())
			d["sections"].push_back({ { "name", s.name }, { "size", s.data.size() },
						  { "offset", s.pointerToRawData } });
		return d;
	};
	j["uki"] = describe(*in->uki, in->files[0], digests[0]);
	addUkiIdentity(j["uki"], *in->uki);
	j["uki"]["profiles"] = nlohmann::json::array();
	for (const UkiProfile &p : in->uki->profiles())
		j["uki"]["profiles"].push_back(profileJson(&p));
	j["profile"] = profileJson(in->profile);
	j["addons"] = nlohmann::json::array();
	for (size_t i = 0; i < in->addons.size(); i++)
		j["addons"].push_back(describe(in->addons[i], in->files[i + 1], digests[i + 1]));

	ClassicOptions opts;
	opts.profile = in->profile;
	opts.maxCmdline = config.limits.maxCmdline;
	if (in->inPlace) {
		opts.placedKernel = in->inPlace->kernel();
		opts.placedInitrd = in->inPlace->initrd();
	}
	auto parts = composeClassic(*in->uki, addonPtrs, opts);
	if (!parts)
		return parts.takeError();
	j["classic"] = { { "kernel", partJson(parts->kernel.bytes()) },
			 { "initrd", parts->initrd ? initrdJson(parts->initrd->size(), parts->initrdLayout)
						   : nlohmann::json(nullptr) },
			 { "cmdline", parts->cmdline },
			 { "kernel_was_zboot", parts->kernelWasZboot } };
	/* inspect shows the classic scheme's objects and never refuses. */
	auto sources = loadTrustSources(trustSourcePaths(config));
	if (!sources)
		return sources.takeError();
	auto signatures = verifyComposed(*in, *sources, SignaturePolicy::Warn, config, KernelSupport{}, parts->kernel.bytes(),
					 parts->kernelWasZboot, {}, placedKernelHashers(*in, *parts));
	if (!signatures)
		return signatures.takeError();
	recordSignatures(j, *signatures, *sources);
	if (showContainer) {
		std::optional<SealedMemfd> storage;
		auto container = composeContainer(*in, storage);
		if (!container)
			return container.takeError();
		j["container"] = containerJson(**container, digests);
		auto limits = checkBpfLimits(*in);
		j["container"]["bpf_ready"] = limits.ok();
		if (!limits)
			j["container"]["bpf_problem"] = limits.error().message;
	}
	return j;
}

} // namespace kexecd
