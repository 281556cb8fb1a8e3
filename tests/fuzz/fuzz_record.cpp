// SPDX-License-Identifier: LGPL-2.1-or-later
// The full stage record, as Stager::stageLocked builds it: parse the UKI
// and addons, verify, compose both schemes, describe everything with the
// record.h helpers, dump() it (strict: throws on invalid UTF-8) and
// convert it to a{sv} as the Staged property does. Any exception that
// escapes, any string a client could not display, is a finding.

#include <string>

#include <sdbus-c++/Error.h>

#include "compose.h"
#include "convert.h"
#include "fuzz_common.h"
#include "pe.h"
#include "record.h"
#include "state_file.h"
#include "text.h"
#include "trust.h"
#include "uki.h"

namespace kexecd::fuzz {

namespace {

/* Every string of the record except the command line (whose rule is
 * valid UTF-8, control characters allowed) follows the display rule. */
void checkStrings(const nlohmann::json &j, const std::string &key)
{
	if (j.is_string()) {
		const std::string &s = j.get_ref<const std::string &>();
		if (key == "cmdline")
			FUZZ_CHECK_MSG(invalidUtf8At(s) == std::string::npos, s);
		else
			checkDisplay(s, key.c_str());
	} else if (j.is_object()) {
		for (const auto &[k, v] : j.items()) {
			checkDisplay(k, "record key");
			checkStrings(v, k);
		}
	} else if (j.is_array()) {
		for (const auto &v : j)
			checkStrings(v, key);
	}
}

/* Errors reach D-Bus after the stager's displayText, but kexecctl inspect
 * prints the engine's own: file text in them must already follow the
 * display rule (text.h). Only the caller's selector may add anything. */
bool callerTextClean = true;

void checkError(const Error &e)
{
	if (callerTextClean)
		checkDisplay(e.message, "error message");
	else
		FUZZ_CHECK_MSG(invalidUtf8At(e.message) == std::string::npos, e.message);
}

void buildAndPublish(const MultiInput &in)
{
	callerTextClean = isDisplayClean(in.selector);
	auto pe = PeFile::parse(in.uki, "/boot/efi/EFI/Linux/fuzz.efi");
	if (!pe)
		return checkError(pe.error());
	auto uki = UkiImage::fromPe(std::move(*pe), "/boot/efi/EFI/Linux/fuzz.efi", ImageRole::Uki);
	if (!uki)
		return checkError(uki.error());

	/* The selector and cmdline_extra come over D-Bus: valid UTF-8. */
	const bool selectorOk = invalidUtf8At(in.selector) == std::string::npos;
	auto profile = uki->findProfile(selectorOk ? in.selector : "");
	if (!profile)
		return checkError(profile.error());
	const std::string extra = invalidUtf8At(in.cmdlineExtra) == std::string::npos ? in.cmdlineExtra : "";

	std::vector<UkiImage> addons;
	std::vector<Bytes> addonBytes;
	for (size_t i = 0; i < in.addons.size(); i++) {
		const std::string origin = "/boot/efi/loader/addons/" + std::to_string(i) + ".addon.efi";
		auto addonPe = PeFile::parse(in.addons[i], origin);
		if (!addonPe) {
			checkError(addonPe.error());
			continue;
		}
		auto addon = UkiImage::fromPe(std::move(*addonPe), origin, ImageRole::Addon);
		if (!addon) {
			checkError(addon.error());
			continue;
		}
		if (auto fits = checkAddonFits(*uki, *addon); !fits) {
			checkError(fits.error());
			continue;
		}
		addons.push_back(std::move(*addon));
		addonBytes.push_back(in.addons[i]);
	}
	std::vector<const UkiImage *> addonPtrs;
	for (const UkiImage &a : addons)
		addonPtrs.push_back(&a);

	nlohmann::json record;
	record["uki"] = partJson(in.uki);
	record["uki"]["path"] = uki->origin();
	addUkiIdentity(record["uki"], *uki);
	if (auto sig = verifyAuthenticode(uki->pe(), oneCertStore()))
		record["uki"]["signature"] = signatureJson(*sig);
	record["profile"] = profileJson(*profile);
	record["uki"]["profiles"] = nlohmann::json::array();
	for (const UkiProfile &p : uki->profiles())
		record["uki"]["profiles"].push_back(profileJson(&p));
	record["addons"] = nlohmann::json::array();
	for (size_t i = 0; i < addons.size(); i++) {
		nlohmann::json a = partJson(addonBytes[i]);
		a["path"] = addons[i].origin();
		if (auto sig = verifyAuthenticode(addons[i].pe(), oneCertStore()))
			a["signature"] = signatureJson(*sig);
		a["sections"] = nlohmann::json::array();
		for (const PeSection &s : addons[i].pe().sections())
			a["sections"].push_back({ { "name", s.name }, { "size", s.data.size() } });
		record["addons"].push_back(a);
	}
	record["cmdline"] = composeCmdline(uki->resolve(*profile), addonPtrs, extra);

	ClassicOptions opts;
	opts.profile = *profile;
	opts.cmdlineExtra = extra;
	if (auto classic = composeClassic(*uki, addonPtrs, opts)) {
		record["kernel"] = partJson(classic->kernel.bytes());
		record["kernel"]["zboot"] = classic->kernelWasZboot;
		record["initrd"] = classic->initrd ? partJson(classic->initrd->bytes()) : nlohmann::json(nullptr);
		FUZZ_CHECK(classic->cmdline == record["cmdline"].get<std::string>());
	} else {
		checkError(classic.error());
	}
	std::vector<ContainerEntry> entries{ { in.uki, {} } };
	for (Bytes b : addonBytes)
		entries.push_back({ b, {} });
	auto container = composeImageContainer(entries, *profile ? std::optional((*profile)->index) : std::nullopt);
	if (container)
		record["container"] = containerJson(*container);
	else
		checkError(container.error());

	checkStrings(record, "");
	try {
		const std::string text = record.dump();
		/* What a restart reads back (StateFile::write uses dump(2)). */
		auto back = parseStateRecord(record.dump(2), "fuzz/staged.json");
		FUZZ_CHECK(back && *back == record);
		FUZZ_CHECK(!text.empty());
	} catch (const nlohmann::json::exception &e) {
		fail("record.dump() does not throw", __FILE__, __LINE__, e.what());
	}
	try {
		const VariantMap map = jsonToVariantMap(record);
		FUZZ_CHECK(map.count("uki") && map.count("cmdline") && map.count("addons"));
		checkVariantMap(map, record);
	} catch (const sdbus::Error &e) {
		fail("the record converts to a{sv}", __FILE__, __LINE__, e.getMessage());
	}
}

} // namespace

int fuzzRecord(Bytes data)
{
	buildAndPublish(splitInput(data));
	return 0;
}

} // namespace kexecd::fuzz
