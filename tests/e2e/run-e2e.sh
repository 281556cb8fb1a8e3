#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# End-to-end test on a real kernel: qemu (TCG) boots Debian's kernel with a first-stage initramfs
# holding a system bus, kexecd, kexecctl and kexec-tools; the guest stages a UKI with addons and
# kexecs into it; the second kernel prints what it was given on the serial console; this script
# asserts on that log (check-e2e.py).
#
# usage: run-e2e.sh [MODE...]      MODE: kexec-tools (default) | kexecd | kexecd-negative | all
#                                        | kexecd-plain (a plain kernel + two initrds, issue 15)
#                                        | bpf-reference (Debian's 6.12 + tests/kernel/kexecd_ref.ko)
#
# Environment:
#   KEXECD_BIN, KEXECCTL_BIN   the binaries under test (kexecd modes exit 77 without them)
#   KEXECD_FIXTURES            directory with vmlinuz (else Debian's kernel package is fetched)
#   KEXECD_E2E_WORK            scratch directory (default: a temporary one, removed on success)
#   KEXECD_CACHE               where the kernel .deb is kept (default /var/cache/kexecd-test)
#   KEXECD_ARGS                kexecd's arguments in the guest (default --kernel=real)
#   KEXECD_ENFORCE_ARGS        kexecctl stage arguments that select enforce (default --signature-policy=enforce)
#   KEXECD_E2E_TIMEOUT         seconds one qemu run may take (default 420)
#   KEXECD_E2E_KEEP=1          keep the scratch directory
#   KEXECD_E2E_TIMING_RUNS     how often the kexecd run times each tool's staging (default 2)
#   KEXECD_E2E_COMPRESS=none   pack the first stage as a plain cpio instead of gzip
#   KEXECD_E2E_SABOTAGE=reverse-addons   compose the addons reversed, to see the asserts fail
#                      =reverse-initrds  kexecd-plain: the initrds in the wrong order, likewise
#   KEXECD_PARSER_CONTAINER, KEXECD_PARSER_NESTED, KEXECD_PARSER_CERT   bpf-reference: the built
#                              parser containers (plain, with .bpf.nested) and their certificate
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
qemu=${KEXECD_QEMU:-qemu-system-x86_64}
busybox=/usr/bin/busybox

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "ERROR: $*" >&2; exit 1; }
# find_kernel, install_bin: shared with run-diff.sh.
. "$here/lib-e2e.sh"

modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(kexec-tools)
if [ "${modes[*]}" = all ]; then
	modes=(kexec-tools kexecd kexecd-negative kexecd-crash kexecd-plain)
fi
needs_kexecd=0
needs_ref=0
needs_default_kernel=0
for m in "${modes[@]}"; do
	case "$m" in
	kexec-tools) needs_default_kernel=1 ;;
	kexecd | kexecd-negative | kexecd-crash | kexecd-plain) needs_kexecd=1 needs_default_kernel=1 ;;
	bpf-reference) needs_kexecd=1 needs_ref=1 ;;
	*) die "unknown mode '$m' (kexec-tools | kexecd | kexecd-negative | kexecd-crash | kexecd-plain | all | bpf-reference)" ;;
	esac
done

command -v "$qemu" >/dev/null || skip "$qemu not found (install qemu-system-x86)"
[ -x "$busybox" ] || skip "$busybox not found (install busybox-static)"
# The marker initrd has no libraries: Debian's dynamic busybox package would not run there.
bb_ldd=$(LC_ALL=C ldd "$busybox" 2>&1 || true)
[[ $bb_ldd == *"not a dynamic executable"* ]] || skip "$busybox is dynamically linked (install busybox-static)"
[ -x /usr/sbin/kexec ] || skip "/usr/sbin/kexec not found (install kexec-tools)"
command -v dbus-daemon >/dev/null || skip "dbus-daemon not found (install dbus-daemon)"
[ -x "$py" ] || skip "$py not found"
[ -r /usr/lib/systemd/boot/efi/linuxx64.efi.stub ] || skip "linuxx64.efi.stub not found (install systemd-boot-efi)"
command -v sbsign >/dev/null || skip "sbsign not found (install sbsigntool)"

if [ $needs_kexecd = 1 ]; then
	kexecd_bin=${KEXECD_BIN:-}
	kexecctl_bin=${KEXECCTL_BIN:-}
	if [ -z "$kexecd_bin" ] || [ ! -x "$kexecd_bin" ] || [ -z "$kexecctl_bin" ] || [ ! -x "$kexecctl_bin" ]; then
		skip "kexecd binaries not built yet (KEXECD_BIN='${KEXECD_BIN:-}' KEXECCTL_BIN='${KEXECCTL_BIN:-}')"
	fi
fi

e2e_scratch e2e

# --- kernel -------------------------------------------------------------------------------------
if [ $needs_default_kernel = 1 ]; then
	vmlinuz=$(find_kernel) || skip "no kernel: neither \$KEXECD_FIXTURES/vmlinuz nor Debian's linux-image-amd64 could be had"
	echo "e2e: kernel $vmlinuz"
fi
if [ $needs_ref = 1 ]; then
	for v in KEXECD_PARSER_CONTAINER KEXECD_PARSER_NESTED KEXECD_PARSER_CERT; do
		[ -r "${!v:-}" ] || skip "parser containers not built ($v='${!v:-}'; the bpf feature is needed)"
	done
	cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
	mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=$work/cache
	rc=0
	kenv=$("$srcroot/tests/kernel/prepare-kernel.sh" "$cache" 2>"$work/prepare-kernel.err") || rc=$?
	cat "$work/prepare-kernel.err" >&2
	[ $rc = 77 ] && skip "Debian's 6.12 kernel: $(tail -n1 "$work/prepare-kernel.err")"
	[ $rc = 0 ] || die "prepare-kernel.sh failed (rc=$rc)"
	eval "$kenv"
	[ -d "${KDIR:-}" ] && [ -r "${VMLINUZ:-}" ] || die "prepare-kernel.sh printed '$kenv', not KDIR, VMLINUZ and ABI"
	ref_vmlinuz=$VMLINUZ
	t0=$SECONDS
	ref_ko=$("$srcroot/tests/kernel/build-module.sh" "$KDIR" "$work/kexecd-ref") || rc=$?
	[ $rc = 77 ] && skip "kexecd_ref.ko cannot be built (see above)"
	[ $rc = 0 ] || die "building kexecd_ref.ko failed (rc=$rc)"
	echo "e2e: reference kernel side $ref_ko for $ABI, built in $((SECONDS - t0))s"
fi

# --- UKIs and addons ----------------------------------------------------------------------------
if [ $needs_default_kernel = 1 ]; then
	KEXECD_BUSYBOX=$busybox "$here/make-e2e-ukis.sh" "$work/ukis" "$vmlinuz" >/dev/null
fi
if [ $needs_ref = 1 ]; then
	# The second kernel is the same 6.12 (any kernel would do: it only prints what it was given).
	KEXECD_BUSYBOX=$busybox "$here/make-e2e-ukis.sh" "$work/ukis-ref" "$ref_vmlinuz" >/dev/null
	"$here/make-bpf-ref-inputs.sh" "$work/ukis-ref" "$ref_vmlinuz" "$KEXECD_PARSER_CONTAINER" \
		"$KEXECD_PARSER_NESTED" "$KEXECD_PARSER_CERT" >/dev/null
fi

# --- first-stage initramfs ----------------------------------------------------------------------
build_stage1() { # $1 = mode, $2 = output cpio.gz
	local mode=$1 out=$2
	local root=$work/stage1-$mode
	rm -rf "$root"
	mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,run,tmp,root,etc,var/lib}
	ln -s usr/bin "$root/bin"
	ln -s usr/sbin "$root/sbin"
	ln -s usr/lib "$root/lib"
	ln -s usr/lib64 "$root/lib64"

	cp "$busybox" "$root/usr/bin/busybox"
	# One process for ~400 applet links: forking ln for each takes ~10 s on a loaded machine.
	"$busybox" --list-full | "$py" -c '
import os, sys
root = sys.argv[1]
for applet in sys.stdin.read().split():
	link = os.path.join(root, applet)
	if not os.path.lexists(link):
		os.symlink("/usr/bin/busybox", link)' "$root"

	install_bin "$root" /usr/bin/dbus-daemon /usr/bin/dbus-daemon
	install_bin "$root" /usr/bin/dbus-send /usr/bin/dbus-send
	install_bin "$root" /usr/bin/dbus-monitor /usr/bin/dbus-monitor
	install_bin "$root" /usr/sbin/kexec /usr/sbin/kexec
	if [ "$mode" != kexec-tools ]; then
		install_bin "$root" "$kexecd_bin" /usr/sbin/kexecd
		install_bin "$root" "$kexecctl_bin" /usr/bin/kexecctl
	fi

	mkdir -p "$root/usr/share/dbus-1/system.d" "$root/etc/dbus-1/system.d"
	cp "$here/system.conf" "$root/usr/share/dbus-1/system.conf"
	if [ -r "$srcroot/dbus/org.kexecd1.conf" ]; then
		cp "$srcroot/dbus/org.kexecd1.conf" "$root/usr/share/dbus-1/system.d/org.kexecd1.conf"
	fi
	echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"
	echo 0123456789abcdef0123456789abcdef >"$root/etc/machine-id"
	mkdir -p "$root/etc/kexecd/trust.d"
	cp "$ukis/db.crt" "$root/etc/kexecd/trust.d/e2e.crt"

	install -m 0755 "$here/stage1-init.sh" "$root/init"
	{
		[ -n "${KEXECD_ARGS:-}" ] && printf 'KEXECD_ARGS=%q\n' "$KEXECD_ARGS"
		[ -n "${KEXECD_ENFORCE_ARGS:-}" ] && printf 'KEXECD_ENFORCE_ARGS=%q\n' "$KEXECD_ENFORCE_ARGS"
		[ -n "${KEXECD_E2E_SABOTAGE:-}" ] && printf 'E2E_SABOTAGE=%q\n' "$KEXECD_E2E_SABOTAGE"
		[ -n "${KEXECD_E2E_TIMING_RUNS:-}" ] && printf 'E2E_TIMING_RUNS=%q\n' "$KEXECD_E2E_TIMING_RUNS"
		true
	} >"$root/e2e.env"

	case "$mode" in
	kexec-tools)
		cp -r "$ukis/$parts" "$root/parts"
		;;
	kexecd)
		cp -r "$ukis/$parts" "$root/parts"
		cp "$ukis/e2e-uki.efi" "$root/uki.efi"
		cp "$ukis/a.addon.efi" "$ukis/b.addon.efi" "$root/"
		;;
	kexecd-negative)
		cp "$ukis/e2e-uki.efi" "$root/uki.efi"
		cp "$ukis/e2e-uki.signed.efi" "$root/uki.signed.efi"
		cp "$ukis/a.addon.signed.efi" "$ukis/b.addon.signed.efi" "$root/"
		cp "$ukis/e2e-uki2.efi" "$root/uki2.efi"
		cp "$ukis/e2e-uki.tampered.efi" "$root/uki.tampered.efi"
		cp "$ukis/a.addon.efi" "$ukis/b.addon.efi" "$root/"
		;;
	kexecd-crash)
		cp "$ukis/e2e-uki.efi" "$root/uki.efi"
		cp "$ukis/e2e-uki2.efi" "$root/uki2.efi"
		cp "$ukis/a.addon.efi" "$ukis/b.addon.efi" "$root/"
		;;
	kexecd-plain)
		cp -r "$ukis/plain" "$root/plain"
		;;
	bpf-reference)
		cp "$ukis/e2e-uki.efi" "$root/uki.efi"
		cp "$ukis/e2e-uki.signed.efi" "$root/uki.signed.efi"
		cp "$ukis/e2e-uki.tampered.efi" "$root/uki.tampered.efi"
		cp "$ukis"/{a.addon.efi,b.addon.efi,linux.addon.efi,zboot-gzip.efi,zboot-zstd.efi,big.efi} "$root/"
		cp "$ukis"/{a.addon.signed.efi,b.addon.signed.efi,a.addon.ima} "$root/"
		# busybox has no setfattr and cpio carries no xattrs: a static helper sets security.ima.
		cc -static -Os -o "$root/usr/bin/set-ima-xattr" "$here/set-ima-xattr.c" \
			|| die "cannot link set-ima-xattr statically (libc6-dev)"
		cp -r "$ukis/parsers" "$root/parsers"
		cp "$ukis/parser.der" "$root/etc/kexecd-ref.der"
		# The PEs' signer, for VERIFY_SIG (the module's keyring stands in for the kernel's).
		openssl x509 -in "$ukis/db.crt" -outform DER -out "$root/etc/kexecd-ref-db.der"
		cp "$ukis/parser.pem" "$root/etc/kexecd/trust.d/parser.crt"
		mkdir -p "$root/lib/modules"
		cp "$ref_ko" "$root/lib/modules/kexecd_ref.ko"
		;;
	esac
	local gz=--gzip
	[ "${KEXECD_E2E_COMPRESS:-gzip}" = none ] && gz=
	"$py" "$here/mkcpio.py" "$root" "$out" $gz --node dev/console:c:5:1 --node dev/null:c:1:3:0666
}

# KEXECD_E2E_SABOTAGE=reverse-addons composes the addons in the wrong order (kexec-tools gets
# reversed parts, kexecctl gets the addons reversed): the asserts must then fail. It exists to
# show that they would catch a wrong composition.
parts="parts"
if [ "${KEXECD_E2E_SABOTAGE:-}" = reverse-addons ]; then
	parts="parts-reversed"
	echo "e2e: SABOTAGE: addons composed in reverse order, the checks below must FAIL"
fi

# --- boot ---------------------------------------------------------------------------------------
boot() { # $1 = mode, $2 = initramfs, $3 = serial log
	local mode=$1 initrd=$2 log=$3 rc=0
	local tmo=${KEXECD_E2E_TIMEOUT:-420}
	# More stagings than the other modes, each through the real verifier (about 10 K
	# instructions per parser; it was ~600 K before the step loops kept their state in map memory).
	[ "$mode" = bpf-reference ] && tmo=${KEXECD_E2E_TIMEOUT:-600}
	echo "e2e: [$mode] booting qemu (TCG, timeout ${tmo}s), serial log $log"
	local t0=$SECONDS
	# TCG only: on these machines /dev/kvm may exist but hangs.
	# bpf-reference holds a 128 MiB UKI twice (initramfs, memfd) and a 256 MiB ringbuf_1 per parser.
	local kernel=${vmlinuz:-} mem=1024
	[ "$mode" = bpf-reference ] && kernel=$ref_vmlinuz mem=2048
	# The crash kernel runs in what crashkernel= reserves: Debian's kernel and the marker
	# initrd boot in 192 MiB.
	local extra=
	[ "$mode" = kexecd-crash ] && extra=" crashkernel=192M"
	timeout -k 10 "$tmo" "$qemu" -accel tcg -cpu max -m $mem -smp 1 -nographic -no-reboot \
		-nodefaults -monitor none -serial "file:$log" \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 quiet kexecd.e2e=$mode$extra" </dev/null || rc=$?
	echo "e2e: [$mode] qemu exited rc=$rc after $((SECONDS - t0))s"
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		echo "e2e: [$mode] TIMEOUT after ${tmo}s"
	fi
	return 0
}

failed=0
for mode in "${modes[@]}"; do
	initrd=$work/stage1-$mode.cpio.gz
	log=$work/serial-$mode.log
	ukis=$work/ukis
	[ "$mode" = bpf-reference ] && ukis=$work/ukis-ref
	t0=$SECONDS
	build_stage1 "$mode" "$initrd"
	# The unpacked tree is only needed to build the archive.
	rm -rf "$work/stage1-$mode"
	echo "e2e: [$mode] initramfs $(stat -c %s "$initrd") bytes, built in $((SECONDS - t0))s"
	boot "$mode" "$initrd" "$log"
	echo "----- serial log ($mode) -----"
	tr -d '\r' <"$log" | grep -a -E '^(E2E|KEXECD-E2E)|Kernel panic|kexec' || true
	echo "------------------------------"
	if "$py" "$here/check-e2e.py" --mode "$mode" --log "$log" --ukis "$ukis"; then
		echo "e2e: [$mode] PASS"
	else
		echo "----- last lines of the serial log ($mode) -----"
		tr -d '\r' <"$log" | tail -n 60
		echo "e2e: [$mode] FAIL (full serial log: $log)"
		failed=1
	fi
done
exit $failed
