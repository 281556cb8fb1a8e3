// SPDX-License-Identifier: LGPL-2.1-or-later
// Targets over image bytes: the PE reader, the UKI/addon model,
// Authenticode and composition. Each checks what the engine promises,
// not only that it does not crash.

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>

#include <openssl/evp.h>

#include "authenticode.h"
#include "compose.h"
#include "elf_container.h"
#include "fuzz_common.h"
#include "kernel_image.h"
#include "pe.h"
#include "text.h"
#include "trust.h"
#include "uki.h"
#include "zboot.h"

namespace kexecd::fuzz {

namespace {

bool within(Bytes outer, Bytes inner)
{
	if (inner.empty())
		return true;
	return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

bool sameBytes(Bytes a, Bytes b)
{
	return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

/* What fromPe promises about any image it accepts. */
void checkImage(const UkiImage &img)
{
	checkDisplay(img.uname(), "uname");
	checkDisplay(img.osRelease().id, "os-release ID");
	checkDisplay(img.osRelease().versionId, "os-release VERSION_ID");
	checkDisplay(img.osRelease().prettyName, "os-release PRETTY_NAME");
	checkDisplay(img.osRelease().imageVersion, "os-release IMAGE_VERSION");
	for (const auto &[name, data] : img.base()) {
		FUZZ_CHECK(isUkiSectionName(name) && name != ".profile");
		FUZZ_CHECK(within(img.pe().bytes(), data));
	}
	if (auto it = img.base().find(".cmdline"); it != img.base().end())
		FUZZ_CHECK(invalidUtf8At(sectionText(it->second)) == std::string::npos);

	if (img.role() == ImageRole::Addon) {
		FUZZ_CHECK(img.profiles().empty());
		FUZZ_CHECK(!img.base().count(".linux"));
		return;
	}
	if (img.profiles().empty()) {
		FUZZ_CHECK(img.base().count(".linux") && !img.base().at(".linux").empty());
		return;
	}
	for (size_t i = 0; i < img.profiles().size(); i++) {
		const UkiProfile &p = img.profiles()[i];
		FUZZ_CHECK(p.index == i);
		checkDisplay(p.id, "profile ID");
		checkDisplay(p.title, "profile TITLE");
		/* Every profile ends up with a kernel: what staging composes. */
		const SectionSet resolved = img.resolve(&p);
		FUZZ_CHECK_MSG(resolved.count(".linux") && !resolved.at(".linux").empty(),
			       "profile @" + std::to_string(i) + " accepted without a kernel");
		for (const auto &[name, data] : p.sections)
			FUZZ_CHECK(within(img.pe().bytes(), data));
		if (auto it = resolved.find(".cmdline"); it != resolved.end())
			FUZZ_CHECK(invalidUtf8At(sectionText(it->second)) == std::string::npos);

		auto byIndex = img.findProfile("@" + std::to_string(i));
		FUZZ_CHECK(byIndex && *byIndex == &p);
		auto byNumber = img.findProfile(std::to_string(i));
		FUZZ_CHECK(byNumber && *byNumber == &p);
		if (!p.id.empty()) {
			/* An ID finds the first profile with it, unless it reads as
			 * a number ("7", "@7"): then it is an index. */
			const std::string_view number = p.id.front() == '@' ? std::string_view(p.id).substr(1) : p.id;
			unsigned n = 0;
			const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), n);
			if (ec != std::errc() || end != number.data() + number.size()) {
				auto byId = img.findProfile(p.id);
				FUZZ_CHECK_MSG(byId && *byId && (*byId)->id == p.id && (*byId)->index <= p.index, p.id);
			}
		}
	}
	auto none = img.findProfile("");
	FUZZ_CHECK(none && *none == &img.profiles().front());
	auto past = img.findProfile("@" + std::to_string(img.profiles().size()));
	FUZZ_CHECK(!past);
}

std::optional<UkiImage> parseImage(Bytes bytes, const std::string &origin, ImageRole role)
{
	auto pe = PeFile::parse(bytes, origin);
	if (!pe) {
		checkDisplay(pe.error().message, "PE error message");
		return std::nullopt;
	}
	auto img = UkiImage::fromPe(std::move(*pe), origin, role);
	if (!img) {
		checkDisplay(img.error().message, "UKI error message");
		return std::nullopt;
	}
	checkImage(*img);
	return std::move(*img);
}

} // namespace

int fuzzPe(Bytes data)
{
	auto pe = PeFile::parse(data, "fuzz.efi");
	/* Tight limits take other exits; they must be as safe. */
	(void)PeFile::parse(data, "fuzz.efi", PeLimits{ data.size() / 2 + 1, 3 });
	if (!pe) {
		checkDisplay(pe.error().message, "PE error message");
		return 0;
	}
	FUZZ_CHECK(!pe->sections().empty());
	FUZZ_CHECK(pe->sizeOfHeaders() <= data.size());
	FUZZ_CHECK(within(data, pe->certificateTable()));
	FUZZ_CHECK(machineName(pe->machine()) != nullptr);
	for (unsigned i = 0; i < 20; i++)
		(void)pe->dataDirectory(i);
	std::vector<const PeSection *> byOffset;
	for (const PeSection &s : pe->sections()) {
		checkDisplay(s.name, "section name");
		const std::span<const uint8_t> raw =
			s.sizeOfRawData ? data.subspan(s.pointerToRawData, s.sizeOfRawData) : std::span<const uint8_t>{};
		FUZZ_CHECK(within(data, s.data));
		FUZZ_CHECK(s.data.size() <= s.sizeOfRawData);
		FUZZ_CHECK(s.data.empty() || s.data.data() == raw.data());
		FUZZ_CHECK(raw.empty() || s.pointerToRawData >= pe->sizeOfHeaders());
		const PeSection *first = pe->section(s.name);
		FUZZ_CHECK(first && first->name == s.name && first <= &s);
		if (!raw.empty())
			byOffset.push_back(&s);
	}
	std::sort(byOffset.begin(), byOffset.end(),
		  [](const PeSection *a, const PeSection *b) { return a->pointerToRawData < b->pointerToRawData; });
	for (size_t i = 1; i < byOffset.size(); i++)
		FUZZ_CHECK(uint64_t{ byOffset[i - 1]->pointerToRawData } + byOffset[i - 1]->sizeOfRawData <=
			   byOffset[i]->pointerToRawData);
	return 0;
}

int fuzzUki(Bytes data)
{
	const MultiInput in = splitInput(data);
	auto uki = parseImage(in.uki, "fuzz.efi", ImageRole::Uki);
	(void)parseImage(in.uki, "fuzz.addon.efi", ImageRole::Addon);
	if (!uki)
		return 0;
	auto chosen = uki->findProfile(in.selector);
	if (chosen) {
		if (*chosen)
			FUZZ_CHECK(*chosen >= uki->profiles().data() &&
				   *chosen < uki->profiles().data() + uki->profiles().size());
		else
			FUZZ_CHECK(uki->profiles().empty());
	}
	for (size_t i = 0; i < in.addons.size(); i++) {
		auto addon = parseImage(in.addons[i], "fuzz-" + std::to_string(i) + ".addon.efi", ImageRole::Addon);
		if (!addon)
			continue;
		auto fits = checkAddonFits(*uki, *addon);
		if (fits) {
			FUZZ_CHECK(addon->pe().machine() == uki->pe().machine());
			FUZZ_CHECK(addon->uname().empty() || uki->uname().empty() || addon->uname() == uki->uname());
		}
	}
	return 0;
}

int fuzzTrust(Bytes data)
{
	auto verify = [](const PeFile &pe) {
		for (const TrustStore *store : { &emptyStore(), &oneCertStore() }) {
			auto r = verifyAuthenticode(pe, *store);
			if (!r)
				continue;
			if (verbose())
				std::fprintf(stderr, "trust: %zu-cert store: %s, signer '%s', %s\n", store->size(),
					     verdictName(r->verdict), r->signer.c_str(), r->detail.c_str());
			/* signer and detail reach the record, JSON and D-Bus. */
			checkDisplay(r->signer, "signer");
			checkDisplay(r->detail, "signature detail");
			FUZZ_CHECK(verdictName(r->verdict) != nullptr);
			FUZZ_CHECK(!(store->size() == 0 && r->verdict == Verdict::Trusted));
			/* A signer is named only once the signature verified. */
			FUZZ_CHECK(r->signer.empty() || r->verdict != Verdict::BadSignature);
		}
	};

	if (data.size() >= 2 && data[0] == 'M' && data[1] == 'Z') {
		auto pe = PeFile::parse(data, "fuzz.efi");
		if (!pe)
			return 0;
		verify(*pe);
		(void)authenticodeDigest(*pe, EVP_sha256());
		return 0;
	}

	/* Raw PKCS#7: the template's digest is constant, so a blob signed over
	 * it (a seed) reaches PKCS7_verify and the chain check. */
	const std::vector<uint8_t> wrapped = withCertificateTable(data);
	auto pe = PeFile::parse(wrapped, "fuzz-pkcs7.efi");
	FUZZ_CHECK(pe.ok());
	verify(*pe);

	/* The same bytes as a firmware db (EFI_SIGNATURE_LIST...). */
	TrustStore store;
	auto added = store.addEfiSignatureList(data, "fuzz-db");
	if (!added) {
		FUZZ_CHECK(store.size() == 0);
		checkDisplay(added.error().message, "ESL error message");
	}
	return 0;
}

int fuzzCompose(Bytes data)
{
	/* Containers and zboot images as such, whatever the input is. */
	if (auto view = readElfContainer(data))
		for (const auto &[name, bytes] : view->sections)
			FUZZ_CHECK(within(data, bytes));
	if (probeZboot(data)) {
		auto unpacked = unpackZboot(data, "fuzz-zboot.efi", 8u << 20);
		if (unpacked)
			FUZZ_CHECK(unpacked->size() <= (8u << 20));
	}
	/* Plain kernel headers (issue 15): recognised or refused naming the
	 * file, never read past the end. Decompression is the zboot check above. */
	if (auto info = probeKernelImage(data, "fuzz-vmlinuz"); !info) {
		FUZZ_CHECK(info.error().code == Code::InvalidImage);
		FUZZ_CHECK(info.error().message.find("'fuzz-vmlinuz") != std::string::npos);
	} else if (info->format == KernelFormat::BzImage) {
		FUZZ_CHECK(info->bootProtocol >= 0x020c);
		FUZZ_CHECK(invalidUtf8At(info->version) == std::string::npos);
	}

	const MultiInput in = splitInput(data);
	auto pe = PeFile::parse(in.uki, "fuzz.efi");
	if (!pe)
		return 0;
	auto uki = UkiImage::fromPe(std::move(*pe), "fuzz.efi", ImageRole::Uki);
	if (!uki)
		return 0;
	std::vector<UkiImage> addons;
	std::vector<Bytes> addonBytes;
	for (size_t i = 0; i < in.addons.size(); i++) {
		auto addonPe = PeFile::parse(in.addons[i], "fuzz.addon.efi");
		if (!addonPe)
			continue;
		auto addon = UkiImage::fromPe(std::move(*addonPe), "fuzz.addon.efi", ImageRole::Addon);
		if (!addon || !checkAddonFits(*uki, *addon))
			continue;
		addons.push_back(std::move(*addon));
		addonBytes.push_back(in.addons[i]);
	}
	std::vector<const UkiImage *> addonPtrs;
	for (const UkiImage &a : addons)
		addonPtrs.push_back(&a);
	/* cmdline_extra arrives over D-Bus: always valid UTF-8. */
	const std::string extra = invalidUtf8At(in.cmdlineExtra) == std::string::npos ? in.cmdlineExtra : "";

	std::vector<const UkiProfile *> profiles{ nullptr };
	for (const UkiProfile &p : uki->profiles())
		profiles.push_back(&p);
	for (const UkiProfile *profile : profiles) {
		ClassicOptions opts;
		opts.profile = profile;
		opts.cmdlineExtra = extra;
		auto parts = composeClassic(*uki, addonPtrs, opts);
		if (!parts) {
			checkDisplay(parts.error().message, "compose error message");
			continue;
		}
		const SectionSet resolved = uki->resolve(profile);
		FUZZ_CHECK(parts->cmdline == composeCmdline(resolved, addonPtrs, extra));
		FUZZ_CHECK(invalidUtf8At(parts->cmdline) == std::string::npos);
		FUZZ_CHECK(parts->cmdline.size() + 1 <= opts.maxCmdline);
		if (!parts->kernelWasZboot)
			FUZZ_CHECK(sameBytes(parts->kernel.bytes(), resolved.at(".linux")));
		/* Every part systemd-stub hands over is in the composed initrd,
		 * each starting 4-byte aligned (the generated /.extra archives
		 * and the padding come between them). */
		const auto initrd = initrdParts(resolved, addonPtrs);
		if (!initrd.empty())
			FUZZ_CHECK(parts->initrd.has_value());
		if (parts->initrd) {
			const auto all = parts->initrd->bytes();
			FUZZ_CHECK(all.size() % 4 == 0 || initrd.size() + parts->initrdLayout.size() <= 1 ||
				   parts->initrdLayout.size() <= 1);
			size_t total = 0;
			for (Bytes part : initrd)
				total += part.size();
			FUZZ_CHECK(all.size() >= total);
		}
	}

	/* The BPF scheme's container, read back. */
	std::vector<ContainerEntry> entries{ { in.uki, {} } };
	for (size_t i = 0; i < addonBytes.size(); i++)
		entries.push_back({ addonBytes[i], i % 2 ? std::vector<uint8_t>{ 0x03, 0x02, uint8_t(i) }
							  : std::vector<uint8_t>{} });
	for (const UkiProfile *profile : profiles) {
		const std::optional<unsigned> index = profile ? std::optional(profile->index) : std::nullopt;
		auto container = composeImageContainer(entries, index);
		if (!container)
			continue;
		auto view = readElfContainer(container->bytes());
		FUZZ_CHECK(view.ok());
		size_t k = 0;
		for (size_t i = 0; i < entries.size(); i++) {
			FUZZ_CHECK(k < view->sections.size());
			FUZZ_CHECK(view->sections[k].first == ".pe." + std::to_string(i + 1));
			FUZZ_CHECK(sameBytes(view->sections[k].second, entries[i].pe));
			k++;
			if (!entries[i].ima.empty()) {
				FUZZ_CHECK(k < view->sections.size() && view->sections[k].first == ".ima");
				FUZZ_CHECK(sameBytes(view->sections[k].second, entries[i].ima));
				k++;
			}
		}
		if (index) {
			FUZZ_CHECK(k < view->sections.size() && view->sections[k].first == kSelectSection);
			const std::string text = std::to_string(*index);
			FUZZ_CHECK(sameBytes(view->sections[k].second,
					     Bytes(reinterpret_cast<const uint8_t *>(text.data()), text.size())));
			k++;
		}
		FUZZ_CHECK(k == view->sections.size());
	}
	return 0;
}

} // namespace kexecd::fuzz
