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
t_start=$(date +%s)
phases=""
phase() { # NAME: the time since the previous mark, for the closing table
	now=$(date +%s)
	phases="$phases$1=$((now - ${t_mark:-$t_start})) "
	t_mark=$now
}
scripts/install-deps.sh
[ -f "$builddir/build.ninja" ] || meson setup "$builddir"
ninja -C "$builddir"
phase setup_and_build
sanitize=0
[ "${KEXECD_SANITIZE:-1}" != 0 ] && [ $# -eq 0 ] && sanitize=1
asandir=${ASAN_BUILDDIR:-build-asan}
bg=
if [ $sanitize = 1 ]; then
	# g++ 12's -Wmaybe-uninitialized misfires inside libstdc++ (std::regex,
	# std::function) once ASan instruments it; every other warning stays an
	# error in this build too. No fuzz targets: only the unit and D-Bus
	# suites run here, and the fuzz suite's clang build of the engine (with
	# ASan already) is the main build's.
	[ -f "$asandir/build.ninja" ] ||
		meson setup "$asandir" -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=disabled \
			-Dcpp_args=-Wno-maybe-uninitialized -Dc_args=-Wno-maybe-uninitialized
	# The e2e VMs are single-threaded TCG and leave a core idle for minutes:
	# the sanitizer build takes it, one job at the lowest priority, and is
	# stopped (ninja removes what it was writing) when the tests end.
	nice -n 19 ninja -C "$asandir" -j1 >"$asandir/background-build.log" 2>&1 &
	bg=$!
fi
# The e2e suite boots qemu under TCG; give slow machines room.
rc=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 --timeout-multiplier 2 "$@" || rc=$?
logs="$builddir/meson-logs/testlog.json"
phase tests

# The unit and D-Bus suites again under ASan+UBSan (LeakSanitizer on), in
# a second build directory. Every sanitizer report goes to a log file, so
# findings in kexecd or kexecctl run as subprocesses fail the run too.
# KEXECD_SANITIZE=0 skips this pass (quick local runs).
if [ $sanitize = 1 ]; then
	kill -TERM "$bg" 2>/dev/null || true
	wait "$bg" 2>/dev/null || true
	echo "sanitizer build in the background: $(grep -c '^\[' "$asandir/background-build.log" || true) steps"
	ninja -C "$asandir"
	phase sanitizer_build
	sanlogs="$(pwd)/$asandir/sanitizer-logs"
	rm -rf "$sanlogs" && mkdir -p "$sanlogs" && chmod 1777 "$sanlogs"
	ASAN_OPTIONS="detect_leaks=1:log_path=$sanlogs/asan" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$sanlogs/ubsan" \
	KEXECD_HOSTILE_CYCLES=200 \
		meson test -C "$asandir" --print-errorlogs --num-processes 2 --timeout-multiplier 3 \
		--suite unit --suite dbus || rc=$?
	phase sanitizer_tests
	if [ -n "$(ls -A "$sanlogs")" ]; then
		echo "sanitizer findings:" >&2
		cat "$sanlogs"/* >&2
		rc=1
	else
		echo "sanitizers (ASan, UBSan, LSan): no findings in the unit and D-Bus suites"
	fi
	logs="$logs $asandir/meson-logs/testlog.json"
fi

# Where the time went (per phase, per suite, each e2e test), then one plain closing line any CI
# can read.
# shellcheck disable=SC2086
KEXECD_PHASES="$phases" KEXECD_TOTAL=$(($(date +%s) - t_start)) /usr/bin/python3 - $logs <<'PY'
import json, os, sys
counts = {'OK': 0, 'FAIL': 0, 'SKIP': 0}
suites, e2e = {}, []
for n, path in enumerate(sys.argv[1:]):
    for line in open(path):
        t = json.loads(line)
        name, took = t.get('name', ''), float(t.get('duration') or 0)
        suite = name.split(' / ')[0].split(':')[-1] + (' (sanitizers)' if n else '')
        s = suites.setdefault(suite, [0, 0.0])
        s[0] += 1
        s[1] += took
        if suite == 'e2e':
            e2e.append((took, name.split(' / ')[-1]))
        result = t.get('result', '')
        if result in ('OK', 'EXPECTEDFAIL'):
            counts['OK'] += 1
        elif result == 'SKIP':
            counts['SKIP'] += 1
        else:
            counts['FAIL'] += 1
print("durations (wall clock; tests run two at a time, the short e2e ones alone):")
for p in os.environ['KEXECD_PHASES'].split():
    k, v = p.rsplit('=', 1)
    print(f"  {k.replace('_', ' '):<28} {int(v) // 60:3d} min {int(v) % 60:02d} s")
print(f"  {'total':<28} {int(os.environ['KEXECD_TOTAL']) // 60:3d} min {int(os.environ['KEXECD_TOTAL']) % 60:02d} s")
print("per suite (sum of its tests' durations):")
for k, (cnt, took) in sorted(suites.items(), key=lambda kv: -kv[1][1]):
    print(f"  {k:<28} {cnt:3d} tests {took:8.1f} s")
for took, name in sorted(e2e, reverse=True):
    print(f"    {name:<26} {took:8.1f} s")
print(f"kexecd: {counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
exit $rc
