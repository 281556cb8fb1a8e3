// SPDX-License-Identifier: LGPL-2.1-or-later
// Reading a{sv} back: what a D-Bus client of the Staged property gets must
// be the record kexecd meant, value for value.

#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "fuzz_common.h"
#include "text.h"

namespace kexecd::fuzz {

namespace {

/* What a JSON string becomes on the bus: convert.cpp applies the display
 * rule (text.h) to keys and values, so a NUL or an invalid byte arrives as
 * "\xNN" rather than ending or breaking the D-Bus string. */
std::string untilNul(const std::string &s)
{
	return displayText(s);
}

void checkValue(const sdbus::Variant &v, const nlohmann::json &j, const std::string &path);

template<typename T, typename Check>
void checkArray(const sdbus::Variant &v, const nlohmann::json &j, const std::string &path, Check check)
{
	const auto items = v.get<std::vector<T>>();
	FUZZ_CHECK_MSG(items.size() == j.size(), path);
	for (size_t i = 0; i < items.size(); i++)
		check(items[i], j[i], path + "[" + std::to_string(i) + "]");
}

void checkValue(const sdbus::Variant &v, const nlohmann::json &j, const std::string &path)
{
	const std::string type = v.peekValueType();
	const std::string where = path + " (" + type + ")";
	auto number = [&where](auto got, const nlohmann::json &want) {
		/* A double holds what JSON gave it, as a double (mixed arrays are
		 * "ad" by design: precision may go, sign and magnitude may not). */
		if constexpr (std::is_floating_point_v<decltype(got)>) {
			FUZZ_CHECK_MSG(got == want.get<double>(), where);
			return;
		}
		if (want.is_number_unsigned())
			FUZZ_CHECK_MSG(got >= 0 && static_cast<uint64_t>(got) == want.get<uint64_t>(), where);
		else if (want.is_number_integer())
			FUZZ_CHECK_MSG(static_cast<int64_t>(got) == want.get<int64_t>(), where);
		else
			FUZZ_CHECK_MSG(static_cast<double>(got) == want.get<double>(), where);
	};
	if (j.is_object()) {
		FUZZ_CHECK_MSG(type == "a{sv}", where);
		checkVariantMap(v.get<VariantMap>(), j, path);
	} else if (j.is_string()) {
		FUZZ_CHECK_MSG(type == "s" && v.get<std::string>() == untilNul(j.get<std::string>()), where);
	} else if (j.is_boolean()) {
		FUZZ_CHECK_MSG(type == "b" && v.get<bool>() == j.get<bool>(), where);
	} else if (j.is_number()) {
		if (type == "t")
			number(v.get<uint64_t>(), j);
		else if (type == "x")
			number(v.get<int64_t>(), j);
		else if (type == "d")
			number(v.get<double>(), j);
		else
			fail("a number is t, x or d", __FILE__, __LINE__, where);
	} else if (j.is_array()) {
		if (type == "as")
			checkArray<std::string>(v, j, path, [](const std::string &s, const nlohmann::json &e, const std::string &p) {
				FUZZ_CHECK_MSG(e.is_string() && s == untilNul(e.get<std::string>()), p);
			});
		else if (type == "aa{sv}")
			checkArray<VariantMap>(v, j, path, [](const VariantMap &m, const nlohmann::json &e, const std::string &p) {
				checkVariantMap(m, e, p);
			});
		else if (type == "at" || type == "ax" || type == "ad") {
			for (size_t i = 0; i < j.size(); i++)
				FUZZ_CHECK_MSG(j[i].is_number(), where);
			if (type == "at")
				checkArray<uint64_t>(v, j, path, [&number](uint64_t n, const nlohmann::json &e, const std::string &) { number(n, e); });
			else if (type == "ax")
				checkArray<int64_t>(v, j, path, [&number](int64_t n, const nlohmann::json &e, const std::string &) { number(n, e); });
			else
				checkArray<double>(v, j, path, [&number](double n, const nlohmann::json &e, const std::string &) { number(n, e); });
		} else if (type == "av")
			checkArray<sdbus::Variant>(v, j, path, [](const sdbus::Variant &e, const nlohmann::json &ej, const std::string &p) {
				/* null has no D-Bus value: jsonToVariant gives "". */
				if (ej.is_null())
					FUZZ_CHECK_MSG(std::string(e.peekValueType()) == "s", p);
				else
					checkValue(e, ej, p);
			});
		else
			fail("an array is as, aa{sv}, at, ax, ad or av", __FILE__, __LINE__, where);
	}
}

} // namespace

void checkVariantMap(const VariantMap &map, const nlohmann::json &object, const std::string &path)
{
	FUZZ_CHECK_MSG(object.is_object(), path);
	/* Keys of a nested a{sv} went through D-Bus, which ends them at a
	 * NUL too: "a\0x" and "a\0y" both arrive as "a". kexecd's own
	 * records have no NUL anywhere (file text is display text, \x00
	 * escaped; the cmdline stops at the first NUL), so this is only
	 * about what a state file someone else wrote can make us publish. */
	size_t present = 0;
	std::map<std::string, unsigned> truncated; // key up to a NUL -> how many keys end so
	for (const auto &[key, value] : object.items())
		if (!value.is_null()) {
			present++;
			truncated[untilNul(key)]++;
		}
	for (const auto &[key, value] : object.items()) {
		if (value.is_null())
			continue;
		const std::string shortKey = untilNul(key);
		auto it = map.find(key);
		if (it == map.end())
			it = map.find(shortKey);
		FUZZ_CHECK_MSG(it != map.end(), path + "." + key);
		/* Which of several colliding keys wins is sd-bus's business. */
		if (truncated[shortKey] == 1)
			checkValue(it->second, value, path + "." + key);
	}
	FUZZ_CHECK_MSG(map.size() <= present && map.size() >= truncated.size(), path);
}

} // namespace kexecd::fuzz
