// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// File system helpers shared by the discovery files: directory listings
// that never follow symlinks out of the ESP, and the name rules
// systemd-boot applies (case-insensitive suffixes, ASCII names).

#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace kexecd::detail {

char asciiLower(char c);
std::string asciiLowerString(std::string_view s);
bool endsWithNoCase(std::string_view s, std::string_view suffix);
bool startsWithNoCase(std::string_view s, std::string_view prefix);
bool isAscii(std::string_view s);
bool isDirectory(const std::string &path);
bool sameFile(const std::string &a, const std::string &b);
/* path is the root of a mounted file system (its parent is on another). */
bool isMountPoint(const std::string &path);
void note(std::vector<std::string> *notes, std::string text);

/* systemd-boot's line_get_key_value() syntax, shared by loader.conf and
 * Type #1 entries: one "key value" per line, whole-line '#' comments and
 * blank lines skipped, the value trimmed and without surrounding double
 * quotes. Takes the next pair off the front of text; false at its end. */
bool nextKeyValue(std::string_view &text, std::string_view &key, std::string_view &value);

enum class Want { Files, Directories };

/* Names in dir of regular files (or directories), not following
 * symlinks; names starting with '.' and longer than 255 bytes are
 * skipped (with a note for the latter). A missing directory is empty;
 * any other failure is Code::Io. At most kMaxDirEntries are read. */
Result<std::vector<std::string>> listDirectory(const std::string &dir, Want want,
					       std::vector<std::string> *notes);

} // namespace kexecd::detail
