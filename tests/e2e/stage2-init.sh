#!/bin/busybox sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=dash
# /init of the UKI's own initrd: the second kernel runs this after the kexec. It proves what the
# kernel was given in one line on the serial console: the command line, the marker files every
# concatenated initrd contributed, and /etc/kexecd-order, which each initrd writes and the last
# one unpacked wins (so the concatenation order is visible). Then it powers off so qemu exits.
export PATH=/bin
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
# Keep kernel messages from splitting the marker line.
echo 1 >/proc/sys/kernel/printk
files=$(cd / && /bin/busybox ls -d etc/kexecd-*marker 2>/dev/null | /bin/busybox sed 's|^|/|' | /bin/busybox tr '\n' ',' | /bin/busybox sed 's/,$//')
order=$(/bin/busybox cat /etc/kexecd-order 2>/dev/null)
echo "KEXECD-E2E-SECOND-STAGE cmdline=$(/bin/busybox cat /proc/cmdline) files=${files} order=${order:-none}"
/bin/busybox sync
/bin/busybox poweroff -f
