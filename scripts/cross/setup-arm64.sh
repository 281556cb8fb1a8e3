#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Configure an arm64 cross build of this tree (issue 31): the cached arm64 sysroot
# (make-sysroot.sh), then `meson setup` with its machine file and aarch64-linux-gnu.ini. Build
# with `ninja -C BUILDDIR`; `meson test -C BUILDDIR --suite unit` runs the unit tests under
# qemu-aarch64 (the cross file's exe_wrapper).
#
# usage: setup-arm64.sh BUILDDIR [MESON-OPTION...]
# exit 77 with the reason when the cross toolchain, qemu-user or the archive is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
build=${1:?usage: setup-arm64.sh BUILDDIR [MESON-OPTION...]}
shift
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
skip() { echo "SKIP: $*"; exit 77; }

command -v aarch64-linux-gnu-g++ >/dev/null ||
	skip "aarch64-linux-gnu-g++ not found (install g++-aarch64-linux-gnu, scripts/debian-packages.txt)"
# meson runs mkcontainer (it signs the parser container) through the exe_wrapper while building.
command -v qemu-aarch64 >/dev/null || skip "qemu-aarch64 not found (install qemu-user)"

rc=0
sysroot=$("$here/make-sysroot.sh" "$cache") || rc=$?
[ $rc = 77 ] && skip "no arm64 sysroot (reason above)"
[ $rc = 0 ] || { echo "FAIL: make-sysroot.sh rc=$rc"; exit 1; }

if [ -f "$build/build.ninja" ]; then
	# Already configured: a new sysroot (another recipe) needs a new build directory.
	grep -qF "$sysroot" "$build/meson-info/intro-machines.json" 2>/dev/null ||
		grep -rqF "$sysroot" "$build/meson-private/" 2>/dev/null ||
		{ echo "FAIL: $build was configured with another sysroot; remove it"; exit 1; }
	exit 0
fi
meson setup --cross-file "$sysroot/sysroot.ini" --cross-file "$srcroot/scripts/cross/aarch64-linux-gnu.ini" \
	"$@" "$build" "$srcroot"
