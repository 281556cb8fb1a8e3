// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Text that came from files (section names, .cmdline, .osrel, .uname,
// file names) reaches JSON, D-Bus, the journal and terminals, each of
// which refuses or misrenders invalid UTF-8 and control characters. The
// engine applies one of two named rules where such text enters it:
//  - display text (names, os-release fields, paths, messages): kept when
//    valid, every invalid byte or control character shown as "\xNN";
//  - command lines: invalid UTF-8 is refused (InvalidImage), since the
//    bytes go to the kernel and must be exactly what was verified.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kexecd {

/* Offset of the first byte that is not part of well-formed UTF-8
 * (RFC 3629: no overlongs, surrogates or code points past U+10FFFF),
 * or std::string_view::npos. */
size_t invalidUtf8At(std::string_view text);

/* The display rule. Valid, printable text comes back unchanged. */
std::string displayText(std::string_view text);

/* JSON as text that cannot throw: a string that slipped past the rules
 * above has its invalid bytes replaced (U+FFFD) instead. */
inline std::string jsonText(const nlohmann::json &j, int indent = -1)
{
	return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

/* The string at POINTER (a JSON pointer) in J, or nothing when it is absent
 * or not a string (null included): records and plans read their optional
 * fields this way. jsonString() gives "" for nothing. */
std::optional<std::string> jsonOptionalString(const nlohmann::json &j, const char *pointer);
std::string jsonString(const nlohmann::json &j, const char *pointer);

} // namespace kexecd
