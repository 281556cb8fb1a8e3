// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Shared pieces of the kexecd libFuzzer targets (see README.md): the
// target table, the multi-file input format, the trust stores, and the
// checks every target applies to text that leaves the engine.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "convert.h"
#include "trust.h"

namespace kexecd::fuzz {

using Bytes = std::span<const uint8_t>;

/* A broken invariant: print why, then trap so libFuzzer saves the input. */
[[noreturn]] void fail(const char *what, const char *file, int line, std::string_view detail = {});

#define FUZZ_CHECK(cond)                                                \
	do {                                                            \
		if (!(cond))                                            \
			::kexecd::fuzz::fail(#cond, __FILE__, __LINE__); \
	} while (0)
#define FUZZ_CHECK_MSG(cond, detail)                                              \
	do {                                                                      \
		if (!(cond))                                                      \
			::kexecd::fuzz::fail(#cond, __FILE__, __LINE__, (detail)); \
	} while (0)

/* KEXECD_FUZZ_VERBOSE is set: targets say what they saw (for checking
 * that seeds reach what they were made for). */
bool verbose();

/* The display rule's promise (text.h): valid UTF-8, no C0 control
 * characters, no DEL. */
bool isDisplayClean(std::string_view text);
void checkDisplay(std::string_view text, const char *what);

/*
 * Targets that need several files (a UKI and its addons) and request
 * options take one input made of chunks separated by kSeparator:
 *
 *   OPTIONS @@KXF@@ UKI @@KXF@@ ADDON @@KXF@@ ADDON ...
 *
 * OPTIONS is text: first line the profile selector, second line
 * cmdline_extra. An input without a separator is a UKI alone. Chunks are
 * parsed from their own start, so mutating one never shifts the offsets
 * inside another.
 */
inline constexpr std::string_view kSeparator = "@@KXF@@";
inline constexpr size_t kMaxAddons = 4;

struct MultiInput {
	std::string selector;
	std::string cmdlineExtra;
	Bytes uki;
	std::vector<Bytes> addons;
};
MultiInput splitInput(Bytes data);

/* Empty, and holding one certificate: the fixtures' trusted.crt when
 * KEXECD_FIXTURES names a directory that has it, else a fallback. */
const TrustStore &emptyStore();
const TrustStore &oneCertStore();

/* A minimal, valid PE32+ (one .text section, file size a multiple of 8)
 * whose Authenticode digest is constant: the trust target appends a raw
 * PKCS#7 blob to it as its certificate table. */
const std::vector<uint8_t> &templatePe();
std::vector<uint8_t> withCertificateTable(Bytes pkcs7);

/* The a{sv} a client reads back says what the JSON says (fuzz_bus.cpp):
 * same keys without nulls, same strings up to a NUL (D-Bus has none),
 * same numbers, arrays typed as convert.h documents. */
void checkVariantMap(const VariantMap &map, const nlohmann::json &object, const std::string &path = "$");

/* Targets. */
int fuzzPe(Bytes data);
int fuzzUki(Bytes data);
int fuzzTrust(Bytes data);
int fuzzCompose(Bytes data);
int fuzzOsRelease(Bytes data);
int fuzzDiscovery(Bytes data);
int fuzzState(Bytes data);
int fuzzRecord(Bytes data);
int fuzzInPlace(Bytes data);

} // namespace kexecd::fuzz
