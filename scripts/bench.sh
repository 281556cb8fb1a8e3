#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The staging benchmark (tests/bench/bench.py) against a build directory:
# ratios to the physical bound, peak memory, D-Bus latency, and one
# PASS/FAIL line per target. Run it on a quiet machine.
#   scripts/bench.sh [BUILDDIR] [REPS]
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
[ -f "$build/build.ninja" ] || meson setup "$build"
ninja -C "$build"
KEXECD_BENCH_REPS=${2:-5} exec meson test -C "$build" --benchmark --verbose --timeout-multiplier 0 staging-ratios
