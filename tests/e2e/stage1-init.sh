#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=dash # busybox ash, which has local
#
# /init of the e2e first stage. Runs under busybox in qemu, as root, with no systemd: it brings up
# a system bus, then stages the next kernel either with kexec-tools or with kexecd, and kexecs.
# Everything the host asserts is printed to the serial console as lines starting with "E2E".
#
# Mode: kexecd.e2e=MODE on the kernel command line (kexec-tools | kexecd | kexecd-negative |
# kexecd-crash | kexecd-plain | bpf-reference; arm64-uki | arm64-zboot-gzip | arm64-zboot-zstd |
# arm64-plain under run-e2e-arm64.sh).
# /e2e.env (written by run-e2e.sh) may set KEXECD_ARGS, KEXECD_ENFORCE_ARGS.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# A console script: kexecctl must not page (nobody presses q).
export SYSTEMD_PAGER=cat
export HOME=/root

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# kexecd probes lockdown there, as on a real system.
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mkdir -p /run /tmp /var/lib/kexecd /root
mount -t tmpfs tmpfs /run
mkdir -p /run/dbus /run/kexecd

[ -r /e2e.env ] && . /e2e.env
MODE=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	kexecd.e2e=*) MODE=${arg#kexecd.e2e=} ;;
	esac
done

# Kernel messages would split the JSON and marker lines apart; dmesg is dumped on failure instead.
echo 1 >/proc/sys/kernel/printk

FAILED=0
say() { echo "E2E: [$(cut -d" " -f1 /proc/uptime)] $*"; }
pass() { echo "E2E-PASS $*"; }
fail() { echo "E2E-FAIL $*"; FAILED=1; }

finish() {
	if [ "$FAILED" != 0 ]; then
		echo "E2E-BEGIN dmesg"
		dmesg | tail -n 40
		echo "E2E-END dmesg"
		if [ -r /run/kexecd.log ]; then
			echo "E2E-BEGIN kexecd-log"
			tail -n 60 /run/kexecd.log
			echo "E2E-END kexecd-log"
		fi
	fi
	echo "E2E-DONE first-stage failed=$FAILED"
	sync
	poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
}

# Nanoseconds on the monotonic clock: busybox date has no %N, /proc/timer_list has "now at N nsecs".
now_ns() {
	sed -n 's/^now at \([0-9]*\) nsecs$/\1/p;/^now at/q' /proc/timer_list
}

kexec_loaded() {
	cat /sys/kernel/kexec_loaded
}

expect_loaded() { # $1 = expected value, $2 = check name
	local v
	v=$(kexec_loaded)
	if [ "$v" = "$1" ]; then
		pass "$2 kexec_loaded=$v"
	else
		fail "$2 kexec_loaded=$v expected=$1"
	fi
}

# Print a command's stdout between marker lines so the host can parse it; rc goes in the end line.
# usage: capture NAME CMD...
capture() {
	local name=$1 rc
	shift
	"$@" >"/tmp/out.$name" 2>"/tmp/err.$name"
	rc=$?
	echo "E2E-BEGIN $name"
	cat "/tmp/out.$name"
	echo
	echo "E2E-END $name rc=$rc"
	if [ -s "/tmp/err.$name" ]; then
		echo "E2E-BEGIN $name-stderr"
		cat "/tmp/err.$name"
		echo "E2E-END $name-stderr"
	fi
	return $rc
}

start_dbus() {
	dbus-daemon --system --fork --nopidfile || { fail "dbus-daemon did not start"; finish; }
	local i=0
	while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -S /run/dbus/system_bus_socket ] || { fail "no system bus socket"; finish; }
	say "system bus up"
}

start_kexecd() {
	# shellcheck disable=SC2086 # KEXECD_ARGS is a word list by design
	RUNTIME_DIRECTORY=/run/kexecd STATE_DIRECTORY=/var/lib/kexecd KEXECD_LOG_LEVEL=debug \
		kexecd ${KEXECD_ARGS:---kernel=real} >/run/kexecd.log 2>&1 &
	KEXECD_PID=$!
	local i=0
	while [ $i -lt 100 ]; do
		if dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
			org.freedesktop.DBus.NameHasOwner string:org.kexecd1 2>/dev/null | grep -q 'boolean true'; then
			say "kexecd owns org.kexecd1 (pid $KEXECD_PID)"
			return 0
		fi
		if ! kill -0 "$KEXECD_PID" 2>/dev/null; then
			fail "kexecd exited before taking its bus name"
			finish
		fi
		sleep 0.2
		i=$((i + 1))
	done
	fail "kexecd did not take org.kexecd1 within 20 s"
	finish
}

# Stage the decomposed parts with kexec-tools (it cannot take a UKI apart on 6.1) and time it.
kexec_tools_load() {
	local t0 t1
	t0=$(now_ns)
	kexec -s -l /parts/vmlinuz --initrd=/parts/initrd.cpio --command-line="$(cat /parts/cmdline)"
	local rc=$?
	t1=$(now_ns)
	echo "E2E-TIMING kexec-tools $((t1 - t0))"
	[ $rc = 0 ] || fail "kexec-tools load rc=$rc"
	return $rc
}

kexecd_stage_main() {
	local t0 t1 rc addons="--addon /a.addon.efi --addon /b.addon.efi"
	if [ "${E2E_SABOTAGE:-}" = reverse-addons ]; then
		say "SABOTAGE: addons given in reverse order"
		addons="--addon /b.addon.efi --addon /a.addon.efi"
	fi
	t0=$(now_ns)
	# shellcheck disable=SC2086
	capture stage kexecctl stage /uki.efi $addons --json
	rc=$?
	t1=$(now_ns)
	echo "E2E-TIMING kexecd $((t1 - t0))"
	if [ $rc = 0 ]; then pass "stage rc=0"; else fail "stage rc=$rc"; fi
	return $rc
}

reboot_kexecd() {
	# The daemon's own account of the stages (phases, timings), for whoever reads the log.
	echo "E2E-BEGIN kexecd-log"
	tail -n 40 /run/kexecd.log
	echo "E2E-END kexecd-log"
	say "kexecctl reboot --force"
	sync
	capture reboot kexecctl reboot --force
	fail "kexecctl reboot --force returned (rc=$?)"
	finish
}

say "first stage up, mode=$MODE kernel=$(uname -r)"
start_dbus

case "$MODE" in
kexec-tools)
	kexec_tools_load || finish
	expect_loaded 1 kexec-tools-load
	say "kexec -e"
	sync
	kexec -e
	fail "kexec -e returned"
	finish
	;;
kexecd)
	# kexec-tools first, on the same parts, so both timings come from one boot. Each is timed
	# E2E_TIMING_RUNS times (the host takes the fastest): the first call into kexec_file_load
	# pays one-time costs, and the host machine's load makes single samples noisy.
	n=0
	while [ $n -lt "${E2E_TIMING_RUNS:-2}" ]; do
		if kexec_tools_load; then
			kexec -u || fail "kexec -u rc=$?"
		fi
		n=$((n + 1))
	done
	expect_loaded 0 before-kexecd
	start_kexecd
	# kexecd's Progress signals, time-stamped by the bus: where the staging time goes.
	dbus-monitor --system "type='signal',interface='org.kexecd1.Manager',member='Progress'" \
		>/run/progress.log 2>&1 &
	MONITOR_PID=$!
	sleep 1
	n=0
	while [ $n -lt "${E2E_TIMING_RUNS:-2}" ]; do
		# Later runs replace the staged kernel with the same one.
		kexecd_stage_main || finish
		n=$((n + 1))
	done
	capture status kexecctl status --json || fail "status rc=$?"
	expect_loaded 1 after-stage
	kill "$MONITOR_PID" 2>/dev/null
	echo "E2E-BEGIN progress"
	cat /run/progress.log
	echo "E2E-END progress"
	reboot_kexecd
	;;
kexecd-plain | arm64-plain)
	# Issue 15: a plain kernel and two initrds, the first gzip-compressed and odd-sized, with the
	# command line as given; kexec-tools users' options. On arm64 (issue 31) the kernel is the
	# uncompressed Image.
	start_kexecd
	initrds="--initrd /plain/a.cpio.gz --initrd /plain/b.cpio"
	if [ "${E2E_SABOTAGE:-}" = reverse-initrds ]; then
		say "SABOTAGE: initrds given in reverse order"
		initrds="--initrd /plain/b.cpio --initrd /plain/a.cpio.gz"
	fi
	t0=$(now_ns)
	# shellcheck disable=SC2086
	capture stage kexecctl stage --kernel /plain/vmlinuz $initrds --append "$(cat /plain/cmdline)" --json
	rc=$?
	t1=$(now_ns)
	echo "E2E-TIMING kexecd $((t1 - t0))"
	if [ $rc = 0 ]; then pass "stage rc=0"; else fail "stage rc=$rc"; finish; fi
	capture status kexecctl status --json || fail "status rc=$?"
	expect_loaded 1 after-stage
	reboot_kexecd
	;;
arm64-uki | arm64-zboot-gzip | arm64-zboot-zstd)
	# Issue 31: a UKI made with arm64's systemd-stub (its .linux the Image, or a zboot of it that
	# kexecd unpacks), an odd-sized first initrd and both addons, on a real arm64 kernel.
	start_kexecd
	kexecd_stage_main || finish
	if [ -r /x86.efi ]; then
		# An x86 UKI offered on arm64: refused by name before anything is loaded; the UKI
		# staged above stays, and is what the second kernel shows.
		capture x86-uki kexecctl stage /x86.efi --json
		rc=$?
		if [ $rc != 0 ] && grep -q "is an x86 bzImage, but the running kernel is aarch64" \
			/tmp/out.x86-uki /tmp/err.x86-uki; then
			pass "x86-uki-refused rc=$rc"
		else
			fail "x86-uki-refused rc=$rc, not refused as an x86 bzImage"
		fi
		expect_loaded 1 x86-uki-kept
	fi
	capture status kexecctl status --json || fail "status rc=$?"
	expect_loaded 1 after-stage
	reboot_kexecd
	;;
kexecd-negative)
	start_kexecd
	# 1. A signed UKI tampered with after signing is refused under enforce; nothing gets loaded.
	# shellcheck disable=SC2086
	capture enforce-tampered kexecctl stage /uki.tampered.efi ${KEXECD_ENFORCE_ARGS:---signature-policy=enforce} --json
	rc=$?
	if [ $rc != 0 ] && grep -q SignatureRejected /tmp/out.enforce-tampered /tmp/err.enforce-tampered; then
		pass "enforce-tampered refused rc=$rc SignatureRejected"
	else
		fail "enforce-tampered rc=$rc, no SignatureRejected"
	fi
	expect_loaded 0 enforce-tampered
	capture status-after-reject kexecctl status --json
	# 2. The same UKI and addons, signed and untouched, pass enforce (db.crt is in /etc/kexecd/trust.d).
	# shellcheck disable=SC2086
	capture enforce-signed kexecctl stage /uki.signed.efi --addon /a.addon.signed.efi \
		--addon /b.addon.signed.efi ${KEXECD_ENFORCE_ARGS:---signature-policy=enforce} --json
	rc=$?
	if [ $rc = 0 ]; then pass "enforce-signed rc=0"; else fail "enforce-signed rc=$rc"; fi
	expect_loaded 1 enforce-signed-loaded
	capture unstage-signed kexecctl unstage --json || fail "unstage-signed rc=$?"
	expect_loaded 0 unstage-signed
	# 3. Stage, then unstage: the kernel really drops the image.
	capture stage-for-unstage kexecctl stage /uki.efi --addon /a.addon.efi --addon /b.addon.efi --json \
		|| fail "stage-for-unstage rc=$?"
	expect_loaded 1 stage-for-unstage
	capture unstage kexecctl unstage --json || fail "unstage rc=$?"
	expect_loaded 0 unstage
	# 4. Staging a second UKI replaces the first: the second kernel must show uki2's marker.
	capture stage-first kexecctl stage /uki.efi --addon /a.addon.efi --addon /b.addon.efi --json \
		|| fail "stage-first rc=$?"
	capture stage-replace kexecctl stage /uki2.efi --json || fail "stage-replace rc=$?"
	expect_loaded 1 stage-replace
	capture status kexecctl status --json || fail "status rc=$?"
	[ "$FAILED" = 0 ] || finish
	reboot_kexecd
	;;
kexecd-crash)
	# The crash slot: kexecd stages a crash kernel (KEXEC_FILE_ON_CRASH) into the memory
	# crashkernel= reserved; the reboot slot comes and goes beside it; then a sysrq crash
	# starts the crash kernel, which prints what it was given.
	start_kexecd
	capture status-probe kexecctl status --json || fail "status-probe rc=$?"
	if grep -q '"crash_size": [1-9]' /tmp/out.status-probe; then
		pass "crash-size-reported"
	else
		fail "crash-size-reported: kernel_support.crash_size missing or 0"
	fi
	capture stage-crash kexecctl stage --crash /uki.efi --addon /a.addon.efi --addon /b.addon.efi --json \
		&& pass "stage-crash rc=0" || fail "stage-crash rc=$?"
	if [ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ]; then
		pass "crash-loaded"
	else
		fail "crash-loaded: kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded)"
	fi
	expect_loaded 0 reboot-slot-untouched
	# The reboot slot beside it: staging and unstaging it leaves the crash kernel loaded.
	capture stage-reboot kexecctl stage /uki2.efi --json || fail "stage-reboot rc=$?"
	expect_loaded 1 reboot-slot-staged
	capture unstage-reboot kexecctl unstage --json || fail "unstage-reboot rc=$?"
	expect_loaded 0 reboot-slot-unstaged
	if [ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ]; then
		pass "crash-survives-unstage"
	else
		fail "crash-survives-unstage: kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded)"
	fi
	capture status kexecctl status --json || fail "status rc=$?"
	[ "$FAILED" = 0 ] || finish
	say "echo c > /proc/sysrq-trigger"
	sync
	echo c >/proc/sysrq-trigger
	fail "the sysrq crash returned"
	finish
	;;
bpf-reference)
	# The BPF scheme on a real 6.12 kernel through kexecd's reference kernel side
	# (tests/kernel/kexecd_ref.ko): the real parsers from the signed container run in the kernel.
	capture insmod insmod /lib/modules/kexecd_ref.ko cert=/etc/kexecd-ref.der,/etc/kexecd-ref-db.der \
		&& pass "insmod kexecd_ref" || { fail "insmod kexecd_ref"; finish; }
	cp /parsers/good.elf /run/parser.elf
	KEXECD_ARGS=${KEXECD_ARGS:---kernel=bpf-reference --parser=/run/parser.elf}
	start_kexecd
	capture status-probe kexecctl status --json || fail "status-probe rc=$?"
	UKI="/uki.efi --addon /a.addon.efi --addon /b.addon.efi"
	SIGNED="/uki.signed.efi --addon /a.addon.signed.efi --addon /b.addon.signed.efi"
	if [ "${E2E_SABOTAGE:-}" = reverse-addons ]; then
		say "SABOTAGE: addons given in reverse order"
		UKI="/uki.efi --addon /b.addon.efi --addon /a.addon.efi"
		SIGNED="/uki.signed.efi --addon /b.addon.signed.efi --addon /a.addon.signed.efi"
	fi
	# refused NAME ERROR PARSER ARGS...: staging with that parser container fails with kexecd's
	# named error, and nothing is loaded afterwards.
	refused() {
		local name=$1 err=$2 rc
		cp "$3" /run/parser.elf
		shift 3
		capture "$name" kexecctl stage "$@" --scheme=bpf --json
		rc=$?
		if [ $rc != 0 ] && grep -q "$err" "/tmp/out.$name" "/tmp/err.$name"; then
			pass "$name refused rc=$rc $err"
		else
			fail "$name rc=$rc, no $err"
		fi
		expect_loaded 0 "$name"
	}
	# shellcheck disable=SC2086
	refused tampered-container KernelRefused /parsers/tampered.elf $UKI
	echo 1 >/sys/module/kexecd_ref/parameters/sig_enforce
	# shellcheck disable=SC2086
	refused unsigned-container InvalidImage /parsers/unsigned.elf $UKI
	echo 0 >/sys/module/kexecd_ref/parameters/sig_enforce
	refused oversize-uki InvalidImage /parsers/good.elf /big.efi --addon /a.addon.efi
	refused linux-addon InvalidImage /parsers/good.elf /uki.efi --addon /linux.addon.efi
	# zboot in the UKI: .bpf.nested's parser DECOMPRESSes what layer one queued (PIPELINE_FILL).
	cp /parsers/nested.elf /run/parser.elf
	for z in gzip zstd; do
		dmesg -c >/dev/null
		capture "zboot-$z" kexecctl stage "/zboot-$z.efi" --scheme=bpf --json \
			&& pass "zboot-$z rc=0" || fail "zboot-$z rc=$?"
		expect_loaded 1 "zboot-$z-loaded"
		capture "zboot-$z-dmesg" dmesg
		capture "zboot-$z-unstage" kexecctl unstage --json || fail "zboot-$z-unstage rc=$?"
		expect_loaded 0 "zboot-$z-unstage"
	done
	# The kernel's context asks for signature checks (sig_mode SIG): the parser sends every PE as
	# VERIFY_SIG before any COPY, and the kernel side checks its Authenticode signature.
	echo 1 >/sys/module/kexecd_ref/parameters/sig_mode
	dmesg -c >/dev/null
	refused tampered-uki SignatureRejected /parsers/good.elf /uki.tampered.efi \
		--addon /a.addon.signed.efi --addon /b.addon.signed.efi
	# IMA mode: a PE whose VERIFY_SIG is refused may pass with IMA_CHECK of its security.ima
	# (the unsigned addon a, IMA-signed with the UKIs' key); one without (b) is refused.
	echo 2 >/sys/module/kexecd_ref/parameters/sig_mode
	cp /a.addon.efi /run/a.addon.ima.efi
	capture set-ima set-ima-xattr /run/a.addon.ima.efi /a.addon.ima || fail "set-ima rc=$?"
	refused unsigned-addon SignatureRejected /parsers/good.elf /uki.signed.efi \
		--addon /run/a.addon.ima.efi --addon /b.addon.efi
	echo 1 >/sys/module/kexecd_ref/parameters/sig_mode
	capture sig-refused-dmesg dmesg
	# The real thing: signed UKI + cmdline addon + initrd addon, scheme=bpf, each PE verified by
	# the kernel side, then kexec into it.
	cp /parsers/good.elf /run/parser.elf
	dmesg -c >/dev/null
	# shellcheck disable=SC2086
	capture stage kexecctl stage $SIGNED --scheme=bpf --json && pass "stage rc=0" || fail "stage rc=$?"
	expect_loaded 1 after-stage
	capture stage-dmesg dmesg
	capture status kexecctl status --json || fail "status rc=$?"
	[ "$FAILED" = 0 ] || finish
	reboot_kexecd
	;;
*)
	fail "unknown mode '$MODE'"
	finish
	;;
esac
