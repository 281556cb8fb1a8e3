// SPDX-License-Identifier: LGPL-2.1-or-later
#include "pcr_policy.h"

#include <algorithm>
#include <array>

#include <openssl/evp.h>

#include "file_util.h"

namespace kexecd {

namespace {

constexpr uint32_t kTpmCcPolicyPcr = 0x0000017F;
constexpr uint32_t kTpmCcPolicyAuthValue = 0x0000016B;

const EVP_MD *bankMd(PcrBank bank)
{
	switch (bank) {
	case PcrBank::Sha1:
		return EVP_sha1();
	case PcrBank::Sha256:
		return EVP_sha256();
	case PcrBank::Sha384:
		return EVP_sha384();
	case PcrBank::Sha512:
		return EVP_sha512();
	}
	return EVP_sha256();
}

void putBe32(std::vector<uint8_t> &out, uint32_t v)
{
	for (int shift = 24; shift >= 0; shift -= 8)
		out.push_back(static_cast<uint8_t>(v >> shift));
}

void putBe16(std::vector<uint8_t> &out, uint16_t v)
{
	out.push_back(static_cast<uint8_t>(v >> 8));
	out.push_back(static_cast<uint8_t>(v));
}

} // namespace

std::optional<PcrBank> pcrBankFromName(std::string_view name)
{
	for (PcrBank bank : { PcrBank::Sha1, PcrBank::Sha256, PcrBank::Sha384, PcrBank::Sha512 })
		if (name == pcrBankName(bank))
			return bank;
	return std::nullopt;
}

const char *pcrBankName(PcrBank bank)
{
	switch (bank) {
	case PcrBank::Sha1:
		return "sha1";
	case PcrBank::Sha256:
		return "sha256";
	case PcrBank::Sha384:
		return "sha384";
	case PcrBank::Sha512:
		return "sha512";
	}
	return "?";
}

uint16_t pcrBankAlgId(PcrBank bank)
{
	switch (bank) {
	case PcrBank::Sha1:
		return 0x0004;
	case PcrBank::Sha256:
		return 0x000B;
	case PcrBank::Sha384:
		return 0x000C;
	case PcrBank::Sha512:
		return 0x000D;
	}
	return 0;
}

size_t pcrBankSize(PcrBank bank)
{
	return static_cast<size_t>(EVP_MD_get_size(bankMd(bank)));
}

TpmDigest tpmHash(PcrBank bank, std::span<const uint8_t> data)
{
	TpmDigest out(EVP_MAX_MD_SIZE);
	unsigned len = 0;
	EVP_Digest(data.data(), data.size(), out.data(), &len, bankMd(bank), nullptr);
	out.resize(len);
	return out;
}

TpmDigest pcrExtend(PcrBank bank, const TpmDigest &pcr, const TpmDigest &digest)
{
	std::vector<uint8_t> buf(pcr);
	buf.insert(buf.end(), digest.begin(), digest.end());
	return tpmHash(bank, buf);
}

TpmDigest pcrExtendWord(PcrBank bank, const TpmDigest &pcr, std::string_view word)
{
	auto bytes = std::span(reinterpret_cast<const uint8_t *>(word.data()), word.size());
	return pcrExtend(bank, pcr, tpmHash(bank, bytes));
}

TpmDigest policyStart()
{
	return TpmDigest(32, 0);
}

std::optional<TpmDigest> policyPcr(const TpmDigest &old, PcrBank bank,
				   const std::vector<std::pair<unsigned, TpmDigest>> &values)
{
	auto sorted = values;
	std::sort(sorted.begin(), sorted.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
	std::array<uint8_t, 3> select{};
	std::vector<uint8_t> concat;
	for (size_t i = 0; i < sorted.size(); i++) {
		const auto &[index, value] = sorted[i];
		if (index >= 24 || value.size() != pcrBankSize(bank) || (i > 0 && sorted[i - 1].first == index))
			return std::nullopt;
		select[index / 8] |= static_cast<uint8_t>(1u << (index % 8));
		concat.insert(concat.end(), value.begin(), value.end());
	}
	/* The session's hash (SHA-256) digests the PCR values, whatever their bank. */
	TpmDigest pcrDigest = tpmHash(PcrBank::Sha256, concat);

	std::vector<uint8_t> buf(old);
	putBe32(buf, kTpmCcPolicyPcr);
	putBe32(buf, 1); // TPML_PCR_SELECTION.count
	putBe16(buf, pcrBankAlgId(bank));
	buf.push_back(3); // sizeofSelect: PCRs 0-23
	/* push_back, not insert(): GCC 14 -O2 sees a bogus negative length in the latter. */
	for (uint8_t bits : select)
		buf.push_back(bits);
	buf.insert(buf.end(), pcrDigest.begin(), pcrDigest.end());
	return tpmHash(PcrBank::Sha256, buf);
}

TpmDigest policyAuthValue(const TpmDigest &old)
{
	std::vector<uint8_t> buf(old);
	putBe32(buf, kTpmCcPolicyAuthValue);
	return tpmHash(PcrBank::Sha256, buf);
}

std::string tpmHex(std::span<const uint8_t> digest)
{
	static const char hex[] = "0123456789abcdef";
	std::string out;
	out.reserve(digest.size() * 2);
	for (uint8_t b : digest) {
		out.push_back(hex[b >> 4]);
		out.push_back(hex[b & 15]);
	}
	return out;
}

std::optional<TpmDigest> tpmParseHex(std::string_view text)
{
	while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
		text.remove_suffix(1);
	if (text.size() % 2 != 0)
		return std::nullopt;
	auto nibble = [](char c) -> int {
		if (c >= '0' && c <= '9')
			return c - '0';
		if (c >= 'a' && c <= 'f')
			return c - 'a' + 10;
		if (c >= 'A' && c <= 'F')
			return c - 'A' + 10;
		return -1;
	};
	TpmDigest out;
	for (size_t i = 0; i < text.size(); i += 2) {
		int hi = nibble(text[i]), lo = nibble(text[i + 1]);
		if (hi < 0 || lo < 0)
			return std::nullopt;
		out.push_back(static_cast<uint8_t>(hi << 4 | lo));
	}
	return out;
}

std::optional<TpmDigest> readSysfsPcr(const std::string &tpmDir, PcrBank bank, unsigned index)
{
	auto text = detail::readSmallFile(tpmDir + "/pcr-" + pcrBankName(bank) + "/" + std::to_string(index), 256);
	if (!text)
		return std::nullopt;
	auto digest = tpmParseHex(*text);
	if (!digest || digest->size() != pcrBankSize(bank))
		return std::nullopt;
	return digest;
}

} // namespace kexecd
