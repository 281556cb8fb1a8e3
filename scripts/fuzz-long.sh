#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run the fuzz targets for long, one after the other, keeping each corpus in
# BUILDDIR/fuzz-long/<target>/corpus so the next run starts where this one
# ended. Usage: scripts/fuzz-long.sh [BUILDDIR [SECONDS [TARGET...]]]
# (defaults: build, 3600, every target). Extra libFuzzer flags go in
# KEXECD_FUZZ_FLAGS, e.g. KEXECD_FUZZ_FLAGS=-jobs=2.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
seconds=${2:-3600}
if [ $# -gt 2 ]; then shift 2; else set --; fi
[ $# -gt 0 ] || set -- pe uki trust compose osrel discovery state record bpf

ninja -C "$build" tests/fuzz/fuzz_kexecd tests/fuzz/seeds tests/fuzz/bpf/fuzz_parse_core \
	tests/fuzz/bpf/fuzz_parse_core_corpus
failed=
for target; do
	if [ "$target" = bpf ]; then
		fuzzer=$build/tests/fuzz/bpf/fuzz_parse_core seeds=$build/tests/fuzz/bpf/fuzz_parse_core_corpus
	else
		fuzzer=$build/tests/fuzz/fuzz_kexecd seeds=$build/tests/fuzz/seeds/$target
	fi
	KEXECD_FIXTURES=$build/tests/fixtures/out \
		"$src/tests/fuzz/run-fuzzer.sh" --keep "$fuzzer" "$target" "$seconds" "$seeds" \
		"$build/fuzz-long/$target" || failed="$failed $target"
done
if [ -n "$failed" ]; then
	echo "fuzz-long: crashes in:$failed (artifacts in $build/fuzz-long/<target>/)" >&2
	exit 1
fi
