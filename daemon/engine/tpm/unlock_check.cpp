// SPDX-License-Identifier: LGPL-2.1-or-later
#include "unlock_check.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "text.h"

namespace kexecd {

namespace {

/* systemd's EFI loader GUID, under which systemd-stub sets StubPcrKernelImage. */
constexpr const char *kStubPcrKernelImage = "StubPcrKernelImage-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/* What happens to each PCR between now and the kexec'd boot's unlock.
 * Only the firmware measures these, and a kexec runs no firmware. */
bool firmwareOnly(unsigned pcr)
{
	return pcr <= 3 || pcr == 5 || pcr == 6 || pcr == 7 || pcr == 14;
}

/* Measured per boot by the firmware, the boot loader or systemd-stub: a
 * kexec boot keeps this boot's values instead of the next kernel's. In
 * the order a reason names them. */
constexpr unsigned kStalePcrs[] = { 11, 4, 12, 13, 9, 8 };

const char *staleWhy(unsigned pcr)
{
	switch (pcr) {
	case 11:
		return "systemd-stub measures the UKI into it on a firmware boot, which starts from zero; a kexec does not reset it, "
		       "so it holds this boot's measurements and systemd-pcrphase's phases";
	case 4:
		return "the firmware measures the booted EFI image into it; a kexec boot's PCR 4 holds this boot's image, not the "
		       "next kernel's";
	case 12:
		return "systemd-stub measures the command line, addons, credentials and device tree into it; a kexec boot measures "
		       "none of them and keeps this boot's value";
	case 13:
		return "systemd-stub measures system extensions into it; a kexec boot keeps this boot's value";
	case 9:
		return "the boot loader or the kernel's EFI stub measure the initrd into it; a kexec boot keeps this boot's value";
	case 8:
		return "the boot loader measures the command line into it; a kexec boot keeps this boot's value";
	}
	return "";
}

std::string pcrList(const std::vector<unsigned> &pcrs)
{
	return pcrs.empty() ? std::string("none") : fmt::format("{}", fmt::join(pcrs, "+"));
}

bool contains(const std::vector<unsigned> &v, unsigned x)
{
	return std::find(v.begin(), v.end(), x) != v.end();
}

struct TokenVerdict {
	UnlockVerdict verdict = UnlockVerdict::Unknown;
	std::optional<unsigned> pcr;
	std::string reason;
};

int rank(UnlockVerdict v)
{
	switch (v) {
	case UnlockVerdict::Unlocks:
		return 0;
	case UnlockVerdict::Unknown:
		return 1;
	case UnlockVerdict::NeedsPassphrase:
		return 2;
	case UnlockVerdict::NeedsPassphraseAnyway:
		return 3;
	case UnlockVerdict::NotNeededAtBoot:
		return 4;
	}
	return 5;
}

/* The PCR values the kexec'd boot's unlock will see, when all are known
 * and predictable. */
std::optional<std::vector<std::pair<unsigned, TpmDigest>>> predictValues(const Tpm2Token &token, const BootFacts &boot)
{
	auto bank = boot.pcrs.find(token.bank);
	std::vector<std::pair<unsigned, TpmDigest>> values;
	for (unsigned pcr : token.pcrs) {
		/* PCR 10 (IMA: the new kernel measures its boot aggregate) and
		 * the resettable/debug PCRs 16-23 cannot be predicted. */
		if (pcr == 10 || pcr >= 16)
			return std::nullopt;
		if (bank == boot.pcrs.end())
			return std::nullopt;
		auto it = bank->second.find(pcr);
		if (it == bank->second.end())
			return std::nullopt;
		values.emplace_back(pcr, pcr == 11 ? predictPcr11(token.bank, it->second, boot.measuredUki) : it->second);
	}
	return values;
}

TokenVerdict exactMismatch(const Tpm2Token &token, const std::vector<std::pair<unsigned, TpmDigest>> &values)
{
	const std::string head = fmt::format(
		"token {}: the PolicyPCR digest of PCRs {} ({}) as the kexec'd boot will find them differs from its tpm2-policy-hash",
		token.id, pcrList(token.pcrs), pcrBankName(token.bank));
	/* PCR 15 sealed to zero ("no volume key measured yet") is the common
	 * case worth naming exactly: try it. */
	if (contains(token.pcrs, 15)) {
		auto zeroed = values;
		for (auto &[pcr, value] : zeroed)
			if (pcr == 15)
				value.assign(value.size(), 0);
		auto digest = policyPcr(policyStart(), token.bank, zeroed);
		if (digest && *digest == *token.policyHash)
			return { UnlockVerdict::NeedsPassphrase, 15,
				 head + ": PCR 15 must be zero when it unlocks, but this boot measured into PCR 15 and a kexec does not reset it" };
	}
	for (unsigned pcr : kStalePcrs)
		if (contains(token.pcrs, pcr))
			return { UnlockVerdict::NeedsPassphrase, pcr, fmt::format("{}; PCR {} decides: {}", head, pcr, staleWhy(pcr)) };
	if (contains(token.pcrs, 15))
		return { UnlockVerdict::NeedsPassphrase, 15,
			 head + "; PCR 15 decides: this boot measured into it and a kexec does not reset it" };
	const unsigned first = token.pcrs.empty() ? 0 : token.pcrs.front();
	return { UnlockVerdict::NeedsPassphrase, token.pcrs.empty() ? std::nullopt : std::optional<unsigned>(first),
		 head + ": the token does not match today's PCR values, which a kexec keeps (a firmware boot may not unlock it either)" };
}

TokenVerdict byRules(const Tpm2Token &token, const BootFacts &boot, const std::string &why)
{
	const std::string head = fmt::format("token {} (PCRs {}, {}", token.id, pcrList(token.pcrs), why);
	for (unsigned pcr : kStalePcrs)
		if (contains(token.pcrs, pcr))
			return { UnlockVerdict::NeedsPassphrase, pcr, fmt::format("{}): PCR {} decides: {}", head, pcr, staleWhy(pcr)) };
	if (contains(token.pcrs, 15)) {
		auto bank = boot.pcrs.find(token.bank);
		bool zero = false;
		if (bank != boot.pcrs.end())
			if (auto it = bank->second.find(15); it != bank->second.end())
				zero = std::all_of(it->second.begin(), it->second.end(), [](uint8_t b) { return b == 0; });
		if (!zero)
			return { UnlockVerdict::NeedsPassphrase, 15,
				 head + "): PCR 15 decides: it is sealed to its value before any volume key was measured, this boot "
					"measured into it (or kexecd cannot read it) and a kexec does not reset it" };
	}
	for (unsigned pcr : token.pcrs)
		if (pcr == 10 || pcr >= 16)
			return { UnlockVerdict::Unknown, pcr,
				 fmt::format("{}): kexecd cannot predict PCR {} after a kexec{}", head, pcr,
					     pcr == 10 ? " (IMA measures the new kernel's boot into it)" : "") };
	if (std::all_of(token.pcrs.begin(), token.pcrs.end(), [](unsigned pcr) { return firmwareOnly(pcr) || pcr == 15; }))
		return { UnlockVerdict::Unlocks, token.pcrs.empty() ? std::nullopt : std::optional<unsigned>(token.pcrs.back()),
			 token.pcrs.empty() ? head + "): bound to no PCR"
					    : head + "): only the firmware measures these PCRs and a kexec leaves them as they are" };
	return { UnlockVerdict::Unknown, std::nullopt, head + "): no rule covers these PCRs" };
}

TokenVerdict decideToken(const Tpm2Token &token, const BootFacts &boot)
{
	if (!token.error.empty())
		return { UnlockVerdict::Unknown, std::nullopt, token.error };
	if (token.pin)
		return { UnlockVerdict::NeedsPassphraseAnyway, std::nullopt,
			 fmt::format("token {} wants a TPM2 PIN: a person types it on every boot", token.id) };
	if (token.pcrlock)
		return { UnlockVerdict::NeedsPassphrase, 11,
			 fmt::format("token {} has a pcrlock policy: PCR 11 decides: pcrlock's PCRs (by default 0-5, 7, 11-15) "
				     "include PCR 11, which a kexec leaves holding this boot's measurements, and PCR 4, which lacks "
				     "the next kernel's; the measurement log pcrlock replays (/run/log/systemd/tpm2-measure.log) is gone",
				     token.id) };
	if (token.hasPubkey) {
		if (contains(token.pubkeyPcrs, 11))
			return { UnlockVerdict::NeedsPassphrase, 11,
				 fmt::format("token {} has a signed PCR 11 policy (tpm2_pubkey_pcrs {}): PCR 11 decides: its signatures{} "
					     "are for PCR 11 measured from zero by systemd-stub and the boot phases; a kexec does not reset "
					     "PCR 11, so no signature matches (\"Couldn't find signature\")",
					     token.id, pcrList(token.pubkeyPcrs),
					     boot.targetHasPcrsig ? " (the staged kernel's .pcrsig)" : " (the staged kernel carries no .pcrsig)") };
		return { UnlockVerdict::Unknown, token.pubkeyPcrs.empty() ? std::nullopt : std::optional<unsigned>(token.pubkeyPcrs.front()),
			 fmt::format("token {} has a signed policy over PCRs {}: kexecd cannot tell which signatures the next boot finds",
				     token.id, pcrList(token.pubkeyPcrs)) };
	}
	if (!token.policyHash)
		return byRules(token, boot, "no tpm2-policy-hash to predict against");
	auto values = predictValues(token, boot);
	if (!values)
		return byRules(token, boot, "the PCR values are not all known");
	auto digest = policyPcr(policyStart(), token.bank, *values);
	if (!digest)
		return byRules(token, boot, "the PCR values are malformed");
	if (*digest == *token.policyHash)
		return { UnlockVerdict::Unlocks, token.pcrs.empty() ? std::nullopt : std::optional<unsigned>(token.pcrs.back()),
			 fmt::format("token {}: the PolicyPCR digest of PCRs {} ({}) as the kexec'd boot will find them{} equals its "
				     "tpm2-policy-hash",
				     token.id, pcrList(token.pcrs), pcrBankName(token.bank),
				     contains(token.pcrs, 11) && boot.measuredUki
					     ? " (PCR 11 after \"shutdown\", \"final\" and \"enter-initrd\")"
					     : "") };
	return exactMismatch(token, *values);
}

/* Tokens of other types: FIDO2 and PKCS#11 want a person (a touch, a
 * PIN); any other (clevis's network or TPM pins, a vendor's) may unlock
 * unattended and may depend on PCRs: kexecd cannot tell. */
TokenVerdict decideOtherToken(const OtherToken &token)
{
	if (token.type == "systemd-fido2" || token.type == "systemd-pkcs11")
		return { UnlockVerdict::NeedsPassphraseAnyway, std::nullopt,
			 fmt::format("token {} ({}) wants a person on every boot, kexec or not", token.id, token.type) };
	return { UnlockVerdict::Unknown, std::nullopt,
		 fmt::format("token {} has type '{}': kexecd cannot tell whether it unlocks without a person after a kexec",
			     token.id, token.type) };
}

VolumeAssessment decideVolume(const VolumeFacts &facts, const BootFacts &boot)
{
	VolumeAssessment a;
	const CrypttabEntry &entry = facts.entry;
	a.volume = entry.volume.empty() ? fmt::format("(crypttab line {})", entry.line) : entry.volume;
	a.device = displayText(entry.device);
	auto set = [&](UnlockVerdict v, std::optional<unsigned> pcr, std::string reason) {
		a.unattended = v;
		a.decidingPcr = pcr;
		a.reason = std::move(reason);
	};
	if (facts.luks) {
		std::set<unsigned> pcrs, signedPcrs;
		for (const auto &token : facts.luks->tpm2) {
			pcrs.insert(token.pcrs.begin(), token.pcrs.end());
			signedPcrs.insert(token.pubkeyPcrs.begin(), token.pubkeyPcrs.end());
			a.pcrlock = a.pcrlock || token.pcrlock;
		}
		a.pcrs.assign(pcrs.begin(), pcrs.end());
		a.signedPolicyPcrs.assign(signedPcrs.begin(), signedPcrs.end());
	}
	if (!entry.error.empty()) {
		set(UnlockVerdict::Unknown, std::nullopt, fmt::format("crypttab line {}: {}", entry.line, entry.error));
	} else if (!entry.keyFile.empty()) {
		/* Before the header: plain dm-crypt swap with a random key has none. */
		set(UnlockVerdict::Unlocks, std::nullopt,
		    fmt::format("crypttab names the key file '{}': unlocking with it does not involve the TPM",
				displayText(entry.keyFile)));
	} else if (!facts.luks) {
		set(UnlockVerdict::Unknown, std::nullopt, facts.readError.empty() ? "the device was not read" : facts.readError);
	} else {
		const Luks2Facts &luks = *facts.luks;
		if (luks.tpm2.empty() && luks.otherTokens.empty()) {
			set(UnlockVerdict::NeedsPassphraseAnyway, std::nullopt,
			    "no token, only keyslots: a person types a passphrase on every boot, kexec or not");
		} else {
			TokenVerdict best;
			best.verdict = UnlockVerdict::NotNeededAtBoot; // ranks below every token verdict
			auto consider = [&](TokenVerdict v) {
				if (rank(v.verdict) < rank(best.verdict))
					best = std::move(v);
			};
			for (const auto &token : luks.tpm2)
				consider(decideToken(token, boot));
			for (const auto &token : luks.otherTokens)
				consider(decideOtherToken(token));
			if (best.verdict == UnlockVerdict::NeedsPassphrase && luks.freeKeyslots.empty())
				best.reason += "; no keyslot outside the tokens: no passphrase unlocks it either";
			set(best.verdict, best.pcr, std::move(best.reason));
		}
	}
	if (entry.headless && (a.unattended == UnlockVerdict::NeedsPassphrase || a.unattended == UnlockVerdict::Unknown ||
			       a.unattended == UnlockVerdict::NeedsPassphraseAnyway))
		a.reason += "; headless: systemd-cryptsetup fails instead of asking";
	a.verdict = a.unattended;
	if (entry.error.empty() && (entry.noauto || entry.nofail)) {
		a.verdict = UnlockVerdict::NotNeededAtBoot;
		a.reason = fmt::format("{}: the boot does not wait for it; unattended it would be '{}': {}",
				       entry.noauto ? "noauto" : "nofail", unlockVerdictName(a.unattended), a.reason);
	}
	return a;
}

} // namespace

const char *unlockVerdictName(UnlockVerdict verdict)
{
	switch (verdict) {
	case UnlockVerdict::Unlocks:
		return "unlocks";
	case UnlockVerdict::NeedsPassphrase:
		return "needs_passphrase";
	case UnlockVerdict::NeedsPassphraseAnyway:
		return "needs_passphrase_anyway";
	case UnlockVerdict::NotNeededAtBoot:
		return "not_needed_at_boot";
	case UnlockVerdict::Unknown:
		return "unknown";
	}
	return "unknown";
}

bool blocksKexec(UnlockVerdict verdict)
{
	return verdict == UnlockVerdict::NeedsPassphrase || verdict == UnlockVerdict::Unknown;
}

TpmDigest predictPcr11(PcrBank bank, const TpmDigest &today, bool measuredUki)
{
	if (!measuredUki)
		return today;
	/* systemd-pcrphase.service's ExecStop, systemd-pcrphase-sysinit.service's
	 * ExecStop, then the next initrd's systemd-pcrphase-initrd.service,
	 * ordered before cryptsetup-pre.target. */
	TpmDigest pcr = today;
	for (const char *word : { "shutdown", "final", "enter-initrd" })
		pcr = pcrExtendWord(bank, pcr, word);
	return pcr;
}

std::vector<VolumeAssessment> decideUnlock(const std::vector<VolumeFacts> &volumes, const BootFacts &boot)
{
	std::vector<VolumeAssessment> out;
	out.reserve(volumes.size());
	for (const auto &v : volumes)
		out.push_back(decideVolume(v, boot));
	return out;
}

BootFacts readBootFacts(const UnlockPaths &paths, const std::vector<VolumeFacts> &volumes)
{
	BootFacts boot;
	boot.measuredUki = ::access((paths.efivarsDir + "/" + kStubPcrKernelImage).c_str(), F_OK) == 0;
	std::set<PcrBank> banks;
	for (const auto &v : volumes)
		if (v.luks)
			for (const auto &token : v.luks->tpm2)
				if (token.error.empty())
					banks.insert(token.bank);
	for (PcrBank bank : banks)
		for (unsigned pcr = 0; pcr < 24; pcr++)
			if (auto value = readSysfsPcr(paths.tpmDir, bank, pcr))
				boot.pcrs[bank][pcr] = std::move(*value);
	return boot;
}

std::vector<VolumeAssessment> checkUnlock(const UnlockPaths &paths, bool targetHasPcrsig, bool targetHasPcrpkey,
					  const CrypttabLimits &crypttabLimits, const Luks2ReadLimits &readLimits)
{
	auto tab = readCrypttab(paths.crypttab, crypttabLimits);
	if (!tab) {
		VolumeAssessment a;
		a.volume = "crypttab";
		a.device = displayText(paths.crypttab);
		a.reason = tab.error().message;
		return { a };
	}
	std::vector<VolumeFacts> volumes;
	for (auto &entry : tab->entries) {
		VolumeFacts facts;
		facts.entry = std::move(entry);
		if (facts.entry.error.empty()) {
			facts.device = crypttabDevicePath(facts.entry);
			auto luks = readLuks2Facts(paths.devRoot, facts.device, readLimits);
			if (luks)
				facts.luks = std::move(*luks);
			else
				facts.readError = luks.error().message;
		}
		volumes.push_back(std::move(facts));
	}
	BootFacts boot = readBootFacts(paths, volumes);
	boot.targetHasPcrsig = targetHasPcrsig;
	boot.targetHasPcrpkey = targetHasPcrpkey;
	return decideUnlock(volumes, boot);
}

nlohmann::json unlockJson(const std::vector<VolumeAssessment> &assessments)
{
	auto list = nlohmann::json::array();
	for (const auto &a : assessments) {
		nlohmann::json j;
		j["volume"] = displayText(a.volume);
		j["device"] = displayText(a.device);
		j["pcrs"] = a.pcrs;
		j["signed_policy_pcrs"] = a.signedPolicyPcrs;
		j["pcrlock"] = a.pcrlock;
		j["unlocks_after_kexec"] = a.unlocksAfterKexec();
		j["verdict"] = unlockVerdictName(a.verdict);
		j["reason"] = displayText(a.reason);
		list.push_back(std::move(j));
	}
	return list;
}

} // namespace kexecd
