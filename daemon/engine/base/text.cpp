// SPDX-License-Identifier: LGPL-2.1-or-later
#include "text.h"

#include <fmt/format.h>

namespace kexecd {

namespace {

/* Length of the well-formed sequence starting at text[i], 0 if none. */
size_t sequenceLength(std::string_view text, size_t i)
{
	const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
	const unsigned char c = byte(i);
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; // overlong
		else if (c == 0xed)
			hi = 0x9f; // surrogates
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; // overlong
		else if (c == 0xf4)
			hi = 0x8f; // past U+10FFFF
	} else {
		return 0;
	}
	if (i + len > text.size())
		return 0;
	if (byte(i + 1) < lo || byte(i + 1) > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if (byte(i + k) < 0x80 || byte(i + k) > 0xbf)
			return 0;
	return len;
}

} // namespace

size_t invalidUtf8At(std::string_view text)
{
	for (size_t i = 0; i < text.size();) {
		const size_t len = sequenceLength(text, i);
		if (len == 0)
			return i;
		i += len;
	}
	return std::string_view::npos;
}

std::string displayText(std::string_view text)
{
	std::string out;
	out.reserve(text.size());
	for (size_t i = 0; i < text.size();) {
		const size_t len = sequenceLength(text, i);
		const unsigned char c = static_cast<unsigned char>(text[i]);
		if (len == 0 || c < 0x20 || c == 0x7f) {
			out += fmt::format("\\x{:02x}", c);
			i++;
			continue;
		}
		out.append(text.substr(i, len));
		i += len;
	}
	return out;
}

std::optional<std::string> jsonOptionalString(const nlohmann::json &j, const char *pointer)
{
	const auto p = nlohmann::json::json_pointer(pointer);
	if (!j.contains(p) || !j.at(p).is_string())
		return std::nullopt;
	return j.at(p).get<std::string>();
}

std::string jsonString(const nlohmann::json &j, const char *pointer)
{
	return jsonOptionalString(j, pointer).value_or("");
}

} // namespace kexecd
