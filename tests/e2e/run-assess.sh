#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Boot assessment e2e (issue 26): a real Debian system (systemd 254 from bookworm-backports,
# make-debian-image.sh, cached) that OVMF and systemd-boot boot from a GPT disk whose ESP holds
# boot-counted UKIs, with kexecd's .deb installed by the scenario (assess-scenario.sh). Five boots,
# firmware and kexec, then `systemctl reboot --firmware-setup` with a kernel staged, which must
# end in OVMF's setup, not in Linux. The scenario prints what each boot leaves; this script checks
# that the kexecd path leaves what the firmware path leaves, and reads kexecd's journal from the
# disk afterwards.
#
# The same VM proves the unlock check (issue 27) against a real TPM: swtpm is its TPM 2.0, which
# OVMF and systemd-stub measure into, the UKIs carry a signed PCR 11 policy made by systemd 257's
# ukify and systemd-measure (sign-pcr11.sh), and the scenario enrolls two LUKS2 volumes with the
# real systemd-cryptenroll, one bound to PCR 7, one to the signed PCR 11 policy. kexecd's
# prediction is asserted before the kexec and the unlock itself observed after it, and again after
# a firmware boot.
#
# usage: run-assess.sh
# Environment: KEXECD_CACHE (default /var/cache/kexecd-test), KEXECD_E2E_WORK (scratch),
# KEXECD_E2E_TIMEOUT (the whole qemu run, default 2400 s: six boots under TCG, next to another VM or a build), KEXECD_DEB (a .deb to test).
# exit 77 with the reason when qemu, OVMF, the archive, the packaging tools or root are missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
qemu=${KEXECD_QEMU:-qemu-system-x86_64}
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
ovmf_code=/usr/share/OVMF/OVMF_CODE_4M.fd
ovmf_vars=/usr/share/OVMF/OVMF_VARS_4M.fd
flavor=254
skip() { echo "SKIP: $*"; exit 77; }
die() { echo "ERROR: $*" >&2; exit 1; }
# find_kernel
. "$here/lib-e2e.sh"

[ "$(id -u)" = 0 ] || skip "needs root (mmdebstrap's root mode, debugfs on the image)"
command -v "$qemu" >/dev/null || skip "$qemu not found (install qemu-system-x86)"
[ -r "$ovmf_code" ] && [ -r "$ovmf_vars" ] || skip "$ovmf_code not found (install ovmf)"
for tool in debugfs zstd sfdisk mkfs.fat mcopy journalctl swtpm cryptsetup openssl; do
	command -v "$tool" >/dev/null || skip "$tool not found"
done
$py -c 'import pefile' 2>/dev/null || skip "python3-pefile not found (ukify needs it)"
mkdir -p "$cache" || skip "cannot create $cache"

work=${KEXECD_E2E_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/kexecd-assess.XXXXXX")}
rm -rf "$work" && mkdir -p "$work"
work=$(cd "$work" && pwd)
t_start=$SECONDS

# --- the package, the image, systemd-boot and ukify ------------------------------------------
package_and_depends "$cache"
run_or_skip image "$here/make-debian-image.sh" "$cache" "$flavor" "${depends[@]}"
run_or_skip sd "$here/fetch-newer-systemd.sh" "$cache"
# systemd-measure 257, beside the stub it predicts (sign-pcr11.sh).
run_or_skip troot "$here/../trixie/make-build-root.sh" "$cache"
efi=$sd/usr/lib/systemd/boot/efi
ukify=("$py" "$sd/usr/bin/ukify")
echo "assess: package $deb, image $image (systemd $(cat "$image/systemd-version")), $("${ukify[@]}" --version)"

# --- the UKIs: kernel A (Debian's signed vmlinuz) and kernel B (the same without its signature,
# so another digest), the image's own initrd, root on the second disk ---------------------------
mk=$work/build
pcr=$mk/pcr
mkdir -p "$mk" "$pcr"
"$here/sign-pcr11.sh" tools "$troot" "$pcr"
"$here/sign-pcr11.sh" keys "$pcr"
cp "$image/vmlinuz" "$mk/vmlinuz-a"
"$py" - "$mk/vmlinuz-a" "$mk/vmlinuz-b" <<'PY'
import sys, pefile
pe = pefile.PE(sys.argv[1])
sec = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY['IMAGE_DIRECTORY_ENTRY_SECURITY']]
assert sec.VirtualAddress and sec.Size, "the kernel is not signed"
data = bytearray(open(sys.argv[1], 'rb').read())
start = sec.VirtualAddress
sec.VirtualAddress = sec.Size = 0
out = bytearray(pe.write())[:start]
open(sys.argv[2], 'wb').write(out)
PY
cmdline="root=/dev/vdb rw console=ttyS0 fsck.mode=skip systemd.show_status=error panic=-1"
kver=$(file -bL "$image/vmlinuz" | sed -n 's/.*version \([^ ]*\).*/\1/p')
uki() { # NAME KERNEL VERSION_ID
	printf 'ID=debian\nNAME="Debian GNU/Linux"\nPRETTY_NAME="kexecd assess %s"\nVERSION_ID=%s\n' "$1" "$3" >"$mk/os-release-$1"
	"${ukify[@]}" build --stub "$efi/linuxx64.efi.stub" --linux "$2" --initrd "$image/initrd.img" \
		--cmdline "$cmdline" --os-release "@$mk/os-release-$1" --uname "$kver" \
		--tools "$pcr" --pcr-private-key "$pcr/pcr-private.pem" --pcr-public-key "$pcr/pcr-public.pem" \
		--pcr-banks sha256 --output "$mk/$1.efi" >/dev/null 2>"$mk/ukify-$1.log" ||
		die "ukify build $1: $(cat "$mk/ukify-$1.log")"
}
uki kexecd-a "$mk/vmlinuz-a" 1
uki kexecd-b "$mk/vmlinuz-b" 2
uki kexecd-c "$mk/vmlinuz-b" 3
# The signature crypttab points at: PCR 11 as the Debian root's cryptsetup meets it.
"$here/sign-pcr11.sh" sign "$pcr" "$mk/pcrsig.json" "$mk"/kexecd-{a,b,c}.efi

# --- two LUKS2 volumes for the scenario to enroll (a keyfile slot, as after an installer) ---------
head -c 32 /dev/urandom >"$mk/luks.key"
for v in pcr7 pcr11; do
	truncate -s 20M "$mk/$v.img"
	cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		"$mk/$v.img" "$mk/luks.key" || die "cryptsetup luksFormat $v"
done
echo "assess: kernel A $(sha256sum <"$mk/vmlinuz-a" | cut -c1-16), B $(sha256sum <"$mk/vmlinuz-b" | cut -c1-16)"

# --- the boot disk: GPT, one ESP with systemd-boot and the UKIs; b is boot-counted -----------------
disk0=$work/esp-disk.img
truncate -s 200M "$disk0"
printf 'label: gpt\nstart=2048, size=380928, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="ESP"\n' |
	sfdisk -q "$disk0"
truncate -s 186M "$mk/esp.fat"
mkfs.fat -F 32 -n ESP "$mk/esp.fat" >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$mk/esp.fat" ::/EFI ::/EFI/BOOT ::/EFI/Linux ::/loader
mcopy -i "$mk/esp.fat" "$efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$mk/esp.fat" "$mk/kexecd-a.efi" ::/EFI/Linux/kexecd-a.efi
mcopy -i "$mk/esp.fat" "$mk/kexecd-b.efi" ::/EFI/Linux/kexecd-b+3.efi
printf 'timeout 0\n' >"$mk/loader.conf"
mcopy -i "$mk/esp.fat" "$mk/loader.conf" ::/loader/loader.conf
dd if="$mk/esp.fat" of="$disk0" bs=1M seek=1 conv=notrunc status=none
rm -f "$mk/esp.fat"

# --- the root disk: the cached image plus the scenario ---------------------------------------------
disk1=$work/rootfs.ext4
zstd -q -d "$image/rootfs.ext4.zst" -o "$disk1"
echo "/dev/vda1 /efi vfat umask=0077 0 2" >"$mk/fstab"
{
	echo "symlink /etc/systemd/system/serial-getty@ttyS0.service /dev/null"
	echo "mkdir /efi"
	echo "rm /etc/fstab"
	echo "write $mk/fstab /etc/fstab"
	echo "mkdir /root/e2e"
	echo "write $here/assess-scenario.sh /root/e2e/scenario.sh"
	echo "write $deb /root/e2e/$(basename "$deb")"
	echo "write $mk/kexecd-c.efi /root/e2e/kexecd-c.efi"
	for f in pcr7.img pcr11.img luks.key pcrsig.json; do echo "write $mk/$f /root/e2e/$f"; done
	echo "write $pcr/pcr-public.pem /root/e2e/pcr-public.pem"
} >"$work/debugfs.cmd"
debugfs -w -f "$work/debugfs.cmd" "$disk1" >"$work/debugfs.log" 2>&1 || die "debugfs failed: $(cat "$work/debugfs.log")"
cp "$ovmf_vars" "$work/vars.fd"
echo "assess: disks ready ($((SECONDS - t_start)) s)"

# --- the TPM: swtpm, fresh state; a firmware reboot resets it, a kexec does not -----------------
tpm=$work/tpm
mkdir -p "$tpm"
swtpm socket --tpm2 --tpmstate "dir=$tpm" --ctrl "type=unixio,path=$tpm/sock" -d \
	--pid "file=$tpm/pid" --log "file=$tpm/log,level=1" || die "swtpm did not start: $(cat "$tpm/log" 2>/dev/null)"
stop_tpm() { [ -f "$tpm/pid" ] && kill "$(cat "$tpm/pid")" 2>/dev/null || true; }
for _ in $(seq 1 50); do [ -S "$tpm/sock" ] && break; sleep 0.1; done

# --- five boots and the firmware setup --------------------------------------------------------------
log=$work/serial-assess.log
tmo=${KEXECD_E2E_TIMEOUT:-2400}
t_boot=$SECONDS
: >"$log"
# Reboots are part of the test (no -no-reboot); the run ends when OVMF shows its setup, or Linux
# comes back instead, or the time runs out.
"$qemu" -accel tcg -cpu max -m 2048 -smp 1 -machine q35 -nographic -nodefaults -monitor none \
	-serial "file:$log" \
	-drive "if=pflash,format=raw,unit=0,file=$ovmf_code,readonly=on" \
	-drive "if=pflash,format=raw,unit=1,file=$work/vars.fd" \
	-chardev "socket,id=chrtpm,path=$tpm/sock" -tpmdev emulator,id=tpm0,chardev=chrtpm \
	-device tpm-tis,tpmdev=tpm0 \
	-drive "file=$disk0,format=raw,if=virtio" -drive "file=$disk1,format=raw,if=virtio" </dev/null &
qemu_pid=$!
trap '[ -n "${qemu_pid:-}" ] && kill "$qemu_pid" 2>/dev/null; stop_tpm' EXIT
verdict=
# Under TCG, OVMF sometimes stays silent for many minutes after a reset (seen with and without the
# TPM, the reboot benchmark too). The kernel's own last lines already tell a firmware reset from a
# kexec; the setup screen then confirms the firmware honoured the request. A reset followed by
# STALL seconds of silence is reported as such, and passes as a firmware reboot.
stall=${KEXECD_E2E_FIRMWARE_STALL:-300}
size=0 quiet_since=$SECONDS
while kill -0 "$qemu_pid" 2>/dev/null; do
	after=$(tr -d '\r' <"$log" | sed -n '/E2E-FIRMWARE-SETUP-REQUESTED/,$p')
	now_size=$(stat -c %s "$log")
	[ "$now_size" != "$size" ] && size=$now_size quiet_since=$SECONDS
	if [ -n "$after" ]; then
		if grep -aq 'Boot Maintenance Manager' <<<"$after"; then
			verdict=setup
			break
		fi
		if grep -aq -E 'Linux version|phase 6|kexec_core: Starting new kernel' <<<"$after"; then
			verdict="Linux booted again after systemctl reboot --firmware-setup"
			break
		fi
		if grep -aq 'reboot: Restarting system' <<<"$after" && [ $((SECONDS - quiet_since)) -ge "$stall" ]; then
			verdict="firmware reset, then ${stall}s without firmware output"
			break
		fi
	fi
	if [ $((SECONDS - t_boot)) -ge "$tmo" ]; then
		verdict="timeout after ${tmo}s"
		break
	fi
	sleep 2
done
kill "$qemu_pid" 2>/dev/null || true
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
stop_tpm
echo "assess: qemu ran $((SECONDS - t_boot)) s, end: $verdict"

echo "----- serial log (scenario lines) -----"
tr -d '\r' <"$log" | grep -a -E 'E2E-(PASS|FAIL|STATE|DONE|FIRMWARE|TPM)|^E2E:|E2E: \[|kexecd-e2e: E2E' | sed 's/^.*\(E2E[-:]\)/\1/' || true
echo "----- kexecd's journal (read from the disk) -----"
debugfs -R "rdump /var/log/journal $work" "$disk1" >/dev/null 2>&1 || true
if [ -d "$work/journal" ]; then
	journalctl --no-pager -D "$work/journal" -o short-monotonic -u kexecd -u kexecd-boot-detect \
		-u kexecd-bless-boot -u systemd-bless-boot -u e2e-health 2>/dev/null | grep -v '^--' | tail -n 80 >"$work/journal.txt" || true
	cat "$work/journal.txt"
fi
echo "-------------------------------------------------"

rc=0
"$py" - "$log" "$work/journal.txt" "$verdict" <<'PY' || rc=$?
import re, sys
log = open(sys.argv[1], 'rb').read().decode('utf-8', 'replace').replace('\r', '')
journal = open(sys.argv[2]).read() if sys.argv[2] and __import__('os').path.exists(sys.argv[2]) else ''
verdict = sys.argv[3]
failed = []
def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what)
    if not ok:
        failed.append(what)
for line in re.findall(r'E2E-FAIL [^\n]*', log):
    check(False, "scenario: " + line)
passes = re.findall(r'E2E-PASS [^\n]*', log)
print(f"scenario: {len(passes)} checks passed")
state = {}
for label, key, value in re.findall(r'E2E-STATE (\S+) ([\w-]+)=([^\n]*)', log):
    state.setdefault(label, {})[key] = value.strip()
fw, kx = state.get('firmware', {}), state.get('kexec', {})
for key in ('entries', 'bless-status', 'system'):
    check(fw.get(key) is not None and fw.get(key) == kx.get(key),
          f"the kexecd path leaves {key} as the firmware path: firmware {fw.get(key)!r}, kexec {kx.get(key)!r}")
check(fw.get('entries') == 'kexecd-a.efi kexecd-b.efi', f"firmware boot: systemd-boot took a try, systemd-bless-boot blessed: {fw.get('entries')!r}")
check(fw.get('booted', '').startswith('firmware'), f"firmware boot says so: {fw.get('booted')!r}")
check(kx.get('booted', '').startswith("kexec by kexecd into 'kexecd-b.efi'"), f"kexec boot says so: {kx.get('booted')!r}")
check(kx.get('units', '').startswith('sd-bless:no/') and 'kexecd-bless:yes/active' in kx.get('units', ''),
      f"in the kexec boot systemd-bless-boot stood aside and kexecd-bless-boot blessed: {kx.get('units')!r}")
bad = state.get('failed-kexec', {})
check('e2e-health.service' in bad.get('system', '') and 'kexecd-c+0-1.efi' in bad.get('entries', ''),
      f"the failed kexec boot kept its try taken: {bad}")
again = state.get('firmware-after-fallback', {})
check(again.get('booted', '').startswith("firmware, entry 'kexecd-b.efi'"),
      f"after the last try systemd-boot fell back to b, as StageDefault did: {again.get('booted')!r}")
# Measured boot (issue 27): the prediction before the kexec, then what the real unlock did.
check(fw.get('tpm-plan') == 'pcr11:needs_passphrase pcr7:unlocks decision=cold',
      f"kexecd predicted: PCR 7 volume unlocks after a kexec, PCR 11 volume would not, auto goes cold: {fw.get('tpm-plan')!r}")
check(kx.get('volumes') == 'pcr7:active+mapped pcr11:failed',
      f"in the kexec boot (--ignore-tpm) the PCR 7 volume unlocked with the TPM and the PCR 11 one did not, as predicted: {kx.get('volumes')!r}")
check(again.get('volumes') == 'pcr7:active+mapped pcr11:active+mapped',
      f"reboot --auto went cold, and in that firmware boot both volumes unlocked: {again.get('volumes')!r}")
check('E2E-DONE phase=5' not in log and 'E2E-FIRMWARE-SETUP-REQUESTED' in log, "the scenario reached the firmware setup request")
check(verdict == 'setup' or verdict.startswith('firmware reset'),
      f"systemctl reboot --firmware-setup with a kernel staged ended in a firmware reboot (OVMF's setup, or a reset after which the firmware stalled): {verdict}")
if journal:
    check('goes through the firmware' in journal and 'OsIndications' in journal,
          "kexecd unloaded the staged kernel for the firmware request (journal)")
else:
    check(False, "kexecd's journal could be read from the disk")
sys.exit(1 if failed else 0)
PY
echo "assess: $([ $rc = 0 ] && echo PASS || echo FAIL) in $((SECONDS - t_start)) s (scratch $work)"
[ $rc = 0 ] && rm -f "$disk0" "$disk1"
exit $rc
