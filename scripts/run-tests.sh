#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install what the tests need, build, and run every test suite (unit, dbus,
# docs, fuzz, e2e). A suite that needs what the machine lacks reports SKIP
# (exit 77) and says why; nothing is faked.
set -eu
cd "$(dirname "$0")/.."
# Debian's kernel package (for the test UKIs) is cached system-wide as root,
# per user otherwise.
if [ -z "${KEXECD_CACHE:-}" ] && [ "$(id -u)" -ne 0 ]; then
	export KEXECD_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kexecd-test"
fi
builddir=${BUILDDIR:-build-test}
scripts/install-deps.sh
[ -f "$builddir/build.ninja" ] || meson setup "$builddir"
ninja -C "$builddir"
# The e2e suite boots qemu under TCG; give slow machines room.
exec meson test -C "$builddir" --print-errorlogs --num-processes 2 --timeout-multiplier 2 "$@"
