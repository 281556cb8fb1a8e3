#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The BPF parsers' verifier margin, judged on pinned Debian kernels rather than on whatever kernel
# the host runs: each kernel boots under qemu (TCG) from a small initramfs whose init loads the
# verifier probe (tests/unit/bpf/verifier_probe.bpf.c: the parsers' exact core and send path as
# syscall programs) with verifier-load, the same loader and the same allowance as the host's
# bpf_verifier unit test. Every program must pass with at most KEXECD_VERIFIER_MAX_INSNS (a
# quarter of the verifier's 1M-instruction limit).
#
# Kernels: Debian 12's 6.1 (the oldest that has what the parsers use: syscall programs, bpf_loop),
# bookworm-backports' 6.12 (the reference kernel side's, tests/kernel/prepare-kernel.sh), and the
# newest Debian ships (trixie-backports or unstable, fetch-newest-kernel.sh).
#
# env: KEXECD_VERIFIER_PROBE, KEXECD_VERIFIER_LOAD (built by meson), KEXECD_VERIFIER_MAX_INSNS,
#      KEXECD_E2E_WORK (scratch), KEXECD_CACHE.
# exit 77 with the reason when qemu, busybox or a kernel cannot be had.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
qemu=${KEXECD_QEMU:-qemu-system-x86_64}
busybox=/usr/bin/busybox
max=${KEXECD_VERIFIER_MAX_INSNS:-250000}
work=${KEXECD_E2E_WORK:-$(mktemp -d)}
skip() { echo "SKIP: $*"; exit 77; }
die() { echo "ERROR: $*" >&2; exit 1; }
# find_kernel, install_bin
. "$here/lib-e2e.sh"

probe=${KEXECD_VERIFIER_PROBE:?KEXECD_VERIFIER_PROBE not set}
loader=${KEXECD_VERIFIER_LOAD:?KEXECD_VERIFIER_LOAD not set}
[ -r "$probe" ] && [ -x "$loader" ] || skip "the verifier probe or verifier-load is not built"
command -v "$qemu" >/dev/null || skip "$qemu not found (install qemu-system-x86)"
[ -x "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 || skip "static busybox not found (install busybox-static)"
mkdir -p "$work"
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=$work/cache
mkdir -p "$cache"

# --- the pinned kernels: name -> vmlinuz -------------------------------------------------------
declare -A kernel
t0=$SECONDS
kernel[debian-12]=$(KEXECD_FIXTURES= find_kernel) || skip "Debian 12's kernel (linux-image-amd64) cannot be had"
rc=0
kenv=$("$srcroot/tests/kernel/prepare-kernel.sh" "$cache" 2>"$work/prepare-kernel.err") || rc=$?
[ $rc = 0 ] || { cat "$work/prepare-kernel.err" >&2; skip "bookworm-backports' 6.12: $(tail -n1 "$work/prepare-kernel.err")"; }
kernel[bookworm-backports]=$(sed -n 's/^VMLINUZ=//p' <<<"$kenv")
[ -r "${kernel[bookworm-backports]}" ] || die "prepare-kernel.sh printed '$kenv', no readable VMLINUZ"
rc=0
kernel[newest]=$("$here/fetch-newest-kernel.sh" "$cache") || rc=$?
[ $rc = 77 ] && skip "the newest Debian kernel cannot be had (see above)"
[ $rc = 0 ] && [ -r "${kernel[newest]}" ] || die "fetch-newest-kernel.sh failed (rc=$rc)"
echo "bpf-verifier: kernels ready in $((SECONDS - t0)) s"

# --- one initramfs for all: busybox, the loader and its libraries, the probe -------------------
root=$work/root
rm -rf "$root"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev"
cp "$busybox" "$root/bin/busybox"
install_bin "$root" "$loader" /bin/verifier-load
cp "$probe" "$root/probe.bpf.o"
cat >"$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "VERIFIER-START \$(uname -r)"
/bin/verifier-load /probe.bpf.o $max
echo "VERIFIER-RC=\$?"
poweroff -f
INIT
chmod 0755 "$root/init"
"$py" "$here/mkcpio.py" "$root" "$work/verifier.cpio.gz" --gzip --node dev/console:c:5:1 --node dev/null:c:1:3:0666
rm -rf "$root"

# --- boot them, two at a time (one per core) --------------------------------------------------
boot() { # $1 = name
	local name=$1 log=$work/serial-$1.log rc=0 t=$SECONDS
	timeout -k 10 "${KEXECD_E2E_TIMEOUT:-300}" "$qemu" -accel tcg -cpu max -m 1024 -smp 1 \
		-nographic -no-reboot -nodefaults -monitor none -serial "file:$log" \
		-kernel "${kernel[$name]}" -initrd "$work/verifier.cpio.gz" \
		-append "console=ttyS0 panic=-1 quiet" </dev/null >"$work/qemu-$name.out" 2>&1 || rc=$?
	echo "bpf-verifier: [$name] qemu exited rc=$rc after $((SECONDS - t)) s"
}
names=(debian-12 bookworm-backports newest)
boot "${names[0]}" &
boot "${names[1]}" &
wait
boot "${names[2]}"

# --- judge -------------------------------------------------------------------------------------
failed=0
for name in "${names[@]}"; do
	log=$work/serial-$name.log
	lines=$(tr -d '\r' <"$log" 2>/dev/null | grep -a -E '^(VERIFIER-|verifier:)' || true)
	echo "$lines" | sed "s/^/bpf-verifier: [$name] /"
	progs=$(grep -c -E "^verifier: kernel .* program probe_(uki|zboot) processed [0-9]+ insns \(allowed $max, limit 1000000\)$" <<<"$lines" || true)
	if grep -qx 'VERIFIER-RC=0' <<<"$lines" && [ "$progs" = 2 ]; then
		echo "bpf-verifier: [$name] PASS: both parsers within $max instructions"
	else
		echo "----- last lines of the serial log ($name) -----"
		tr -d '\r' <"$log" 2>/dev/null | tail -n 40 || true
		echo "bpf-verifier: [$name] FAIL (serial log: $log)"
		failed=1
	fi
done
exit $failed
