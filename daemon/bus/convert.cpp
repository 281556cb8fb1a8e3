// SPDX-License-Identifier: LGPL-2.1-or-later
#include "convert.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "text.h"

namespace kexecd {

namespace {

template<typename T, typename Get>
sdbus::Variant arrayOf(const nlohmann::json &array, Get get)
{
	std::vector<T> out;
	out.reserve(array.size());
	for (const auto &item : array)
		out.push_back(get(item));
	return sdbus::Variant(out);
}

bool all(const nlohmann::json &array, bool (nlohmann::json::*pred)() const noexcept)
{
	return std::all_of(array.begin(), array.end(), [pred](const auto &v) { return (v.*pred)(); });
}

} // namespace

sdbus::Variant jsonToVariant(const nlohmann::json &value)
{
	using json = nlohmann::json;
	switch (value.type()) {
	case json::value_t::object:
		return sdbus::Variant(jsonToVariantMap(value));
	case json::value_t::string:
		/* D-Bus strings must be valid UTF-8; the engine already applies
		 * text.h's rules, this keeps a slip from killing a reply. */
		return sdbus::Variant(displayText(value.get<std::string>()));
	case json::value_t::boolean:
		return sdbus::Variant(value.get<bool>());
	case json::value_t::number_unsigned:
		return sdbus::Variant(value.get<uint64_t>());
	case json::value_t::number_integer:
		return sdbus::Variant(value.get<int64_t>());
	case json::value_t::number_float:
		return sdbus::Variant(value.get<double>());
	case json::value_t::array:
		/* An empty array has no element type; "as" is what clients
		 * expect for the lists we publish (addons, verdicts). */
		if (value.empty() || all(value, &json::is_string))
			return arrayOf<std::string>(value, [](const json &v) { return displayText(v.get<std::string>()); });
		if (all(value, &json::is_object))
			return arrayOf<VariantMap>(value, [](const json &v) { return jsonToVariantMap(v); });
		if (all(value, &json::is_number_unsigned))
			return arrayOf<uint64_t>(value, [](const json &v) { return v.get<uint64_t>(); });
		/* Signed only when every value fits: an unsigned above
		 * INT64_MAX next to a negative one would wrap in "ax". */
		if (std::all_of(value.begin(), value.end(), [](const json &v) {
			    return v.is_number_integer() &&
				   (!v.is_number_unsigned() ||
				    v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
		    }))
			return arrayOf<int64_t>(value, [](const json &v) { return v.get<int64_t>(); });
		if (all(value, &json::is_number))
			return arrayOf<double>(value, [](const json &v) { return v.get<double>(); });
		return arrayOf<sdbus::Variant>(value, [](const json &v) { return jsonToVariant(v); });
	case json::value_t::null:
	case json::value_t::binary:
	case json::value_t::discarded:
		break;
	}
	return sdbus::Variant(std::string());
}

VariantMap jsonToVariantMap(const nlohmann::json &object)
{
	VariantMap out;
	if (!object.is_object())
		return out;
	for (const auto &[key, value] : object.items()) {
		if (value.is_null() || value.is_binary() || value.is_discarded())
			continue;
		/* JSON cannot say what an empty array would hold; keep the
		 * signature of the record's lists of objects stable. */
		if (value.is_array() && value.empty() && key == "addons") {
			out.emplace(key, sdbus::Variant(std::vector<VariantMap>{}));
			continue;
		}
		out.emplace(displayText(key), jsonToVariant(value));
	}
	return out;
}

} // namespace kexecd
