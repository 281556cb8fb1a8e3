// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The two verdicts kexecd predicts for a PE:
//
// * firmware: would shim (and systemd-stub through it) load this image?
//   Any signature may do; dbx, MokListX and SBAT revoke first; then db,
//   MokListRT (and kexecd's trust.d) allow, by certificate or image hash.
// * kernel: would kexec_file_load accept it (kexec_kernel_verify_pe_sig)?
//   The first signature only; the SpcIndirectDataContent types the mscode
//   parser accepts; signing time inside the signer's validity; certificates
//   revoked by dbx/MokListX; trust from the builtin/secondary/machine
//   keyrings, then the platform keyring (db unless MokIgnoreDB, MokListRT).

#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "authenticode.h"
#include "pe.h"
#include "stream_digest.h"
#include "result.h"
#include "trust.h"
#include "trust_sources.h"

namespace kexecd {

struct VerdictReport {
	Verdict verdict = Verdict::Unsigned;
	std::string signer;  // subject of the signature the verdict rests on
	std::string reason;  // for a human, always set
	std::string anchor;  // what it chains to, "source: subject"
	int signature = -1;  // index of the signature the verdict rests on
};

Result<VerdictReport> firmwareVerdict(const PeFile &pe, const TrustSources &sources);
Result<VerdictReport> kernelVerdict(const PeFile &pe, const TrustSources &sources);
/* The same over signatures already read from pe (readPeSignatures hashes
 * the image once per signature; both verdicts can share that). */
Result<VerdictReport> firmwareVerdict(const PeFile &pe, const PeSignatures &sigs, const TrustSources &sources);
VerdictReport kernelVerdict(const PeSignatures &sigs, const TrustSources &sources);

/* The kernel verdict for bytes that may not be a PE at all (a classic
 * kernel image is a bzImage, which is a PE; anything else is refused).
 * hashers: the bytes' digests computed while they were copied. */
Result<VerdictReport> kernelVerdictForBytes(std::span<const uint8_t> bytes, const std::string &name,
					    const TrustSources &sources, const FileHashers *hashers = nullptr);

/* Both verdicts of one image that may not be a PE, its signatures read
 * (and the image hashed) once for the two: a plain kernel that is handed
 * over as it is. */
Result<std::pair<VerdictReport, VerdictReport>> firmwareAndKernelVerdictsForBytes(std::span<const uint8_t> bytes,
										  const std::string &name,
										  const TrustSources &sources);

/* The firmware verdict of a file that may have no PE envelope (a plain
 * kernel image): Unsigned then. */
Result<VerdictReport> firmwareVerdictForBytes(std::span<const uint8_t> bytes, const std::string &name,
					      const TrustSources &sources);

nlohmann::json verdictJson(const VerdictReport &r);

} // namespace kexecd
