# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# The arm64 cross build both arm64 tests use (test-arm64.sh, tests/e2e/run-e2e-arm64.sh), in one
# build directory WORK/build, so the e2e stages the very binaries the unit suite ran and the
# ~6 minute cold build happens once. meson runs the two tests side by side: WORK/build.lock
# serialises the configure and ninja steps (never two ninja in one directory), so the second to
# come waits, then finds the build done.
#
# arm64_build WORK: sets arm64_builddir, t_setup and t_build (seconds), arm64_steps (ninja's
# steps, 0 when up to date). Returns 77 with the reason in arm64_skip when the cross toolchain,
# qemu-user or the archive is missing; 1 (the log's errors printed) when the build fails.
arm64_build() {
	local work=$1 srcroot rc=0 t0
	srcroot=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	arm64_builddir=$work/build
	mkdir -p "$work"
	exec 8>"$work/build.lock"
	flock 8
	t0=$SECONDS
	"$srcroot/scripts/cross/setup-arm64.sh" "$arm64_builddir" >"$work/setup.log" 2>&1 || rc=$?
	t_setup=$((SECONDS - t0))
	if [ $rc = 77 ]; then
		arm64_skip=$(grep -h '^SKIP' "$work/setup.log" | tail -n1 | sed 's/^SKIP: //')
		flock -u 8
		return 77
	fi
	if [ $rc != 0 ]; then
		tail -n 30 "$work/setup.log"
		echo "FAIL: setup-arm64.sh rc=$rc"
		flock -u 8
		return 1
	fi
	# The machine's other work (VMs, the native builds) comes first: lowest priority, two jobs.
	# meson-test-prereq too (the fixtures): the unit suite then runs with --no-rebuild, so no
	# second ninja starts in this directory outside the lock.
	t0=$SECONDS
	if ! nice -n 19 ninja -C "$arm64_builddir" -j2 all meson-test-prereq >"$work/build.log" 2>&1; then
		grep -E -B2 -A8 'error|warning' "$work/build.log" | head -n 80
		echo "FAIL: the arm64 cross build (werror), log: $work/build.log"
		flock -u 8
		return 1
	fi
	t_build=$((SECONDS - t0))
	arm64_steps=$(grep -c '^\[' "$work/build.log" || true)
	flock -u 8
	return 0
}
