#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# kexecd for arm64 (issue 31): this source tree cross-built with Debian's cross toolchain and
# the arm64 sysroot of scripts/cross/ (setup-arm64.sh), werror as everywhere; kexecd and
# kexecctl must be aarch64 ELF programs; then the unit suite runs under qemu-aarch64 (the cross
# file's exe_wrapper): the engine, the BPF parsing core, trust and containers, each test an
# arm64 program reading the same fixtures as the native build's. Only the unit suite: the D-Bus
# suite starts kexecd through python and dbus-daemon, which would run the arm64 programs without
# the wrapper.
#
# usage: test-arm64.sh     exit 77 with the reason when the cross toolchain, qemu-user or the
#                          arm64 packages cannot be had
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
work=${KEXECD_ARM64_WORK:-${TMPDIR:-/tmp}/kexecd-arm64-$(id -u)}
build=$work/build
skip() { echo "SKIP: $*"; exit 77; }
command -v file >/dev/null || skip "file not found (install file)"

# arm64_build: setup and ninja under WORK/build.lock, shared with the arm64 e2e.
. "$here/lib-arm64-build.sh"
rc=0
arm64_build "$work" || rc=$?
[ $rc = 77 ] && skip "$arm64_skip"
[ $rc = 0 ] || exit 1
echo "arm64 cross build: $t_build s ($arm64_steps ninja steps; setup and sysroot $t_setup s)"

for prog in daemon/kexecd client/kexecctl; do
	desc=$(file -b "$build/$prog")
	echo "$prog: $desc"
	case $desc in
	ELF\ 64-bit\ LSB\ *ARM\ aarch64*) ;;
	*) echo "FAIL: $prog is not an aarch64 ELF program"; exit 1 ;;
	esac
done

# bookworm's qemu-user (7.2) has no openat2, which the engine's opens beneath a root (the ESP,
# the Debian layout, crypttab's devices) use: ENOSYS there is the emulator's, not arm64's. Those
# tests run natively. qemu-user gained openat2 after 7.2; from qemu 9 on, all run here (an assumption
# about the version: a qemu 9 without it fails these tests with ENOSYS, which says so).
filter=
qemu_major=$(qemu-aarch64 --version | sed -n '1s/.*version \([0-9]*\)\..*/\1/p')
if [ "${qemu_major:-0}" -lt 9 ]; then
	filter=-Type1Tree.MissingKernelAndSymlinkEscapeNameTheEntryFile:DebianLayout.*
	filter+=:StagerTest.StageDefault*:StagerTest.BootedKernelIsTheSelectedEntrysKernel
	filter+=:StagerTest.SecureBootSkipsDiscoveredAddonsThatDoNotVerify
	filter+=:StagerTest.AnAddonDroppedAfterItWasPlacedLeavesNoTrace
	filter+=:StagerTest.DiscoveredAddonsTheStubWouldNotLoadAreSkipped
	# test_unlock_check's real LUKS2 headers are all opened that way.
	filter+=:RealHeaders.*
	echo "qemu-aarch64 $(qemu-aarch64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') has no openat2: not run here: $filter"
fi

t2=$SECONDS
rc=0
# --no-rebuild: arm64_build built the tests' prerequisites under the lock; meson's own rebuild
# would be a second ninja in this directory, outside it.
env ${filter:+GTEST_FILTER=$filter} nice -n 19 meson test -C "$build" --no-rebuild --print-errorlogs \
	--num-processes 2 --timeout-multiplier 4 --suite unit || rc=$?
t_tests=$((SECONDS - t2))
echo "arm64 unit tests under qemu-aarch64: $t_tests s (build $t_build s)"
[ $rc = 0 ] || { echo "FAIL: the unit suite of the arm64 build under qemu-aarch64"; exit 1; }
# Passing means something ran: a build whose every test skipped proves nothing.
ok=$(grep -c '"result": "OK"' "$build/meson-logs/testlog.json" || true)
[ "$ok" -gt 0 ] || skip "no arm64 unit test ran (all skipped, reasons above)"
echo "arm64: $ok unit tests passed under qemu-aarch64"
