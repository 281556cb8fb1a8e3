#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Differential end-to-end test: a kexec staged by kexecd must equal the firmware boot.
#
# qemu (TCG) boots OVMF with an ESP image holding systemd-boot and a multi-profile UKI built by
# ukify with systemd-stub, both from a newer Debian suite (addons and profiles need stub >= 257),
# plus global and per-UKI addons (.cmdline, .initrd, .ucode), credentials and a sysext image.
# loader.conf picks the UKI's second profile. The UKI's initrd (diff-init.sh) reports what the
# kernel got, stages the default entry through kexecd from the mounted ESP and kexecs; the second
# kernel reports again. The two reports must be identical, and must show every piece.
#
# usage: run-diff.sh
# Environment: KEXECD_BIN, KEXECCTL_BIN (exit 77 without them), KEXECD_CACHE (default
# /var/cache/kexecd-test), KEXECD_E2E_WORK (scratch, default a temporary directory),
# KEXECD_E2E_TIMEOUT (seconds for the qemu run, default 300), KEXECD_NEWER_SUITE (default trixie),
# KEXECD_DIFF_SABOTAGE=drop-addon (the per-UKI addon is removed between the boots: the comparison
# must FAIL; shows the test can catch a lost addon), KEXECD_DIFF_SABOTAGE=no-padding (the UKI's
# initrd gets a size that is a multiple of 4 instead).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
qemu=${KEXECD_QEMU:-qemu-system-x86_64}
busybox=/usr/bin/busybox
ovmf_code=/usr/share/OVMF/OVMF_CODE_4M.fd
ovmf_vars=/usr/share/OVMF/OVMF_VARS_4M.fd

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "ERROR: $*" >&2; exit 1; }
# find_kernel, install_bin
. "$here/lib-e2e.sh"

command -v "$qemu" >/dev/null || skip "$qemu not found (install qemu-system-x86)"
[ -r "$ovmf_code" ] && [ -r "$ovmf_vars" ] || skip "$ovmf_code not found (install ovmf)"
command -v mcopy >/dev/null && command -v mmd >/dev/null || skip "mtools not found (install mtools)"
command -v mkfs.fat >/dev/null || skip "mkfs.fat not found (install dosfstools)"
[ -x "$busybox" ] || skip "$busybox not found (install busybox-static)"
bb_ldd=$(LC_ALL=C ldd "$busybox" 2>&1 || true)
[[ $bb_ldd == *"not a dynamic executable"* ]] || skip "$busybox is dynamically linked (install busybox-static)"
command -v dbus-daemon >/dev/null || skip "dbus-daemon not found (install dbus-daemon)"
$py -c 'import pefile' 2>/dev/null || skip "python3-pefile not found (ukify needs it)"
kexecd_bin=${KEXECD_BIN:-}
kexecctl_bin=${KEXECCTL_BIN:-}
[ -n "$kexecd_bin" ] && [ -x "$kexecd_bin" ] && [ -n "$kexecctl_bin" ] && [ -x "$kexecctl_bin" ] \
	|| skip "kexecd binaries not built yet (KEXECD_BIN='$kexecd_bin' KEXECCTL_BIN='$kexecctl_bin')"

if [ -n "${KEXECD_E2E_WORK:-}" ]; then
	work=$KEXECD_E2E_WORK
	rm -rf "$work"
	mkdir -p "$work"
	own_work=0
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/kexecd-diff.XXXXXX")
	own_work=1
fi
work=$(cd "$work" && pwd)
cleanup() {
	local rc=$?
	[ -n "${qemu_pid:-}" ] && kill "$qemu_pid" 2>/dev/null
	if [ "$own_work" = 1 ] && [ "$rc" = 0 ]; then rm -rf "$work"; else echo "diff: scratch kept: $work"; fi
}
trap cleanup EXIT
t_start=$SECONDS

# --- the newer systemd-boot, systemd-stub and ukify ----------------------------------------------
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/kexecd-test
	mkdir -p "$cache"
fi
rc=0
sd=$("$here/fetch-newer-systemd.sh" "$cache") || rc=$?
[ $rc = 0 ] || { [ $rc = 77 ] && skip "no systemd-boot-efi/systemd-ukify from a newer suite"; die "fetch-newer-systemd.sh rc=$rc"; }
efi=$sd/usr/lib/systemd/boot/efi
ukify=("$py" "$sd/usr/bin/ukify")
for f in linuxx64.efi.stub addonx64.efi.stub systemd-bootx64.efi; do
	[ -r "$efi/$f" ] || skip "$efi/$f missing"
done
echo "diff: $("${ukify[@]}" --version)"

# --- kernel and the modules to read the ESP ------------------------------------------------------
vmlinuz=$(KEXECD_FIXTURES= find_kernel) || skip "no kernel: Debian's linux-image-amd64 could not be had"
deb=${vmlinuz%/*}
deb=${deb%.vmlinuz}
kver=${vmlinuz##*/vmlinuz-}
mods=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk fat vfat
	nls_cp437 nls_ascii efivarfs)
moddir=$deb.modules
if [ ! -r "$moddir/efivarfs.ko" ]; then
	x=$(mktemp -d "$cache/.diff-modules.XXXXXX")
	patterns=()
	for m in "${mods[@]}"; do patterns+=("*/$m.ko"); done
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$x" --wildcards "${patterns[@]}"
	mkdir -p "$x/m"
	find "$x/lib" -name '*.ko' -exec mv {} "$x/m/" \;
	mv -T "$x/m" "$moddir" 2>/dev/null || true
	rm -rf "$x"
fi
for m in "${mods[@]}"; do [ -r "$moddir/$m.ko" ] || die "$moddir/$m.ko missing"; done
echo "diff: kernel $kver"

# --- the UKI's initrd: busybox, diff-init.sh, modules; its size not a multiple of 4 --------------
mk=$work/build
mkdir -p "$mk"
r=$mk/initrd-root
mkdir -p "$r/bin" "$r/lib/modules" "$r/etc"
cp "$busybox" "$r/bin/busybox"
ln -s busybox "$r/bin/sh"
install -m 0755 "$here/diff-init.sh" "$r/init"
for m in "${mods[@]}"; do cp "$moddir/$m.ko" "$r/lib/modules/"; done
echo uki >"$r/etc/diff-initrd-order"
# A filler whose length is adjusted until the gzip'ed archive has an odd size: the stub pads it to
# 4 bytes, and so must kexecd, or every initrd after it is lost (issue 9).
n=0
while :; do
	head -c "$n" /dev/zero | tr '\0' 'f' >"$r/etc/diff-filler"
	"$py" "$here/mkcpio.py" "$r" "$mk/uki-initrd.cpio.gz" --gzip --node dev/console:c:5:1
	size=$(stat -c %s "$mk/uki-initrd.cpio.gz")
	if [ "${KEXECD_DIFF_SABOTAGE:-}" = no-padding ]; then
		[ $((size % 4)) = 0 ] && break
	else
		[ $((size % 4)) != 0 ] && break
	fi
	n=$((n + 1))
done
echo "diff: UKI initrd $size bytes (size % 4 = $((size % 4)))"

# Microcode and initrd parts: each piece has its own file, plus a shared one the last unpacked
# writes, so the report shows the order too.
part() { # $1 = output cpio, $2 = tag, $3... = relative paths to create with content "$2"
	local out=$1 tag=$2 d
	shift 2
	d=$(mktemp -d "$mk/part.XXXXXX")
	for f in "$@"; do
		mkdir -p "$d/$(dirname "$f")"
		echo "$tag" >"$d/$f"
	done
	"$py" "$here/mkcpio.py" "$d" "$out"
	rm -rf "$d"
}
part "$mk/ucode-uki.cpio" ucode-uki kernel/x86/microcode/AuthenticAMD.bin etc/diff-ucode-order
part "$mk/ucode-global.cpio" ucode-global kernel/x86/microcode/GenuineIntel.bin etc/diff-ucode-order
part "$mk/ucode-local.cpio" ucode-local etc/diff-ucode-local etc/diff-ucode-order
part "$mk/initrd-global.cpio" initrd-global etc/diff-initrd-global etc/diff-initrd-order
part "$mk/initrd-local.cpio" initrd-local etc/diff-initrd-local etc/diff-initrd-order

# --- UKI (two profiles) and addons --------------------------------------------------------------
cat >"$mk/os-release" <<OSREL
ID=kexecd-diff
NAME="kexecd differential"
PRETTY_NAME="kexecd differential test"
VERSION_ID=1
OSREL
base_cmdline="console=ttyS0 panic=-1 diff.profile=main"
debug_cmdline="console=ttyS0 panic=-1 diff.profile=debug"
"${ukify[@]}" build --stub "$efi/linuxx64.efi.stub" --linux "$vmlinuz" --initrd "$mk/uki-initrd.cpio.gz" \
	--microcode "$mk/ucode-uki.cpio" --cmdline "$base_cmdline" --os-release "@$mk/os-release" \
	--uname "$kver" --output "$mk/plain.efi" >/dev/null
printf 'ID=main\nTITLE=Main\n' >"$mk/profile0"
printf 'ID=debug\nTITLE=Debugging\n' >"$mk/profile1"
printf '%s' "$debug_cmdline" >"$mk/cmdline1"
"$py" "$here/pe-add-sections.py" "$mk/plain.efi" "$mk/diff.efi" \
	.profile="$mk/profile0" .profile="$mk/profile1" .cmdline="$mk/cmdline1"
"${ukify[@]}" build --stub "$efi/addonx64.efi.stub" --cmdline diff.global=1 --initrd "$mk/initrd-global.cpio" \
	--microcode "$mk/ucode-global.cpio" --output "$mk/global.addon.efi" >/dev/null
"${ukify[@]}" build --stub "$efi/addonx64.efi.stub" --cmdline diff.local=1 --initrd "$mk/initrd-local.cpio" \
	--microcode "$mk/ucode-local.cpio" --output "$mk/local.addon.efi" >/dev/null

# --- kexecd and its bus, unpacked by the first run from the ESP -----------------------------------
t=$mk/tools
mkdir -p "$t/usr/share/dbus-1/system.d" "$t/etc/kexecd/trust.d" "$t/var/lib/kexecd" "$t/root"
install_bin "$t" /usr/bin/dbus-daemon /usr/bin/dbus-daemon
install_bin "$t" /usr/bin/dbus-send /usr/bin/dbus-send
install_bin "$t" "$kexecd_bin" /usr/sbin/kexecd
install_bin "$t" "$kexecctl_bin" /usr/bin/kexecctl
cp "$here/system.conf" "$t/usr/share/dbus-1/system.conf"
cp "$srcroot/dbus/org.kexecd1.conf" "$t/usr/share/dbus-1/system.d/org.kexecd1.conf"
echo 'root:x:0:0:root:/root:/bin/sh' >"$t/etc/passwd"
echo 'root:x:0:' >"$t/etc/group"
echo 0123456789abcdef0123456789abcdef >"$t/etc/machine-id"
printf '[Manager]\nESP=/efi\nEFIVARS=/sys/firmware/efi/efivars\n' >"$t/etc/kexecd/kexecd.conf"
"$py" "$here/mkcpio.py" "$t" "$mk/tools.cpio.gz" --gzip

# --- the ESP ------------------------------------------------------------------------------------
esp=$work/esp.img
rm -f "$esp"
mkfs.fat -C "$esp" $((96 * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/Linux ::/EFI/Linux/diff.efi.extra.d ::/loader ::/loader/addons \
	::/loader/credentials ::/kexecd-diff
mcopy -i "$esp" "$efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$mk/diff.efi" ::/EFI/Linux/diff.efi
mcopy -i "$esp" "$mk/global.addon.efi" ::/loader/addons/global.addon.efi
mcopy -i "$esp" "$mk/local.addon.efi" ::/EFI/Linux/diff.efi.extra.d/local.addon.efi
echo "local credential" >"$mk/test.cred"
echo "global credential" >"$mk/global.cred"
head -c 4099 /dev/urandom >"$mk/x.sysext.raw"
mcopy -i "$esp" "$mk/test.cred" ::/EFI/Linux/diff.efi.extra.d/test.cred
mcopy -i "$esp" "$mk/x.sysext.raw" ::/EFI/Linux/diff.efi.extra.d/x.sysext.raw
mcopy -i "$esp" "$mk/global.cred" ::/loader/credentials/global.cred
printf 'timeout 0\ndefault diff.efi@debug\n' >"$mk/loader.conf"
mcopy -i "$esp" "$mk/loader.conf" ::/loader/loader.conf
mcopy -i "$esp" "$mk/tools.cpio.gz" ::/kexecd-diff/tools.cpio.gz
if [ "${KEXECD_DIFF_SABOTAGE:-}" = drop-addon ]; then
	echo "diff: SABOTAGE: the per-UKI addon goes away before kexecd stages, the comparison must FAIL"
	: >"$mk/sabotage"
	mcopy -i "$esp" "$mk/sabotage" ::/kexecd-diff/sabotage-drop-addon
fi
cp "$ovmf_vars" "$work/vars.fd"
echo "diff: ESP built in $((SECONDS - t_start))s"

# --- boot ---------------------------------------------------------------------------------------
log=$work/serial.log
tmo=${KEXECD_E2E_TIMEOUT:-300}
t_boot=$SECONDS
# TCG only: on these machines /dev/kvm may exist but hangs.
"$qemu" -accel tcg -cpu max -m 1536 -smp 1 -machine q35 -nographic -no-reboot -nodefaults \
	-monitor none -serial "file:$log" \
	-drive "if=pflash,format=raw,unit=0,file=$ovmf_code,readonly=on" \
	-drive "if=pflash,format=raw,unit=1,file=$work/vars.fd" \
	-drive "if=virtio,format=raw,file=$esp" </dev/null &
qemu_pid=$!
verdict=
while kill -0 "$qemu_pid" 2>/dev/null; do
	if grep -aq 'Shell>' "$log" 2>/dev/null; then
		verdict="OVMF dropped into the UEFI shell (the ESP did not boot)"
		break
	fi
	if [ $((SECONDS - t_boot)) -ge "$tmo" ]; then
		verdict="timeout after ${tmo}s"
		break
	fi
	sleep 1
done
kill "$qemu_pid" 2>/dev/null || true
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
echo "diff: qemu ran $((SECONDS - t_boot))s"
echo "----- serial log (DIFF lines) -----"
tr -d '\r' <"$log" | grep -a -E '^DIFF|Kernel panic|systemd-boot|EFI stub' || true
echo "----- kexecctl status in the first run -----"
tr -d '\r' <"$log" | sed -n '/^DIFF-BEGIN status/,/^DIFF-END status/p' | sed '1d;$d' || true
echo "-----------------------------------"
[ -z "$verdict" ] || { tr -d '\r' <"$log" | tail -n 40; die "$verdict"; }

for f in report-firmware.txt report-kexec.txt stage.json choice.txt plan.json; do
	mcopy -n -i "$esp" "::/kexecd-diff/$f" "$work/$f" 2>/dev/null || true
done
[ -s "$work/report-firmware.txt" ] || { tr -d '\r' <"$log" | tail -n 60; die "no report from the firmware boot"; }
[ -s "$work/report-kexec.txt" ] || { tr -d '\r' <"$log" | tail -n 60; die "no report from the kexec boot"; }

echo "----- firmware boot (OVMF, systemd-boot, systemd-stub) -----"
cat "$work/report-firmware.txt"
echo "----- kexec boot (kexecd StageDefault) -----"
cat "$work/report-kexec.txt"
echo "--------------------------------------------"

rc=0
"$py" - "$work/report-firmware.txt" "$work/report-kexec.txt" "$work/stage.json" "$work/choice.txt" <<'PY' || rc=$?
import json, sys
fw = open(sys.argv[1]).read().splitlines()
kx = open(sys.argv[2]).read().splitlines()
failed = []
def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what)
    if not ok:
        failed.append(what)
check(fw == kx, "the kexec boot's report equals the firmware boot's")
if fw != kx:
    import difflib
    sys.stdout.writelines(l + "\n" for l in difflib.unified_diff(fw, kx, "firmware", "kexec", lineterm=""))
# The firmware report must show every case, or equality proves little.
cmdline = fw[0]
check(cmdline == "cmdline console=ttyS0 panic=-1 diff.profile=debug diff.global=1 diff.local=1",
      "profile @debug's .cmdline, then the global addon's, then the per-UKI addon's: " + cmdline)
def file_line(path):
    return next((l for l in fw if l.startswith("F ") and l.split()[2] == path), None)
for path, mode in [("/etc/diff-initrd-global", None), ("/etc/diff-initrd-local", None),
                   ("/etc/diff-ucode-local", None), ("/kernel/x86/microcode/GenuineIntel.bin", None),
                   ("/kernel/x86/microcode/AuthenticAMD.bin", None),
                   ("/.extra/credentials/test.cred", "400"), ("/.extra/global_credentials/global.cred", "400"),
                   ("/.extra/sysext/x.sysext.raw", "444"), ("/.extra/os-release", "444"),
                   ("/.extra/profile", "444")]:
    line = file_line(path)
    check(line is not None and (mode is None or line.split()[1] == mode),
          f"{path} present{' mode ' + mode if mode else ''}: {line}")
for path, mode in [("/.extra", "555"), ("/.extra/credentials", "500")]:
    check(f"D {mode} {path}" in fw, f"directory {path} mode {mode}")
try:
    stage = json.load(open(sys.argv[3]))
    check(stage.get("discovery", {}).get("id") == "diff.efi@debug",
          f"kexecd chose loader.conf's entry: {stage.get('discovery')}")
    print("kexecd initrd parts:", json.dumps(stage.get("initrd", {}).get("parts")))
except Exception as e:
    check(False, f"stage.json readable: {e}")
try:
    # The kernel systemd-boot booted, as kexecd digests it at start, is the one it staged.
    running = json.load(open(sys.argv[3].replace("stage.json", "plan.json"))).get("running", {})
    staged_kernel = json.load(open(sys.argv[3])).get("kernel", {}).get("sha256")
    check(running.get("kernel_sha256") == staged_kernel and "diff.efi@debug" in running.get("kernel_sha256_source", ""),
          f"reboot --auto knows the booted kernel: {running.get('kernel_sha256')} from {running.get('kernel_sha256_source')!r}, staged {staged_kernel}")
except Exception as e:
    check(False, f"plan.json readable: {e}")
try:
    choice = dict(kv.split("=", 1) for kv in open(sys.argv[4]).read().split())
    check(choice.get("systemd-boot") == "diff.efi@debug" and choice.get("kexecctl-list") == choice.get("systemd-boot"),
          f"kexecctl list's default is the entry systemd-boot booted (LoaderEntrySelected): {choice}")
except Exception as e:
    check(False, f"choice.txt readable: {e}")
sys.exit(1 if failed else 0)
PY
echo "E2E-TIMING diff total $((SECONDS - t_start))s"
exit $rc
