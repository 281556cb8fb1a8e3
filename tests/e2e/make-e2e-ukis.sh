#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Build the UKIs and addons the e2e test stages, from real tools the way ukify does it:
# systemd-boot's linuxx64.efi.stub + `objcopy --add-section`, each new section placed page aligned
# after the previous one. The fixture generator's UKIs carry a different initrd; these carry one
# whose /init prints the second-stage marker (stage2-init.sh) and powers off.
#
# usage: make-e2e-ukis.sh OUTDIR VMLINUZ [UNAME]      prints OUTDIR
#
# OUTDIR gets:
#   e2e-uki.efi            .cmdline "console=ttyS0 kexecd.uki=1", .initrd = marker initrd
#   e2e-uki2.efi           same kernel, .cmdline adds kexecd.second=1, its initrd has another marker file
#   a.addon.efi            .cmdline "kexecd.addon=1"
#   b.addon.efi            .cmdline "kexecd.addon2=1", .initrd adds etc/kexecd-addon-marker
#   e2e-uki.signed.efi, a.addon.signed.efi, b.addon.signed.efi   sbsign'ed with a throwaway key
#   e2e-uki.tampered.efi   the signed UKI with one .cmdline byte changed after signing
#   db.crt db.key          the throwaway signing certificate (PEM) and key
#   parts/vmlinuz parts/initrd.cpio parts/cmdline   the expected decomposition, for kexec-tools
#   expected-cmdline       what the second kernel's /proc/cmdline must be
#   uki2-initrd.cpio       e2e-uki2.efi's .initrd
#   parts-reversed/        the same with the addons composed in the wrong order (negative control)
set -euo pipefail
# Prints only the output directory on stdout (fd 3 here); objcopy, sbsign and the rest write to
# stderr.
exec 3>&1 1>&2

out=${1:?usage: make-e2e-ukis.sh OUTDIR VMLINUZ [UNAME]}
vmlinuz=${2:?usage: make-e2e-ukis.sh OUTDIR VMLINUZ [UNAME]}
uname_str=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
stub=${KEXECD_EFI_STUB:-/usr/lib/systemd/boot/efi/linuxx64.efi.stub}
busybox=${KEXECD_BUSYBOX:-/usr/bin/busybox}
py=/usr/bin/python3

for tool in objcopy objdump sbsign openssl; do
	command -v "$tool" >/dev/null || { echo "make-e2e-ukis: $tool missing" >&2; exit 77; }
done
[ -r "$stub" ] || { echo "make-e2e-ukis: $stub missing (systemd-boot-efi)" >&2; exit 77; }
[ -x "$busybox" ] || { echo "make-e2e-ukis: $busybox missing (busybox-static)" >&2; exit 77; }

mkdir -p "$out"
tmp=$(mktemp -d "$out/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# make_marker_initrd
. "$here/lib-e2e.sh"

if [ -z "$uname_str" ]; then
	# The bzImage carries its version string (setup header field kernel_version at 0x20e, an
	# offset from 0x200); keep .uname consistent with it whatever the file is called.
	uname_str=$("$py" -c '
import struct, sys
d = open(sys.argv[1], "rb").read(0x10000)
off = struct.unpack_from("<H", d, 0x20e)[0] + 0x200
print(d[off:d.index(b"\0", off)].split()[0].decode())' "$vmlinuz")
fi


make_marker_initrd "$tmp/uki-initrd.cpio" kexecd-uki-marker uki
make_marker_initrd "$tmp/uki2-initrd.cpio" kexecd-uki2-marker uki2

mkdir -p "$tmp/addon-root/etc"
echo addon-b >"$tmp/addon-root/etc/kexecd-addon-marker"
echo addon-b >"$tmp/addon-root/etc/kexecd-order"
"$py" "$here/mkcpio.py" "$tmp/addon-root" "$tmp/b-initrd.cpio"

cat >"$tmp/osrel" <<EOF
ID=kexecd-e2e
NAME="kexecd e2e"
VERSION_ID=1
PRETTY_NAME="kexecd e2e test UKI"
EOF
printf '%s' "$uname_str" >"$tmp/uname"

# mkpe OUT NAME=FILE...: stub + sections, each at the next 4 KiB boundary after the last one.
mkpe() {
	local pe=$1
	shift
	local next last
	local idx ssize svma rest
	last=0
	while read -r idx _ ssize svma rest; do
		[[ $idx =~ ^[0-9]+$ ]] || continue
		(( 0x$svma + 0x$ssize > last )) && last=$(( 0x$svma + 0x$ssize ))
	done < <(objdump -h "$stub")
	next=$(( (last + 4095) / 4096 * 4096 ))
	local args=() spec name file size
	for spec in "$@"; do
		name=${spec%%=*}
		file=${spec#*=}
		size=$(stat -Lc %s "$file")
		args+=(--add-section "$name=$file" --change-section-vma "$name=$(printf '0x%x' "$next")")
		next=$(( (next + size + 4095) / 4096 * 4096 ))
	done
	objcopy "${args[@]}" "$stub" "$pe"
	# objcopy stamps the PE header with the current time (it ignores SOURCE_DATE_EPOCH): zero it
	# and redo the checksum, so the same inputs give the same image and the same SHA-256.
	"$py" - "$pe" <<'EOF'
import struct, sys
path = sys.argv[1]
d = bytearray(open(path, 'rb').read())
pe = struct.unpack_from('<I', d, 0x3c)[0]
struct.pack_into('<I', d, pe + 8, 0)
ck = pe + 24 + 64
struct.pack_into('<I', d, ck, 0)
if len(d) % 2:
    d.append(0)
    size = len(d) - 1
else:
    size = len(d)
total = sum(struct.unpack_from('<%dH' % (len(d) // 2), d))
while total >> 16:
    total = (total & 0xffff) + (total >> 16)
struct.pack_into('<I', d, ck, total + size)
open(path, 'wb').write(d[:size])
EOF
}

printf '%s' "console=ttyS0 kexecd.uki=1" >"$tmp/cmdline-uki"
printf '%s' "console=ttyS0 kexecd.uki=1 kexecd.second=1" >"$tmp/cmdline-uki2"
printf '%s' "kexecd.addon=1" >"$tmp/cmdline-a"
printf '%s' "kexecd.addon2=1" >"$tmp/cmdline-b"

mkpe "$out/e2e-uki.efi" .osrel="$tmp/osrel" .cmdline="$tmp/cmdline-uki" .uname="$tmp/uname" \
	.initrd="$tmp/uki-initrd.cpio" .linux="$vmlinuz"
mkpe "$out/e2e-uki2.efi" .osrel="$tmp/osrel" .cmdline="$tmp/cmdline-uki2" .uname="$tmp/uname" \
	.initrd="$tmp/uki2-initrd.cpio" .linux="$vmlinuz"
mkpe "$out/a.addon.efi" .cmdline="$tmp/cmdline-a"
mkpe "$out/b.addon.efi" .cmdline="$tmp/cmdline-b" .initrd="$tmp/b-initrd.cpio"

# Throwaway signing key; the guest trusts db.crt through /etc/kexecd/trust.d.
openssl req -new -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kexecd e2e throwaway db/" \
	-keyout "$out/db.key" -out "$out/db.crt" 2>/dev/null
for f in e2e-uki a.addon b.addon; do
	sbsign --key "$out/db.key" --cert "$out/db.crt" --output "$out/$f.signed.efi" "$out/$f.efi" 2>/dev/null
done

# Change one byte of .cmdline after signing: the Authenticode digest no longer matches.
"$py" - "$out/e2e-uki.signed.efi" "$out/e2e-uki.tampered.efi" <<'EOF'
import struct, sys
data = bytearray(open(sys.argv[1], 'rb').read())
pe = struct.unpack_from('<I', data, 0x3c)[0]
nsec = struct.unpack_from('<H', data, pe + 6)[0]
opt = struct.unpack_from('<H', data, pe + 20)[0]
sec = pe + 24 + opt
for i in range(nsec):
    name = bytes(data[sec + 40 * i:sec + 40 * i + 8]).rstrip(b'\0')
    if name == b'.cmdline':
        raw = struct.unpack_from('<I', data, sec + 40 * i + 20)[0]
        idx = data.index(b'kexecd.uki=1', raw)
        data[idx + len('kexecd.uki=')] = ord('9')
        break
else:
    sys.exit('no .cmdline section')
open(sys.argv[2], 'wb').write(data)
EOF

# The decomposition kexecd's classic scheme must produce: UKI's .initrd then the addons' in order,
# UKI's .cmdline then the addons'. kexec-tools gets exactly these parts.
# systemd-stub also generates /.extra/os-release from .osrel (one newc archive, stub-osrel.py),
# between the UKI's initrd and the addons'. Every part is a multiple of 4 bytes already, so the
# stub's padding adds nothing.
"$py" "$here/stub-osrel.py" "$tmp/osrel" "$tmp/osrel.cpio"
mkdir -p "$out/parts"
cp "$vmlinuz" "$out/parts/vmlinuz"
cat "$tmp/uki-initrd.cpio" "$tmp/osrel.cpio" "$tmp/b-initrd.cpio" >"$out/parts/initrd.cpio"
expected="console=ttyS0 kexecd.uki=1 kexecd.addon=1 kexecd.addon2=1"
printf '%s' "$expected" >"$out/parts/cmdline"
printf '%s\n' "$expected" >"$out/expected-cmdline"
# e2e-uki2.efi has no addons in the tests: its composed initrd is its own .initrd and the stub's
# /.extra/os-release.
cat "$tmp/uki2-initrd.cpio" "$tmp/osrel.cpio" >"$out/uki2-initrd.cpio"

# A wrong composition (addons reversed), to show that the e2e asserts catch one.
mkdir -p "$out/parts-reversed"
cp "$vmlinuz" "$out/parts-reversed/vmlinuz"
cat "$tmp/b-initrd.cpio" "$tmp/uki-initrd.cpio" "$tmp/osrel.cpio" >"$out/parts-reversed/initrd.cpio"
printf '%s' "console=ttyS0 kexecd.uki=1 kexecd.addon2=1 kexecd.addon=1" >"$out/parts-reversed/cmdline"
# kexecd-plain: the same kernel and marker initrds, staged as a plain kernel (issue 15). The first
# initrd is gzip-compressed and of odd size: without kexecd's 4-byte padding the kernel's unpacker
# would drop the second one ("invalid magic at start of compressed archive", issue 9).
mkdir -p "$out/plain"
cp "$vmlinuz" "$out/plain/vmlinuz"
for level in 9 8 7 6 5 4 3 2 1; do
	gzip -n -"$level" -c "$tmp/uki-initrd.cpio" >"$out/plain/a.cpio.gz"
	[ $(( $(stat -c %s "$out/plain/a.cpio.gz") % 2 )) = 1 ] && break
done
[ $(( $(stat -c %s "$out/plain/a.cpio.gz") % 2 )) = 1 ] || { echo "make-e2e-ukis: no odd-sized gzip initrd" >&2; exit 1; }
cp "$tmp/b-initrd.cpio" "$out/plain/b.cpio"
printf '%s' 'console=ttyS0 kexecd.plain=1 kexecd.quoted="a b"' >"$out/plain/cmdline"
echo "make-e2e-ukis: built UKIs and addons in $out" >&2
echo "$out" >&3
