// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// What a LUKS2 header says about unlocking without a person: its
// systemd-tpm2 tokens (systemd-cryptenroll's JSON, read through
// libcryptsetup, never by hand) and whether a keyslot outside every token
// exists (a passphrase or recovery key a person could type). Read-only:
// only the named path is opened, O_RDONLY|O_NONBLOCK, below a root, and it
// must be a block device or a regular file; libcryptsetup's external token
// plugins and metadata locking are off.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "pcr_policy.h"
#include "result.h"

namespace kexecd {

/* One "systemd-tpm2" token (systemd's tpm2_parse_luks2_json fields). */
struct Tpm2Token {
	int id = -1;                    // LUKS2 token number
	std::vector<int> keyslots;      // "keyslots"
	std::vector<unsigned> pcrs;     // "tpm2-pcrs": bound by PolicyPCR to enrolment-time values
	PcrBank bank = PcrBank::Sha256; // "tpm2-pcr-bank" (absent before systemd 250: sha256)
	std::optional<TpmDigest> policyHash;  // "tpm2-policy-hash"
	std::vector<unsigned> pubkeyPcrs;     // "tpm2_pubkey_pcrs": a signed policy (PolicyAuthorize)
	bool hasPubkey = false;               // "tpm2_pubkey"
	bool pcrlock = false;                 // "tpm2_pcrlock": a pcrlock policy (PolicyAuthorizeNV)
	bool pin = false;                     // "tpm2-pin": a person types a PIN
	/* Non-empty: the token's JSON is not what systemd writes (the volume's
	 * verdict is then "unknown" unless another token decides). */
	std::string error;
};

/* A token of another type (systemd-fido2, systemd-pkcs11, clevis, ...). */
struct OtherToken {
	int id = -1;
	std::string type; // display text
};

struct Luks2Facts {
	std::string path;               // as opened (below the root)
	std::vector<Tpm2Token> tpm2;    // systemd-tpm2 tokens, broken ones with their error
	std::vector<OtherToken> otherTokens;
	std::vector<int> activeKeyslots;
	/* Active keyslots no token lists and that a passphrase unlock tries
	 * (priority not "ignore"): a passphrase, recovery key or key file. */
	std::vector<int> freeKeyslots;
};

struct Luks2ReadLimits {
	size_t maxTokenJson = 64 * 1024; // per token; systemd's are a few KiB
	/* The whole read (open, header, tokens); a device that does not answer
	 * in time is an error, and the reading thread is left behind. */
	std::chrono::milliseconds timeout { 5000 };
	/* Reads left behind that may still be running at once: past this,
	 * new reads fail at once instead of leaving more threads behind. */
	unsigned maxInFlight = 8;
};

/* Opens path (absolute) beneath root (RESOLVE_IN_ROOT: /dev/disk/by-uuid's
 * links resolve inside it; "/" on a real system) and reads the header.
 * Errors: a missing path, a FIFO, a directory, a socket or character
 * device (InvalidArgument), not LUKS2 (InvalidImage), a timeout or a read
 * error (Io); each message names the path. */
Result<Luks2Facts> readLuks2Facts(const std::string &root, const std::string &path,
				  const Luks2ReadLimits &limits = {});

/* Reads started and not yet finished (threads a timeout left behind
 * included); tests wait for 0 before they exit. */
unsigned luks2ReadsInFlight();

/* Parses one token's JSON as systemd writes a systemd-tpm2 token (exposed
 * for tests and for callers with the JSON in hand). */
Tpm2Token parseTpm2TokenJson(int id, const std::string &json);

} // namespace kexecd
