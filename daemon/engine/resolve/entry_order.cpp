// SPDX-License-Identifier: LGPL-2.1-or-later
// The Boot Loader Specification's order of entries, shared by every kind
// of entry (Type #1, Type #2, distribution UKIs): boot counters,
// systemd's version comparison and systemd-boot's boot_entry_compare().

#include "entry_order.h"

#include <algorithm>

#include "esp_fs.h"

namespace kexecd {

namespace {

bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool isAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Good entries, then distribution UKIs, then entries out of tries. */
int rank(const UkiEntry &e)
{
	if (e.bad())
		return 2;
	return e.source == "modules" ? 1 : 0;
}

} // namespace

namespace detail {

bool menuOrder(const UkiEntry &a, const UkiEntry &b)
{
	if (rank(a) != rank(b))
		return rank(a) < rank(b);
	if (a.source == "modules" && b.source == "modules") {
		if (int r = compareVersions(a.version, b.version))
			return r > 0;
		return a.id < b.id;
	}
	if (a.sortKey.empty() != b.sortKey.empty())
		return !a.sortKey.empty();
	if (!a.sortKey.empty()) {
		if (int r = a.sortKey.compare(b.sortKey))
			return r < 0;
		if (int r = a.machineId.compare(b.machineId))
			return r < 0;
		if (int r = compareVersions(a.osVersion, b.osVersion))
			return r > 0;
	}
	if (int r = compareVersions(a.idWithoutProfile, b.idWithoutProfile))
		return r > 0;
	if (a.profile != b.profile)
		return a.profile < b.profile;
	if (a.triesLeft >= 0 && b.triesLeft >= 0) {
		if (a.triesLeft != b.triesLeft)
			return a.triesLeft > b.triesLeft;
		if (a.triesDone != b.triesDone)
			return a.triesDone < b.triesDone;
	}
	if (a.source != b.source)
		return a.source == "esp";
	return a.path < b.path;
}

} // namespace detail

int compareVersions(std::string_view a, std::string_view b)
{
	auto isVersionChar = [](char c) {
		return isAsciiDigit(c) || isAsciiAlpha(c) || c == '~' || c == '-' || c == '^' || c == '.';
	};
	auto cmp = [](auto x, auto y) { return (x > y) - (x < y); };
	size_t i = 0, j = 0;
	auto at = [](std::string_view s, size_t k) { return k < s.size() ? s[k] : '\0'; };

	for (;;) {
		while (i < a.size() && !isVersionChar(a[i]))
			i++;
		while (j < b.size() && !isVersionChar(b[j]))
			j++;

		/* '~' marks a pre-release: older than anything else. */
		if (at(a, i) == '~' || at(b, j) == '~') {
			if (int r = cmp(at(a, i) != '~', at(b, j) != '~'))
				return r;
			i++;
			j++;
		}
		/* Past '~', more segments is newer. */
		if (at(a, i) == '\0' || at(b, j) == '\0')
			return cmp(static_cast<unsigned char>(at(a, i)), static_cast<unsigned char>(at(b, j)));
		/* '-' (release), '^' (patched) and '.' (point release) in
		 * that order of age; a segment without prefix is newest. */
		for (char sep : { '-', '^', '.' }) {
			if (at(a, i) == sep || at(b, j) == sep) {
				if (int r = cmp(at(a, i) != sep, at(b, j) != sep))
					return r;
				i++;
				j++;
			}
		}

		size_t ie = i, je = j;
		if (isAsciiDigit(at(a, i)) || isAsciiDigit(at(b, j))) {
			while (isAsciiDigit(at(a, ie)))
				ie++;
			while (isAsciiDigit(at(b, je)))
				je++;
			/* A number is newer than no number. */
			if (int r = cmp(ie != i, je != j))
				return r;
			while (at(a, i) == '0')
				i++;
			while (at(b, j) == '0')
				j++;
			if (int r = cmp(ie - i, je - j))
				return r;
			if (int r = cmp(a.substr(i, ie - i).compare(b.substr(j, je - j)), 0))
				return r;
		} else {
			while (isAsciiAlpha(at(a, ie)))
				ie++;
			while (isAsciiAlpha(at(b, je)))
				je++;
			const size_t n = std::min(ie - i, je - j);
			if (int r = cmp(a.substr(i, n).compare(b.substr(j, n)), 0))
				return r;
			if (int r = cmp(ie - i, je - j))
				return r;
		}
		i = ie;
		j = je;
	}
}

TriesCounter parseTriesCounter(std::string_view fileName, std::string_view suffix)
{
	TriesCounter tc;
	tc.id = std::string(fileName);
	if (!detail::endsWithNoCase(fileName, suffix))
		return tc;
	const std::string_view stem = fileName.substr(0, fileName.size() - suffix.size());
	const size_t plus = stem.rfind('+');
	if (plus == std::string_view::npos)
		return tc;

	/* Digits only, no sign, no overflow: "+3", "+3-1". */
	auto parseNumber = [](std::string_view s, int &out) {
		if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), isAsciiDigit))
			return false;
		out = 0;
		for (char c : s)
			out = out * 10 + (c - '0');
		return true;
	};
	const std::string_view counter = stem.substr(plus + 1);
	const size_t dash = counter.find('-');
	int left = -1, done = 0;
	if (!parseNumber(counter.substr(0, dash), left))
		return tc;
	if (dash != std::string_view::npos && !parseNumber(counter.substr(dash + 1), done))
		return tc;

	tc.id = std::string(stem.substr(0, plus)) + std::string(fileName.substr(stem.size()));
	tc.left = left;
	tc.done = done;
	return tc;
}

} // namespace kexecd
