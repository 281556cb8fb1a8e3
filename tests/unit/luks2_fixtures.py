#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real LUKS2 images for test_unlock_check, made at test time.

Each image is a 20 MiB file formatted by the real `cryptsetup luksFormat`
(LUKS2, PBKDF2 at 1000 iterations so it is quick) with keyslot 0 from a key
file, and given a token by the real `cryptsetup token import`, in the JSON
systemd-cryptenroll writes (type "systemd-tpm2"). No header byte is written
by hand.

The tokens' tpm2-policy-hash values are computed here with hashlib, an
implementation of TPM2_PolicyPCR independent of kexecd's C++ one, for the
fake PCR values the test writes to its fake sysfs: PCR i holds 32 bytes of
value i (sha256 bank), so PCR 15 is not zero ("this boot measured into it").

Usage: luks2_fixtures.py OUTDIR. Exit 77 when cryptsetup is missing.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys

TPM_CC_POLICY_PCR = 0x0000017F
TPM_ALG_SHA256 = 0x000B


def today(pcr):
    return bytes([pcr]) * 32


def policy_pcr(values, old=bytes(32)):
    """TPM2_PolicyPCR in a SHA-256 session, sha256 bank: values is {pcr: bytes}."""
    select = bytearray(3)
    concat = b""
    for pcr in sorted(values):
        select[pcr // 8] |= 1 << (pcr % 8)
        concat += values[pcr]
    selection = (1).to_bytes(4, "big") + TPM_ALG_SHA256.to_bytes(2, "big") + bytes([3]) + bytes(select)
    data = old + TPM_CC_POLICY_PCR.to_bytes(4, "big") + selection + hashlib.sha256(concat).digest()
    return hashlib.sha256(data).digest()


def extend_word(pcr, word):
    return hashlib.sha256(pcr + hashlib.sha256(word.encode()).digest()).digest()


def pcr11_after_kexec(value):
    """systemd-pcrphase: "shutdown", "final" now, "enter-initrd" in the next initrd."""
    for word in ("shutdown", "final", "enter-initrd"):
        value = extend_word(value, word)
    return value


def tpm2_token(pcrs, policy, **extra):
    token = {
        "type": "systemd-tpm2",
        "keyslots": ["1"],
        "tpm2-blob": base64.b64encode(b"\0sealed blob stand-in").decode(),
        "tpm2-pcrs": pcrs,
        "tpm2-pcr-bank": "sha256",
        "tpm2-primary-alg": "ecc",
        "tpm2-policy-hash": policy.hex(),
        "tpm2-pin": False,
        "tpm2_pcrlock": False,
        "tpm2_pubkey_pcrs": [],
    }
    token.update(extra)
    return token


FAKE_PUBKEY = base64.b64encode(b"-----BEGIN PUBLIC KEY-----\nstand-in\n-----END PUBLIC KEY-----\n").decode()

# name -> list of token JSON objects (or raw JSON text for tokens that systemd would not write).
CASES = {
    # Bound to PCR 7 with today's value: unlocks (the digest is the tpm2_policypcr vector too).
    "pcr7": [tpm2_token([7], policy_pcr({7: today(7)}))],
    # Bound to PCR 7, sealed to another value (the firmware's db changed since).
    "pcr7-other": [tpm2_token([7], policy_pcr({7: bytes([0xAA]) * 32}))],
    # systemd-cryptenroll --tpm2-public-key (signed PCR 11) plus PCR 7.
    "signed11": [tpm2_token([7], policy_pcr({7: today(7)}), tpm2_pubkey_pcrs=[11], tpm2_pubkey=FAKE_PUBKEY)],
    # systemd-cryptenroll --tpm2-pcrlock=.
    "pcrlock": [tpm2_token([], bytes(32), tpm2_pcrlock=True)],
    # PCR 7 and PCR 15 sealed to zero (no volume key measured yet).
    "pcr15-zero": [tpm2_token([7, 15], policy_pcr({7: today(7), 15: bytes(32)}))],
    # PCR 7 and PCR 11 sealed to what the kexec'd initrd will have: exact prediction.
    "pcr11-predicted": [tpm2_token([7, 11], policy_pcr({7: today(7), 11: pcr11_after_kexec(today(11))}))],
    # PCR 4 sealed to today's value: a kexec keeps it, so it matches.
    "pcr4-today": [tpm2_token([4], policy_pcr({4: today(4)}))],
    # PCR 12 with no tpm2-policy-hash (older systemd): the rules decide. Its token holds the
    # only keyslot (systemd-cryptenroll --wipe-slot=password): no passphrase is left.
    "pcr12-nohash": [dict({k: v for k, v in tpm2_token([12], bytes(32)).items() if k != "tpm2-policy-hash"},
                          keyslots=["0"])],
    # PCR 7 with a PIN: a person on every boot.
    "pin": [tpm2_token([7], policy_pcr({7: today(7)}), **{"tpm2-pin": True})],
    # A signed PCR 11 token and a PCR 7 token: the PCR 7 one unlocks.
    "two-tokens": [
        tpm2_token([], bytes(32), tpm2_pubkey_pcrs=[11], tpm2_pubkey=FAKE_PUBKEY),
        dict(tpm2_token([7], policy_pcr({7: today(7)})), keyslots=["2"]),
    ],
    # Passphrase only.
    "passphrase": [],
    # JSON that cryptsetup takes but systemd would not have written.
    "broken-token": ['{"type":"systemd-tpm2","keyslots":["0"],"tpm2-blob":"AA==","tpm2-pcrs":"seven"}'],
    # A token type kexecd does not know (clevis, a vendor's).
    "unknown-type": ['{"type":"x-vendor-unlock","keyslots":["0"],"server":"https://example.invalid"}'],
    # A FIDO2 token: a person touches the key.
    "fido2": ['{"type":"systemd-fido2","keyslots":["0"],"fido2-credential":"AA==","fido2-salt":"AA==","fido2-rp":"io.systemd.cryptsetup"}'],
}

# Keyslot 0 is the passphrase (the key file); systemd-tpm2 tokens hold keyslot 1 (and 2), as
# systemd-cryptenroll adds them next to it. Images whose tokens name no keyslot above 0 get none.

UUID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: luks2_fixtures.py OUTDIR")
    if not shutil.which("cryptsetup"):
        print("cryptsetup is missing (Debian: cryptsetup-bin)", file=sys.stderr)
        sys.exit(77)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    key = os.path.join(out, "key")
    with open(key, "wb") as f:
        f.write(b"fixture passphrase, not a secret")
    manifest = {}
    for name, tokens in CASES.items():
        img = os.path.join(out, name + ".img")
        with open(img, "wb") as f:
            f.truncate(20 * 1024 * 1024)
        extra = ["--uuid", UUID] if name == "pcr7" else []
        run("cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
            "--pbkdf-force-iterations", "1000", *extra, img, key)
        slots = sorted({int(k) for t in tokens if not isinstance(t, str) for k in t["keyslots"]} - {0})
        for slot in slots:
            run("cryptsetup", "luksAddKey", "--batch-mode", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations",
                "1000", "--key-file", key, "--new-key-slot", str(slot), img, key)
        for i, token in enumerate(tokens):
            path = os.path.join(out, f"{name}.token{i}.json")
            with open(path, "w") as f:
                f.write(token if isinstance(token, str) else json.dumps(token))
            # --disable-external-tokens: systemd's token plugin would validate (and refuse the broken ones).
            run("cryptsetup", "token", "import", "--disable-external-tokens", "--json-file", path, img)
        manifest[name] = img
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"images": manifest, "uuid": UUID,
                   "pcr7_policy": policy_pcr({7: today(7)}).hex()}, f)


if __name__ == "__main__":
    main()
