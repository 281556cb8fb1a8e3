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

# BUILDDIR/.kexecd-sysroot names the sysroot this script configured it with. Another one (a
# changed recipe) makes the build stale: a directory this script made is made anew; any other
# configured directory is left alone.
if [ -f "$build/build.ninja" ]; then
	if [ "$(cat "$build/.kexecd-sysroot" 2>/dev/null)" = "$sysroot" ]; then
		exit 0
	fi
	[ -f "$build/.kexecd-sysroot" ] || { echo "FAIL: $build is configured, but not by setup-arm64.sh"; exit 1; }
	echo "setup-arm64: $build was configured with $(cat "$build/.kexecd-sysroot"); configuring it anew"
	rm -rf "$build"
fi
meson setup --cross-file "$sysroot/sysroot.ini" --cross-file "$srcroot/scripts/cross/aarch64-linux-gnu.ini" \
	"$@" "$build" "$srcroot"
echo "$sysroot" >"$build/.kexecd-sysroot"
