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
rc=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 --timeout-multiplier 2 "$@" || rc=$?
# One plain closing line any CI can read.
/usr/bin/python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {'OK': 0, 'FAIL': 0, 'SKIP': 0}
for line in open(sys.argv[1]):
    result = json.loads(line).get('result', '')
    if result in ('OK', 'EXPECTEDFAIL'):
        counts['OK'] += 1
    elif result == 'SKIP':
        counts['SKIP'] += 1
    else:
        counts['FAIL'] += 1
print(f"kexecd: {counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
exit $rc
