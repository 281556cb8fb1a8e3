#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# arm64 on a real arm64 kernel (issue 31): qemu-system-aarch64 (-M virt, TCG) boots an arm64
# kernel with a first stage holding arm64 busybox, the system bus and the CROSS-BUILT kexecd and
# kexecctl (with their arm64 libraries); the guest stages over D-Bus (classic scheme,
# --kernel=real) and kexecs into Debian's packaged arm64 kernel; the second kernel prints its
# command line and every initrd's marker on the serial console, and check-e2e.py asserts them.
# The first kernel is built from Debian's kernel source (build-arm64-kernel.sh): no Debian arm64
# kernel package has kexec_file_load (CONFIG_KEXEC_FILE unset in 6.1, 6.12 and 7.2), the only
# call kexecd loads with. One boot per case:
#
#   uki         a UKI made with Debian's arm64 systemd-stub around the Image, an odd-sized gzip
#               first initrd, both addons (.cmdline; .cmdline + .initrd); then an x86 UKI, which
#               must be refused by name with the staged UKI kept
#   zboot-gzip  the same UKI with a zboot .linux (gzip), which kexecd unpacks
#   zboot-zstd  the same with zstd
#   plain       a Type #1 entry's parts: --kernel Image, two initrds (the first odd-sized), --append
#
# usage: run-e2e-arm64.sh [CASE...]      (default: all four)
#
# Environment:
#   KEXECD_ARM64_WORK       the cross build's work directory, shared with the arm64 unit test
#                           (tests/cross/lib-arm64-build.sh builds it there, under its lock)
#   KEXECD_ARM64_BUILD      by hand: a cross build directory (setup-arm64.sh's) used as it is
#   KEXECD_E2E_WORK         scratch directory (default: a temporary one, removed on success)
#   KEXECD_CACHE            where the arm64 kernel and packages are cached (/var/cache/kexecd-test)
#   KEXECD_E2E_ARM64_JOBS   qemu runs at a time (default 2)
#   KEXECD_E2E_TIMEOUT      seconds one qemu run may take (default 420)
#   KEXECD_E2E_KEEP=1       keep the scratch directory
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
qemu="qemu-system-aarch64"
triplet=aarch64-linux-gnu
readelf=$triplet-readelf
strip=$triplet-strip

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "ERROR: $*" >&2; exit 1; }
# run_or_skip, find_kernel
. "$here/lib-e2e.sh"
kdir='' guest='' first=''
# arm64_build
. "$srcroot/tests/cross/lib-arm64-build.sh"

cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(uki zboot-gzip zboot-zstd plain)
for c in "${cases[@]}"; do
	case "$c" in
	uki | zboot-gzip | zboot-zstd | plain) ;;
	*) die "unknown case '$c' (uki | zboot-gzip | zboot-zstd | plain)" ;;
	esac
done

command -v "$qemu" >/dev/null || skip "$qemu not found (install qemu-system-arm)"
for tool in "$readelf" "$strip"; do
	command -v "$tool" >/dev/null || skip "$tool not found (install g++-aarch64-linux-gnu)"
done
[ -x "$py" ] || skip "$py not found"
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || skip "cannot write the cache $cache"

e2e_scratch e2e-arm64 --fresh
t_start=$SECONDS

# --- the cross-built kexecd and kexecctl --------------------------------------------------------
if [ -n "${KEXECD_ARM64_BUILD:-}" ]; then
	arm64_builddir=$KEXECD_ARM64_BUILD
	[ -r "$arm64_builddir/.kexecd-sysroot" ] || die "$arm64_builddir was not configured by setup-arm64.sh"
	echo "e2e-arm64: the cross build in $arm64_builddir as it is (KEXECD_ARM64_BUILD)"
else
	rc=0
	arm64_build "${KEXECD_ARM64_WORK:-${TMPDIR:-/tmp}/kexecd-arm64-$(id -u)}" || rc=$?
	[ $rc = 77 ] && skip "no arm64 cross build: $arm64_skip"
	[ $rc = 0 ] || die "the arm64 cross build failed (above)"
	echo "e2e-arm64: cross build $arm64_builddir: $t_build s ($arm64_steps ninja steps)," \
		"setup and sysroot $t_setup s"
fi
sysroot=$(cat "$arm64_builddir/.kexecd-sysroot")

# --- Debian's arm64 kernel and guest packages (cached) -------------------------------------------
t0=$SECONDS
run_or_skip kdir "$srcroot/tests/fixtures/fetch-arm64-kernel.sh" "$cache"
run_or_skip guest "$here/fetch-arm64-guest.sh" "$cache"
run_or_skip first "$here/build-arm64-kernel.sh" "$cache"
# "linux-image-6.1.0-50-arm64 6.1.176-1": the ABI is the kernel's uname -r.
uname_str=$(sed -n 's/^linux-image-\([^ ]*\) .*/\1/p' "$kdir/package")
[ -n "$uname_str" ] || die "$kdir/package names no linux-image-ABI package"
echo "e2e-arm64: first kernel $(cat "$first/version") with kexec_file_load ($first/Image)," \
	"second kernel Debian's $(cat "$kdir/package") ($kdir/Image), guest packages $guest: $((SECONDS - t0)) s"

# --- UKIs, zboot kernels, plain parts -----------------------------------------------------------
t0=$SECONDS
ukis=$work/ukis
"$here/make-arm64-ukis.sh" "$ukis" "$kdir/Image" "$uname_str" "$guest" >/dev/null
# An x86 UKI (x86 systemd-stub around Debian's x86 kernel) for the uki case, which must be refused
# by name on arm64 with the staged UKI kept.
x86_stub=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
[ -r "$x86_stub" ] || skip "$x86_stub not found (install systemd-boot-efi)"
x86_vmlinuz=$(find_kernel) || skip "no x86 kernel for the x86 UKI (Debian's linux-image-amd64)"
printf '%s' "console=ttyS0 kexecd.x86=1" >"$work/x86-cmdline"
"$py" "$here/pe-add-sections.py" "$x86_stub" "$ukis/x86.efi" .cmdline="$work/x86-cmdline" .linux="$x86_vmlinuz"
echo "e2e-arm64: inputs built in $((SECONDS - t0)) s"

# --- first stage ---------------------------------------------------------------------------------
# Library directories, searched in order for an arm64 program's NEEDED entries: the guest
# packages (the bus), the sysroot kexecd was linked against, the cross toolchain's own runtime.
libdirs=("$guest/root/lib/$triplet" "$guest/root/usr/lib/$triplet" "$sysroot/lib/$triplet"
	"$sysroot/usr/lib/$triplet" "/usr/$triplet/lib")
find_arm64_lib() { # NAME: the first libdirs entry that has it
	local d
	for d in "${libdirs[@]}"; do
		[ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
	done
	return 1
}
# install_arm64_bin ROOT SRC DST: an arm64 program and, recursively, every library its NEEDED
# entries name (readelf: the host's ldd cannot run arm64 programs), plus its interpreter.
# Libraries go to /usr/lib/aarch64-linux-gnu, which the arm64 loader searches without an
# ld.so.cache. Debug info only slows packing and unpacking the image under TCG.
install_arm64_bin() {
	local root=$1 src=$2 dst=$3 interp f need dest found
	mkdir -p "$root$(dirname "$dst")" "$root/usr/lib/$triplet"
	rm -f "$root$dst"
	"$strip" --strip-debug -o "$root$dst" "$src"
	chmod 0755 "$root$dst"
	interp=$("$readelf" -l "$src" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
	if [ -n "$interp" ] && [ ! -e "$root$interp" ]; then
		found=$(find_arm64_lib "$(basename "$interp")") || die "no $interp for $src in ${libdirs[*]}"
		mkdir -p "$root$(dirname "$interp")"
		cp -L "$found" "$root$interp"
	fi
	local queue=("$src")
	while [ ${#queue[@]} -gt 0 ]; do
		f=${queue[0]}
		queue=("${queue[@]:1}")
		for need in $("$readelf" -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
			dest=$root/usr/lib/$triplet/$need
			[ -e "$dest" ] && continue
			found=$(find_arm64_lib "$need") || die "$src needs $need, which none of ${libdirs[*]} has"
			"$strip" --strip-debug -o "$dest" "$found"
			queue+=("$found")
		done
	done
}

t0=$SECONDS
common=$work/stage1-common
mkdir -p "$common"/{usr/bin,usr/sbin,usr/lib,proc,sys,dev,run,tmp,root,etc,var/lib}
ln -s usr/bin "$common/bin"
ln -s usr/sbin "$common/sbin"
ln -s usr/lib "$common/lib"
cp "$guest/root/bin/busybox" "$common/usr/bin/busybox"
# The applet links, from the x86 busybox's list when there is one (the same version's applets),
# else a fixed list of what stage1-init.sh runs.
applets=$( (/usr/bin/busybox --list 2>/dev/null || true) | tr '\n' ' ')
[ -n "$applets" ] || applets="sh mount mkdir cat cut sed grep tail sleep kill sync poweroff dmesg echo ls tr"
for a in $applets; do
	[ "$a" = busybox ] || [ -e "$common/usr/bin/$a" ] || ln -s busybox "$common/usr/bin/$a"
done
install_arm64_bin "$common" "$guest/root/usr/bin/dbus-daemon" /usr/bin/dbus-daemon
install_arm64_bin "$common" "$guest/root/usr/bin/dbus-send" /usr/bin/dbus-send
install_arm64_bin "$common" "$arm64_builddir/daemon/kexecd" /usr/sbin/kexecd
install_arm64_bin "$common" "$arm64_builddir/client/kexecctl" /usr/bin/kexecctl
mkdir -p "$common/usr/share/dbus-1/system.d" "$common/etc/dbus-1/system.d"
cp "$here/system.conf" "$common/usr/share/dbus-1/system.conf"
cp "$srcroot/dbus/org.kexecd1.conf" "$common/usr/share/dbus-1/system.d/org.kexecd1.conf"
echo 'root:x:0:0:root:/root:/bin/sh' >"$common/etc/passwd"
echo 'root:x:0:' >"$common/etc/group"
echo 0123456789abcdef0123456789abcdef >"$common/etc/machine-id"
mkdir -p "$common/etc/kexecd/trust.d"
install -m 0755 "$here/stage1-init.sh" "$common/init"
: >"$common/e2e.env"
echo "e2e-arm64: first stage ($(du -sh "$common" | cut -f1) unpacked: busybox, dbus, kexecd, kexecctl," \
	"$(ls "$common/usr/lib/$triplet" | wc -l) libraries) in $((SECONDS - t0)) s"

build_stage1() { # $1 = case, $2 = output cpio.gz
	local c=$1 root=$work/stage1-$1
	rm -rf "$root"
	cp -a "$common" "$root"
	case "$c" in
	uki) cp "$ukis/e2e-uki.efi" "$root/uki.efi" && cp "$ukis/x86.efi" "$root/x86.efi" ;;
	zboot-gzip | zboot-zstd) cp "$ukis/$c.efi" "$root/uki.efi" ;;
	plain) cp -r "$ukis/plain" "$root/plain" ;;
	esac
	[ "$c" = plain ] || cp "$ukis/a.addon.efi" "$ukis/b.addon.efi" "$root/"
	"$py" "$here/mkcpio.py" "$root" "$2" --gzip --node dev/console:c:5:1 --node dev/null:c:1:3:0666
	rm -rf "$root"
}

# -cpu max as the issue asks, with the implementation-defined pointer authentication: TCG's
# QARMA5 (the architected one, max's default) costs most of the guest's time in every PAC/AUT
# instruction Debian's kernel is built with; pauth-impdef keeps the feature, cheaply. Never KVM
# on this machine kind. -smp 1: kexec needs no second CPU, and TCG's threads are the host's.
boot() { # $1 = case, $2 = initramfs, $3 = serial log
	local c=$1 rc=0 t0=$SECONDS tmo=${KEXECD_E2E_TIMEOUT:-420}
	nice -n 10 timeout -k 10 "$tmo" "$qemu" -M virt -accel tcg -cpu max,pauth-impdef=on -m 1024 -smp 1 \
		-nographic -no-reboot -nodefaults -monitor none -serial "file:$3" \
		-kernel "$first/Image" -initrd "$2" \
		-append "console=ttyAMA0 panic=-1 quiet kexecd.e2e=arm64-$c" </dev/null || rc=$?
	echo "e2e-arm64: [$c] qemu exited rc=$rc after $((SECONDS - t0)) s$([ $rc = 124 ] && echo " (TIMEOUT)")"
}

run_case() { # $1 = case: initramfs, boot, all output to $work/run-$1.out
	local c=$1 t0=$SECONDS
	build_stage1 "$c" "$work/stage1-$c.cpio.gz"
	echo "e2e-arm64: [$c] initramfs $(stat -c %s "$work/stage1-$c.cpio.gz") bytes in $((SECONDS - t0)) s"
	boot "$c" "$work/stage1-$c.cpio.gz" "$work/serial-$c.log"
	echo "e2e-arm64: [$c] $((SECONDS - t0)) s wall (initramfs and qemu)"
}

# At most KEXECD_E2E_ARM64_JOBS qemu runs at a time (each one TCG thread).
jobs=${KEXECD_E2E_ARM64_JOBS:-2}
t0=$SECONDS
running=()
for c in "${cases[@]}"; do
	if [ ${#running[@]} -ge "$jobs" ]; then
		wait "${running[0]}" || true
		running=("${running[@]:1}")
	fi
	run_case "$c" >"$work/run-$c.out" 2>&1 &
	running+=($!)
done
wait || true
t_boots=$((SECONDS - t0))

failed=0
passed=()
for c in "${cases[@]}"; do
	cat "$work/run-$c.out"
	log=$work/serial-$c.log
	echo "----- serial log (arm64-$c) -----"
	tr -d '\r' <"$log" 2>/dev/null | grep -a -E '^(E2E|KEXECD-E2E)|Kernel panic|kexec' || true
	echo "------------------------------"
	if "$py" "$here/check-e2e.py" --mode "arm64-$c" --log "$log" --ukis "$ukis"; then
		echo "e2e-arm64: [$c] PASS"
		passed+=("$c")
	else
		echo "----- last lines of the serial log (arm64-$c) -----"
		tr -d '\r' <"$log" 2>/dev/null | tail -n 60
		echo "e2e-arm64: [$c] FAIL (full serial log: $log)"
		failed=1
	fi
done
echo "e2e-arm64: ${#passed[@]}/${#cases[@]} cases passed (${passed[*]:-none}): kexecd on" \
	"$(cut -d' ' -f3 "$first/version") kexec'ed Debian's $(cut -d' ' -f1 "$kdir/package") under" \
	"qemu-system-aarch64 TCG; boots $t_boots s ($jobs at a time), whole test $((SECONDS - t_start)) s"
exit $failed
