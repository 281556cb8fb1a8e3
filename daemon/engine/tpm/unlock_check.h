// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Issue 27's unlock check: which crypttab volumes the next boot must
// unlock without a person, and whether their TPM2 tokens still unlock
// after a kexec, which resets no PCR. decideUnlock() is pure (crypttab
// entries, their LUKS2 facts and the running boot's facts in, one verdict
// per volume out); checkUnlock() gathers those facts from the machine.
// kexecd(8) "TPM2-BOUND VOLUMES" states the rules.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypttab.h"
#include "luks2_tokens.h"
#include "pcr_policy.h"

namespace kexecd {

enum class UnlockVerdict {
	Unlocks,               // a token (or key file) unlocks it after a kexec, without a person
	NeedsPassphrase,       // a firmware boot may unlock it by TPM; after a kexec no token can
	NeedsPassphraseAnyway, // no unattended unlock at all (no TPM token, a TPM PIN): a person on every boot
	NotNeededAtBoot,       // noauto or nofail: the boot does not wait for it
	Unknown,               // kexecd cannot tell; counts as NeedsPassphrase for automatic decisions
};

const char *unlockVerdictName(UnlockVerdict verdict); // "unlocks", "needs_passphrase", ...

/* True for the verdicts that speak against an unattended kexec:
 * NeedsPassphrase and Unknown. NeedsPassphraseAnyway does not: a person
 * is needed whether the reboot is a kexec or not. */
bool blocksKexec(UnlockVerdict verdict);

/* The running boot, as the next boot's unlock will find the TPM. */
struct BootFacts {
	/* StubPcrKernelImage exists: systemd believes the boot is a measured
	 * UKI, also after a kexec, so systemd-pcrphase extends PCR 11 with
	 * "shutdown" and "final" now and "enter-initrd" in the next initrd
	 * before it unlocks. */
	bool measuredUki = false;
	/* Today's PCR values by bank and index, as far as read; a PCR a
	 * token needs and this lacks makes the exact prediction impossible. */
	std::map<PcrBank, std::map<unsigned, TpmDigest>> pcrs;
	/* The staged kernel carries a .pcrsig / .pcrpkey (a kexec boot
	 * measures neither; for the reasons). */
	bool targetHasPcrsig = false;
	bool targetHasPcrpkey = false;
};

/* One crypttab line with what reading its device gave. */
struct VolumeFacts {
	CrypttabEntry entry;
	std::string device;                // the path opened ("" for a malformed line)
	std::optional<Luks2Facts> luks;    // set when the header was read
	std::string readError;             // else why not
};

struct VolumeAssessment {
	std::string volume;
	std::string device;
	std::vector<unsigned> pcrs;              // every systemd-tpm2 token's tpm2-pcrs, merged
	std::vector<unsigned> signedPolicyPcrs;  // tpm2_pubkey_pcrs, merged
	bool pcrlock = false;
	UnlockVerdict verdict = UnlockVerdict::Unknown;
	/* The verdict a boot that waits for the volume would get: equal to
	 * verdict except for NotNeededAtBoot, where it says what would happen. */
	UnlockVerdict unattended = UnlockVerdict::Unknown;
	std::optional<unsigned> decidingPcr;     // the PCR the verdict turns on, if one does
	std::string reason;

	bool unlocksAfterKexec() const { return unattended == UnlockVerdict::Unlocks; }
};

/* PCR 11 as the kexec'd boot's initrd will have it when it unlocks:
 * today's value, plus "shutdown", "final" and "enter-initrd" when
 * measuredUki. */
TpmDigest predictPcr11(PcrBank bank, const TpmDigest &today, bool measuredUki);

std::vector<VolumeAssessment> decideUnlock(const std::vector<VolumeFacts> &volumes, const BootFacts &boot);

/* Where checkUnlock() looks; every path a parameter (tests, KEXECD_SYSFS_ROOT). */
struct UnlockPaths {
	std::string crypttab = "/etc/crypttab";
	std::string devRoot = "/"; // crypttab's devices and /dev/disk/by-* are opened below it
	std::string efivarsDir = "/sys/firmware/efi/efivars";
	std::string tpmDir = "/sys/class/tpm/tpm0"; // pcr-<bank>/<N>
};

/* Reads the PCRs the tokens need and StubPcrKernelImage. */
BootFacts readBootFacts(const UnlockPaths &paths, const std::vector<VolumeFacts> &volumes);

/* Reads crypttab and every listed device and decides. Never fails: an
 * unreadable crypttab is one Unknown assessment named "crypttab". */
std::vector<VolumeAssessment> checkUnlock(const UnlockPaths &paths, bool targetHasPcrsig, bool targetHasPcrpkey,
					  const CrypttabLimits &crypttabLimits = {},
					  const Luks2ReadLimits &readLimits = {});

/* The plan's "tpm2" list: [{"volume", "device", "pcrs", "signed_policy_pcrs",
 * "pcrlock", "unlocks_after_kexec", "verdict", "reason"}]. */
nlohmann::json unlockJson(const std::vector<VolumeAssessment> &assessments);

} // namespace kexecd
