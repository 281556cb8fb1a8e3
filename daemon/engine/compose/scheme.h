// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The two fd schemes (DESIGN.md §3): their names, the signature policy's
// names, and what the BPF parser scheme needs before kexec_file_load: the
// parser's own limits and the signed parser container.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "memfd.h"
#include "result.h"

namespace kexecd {

class TrustStore;

enum class Scheme { Auto, Bpf, Classic };
enum class SignaturePolicy { Auto, Enforce, Warn };

const char *schemeName(Scheme scheme);
Result<Scheme> parseScheme(std::string_view text);
const char *policyName(SignaturePolicy policy);
Result<SignaturePolicy> parsePolicy(std::string_view text);

/* "none", "sig", "ima" from kexec_context.sig_mode's value (KEXEC_SIG_*);
 * "" for a value kexecd does not know. */
std::string sigModeName(long value);

/* What the kernel checks of a BPF-scheme staging, for the record: the
 * parser container always; each PE only when the kernel's context asks
 * for signature checks (sigMode as in KernelSupport), since only then do
 * our parsers send VERIFY_SIG. */
std::string bpfKernelCoverage(const std::string &sigMode);

struct ParserContainer {
	SealedMemfd memfd;
	nlohmann::json info; // size, sha256, path, signature verdict
};

/* Read the signed parser container once and check its module signature
 * against store (refused under 'enforce'). */
Result<ParserContainer> openParserContainer(const std::string &path, uint64_t maxSize,
					    const TrustStore &store, SignaturePolicy policy);

} // namespace kexecd
