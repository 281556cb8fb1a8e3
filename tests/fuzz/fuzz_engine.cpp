// SPDX-License-Identifier: LGPL-2.1-or-later
// libFuzzer target over everything the engine does with untrusted bytes:
// PE parsing, the UKI/addon model and profiles, classic composition
// (zboot included), Authenticode verification, the firmware and kernel
// signature verdicts, EFI signature lists, SBAT and the ELF containers.

#include <cstddef>
#include <cstdint>
#include <span>

#include <string_view>

#include "compose.h"
#include "efi_sigdb.h"
#include "elf_container.h"
#include "pe.h"
#include "revocation.h"
#include "trust.h"
#include "trust_sources.h"
#include "verdict.h"
#include "uki.h"
#include "zboot.h"

using namespace kexecd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static TrustStore store;
	static TrustSources sources = [] {
		TrustSourcePaths p;
		p.trustDir = p.efivarsDir = p.mokVariablesDir = p.procKeys = "/nonexistent";
		auto loaded = loadTrustSources(p);
		TrustSources s = std::move(*loaded);
		s.sbatLevel = *parseSbatLevel("sbat,1,2024010900\nsystemd,2\ngrub,5\n", "fuzz");
		return s;
	}();
	const std::span<const uint8_t> bytes(data, size);

	SignatureDatabase db;
	(void)db.addLists(bytes, "fuzz");
	(void)parseSbat(std::string_view(reinterpret_cast<const char *>(data), size));
	(void)readElfContainer(bytes);
	if (probeZboot(bytes))
		(void)unpackZboot(bytes, "fuzz", 16u << 20);

	auto pe = PeFile::parse(bytes, "fuzz");
	if (!pe)
		return 0;
	(void)verifyAuthenticode(*pe, store);
	(void)firmwareVerdict(*pe, sources);
	(void)kernelVerdict(*pe, sources);

	for (ImageRole role : { ImageRole::Uki, ImageRole::Addon }) {
		auto img = UkiImage::fromPe(*pe, "fuzz", role);
		if (!img)
			continue;
		if (role == ImageRole::Addon)
			continue;
		/* Every profile, and the UKI as its own addon list (cheap way to
		 * exercise the addon paths of composition). */
		for (size_t i = 0; i <= img->profiles().size(); i++) {
			ClassicOptions opts;
			opts.profile = i < img->profiles().size() ? &img->profiles()[i] : nullptr;
			(void)composeClassic(*img, {}, opts);
		}
		auto addonPe = PeFile::parse(bytes, "fuzz-addon");
		const ContainerEntry entries[] = { { bytes, {} } };
		if (auto container = composeImageContainer(entries, 0u)) {
			auto view = readElfContainer(container->bytes());
			if (!view || view->sections.size() != 2 || view->sections[0].second.size() != size)
				__builtin_trap();
		}
		(void)addonPe;
	}
	return 0;
}
