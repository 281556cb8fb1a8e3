#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The extra inputs of the e2e-bpf-reference test (run-e2e.sh bpf-reference), next to the UKIs
# make-e2e-ukis.sh built in UKIS:
#   parsers/good.elf       the signed parser container kexecd installs (.bpf.1 = UKI parser)
#   parsers/nested.elf     the same signed, plus .bpf.nested = the zboot parser (signed on its own)
#   parsers/tampered.elf   good.elf with one byte of .bpf.1 changed after signing
#   parsers/unsigned.elf   good.elf without its appended signature
#   parser.der, parser.pem the certificate of the key that signed them
#   zboot-gzip.efi, zboot-zstd.efi   UKIs whose .linux is a zboot PE wrapping VMLINUZ compressed
#                          with gzip / zstd (x86 has no zboot; the nested layer's DECOMPRESS gives
#                          back the bzImage, which kexec_file_load takes)
#   big.efi                a UKI whose .linux is larger than the BPF parser's 128 MiB - 4 KiB
#   linux.addon.efi        an addon that carries a .linux section
#   a.addon.ima            security.ima for the unsigned a.addon.efi: an IMA v2 signature (evmctl
#                          ima_sign's format) over its SHA-256 with db.key (make-e2e-ukis.sh), which
#                          the reference kernel side's IMA_CHECK verifies
#
# usage: make-bpf-ref-inputs.sh UKIS VMLINUZ CONTAINER NESTED_CONTAINER CERT      prints UKIS
set -euo pipefail
# Prints only the output directory on stdout (fd 3 here); objcopy, sbsign and the rest write to
# stderr.
exec 3>&1 1>&2

ukis=${1:?usage}
vmlinuz=${2:?usage}
container=${3:?usage}
nested=${4:?usage}
cert=${5:?usage}
here=$(cd "$(dirname "$0")" && pwd)
stub=${KEXECD_EFI_STUB:-/usr/lib/systemd/boot/efi/linuxx64.efi.stub}
py=/usr/bin/python3
addsec=$here/pe-add-sections.py

mkdir -p "$ukis/parsers"
tmp=$(mktemp -d "$ukis/.bpfref.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cp "$container" "$ukis/parsers/good.elf"
cp "$nested" "$ukis/parsers/nested.elf"
openssl x509 -in "$cert" -outform DER -out "$ukis/parser.der"
openssl x509 -in "$cert" -out "$ukis/parser.pem"
# One byte in the middle of .bpf.1 (inside opts_insn or opts_data), after signing.
"$py" - "$container" "$ukis/parsers/tampered.elf" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
shoff, = struct.unpack_from('<Q', d, 0x28)
shnum, shstrndx = struct.unpack_from('<HH', d, 0x3c)
stroff, = struct.unpack_from('<Q', d, shoff + 64 * shstrndx + 0x18)
for i in range(1, shnum):
    name, = struct.unpack_from('<I', d, shoff + 64 * i)
    if d[stroff + name:stroff + name + 7] == b'.bpf.1\0':
        off, size = struct.unpack_from('<QQ', d, shoff + 64 * i + 0x18)
        d[off + size // 2] ^= 0x01
        break
else:
    sys.exit('no .bpf.1')
open(sys.argv[2], 'wb').write(d)
PY

"$py" - "$container" "$ukis/parsers/unsigned.elf" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
marker = b'~Module signature appended~\n'
assert d.endswith(marker), 'container is not signed'
sig_len, = struct.unpack_from('>I', d, len(d) - len(marker) - 4)
open(sys.argv[2], 'wb').write(d[:len(d) - len(marker) - 12 - sig_len])
PY

# Sections of e2e-uki.efi, to rebuild UKIs around another .linux.
"$py" - "$ukis/e2e-uki.efi" "$tmp" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
pe, = struct.unpack_from('<I', d, 0x3c)
nsec, = struct.unpack_from('<H', d, pe + 6)
opt, = struct.unpack_from('<H', d, pe + 20)
for i in range(nsec):
    s = pe + 24 + opt + 40 * i
    name = d[s:s + 8].rstrip(b'\0').decode()
    vsize, _, rawsize, rawptr = struct.unpack_from('<IIII', d, s + 8)
    if name in ('.osrel', '.cmdline', '.uname', '.initrd'):
        open(sys.argv[2] + '/' + name[1:], 'wb').write(d[rawptr:rawptr + min(vsize or rawsize, rawsize)])
PY
uki_around() { # $1 = output, $2 = .linux file
	"$py" "$addsec" "$stub" "$1" .osrel="$tmp/osrel" .cmdline="$tmp/cmdline" .uname="$tmp/uname" \
		.initrd="$tmp/initrd" .linux="$2"
}

# zboot images around a plain stub (make-zboot.py: the kernel's zboot-header.S layout; for zstd,
# zstd22 with the kernel's size_append trailer).
"$py" "$here/make-zboot.py" "$stub" "$vmlinuz" "$tmp/zboot-gzip.pe" gzip 6
"$py" "$here/make-zboot.py" "$stub" "$vmlinuz" "$tmp/zboot-zstd.pe" zstd 3
uki_around "$ukis/zboot-gzip.efi" "$tmp/zboot-gzip.pe"
uki_around "$ukis/zboot-zstd.efi" "$tmp/zboot-zstd.pe"

# 128 MiB: above PC_PAYLOAD_MAX (128 MiB - 4 KiB). Zeros after the real kernel, so the image
# compresses to almost nothing in the first stage's initramfs.
cp "$vmlinuz" "$tmp/big-linux"
truncate -s $((128 * 1024 * 1024)) "$tmp/big-linux"
uki_around "$ukis/big.efi" "$tmp/big-linux"

"$py" "$addsec" "$ukis/a.addon.efi" "$ukis/linux.addon.efi" .linux="$vmlinuz"
# IMA v2 signature (security/integrity/integrity.h struct signature_v2_hdr): type 3 (digsig),
# version 2, hash algo 4 (SHA-256), keyid = the last 4 bytes of the signer's SKID (big endian),
# sig_size (big endian), then RSA PKCS#1 v1.5 over the file's SHA-256.
openssl dgst -sha256 -binary "$ukis/a.addon.efi" >"$tmp/a.digest"
openssl pkeyutl -sign -inkey "$ukis/db.key" -pkeyopt digest:sha256 -in "$tmp/a.digest" -out "$tmp/a.sig"
skid=$(openssl x509 -in "$ukis/db.crt" -noout -ext subjectKeyIdentifier | tail -n1 | tr -d ' :')
[ ${#skid} -ge 8 ] || { echo "make-bpf-ref-inputs: db.crt has no subject key identifier" >&2; exit 1; }
"$py" - "$tmp/a.sig" "${skid: -8}" "$ukis/a.addon.ima" <<'PY'
import struct, sys
sig = open(sys.argv[1], 'rb').read()
open(sys.argv[3], 'wb').write(struct.pack('>BBBIH', 3, 2, 4, int(sys.argv[2], 16), len(sig)) + sig)
PY

echo "make-bpf-ref-inputs: built parser containers, zboot, oversize and .linux-addon inputs in $ukis" >&2
echo "$ukis" >&3
