// SPDX-License-Identifier: LGPL-2.1-or-later
// Targets over text: .osrel (and the display rule every such value goes
// through), the Boot Loader Spec helpers of discovery.h, and the state
// file reader with the D-Bus conversion its record goes through on start.

#include <string>
#include <string_view>

#include <sdbus-c++/Error.h>

#include "convert.h"
#include "bls_type1.h"
#include "discovery.h"
#include "fuzz_common.h"
#include "kernel_image.h"
#include "state_file.h"
#include "text.h"
#include "uki.h"

namespace kexecd::fuzz {

namespace {

std::string_view asText(Bytes data)
{
	return { reinterpret_cast<const char *>(data.data()), data.size() };
}

void checkDisplayRule(std::string_view text)
{
	const std::string shown = displayText(text);
	checkDisplay(shown, "displayText output");
	/* Valid, printable text comes back unchanged. */
	if (isDisplayClean(text))
		FUZZ_CHECK(shown == text);
	/* Applying the rule twice only escapes the backslashes' neighbours
	 * again, never produces something unclean. */
	checkDisplay(displayText(shown), "displayText twice");
}

} // namespace

int fuzzOsRelease(Bytes data)
{
	const std::string_view text = asText(data);
	checkDisplayRule(text);
	FUZZ_CHECK(invalidUtf8At(text) == std::string_view::npos || invalidUtf8At(text) < text.size());

	const std::string section = sectionText(data);
	FUZZ_CHECK(section.find('\0') == std::string::npos);
	FUZZ_CHECK(section.size() <= text.size());
	for (const auto &[key, value] : parseOsRelease(section)) {
		FUZZ_CHECK(!key.empty());
		FUZZ_CHECK(key.find('\n') == std::string::npos && value.find('\n') == std::string::npos);
		FUZZ_CHECK(key.find('=') == std::string::npos);
		checkDisplay(displayText(key), "os-release key");
		checkDisplay(displayText(value), "os-release value");
	}
	/* Without the NUL cut, as a whole file would be read. */
	(void)parseOsRelease(text);
	return 0;
}

int fuzzDiscovery(Bytes data)
{
	const std::string_view text = asText(data);

	/* File names: the whole input, and its first line with the rest as
	 * the suffix. */
	const size_t nl = text.find('\n');
	const std::string_view first = text.substr(0, nl);
	const std::string_view rest = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
	for (auto [name, suffix] : { std::pair{ text, std::string_view(".efi") },
				    std::pair{ first, std::string_view(".addon.efi") },
				    std::pair{ first, rest.substr(0, 16) } }) {
		const TriesCounter tc = parseTriesCounter(name, suffix);
		if (tc.left < 0) {
			FUZZ_CHECK(tc.id == name && tc.done == -1);
			continue;
		}
		FUZZ_CHECK(tc.done >= 0);
		FUZZ_CHECK(tc.id.size() < name.size());
		/* The counter goes, the suffix stays. */
		FUZZ_CHECK(tc.id.size() >= suffix.size() &&
			   std::string_view(tc.id).substr(tc.id.size() - suffix.size()) ==
				   name.substr(name.size() - suffix.size()));
		FUZZ_CHECK(name.find('+') != std::string_view::npos);
	}

	/* strverscmp_improved: antisymmetric and reflexive. */
	const int ab = compareVersions(first, rest);
	const int ba = compareVersions(rest, first);
	FUZZ_CHECK(ab >= -1 && ab <= 1);
	FUZZ_CHECK_MSG(ab == -ba, std::string(first) + " <=> " + std::string(rest));
	FUZZ_CHECK(compareVersions(first, first) == 0);

	/* And transitive: the boot menu order is a std::sort over it, and a
	 * comparator that is not a strict weak order is undefined behaviour
	 * there (libstdc++ may read past the range). Lines two and three. */
	const size_t nl2 = rest.find('\n');
	const std::string_view second = rest.substr(0, nl2);
	const std::string_view third = nl2 == std::string_view::npos ? std::string_view{} : rest.substr(nl2 + 1);
	const std::string_view v[3] = { first, second, third };
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			for (int k = 0; k < 3; k++) {
				const int ij = compareVersions(v[i], v[j]), jk = compareVersions(v[j], v[k]);
				const int ik = compareVersions(v[i], v[k]);
				if (ij <= 0 && jk <= 0)
					FUZZ_CHECK_MSG(ik <= 0 && (ik < 0 || (ij == 0 && jk == 0)),
						       std::string(v[i]) + " | " + std::string(v[j]) + " | " + std::string(v[k]));
			}

	/* A Type #1 entry: whatever it says, its paths stay beneath its
	 * partition, or it carries a problem naming the entry file. */
	if (auto p = parseType1Entry(text, "e+1-2.conf", "/esp", "/esp/loader/entries/e+1-2.conf", "x64"); !p) {
		FUZZ_CHECK(p.error().code == Code::InvalidEntry);
	} else if (p->entry) {
		const UkiEntry &e = *p->entry;
		FUZZ_CHECK(e.id == "e.conf" && e.triesLeft == 1 && e.triesDone == 2);
		FUZZ_CHECK(e.initrds.size() <= kMaxEntryInitrds);
		std::vector<std::string> paths = e.initrds;
		paths.push_back(e.path);
		if (e.problem.empty())
			for (const std::string &path : paths) {
				FUZZ_CHECK_MSG(path.starts_with("/esp/") && path.find("/../") == std::string::npos &&
						       !path.ends_with("/.."),
					       path);
			}
		else
			FUZZ_CHECK(e.problem.find("/esp/loader/entries/e+1-2.conf") != std::string::npos);
	} else {
		FUZZ_CHECK(!p->skipped.empty());
	}
	/* --reuse-cmdline: the boot loader's words go, and doing it twice
	 * changes nothing. */
	const std::string reused = reusableCmdline(text);
	FUZZ_CHECK(reusableCmdline(reused) == reused);
	FUZZ_CHECK(!reused.starts_with("BOOT_IMAGE=") && !reused.starts_with("initrd="));

	if (auto value = parseLoaderConfDefault(text)) {
		FUZZ_CHECK(!value->empty());
		FUZZ_CHECK(value->find('\n') == std::string::npos);
	}
	if (auto value = decodeLoaderVariable(data)) {
		FUZZ_CHECK(!value->empty());
		FUZZ_CHECK(value->find('\0') == std::string::npos);
		FUZZ_CHECK(invalidUtf8At(*value) == std::string::npos);
	}
	return 0;
}

int fuzzState(Bytes data)
{
	const std::string text(asText(data));
	auto record = parseStateRecord(text, "fuzz/staged.json");
	if (!record) {
		FUZZ_CHECK(invalidUtf8At(record.error().message) == std::string::npos);
		return 0;
	}
	FUZZ_CHECK(record->is_object());
	try {
		/* What the daemon writes back and publishes. */
		const std::string again = record->dump(2);
		auto reparsed = parseStateRecord(again, "fuzz/staged.json");
		FUZZ_CHECK(reparsed && *reparsed == *record);
		checkVariantMap(jsonToVariantMap(*record), *record);
	} catch (const nlohmann::json::exception &e) {
		fail("a record that parsed dumps", __FILE__, __LINE__, e.what());
	} catch (const sdbus::Error &e) {
		fail("a record that parsed converts to a{sv}", __FILE__, __LINE__, e.getMessage());
	}
	return 0;
}

} // namespace kexecd::fuzz
