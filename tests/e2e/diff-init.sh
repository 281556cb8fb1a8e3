#!/bin/busybox sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=dash
#
# /init of the differential test's UKI initrd (run-diff.sh). The same initrd runs twice: first
# after the firmware boot (OVMF -> systemd-boot -> systemd-stub), then after the kexec that kexecd
# staged from the same ESP. Each time it first writes a report of what the kernel was given - the
# command line and every file of the initramfs with its mode and SHA-256, /.extra/ included -
# before anything else touches the root file system. The host asserts the two reports are equal.
#
# The first run then unpacks kexecd and its bus from the ESP, stages the default entry with
# `kexecctl stage` (StageDefault: discovery reads the mounted ESP) and kexecs; the second powers
# off. A marker file on the ESP tells the runs apart: the Loader*/Stub* EFI variables survive a
# kexec and cannot.
export PATH=/bin:/usr/bin:/usr/sbin:/sbin
# A console script: kexecctl would page status and list there (TERM=linux), and nobody
# presses q; busybox less does not quit on a short page.
export SYSTEMD_PAGER=cat
bb=/bin/busybox
$bb mkdir -p /proc /sys /dev /run /tmp /efi
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
$bb mount -t tmpfs tmpfs /run
$bb mount -t tmpfs tmpfs /tmp
echo 1 >/proc/sys/kernel/printk

say() { echo "DIFF: $*"; }
die() { echo "DIFF-FAIL $*"; $bb sync; $bb poweroff -f; }

# The report. Mount points above are created identically in both runs; -xdev keeps their
# contents out. Modes are octal permission bits; the type is the first field.
report() {
	echo "cmdline $($bb cat /proc/cmdline)"
	$bb find / -xdev | $bb sort | while read -r p; do
		if [ -L "$p" ]; then
			echo "L $p -> $($bb readlink "$p")"
		elif [ -d "$p" ]; then
			echo "D $($bb stat -c %a "$p") $p"
		elif [ -f "$p" ]; then
			echo "F $($bb stat -c %a "$p") $p $($bb sha256sum <"$p" | $bb cut -d' ' -f1)"
		else
			echo "O $($bb stat -c %a "$p") $p"
		fi
	done
}
report >/run/report

for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk \
	fat vfat nls_cp437 nls_ascii efivarfs; do
	$bb insmod "/lib/modules/$m.ko" 2>/dev/null
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do
	$bb sleep 0.1
	i=$((i + 1))
done
$bb mount -t vfat /dev/vda /efi || die "cannot mount the ESP"

if [ ! -e /efi/kexecd-diff/firmware-done ]; then
	phase=firmware
else
	phase=kexec
fi
$bb cp /run/report "/efi/kexecd-diff/report-$phase.txt"
echo "DIFF-BEGIN report-$phase"
$bb cat /run/report
echo "DIFF-END report-$phase"

if [ $phase = kexec ]; then
	$bb sync
	$bb umount /efi
	say "second kernel reported, powering off"
	$bb poweroff -f
fi

: >/efi/kexecd-diff/firmware-done
# Negative control (KEXECD_DIFF_SABOTAGE=drop-addon): the per-UKI addon disappears between the
# boots, so the kexec misses its initrd, ucode and cmdline, and the host's comparison must fail.
if [ -e /efi/kexecd-diff/sabotage-drop-addon ]; then
	say "SABOTAGE: removing the per-UKI addon before staging"
	$bb rm -f /efi/EFI/Linux/diff.efi.extra.d/local.addon.efi
fi
$bb sync
# kexecd, kexecctl, dbus-daemon and their libraries (built by run-diff.sh).
$bb gzip -dc /efi/kexecd-diff/tools.cpio.gz | (cd / && $bb cpio -id 2>/dev/null) || die "cannot unpack the tools"
$bb mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
$bb mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
$bb mkdir -p /run/dbus /run/kexecd /var/lib/kexecd
dbus-daemon --system --fork --nopidfile || die "dbus-daemon did not start"
i=0
while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 50 ]; do
	$bb sleep 0.1
	i=$((i + 1))
done
RUNTIME_DIRECTORY=/run/kexecd STATE_DIRECTORY=/var/lib/kexecd KEXECD_LOG_LEVEL=debug \
	kexecd --kernel=real --config=/etc/kexecd/kexecd.conf >/run/kexecd.log 2>&1 &
i=0
until dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
	org.freedesktop.DBus.NameHasOwner string:org.kexecd1 2>/dev/null | $bb grep -q 'boolean true'; do
	i=$((i + 1))
	[ $i -lt 100 ] || { $bb tail -n 30 /run/kexecd.log; die "kexecd did not take its bus name"; }
	$bb sleep 0.2
done
say "kexecctl list"
kexecctl list
# What systemd-boot booted (it sets LoaderEntrySelected) against what kexecctl list calls the
# default: UTF-16LE after 4 attribute bytes; the ids are ASCII.
selected=$($bb tail -c +5 /sys/firmware/efi/efivars/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f \
	2>/dev/null | $bb tr -d '\000')
listed=$(kexecctl list --json | $bb sed -n 's/^  "default": "\(.*\)",$/\1/p')
echo "DIFF-CHOICE systemd-boot=$selected kexecctl-list=$listed"
echo "systemd-boot=$selected kexecctl-list=$listed" >/efi/kexecd-diff/choice.txt
say "kexecctl stage (the default entry)"
if ! kexecctl stage --json >/run/stage.json 2>/run/stage.err; then
	$bb cat /run/stage.err
	$bb tail -n 30 /run/kexecd.log
	die "kexecctl stage failed"
fi
echo "DIFF-BEGIN status"
kexecctl status
echo "DIFF-END status"
$bb cp /run/stage.json /efi/kexecd-diff/stage.json
# What reboot --auto would decide, with the booted kernel's digest kexecd read from the entry
# systemd-boot booted (LoaderEntrySelected); no logind here, so the decision itself is a refusal.
kexecctl --json reboot --auto --dry-run >/efi/kexecd-diff/plan.json 2>/dev/null || true
$bb sync
$bb umount /efi
say "kexecctl reboot --force"
kexecctl reboot --force
die "kexecctl reboot --force returned"
