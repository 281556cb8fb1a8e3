// SPDX-License-Identifier: LGPL-2.1-or-later
// The one-copy read path (issue 16) against the plain one: a UKI read
// whole, read for the classic scheme (payloads placed straight into the
// kernel and initrd memfds) and read into an image container, each with
// its addons placed the same way, must agree on whether it is accepted,
// on every digest, and on every byte composed.

#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "authenticode.h"
#include "compose.h"
#include "elf_container.h"
#include "fuzz_common.h"
#include "stage_input.h"

namespace kexecd::fuzz {

namespace {

UniqueFd memfdOf(Bytes bytes)
{
	UniqueFd fd(::memfd_create("fuzz", MFD_CLOEXEC));
	FUZZ_CHECK(fd.valid());
	for (size_t done = 0; done < bytes.size();) {
		ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
		FUZZ_CHECK(n > 0);
		done += static_cast<size_t>(n);
	}
	return fd;
}

struct Outcome {
	bool ok = false;
	Code code = Code::Internal;
	std::vector<std::string> digests;
	std::vector<uint8_t> authenticode;
	std::vector<std::vector<uint8_t>> addonAuthenticode;
	std::vector<uint8_t> kernel, initrd, container;
	std::string cmdline;
	bool composed = false;
};

std::vector<uint8_t> copyOf(std::span<const uint8_t> s)
{
	return { s.begin(), s.end() };
}

Outcome run(const MultiInput &in, UkiPlacement placement)
{
	Outcome out;
	InputFile uki{ memfdOf(in.uki), "fuzz.efi" };
	std::vector<InputFile> addons;
	for (size_t i = 0; i < in.addons.size(); i++)
		addons.push_back({ memfdOf(in.addons[i]), "fuzz-" + std::to_string(i) + ".addon.efi" });
	Limits limits;
	auto parsed = readAndParse(uki, addons, in.selector, limits, {}, addons.size(), placement);
	if (!parsed) {
		out.code = parsed.error().code;
		checkDisplay(parsed.error().message, "read error message");
		return out;
	}
	out.ok = true;
	auto placed = placeClassicPayloads(*parsed, in.selector, nullptr, limits);
	FUZZ_CHECK_MSG(placed.ok(), placed.ok() ? "" : placed.error().message);
	out.digests = fileDigests(*parsed);
	if (auto d = authenticodeDigest(parsed->uki->pe(), EVP_sha256()))
		out.authenticode = *d;
	for (const UkiImage &a : parsed->addons) {
		auto d = authenticodeDigest(a.pe(), EVP_sha256());
		out.addonAuthenticode.push_back(d ? *d : std::vector<uint8_t>{});
	}
	ClassicOptions opts;
	opts.profile = parsed->profile;
	if (parsed->inPlace) {
		opts.placedKernel = parsed->inPlace->kernel();
		opts.placedInitrd = parsed->inPlace->initrd();
	}
	const auto addonPtrs = parsed->addonPointers();
	if (auto parts = composeClassic(*parsed->uki, addonPtrs, opts)) {
		out.composed = true;
		out.kernel = copyOf(parts->kernel.bytes());
		if (parts->initrd)
			out.initrd = copyOf(parts->initrd->bytes());
		out.cmdline = parts->cmdline;
	}
	if (placement != UkiPlacement::Classic) {
		std::optional<SealedMemfd> storage;
		auto container = composeContainer(*parsed, storage);
		FUZZ_CHECK_MSG(container.ok(), container.ok() ? "" : container.error().message);
		auto view = readElfContainer((*container)->bytes());
		FUZZ_CHECK(view.ok() && !view->sections.empty());
		FUZZ_CHECK(view->sections[0].first == ".pe.1");
		FUZZ_CHECK(view->sections[0].second.size() == in.uki.size() &&
			   std::equal(in.uki.begin(), in.uki.end(), view->sections[0].second.begin()));
		out.container = copyOf((*container)->bytes());
	}
	return out;
}

} // namespace

int fuzzInPlace(Bytes data)
{
	const MultiInput in = splitInput(data);
	const Outcome whole = run(in, UkiPlacement::Whole);
	for (UkiPlacement placement : { UkiPlacement::Classic, UkiPlacement::Container }) {
		const Outcome o = run(in, placement);
		FUZZ_CHECK(o.ok == whole.ok);
		if (!o.ok) {
			FUZZ_CHECK(o.code == whole.code);
			continue;
		}
		FUZZ_CHECK(o.digests == whole.digests);
		FUZZ_CHECK(o.authenticode == whole.authenticode);
		FUZZ_CHECK(o.composed == whole.composed);
		FUZZ_CHECK(o.kernel == whole.kernel);
		FUZZ_CHECK(o.initrd == whole.initrd);
		FUZZ_CHECK(o.cmdline == whole.cmdline);
		FUZZ_CHECK(o.addonAuthenticode == whole.addonAuthenticode);
		if (placement == UkiPlacement::Container)
			FUZZ_CHECK(o.container == whole.container);
	}
	return 0;
}

} // namespace kexecd::fuzz
