// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Shared helpers of the engine unit tests: fixtures come from the
// generator in tests/fixtures through KEXECD_FIXTURES.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "pe.h"
#include "stager.h"
#include "uki.h"

namespace kexecd::test {

/* "" when the fixtures are usable, else why not (the test binary then
 * exits 77 after running the fixture-free tests). */
const std::string &fixturesProblem();
std::string fixture(const std::string &name);
std::vector<uint8_t> readFile(const std::string &path);
std::string readText(const std::string &path);
InputFile openInput(const std::string &path);
/* A fixture parsed as UKI or addon; owns the bytes the image borrows.
 * Exactly one of image and error is set. */
struct LoadedImage {
	std::vector<uint8_t> bytes;
	std::optional<UkiImage> image;
	std::optional<Error> error;
};
std::unique_ptr<LoadedImage> loadImage(const std::string &name, ImageRole role);

/* Run a program (no shell), stdout and stderr discarded unless out is
 * given; the exit status, or -1 when it did not exit normally. */
int runProgram(const std::vector<std::string> &argv, std::string *out = nullptr);
/* A minimal PE32+ image (no stub code) with these sections in this
 * order, each raw size padded to 512 bytes and VirtualSize exact: enough
 * for the engine's PE reader, the UKI model and discovery's probe. */
using PeSectionSpec = std::pair<std::string, std::string>;
std::vector<uint8_t> makePe(const std::vector<PeSectionSpec> &sections);
/* Parse bytes made by makePe (kept alive by the returned object). */
std::unique_ptr<LoadedImage> parseImage(std::vector<uint8_t> bytes, const std::string &origin, ImageRole role);
void writeFile(const std::string &path, std::span<const uint8_t> bytes);

/* A PE file read from path and parsed (a gtest failure when it does not
 * parse); owns the bytes the PeFile borrows. */
struct Pe {
	std::vector<uint8_t> bytes;
	std::optional<PeFile> pe;
};
std::unique_ptr<Pe> loadPe(const std::string &path);

/* A fresh empty directory under $TMPDIR, removed at exit. */
std::string makeTempDir();

#define REQUIRE_FIXTURES()                                                  \
	do {                                                                \
		if (!::kexecd::test::fixturesProblem().empty())             \
			GTEST_SKIP() << ::kexecd::test::fixturesProblem();  \
	} while (0)

} // namespace kexecd::test
