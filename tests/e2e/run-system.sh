#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# System e2e: kexecd as a real Debian system runs it. A Debian image (systemd FLAVOR: 252 from
# bookworm, 254 from bookworm-backports, 257 from trixie; make-debian-image.sh, cached) gets
# kexecd's .deb (build-deb.sh, cached per source tree; for 257 built in the trixie build root,
# so it depends on trixie's libraries), the test UKIs (make-e2e-ukis.sh) and the scenario
# (system-scenario.sh), written with debugfs, no loop mount. qemu (TCG) boots it with systemd as
# PID 1; the scenario installs the package, stages as a polkit-allowed user through D-Bus
# activation, checks refusals, the journal, restart, kernel-install and soft-reboot (254, 257),
# and reboots into the staged kernel (through logind; on 257 with a plain `systemctl reboot`,
# which kexecs a loaded kernel), whose marker line check-e2e.py compares.
#
# usage: run-system.sh FLAVOR          FLAVOR: 252 | 254 | 257
# Environment: KEXECD_CACHE (default /var/cache/kexecd-test), KEXECD_E2E_WORK (scratch, serial
# log serial-system-FLAVOR.log), KEXECD_E2E_TIMEOUT (one qemu run, default 600 s), KEXECD_DEB (a
# .deb to test instead of building one), KEXECD_E2E_SOFT_REBOOT=no (skip the soft-reboot, to
# tell its effects apart when debugging).
# exit 77 with the reason when qemu, the archive, the packaging tools or root are missing.
set -euo pipefail

flavor=${1:?usage: run-system.sh 252|254|257}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
qemu=${KEXECD_QEMU:-qemu-system-x86_64}
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
skip() { echo "SKIP: $*"; exit 77; }
die() { echo "ERROR: $*" >&2; exit 1; }
# find_kernel
. "$here/lib-e2e.sh"

[ "$(id -u)" = 0 ] || skip "needs root (mmdebstrap's root mode, debugfs on the image)"
command -v "$qemu" >/dev/null || skip "$qemu not found (install qemu-system-x86)"
command -v debugfs >/dev/null || skip "debugfs not found (install e2fsprogs)"
command -v zstd >/dev/null || skip "zstd not found"
mkdir -p "$cache" || skip "cannot create $cache"

work=${KEXECD_E2E_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/kexecd-system.XXXXXX")}
mkdir -p "$work"
work=$(cd "$work" && pwd)
t_start=$SECONDS


# --- the package ---------------------------------------------------------------------------
t0=$SECONDS
# 257 is trixie: its image gets the .deb built in the trixie build root.
release=host
[ "$flavor" = 257 ] && release=trixie
package_and_depends "$cache" "$release"
echo "system-e2e: package $deb ($((SECONDS - t0)) s)"

# --- the image -----------------------------------------------------------------------------
t0=$SECONDS
run_or_skip image "$here/make-debian-image.sh" "$cache" "$flavor" "${depends[@]}"
[ -r "$image/systemd-version" ] || die "make-debian-image.sh printed '$image', not an image directory"
echo "system-e2e: image $image, systemd $(cat "$image/systemd-version") ($((SECONDS - t0)) s)"

# --- the UKIs ------------------------------------------------------------------------------
vmlinuz=$(find_kernel) || skip "no kernel: Debian's linux-image-amd64 could not be had"
ukis=$work/ukis
"$here/make-e2e-ukis.sh" "$ukis" "$vmlinuz" >/dev/null || {
	rc=$?
	[ $rc = 77 ] && skip "make-e2e-ukis.sh could not run"
	die "make-e2e-ukis.sh failed"
}

# --- this run's disk: the cached image plus the scenario's files ---------------------------
t0=$SECONDS
disk=$work/rootfs-$flavor.ext4
rm -f "$disk"
zstd -q -d "$image/rootfs.ext4.zst" -o "$disk"
printf 'FLAVOR=%s\nE2E_SOFT_REBOOT=%s\n' "$flavor" "${KEXECD_E2E_SOFT_REBOOT:-yes}" >"$work/env"
{
	# No login prompt on the serial console between the scenario's lines.
	echo "symlink /etc/systemd/system/serial-getty@ttyS0.service /dev/null"
	echo "mkdir /root/e2e"
	echo "write $here/system-scenario.sh /root/e2e/scenario.sh"
	echo "write $work/env /root/e2e/env"
	echo "write $deb /root/e2e/$(basename "$deb")"
	for f in e2e-uki.efi e2e-uki2.efi a.addon.efi b.addon.efi; do
		echo "write $ukis/$f /root/e2e/$f"
	done
} >"$work/debugfs.cmd"
debugfs -w -f "$work/debugfs.cmd" "$disk" >"$work/debugfs.log" 2>&1 || die "debugfs failed: $(cat "$work/debugfs.log")"
echo "system-e2e: disk ready ($((SECONDS - t0)) s)"

# --- boot ----------------------------------------------------------------------------------
log=$work/serial-system-$flavor.log
# 257 boots once more: the plain `systemctl reboot` into the UKI kernel-install built.
tmo=600
[ "$flavor" = 257 ] && tmo=900
tmo=${KEXECD_E2E_TIMEOUT:-$tmo}
echo "system-e2e: booting systemd $flavor (qemu TCG, timeout ${tmo}s), serial log $log"
t0=$SECONDS
rc=0
# TCG only: on these machines /dev/kvm may exist but hangs. -no-reboot: a plain reboot (instead
# of the kexec) ends the run rather than booting the image again.
timeout -k 10 "$tmo" "$qemu" -accel tcg -cpu max -m 2048 -smp 1 -nographic -no-reboot \
	-nodefaults -monitor none -serial "file:$log" \
	-kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
	-drive "file=$disk,format=raw,if=virtio" \
	-append "root=/dev/vda rw console=ttyS0 fsck.mode=skip systemd.show_status=error panic=-1" \
	</dev/null || rc=$?
echo "system-e2e: qemu exited rc=$rc after $((SECONDS - t0)) s"
[ $rc = 124 ] || [ $rc = 137 ] && echo "system-e2e: TIMEOUT after ${tmo}s"
rm -f "$disk"

echo "----- serial log (scenario lines, shutdown and the second kernel) -----"
tr -d '\r' <"$log" | grep -a -E 'E2E-(PASS|FAIL|DONE)|^E2E:|bash\[[0-9]+\]: E2E:|KEXECD-E2E|Rebooting with kexec|Starting new kernel|[Ss]oft-reboot' || true
echo "------------------------------------------------------------------------"
if "$py" "$here/check-e2e.py" --mode "system-$flavor" --log "$log" --ukis "$ukis"; then
	echo "system-e2e: [$flavor] PASS in $((SECONDS - t_start)) s"
	exit 0
fi
echo "----- last lines of the serial log -----"
tr -d '\r' <"$log" | tail -n 80
echo "system-e2e: [$flavor] FAIL (full serial log: $log)"
exit 1
