#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What the arm64 e2e (run-e2e-arm64.sh, issue 31) stages: UKIs built with Debian's arm64
# systemd-stub (linuxaa64.efi.stub) around Debian's arm64 Image, as a zboot kernel too, a per-UKI
# addon pair and a plain kernel's parts. The host's objcopy knows no arm64 PE, so the sections are
# appended with pe-add-sections.py (page-aligned after the stub's, as ukify places them).
#
# usage: make-arm64-ukis.sh OUTDIR IMAGE UNAME GUEST     prints OUTDIR
#   IMAGE  the uncompressed arm64 Image (tests/fixtures/fetch-arm64-kernel.sh)
#   GUEST  fetch-arm64-guest.sh's directory: root/bin/busybox (arm64, static) and the stub
#
# OUTDIR gets:
#   e2e-uki.efi          .cmdline "console=ttyAMA0 kexecd.uki=1", .linux = IMAGE, .initrd = the
#                        marker initrd gzip'd to an ODD size: kexecd must pad it to 4 bytes or the
#                        kernel drops every archive after it (issue 9)
#   zboot-gzip.efi, zboot-zstd.efi   the same with .linux = IMAGE as a zboot PE
#                        (drivers/firmware/efi/libstub/zboot-header.S), gzip / zstd22
#   a.addon.efi          .cmdline "kexecd.addon=1"
#   b.addon.efi          .cmdline "kexecd.addon2=1", .initrd adds etc/kexecd-addon-marker
#   parts/vmlinuz, parts/initrd.cpio   the kernel and initrd kexecd must compose from a UKI and
#                        both addons: IMAGE (a zboot's payload unpacked is IMAGE again, byte for
#                        byte), and the odd initrd, its zero padding, the stub's /.extra/os-release
#                        archive, b's initrd
#   plain/               a Type #1 entry's parts: vmlinuz (= IMAGE), a.cpio.gz (odd-sized),
#                        b.cpio, cmdline
set -euo pipefail
exec 3>&1 1>&2

usage="usage: make-arm64-ukis.sh OUTDIR IMAGE UNAME GUEST"
out=${1:?$usage}
image=${2:?$usage}
uname_str=${3:?$usage}
guest=${4:?$usage}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
stub=$guest/root/usr/lib/systemd/boot/efi/linuxaa64.efi.stub
busybox=$guest/root/bin/busybox
addsec=$here/pe-add-sections.py

for tool in gzip zstd; do
	command -v "$tool" >/dev/null || { echo "make-arm64-ukis: $tool missing" >&2; exit 77; }
done
[ -r "$stub" ] || { echo "make-arm64-ukis: $stub missing" >&2; exit 1; }
[ -x "$busybox" ] || { echo "make-arm64-ukis: $busybox missing" >&2; exit 1; }

mkdir -p "$out"
tmp=$(mktemp -d "$out/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# make_marker_initrd
. "$here/lib-e2e.sh"

make_marker_initrd "$tmp/uki-initrd.cpio" kexecd-uki-marker uki
# gzip levels until the size is odd: the padding is what this proves.
for level in 9 8 7 6 5 4 3 2 1; do
	gzip -n -"$level" -c "$tmp/uki-initrd.cpio" >"$tmp/a.cpio.gz"
	[ $(( $(stat -c %s "$tmp/a.cpio.gz") % 2 )) = 1 ] && break
done
[ $(( $(stat -c %s "$tmp/a.cpio.gz") % 2 )) = 1 ] || { echo "make-arm64-ukis: no odd-sized gzip initrd" >&2; exit 1; }
mkdir -p "$tmp/addon-root/etc"
echo addon-b >"$tmp/addon-root/etc/kexecd-addon-marker"
echo addon-b >"$tmp/addon-root/etc/kexecd-order"
"$py" "$here/mkcpio.py" "$tmp/addon-root" "$tmp/b-initrd.cpio"

cat >"$tmp/osrel" <<EOF
ID=kexecd-e2e
NAME="kexecd e2e"
VERSION_ID=1
PRETTY_NAME="kexecd e2e test UKI (arm64)"
EOF
printf '%s' "$uname_str" >"$tmp/uname"
printf '%s' "console=ttyAMA0 kexecd.uki=1" >"$tmp/cmdline-uki"
printf '%s' "kexecd.addon=1" >"$tmp/cmdline-a"
printf '%s' "kexecd.addon2=1" >"$tmp/cmdline-b"

# zboot images in the arm64 stub's envelope, so Machine says arm64 as a real one does
# (make-zboot.py: the kernel's zboot-header.S layout; for zstd, zstd22 with the size trailer).
"$py" "$here/make-zboot.py" "$stub" "$image" "$tmp/zboot-gzip.pe" gzip 9
"$py" "$here/make-zboot.py" "$stub" "$image" "$tmp/zboot-zstd.pe" zstd 9

uki_around() { # $1 = output, $2 = .linux
	"$py" "$addsec" "$stub" "$1" .osrel="$tmp/osrel" .cmdline="$tmp/cmdline-uki" .uname="$tmp/uname" \
		.initrd="$tmp/a.cpio.gz" .linux="$2"
}
uki_around "$out/e2e-uki.efi" "$image"
uki_around "$out/zboot-gzip.efi" "$tmp/zboot-gzip.pe"
uki_around "$out/zboot-zstd.efi" "$tmp/zboot-zstd.pe"
"$py" "$addsec" "$stub" "$out/a.addon.efi" .cmdline="$tmp/cmdline-a"
"$py" "$addsec" "$stub" "$out/b.addon.efi" .cmdline="$tmp/cmdline-b" .initrd="$tmp/b-initrd.cpio"

# The composition, written from the stub's rule (each part zero-padded to 4 bytes when there is
# more than one), not from kexecd's code.
"$py" "$here/stub-osrel.py" "$tmp/osrel" "$tmp/osrel.cpio"
mkdir -p "$out/parts" "$out/plain"
cp "$image" "$out/parts/vmlinuz"
"$py" - "$out/parts/initrd.cpio" "$tmp/a.cpio.gz" "$tmp/osrel.cpio" "$tmp/b-initrd.cpio" <<'PY'
import sys
with open(sys.argv[1], 'wb') as out:
    for path in sys.argv[2:]:
        data = open(path, 'rb').read()
        out.write(data + b'\0' * (-len(data) % 4))
PY
expected="console=ttyAMA0 kexecd.uki=1 kexecd.addon=1 kexecd.addon2=1"
printf '%s' "$expected" >"$out/parts/cmdline"
printf '%s\n' "$expected" >"$out/expected-cmdline"

cp "$image" "$out/plain/vmlinuz"
cp "$tmp/a.cpio.gz" "$out/plain/a.cpio.gz"
cp "$tmp/b-initrd.cpio" "$out/plain/b.cpio"
printf '%s' 'console=ttyAMA0 kexecd.plain=1 kexecd.quoted="a b"' >"$out/plain/cmdline"
echo "make-arm64-ukis: arm64 UKIs (odd first initrd: $(stat -c %s "$tmp/a.cpio.gz") bytes)," \
	"zboot and plain inputs in $out" >&2
echo "$out" >&3
