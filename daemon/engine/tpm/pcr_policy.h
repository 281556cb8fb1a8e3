// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The TPM2 arithmetic the unlock check predicts with (TPM 2.0 Library,
// Part 3): PCR extension and the policy digests systemd-cryptenroll seals a
// LUKS2 key to. A PolicyPCR digest depends only on the selected PCRs and
// their values, so kexecd can compute the digest the next boot's unlock
// will present and compare it with the token's tpm2-policy-hash.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kexecd {

using TpmDigest = std::vector<uint8_t>;

enum class PcrBank { Sha1, Sha256, Sha384, Sha512 };

/* "sha1", "sha256", ... as systemd writes tpm2-pcr-bank and as sysfs names
 * pcr-<bank>/. */
std::optional<PcrBank> pcrBankFromName(std::string_view name);
const char *pcrBankName(PcrBank bank);
uint16_t pcrBankAlgId(PcrBank bank); // TPM_ALG_ID: 0x0004, 0x000B, 0x000C, 0x000D
size_t pcrBankSize(PcrBank bank);

TpmDigest tpmHash(PcrBank bank, std::span<const uint8_t> data);
/* TPM2_PCR_Extend: H(pcr || digest). */
TpmDigest pcrExtend(PcrBank bank, const TpmDigest &pcr, const TpmDigest &digest);
/* What systemd-pcrextend does with a word (pcrphase's "enter-initrd"):
 * extend by the bank's hash of the word's bytes. */
TpmDigest pcrExtendWord(PcrBank bank, const TpmDigest &pcr, std::string_view word);

/* The all-zero SHA-256 digest a policy session starts from. */
TpmDigest policyStart();
/* TPM2_PolicyPCR in a SHA-256 session: H(old || TPM_CC_PolicyPCR ||
 * TPML_PCR_SELECTION{1, bank, 3, mask} || H(values in index order)).
 * values: (index, value) pairs, indexes below 24, each value bank-sized;
 * std::nullopt when they are not. */
std::optional<TpmDigest> policyPcr(const TpmDigest &old, PcrBank bank,
				   const std::vector<std::pair<unsigned, TpmDigest>> &values);
/* TPM2_PolicyAuthValue (systemd's tpm2-pin): H(old || TPM_CC_PolicyAuthValue). */
TpmDigest policyAuthValue(const TpmDigest &old);

std::string tpmHex(std::span<const uint8_t> digest);
std::optional<TpmDigest> tpmParseHex(std::string_view text);

/* One PCR as the kernel shows it: <tpmDir>/pcr-<bank>/<index>, hex
 * (Linux ≥ 5.12). nullopt when missing, unreadable or malformed. */
std::optional<TpmDigest> readSysfsPcr(const std::string &tpmDir, PcrBank bank, unsigned index);

} // namespace kexecd
