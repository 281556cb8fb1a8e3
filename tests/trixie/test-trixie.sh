#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# kexecd on Debian 13 "trixie": this source tree built from the checkout inside a trixie build
# root (make-build-root.sh: g++ 14, sdbus-c++ 2.1, libbpf 1.5, bpftool 7.5, clang 19, meson 1.7)
# with werror as everywhere, then its unit, D-Bus and docs suites run there. The D-Bus suite
# starts its own private dbus-daemon per test, from the root's dbus; the root has no system bus
# (/run is an empty tmpfs), so nothing reaches the host's. The build directory persists in WORK
# (KEXECD_TRIXIE_WORK) so a re-run rebuilds only what changed.
#
# usage: test-trixie.sh       exit 77 with the reason when not root or no root can be built
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
work=${KEXECD_TRIXIE_WORK:-${TMPDIR:-/tmp}/kexecd-trixie-$(id -u)}
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "the trixie build root needs root (mmdebstrap, chroot, mount namespaces)"
command -v unshare >/dev/null || skip "unshare not found (install util-linux)"

t0=$SECONDS
rc=0
root=$("$here/make-build-root.sh" "$cache") || rc=$?
[ $rc = 77 ] && skip "no trixie build root (reason above)"
[ $rc = 0 ] || { echo "FAIL: make-build-root.sh rc=$rc"; exit 1; }
t_root=$((SECONDS - t0))
echo "trixie root: $root ($t_root s): $(tr '\n' ',' <"$root/root/root/versions")"

# --- the README's install command on a fresh trixie: every package scripts/install-deps.sh
# asks for resolves there, with its dependencies (apt's simulation against an empty system) ---
install_check() {
	. "$srcroot/tests/e2e/lib-apt.sh"
	local apt_dir=$cache/apt-trixie empty
	cache_lock "$cache" apt-trixie
	private_apt "$apt_dir" trixie --write-sources || return 1
	ls "$apt_dir/lists/"*_Packages* >/dev/null 2>&1 || apt-get "${apt_opts[@]}" -qq update || return 1
	empty=$(mktemp)
	# The same list, read the same way, as scripts/install-deps.sh.
	apt-get "${apt_opts[@]}" -o "Dir::State::status=$empty" -s -q install --no-install-recommends \
		$(grep -v '^#' "$srcroot/scripts/debian-packages.txt") >"$work/install-deps.log" 2>&1
	local rc=$?
	rm -f "$empty"
	return $rc
}
mkdir -p "$work"
if (install_check); then
	echo "trixie install-deps: the $(grep -vc '^#' "$srcroot/scripts/debian-packages.txt") packages resolve on trixie ($(grep -c '^Inst' "$work/install-deps.log") to install on a fresh system)"
else
	tail -n 20 "$work/install-deps.log"
	echo "FAIL: scripts/debian-packages.txt does not install on trixie (log: $work/install-deps.log)"
	exit 1
fi

in_root() { "$here/run-in-root.sh" "$root" "$srcroot" "$work" "$@"; }

# No sanitizers (the bookworm pass has them) and no fuzz targets' runs: the suites below only.
t1=$SECONDS
if [ ! -f "$work/build/build.ninja" ]; then
	in_root meson setup /work/build /src -Db_sanitize=none >"$work/setup.log" 2>&1 ||
		{ tail -n 30 "$work/setup.log"; echo "FAIL: meson setup in the trixie root"; exit 1; }
fi
grep -E '^ +sdbus-c\+\+ *:' "$work/setup.log" || true
if ! in_root nice -n 10 ninja -C /work/build >"$work/build.log" 2>&1; then
	grep -E -B2 -A8 'error|warning' "$work/build.log" | head -n 80
	echo "FAIL: the build in the trixie root (werror), log: $work/build.log"
	exit 1
fi
t_build=$((SECONDS - t1))
echo "trixie build: $t_build s"

t2=$SECONDS
rc=0
# meson test builds what the tests depend on (the fixtures, the fake BTF) first.
in_root nice -n 10 meson test -C /work/build --print-errorlogs --num-processes 2 \
	--timeout-multiplier 2 --suite unit --suite dbus --suite docs || rc=$?
t_tests=$((SECONDS - t2))
echo "trixie tests: $t_tests s (root $t_root s, build $t_build s)"
[ $rc = 0 ] || { echo "FAIL: the unit, dbus and docs suites in the trixie root"; exit 1; }
# Passing means something ran: a root where every test skipped proves nothing.
ok=$(grep -c '"result": "OK"' "$work/build/meson-logs/testlog.json" || true)
[ "$ok" -gt 0 ] || skip "no test ran in the trixie root (all skipped, reasons above)"
echo "trixie: $ok tests passed in the trixie root"

# --- the parsers as trixie's clang 19 compiles them, on the pinned kernels ---------------------
# The root's bpf_verifier test loads them into the host's kernel (a chroot shares it); the
# verifier e2e boots Debian's 6.1, 6.12 and newest kernels and loads the trixie-built probe with
# the host's loader (a BPF object is the same file whoever loads it), with the same allowance.
if [ -n "${KEXECD_VERIFIER_LOAD:-}" ]; then
	t3=$SECONDS
	rc=0
	KEXECD_VERIFIER_PROBE=$work/build/tests/unit/bpf/verifier_probe.bpf.o KEXECD_E2E_WORK=$work/verifier \
		"$srcroot/tests/e2e/run-verifier.sh" >"$work/verifier.log" 2>&1 || rc=$?
	grep -E 'PASS|FAIL|SKIP|insns' "$work/verifier.log" | tail -n 12
	[ $rc = 0 ] || { echo "FAIL: trixie's parsers on the pinned kernels (rc=$rc, log: $work/verifier.log)"; exit 1; }
	echo "trixie verifier: trixie's clang-built parsers pass on the pinned kernels ($((SECONDS - t3)) s)"
else
	echo "trixie verifier: not run: this build has no verifier-load (the bpf feature is disabled)"
fi
