// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The JSON pieces of the staged record and of `inspect`: one place says
// what a part, a UKI's identity, a profile and a container look like.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "compose.h"
#include "memfd.h"

namespace kexecd {

class SealedMemfd;
class UkiImage;
struct SignatureReport;
struct UkiProfile;

/* One Authenticode report against a trust store (trust.h). */
nlohmann::json signatureJson(const SignatureReport &r);
nlohmann::json partJson(std::span<const uint8_t> bytes); // size + sha256
void addUkiIdentity(nlohmann::json &j, const UkiImage &uki);
nlohmann::json profileJson(const UkiProfile *p);
/* fileDigests: the SHA-256 of each input file in container order, known
 * already; a .pe.N section is that file byte for byte, so its digest is
 * taken, not computed again. Empty: every digest is computed. */
nlohmann::json containerJson(const SealedMemfd &container,
			     std::span<const std::string> fileDigests = {});
/* {size, sha256} of bytes whose digest is already known. */
nlohmann::json partJson(uint64_t size, std::string sha256);
/* The composed initrd: its size and its parts (compose.h), no digest of
 * its own: each part's bytes are covered by its source file's digest or,
 * generated, by its own (issue 16). */
nlohmann::json initrdJson(uint64_t size, std::span<const InitrdPartRecord> parts);
std::string isoTime(std::chrono::system_clock::time_point t);

} // namespace kexecd
