#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run one libFuzzer target: first replay every committed regression input
# (tests/fuzz/regressions/TARGET/), then fuzz for SECONDS from the seed
# corpus plus those regressions, with the target's dictionary
# (tests/fuzz/dict/TARGET.dict) when there is one. Prints libFuzzer's final
# stats and one summary line with the exec count.
#
# Usage: run-fuzzer.sh [--keep] FUZZER TARGET SECONDS SEEDS WORKDIR
#   TARGET   sets KEXECD_FUZZ_TARGET (fuzz_kexecd) and names the
#            regression and dictionary files ("bpf" for fuzz_parse_core)
#   SEEDS    directory of seed inputs (may be missing: empty corpus)
#   WORKDIR  gets corpus/ (the evolving corpus) and crash-*/leak-*/timeout-*
#            artifacts; wiped first unless --keep (long runs keep it)
# Extra libFuzzer flags can be passed in KEXECD_FUZZ_FLAGS (e.g. -jobs=2).
set -eu
keep=false
if [ "${1:-}" = "--keep" ]; then
	keep=true
	shift
fi
if [ $# -ne 5 ]; then
	sed -n '9,15s/^# \{0,1\}//p' "$0" >&2
	exit 2
fi
fuzzer=$1 target=$2 seconds=$3 seeds=$4 work=$5
here=$(cd "$(dirname "$0")" && pwd)
regressions=$here/regressions/$target
dict=$here/dict/$target.dict
export KEXECD_FUZZ_TARGET="$target"

# Inputs can decompress to the engine's 512 MiB kernel limit (zboot);
# leave room for that, ASan's shadow and quarantine.
common="-timeout=20 -rss_limit_mb=3072 -error_exitcode=1"

replayed=0
if [ -d "$regressions" ]; then
	set --
	for f in "$regressions"/*; do
		[ -f "$f" ] && set -- "$@" "$f"
	done
	replayed=$#
	if [ "$replayed" -gt 0 ]; then
		echo "== $target: replaying $replayed regression input(s) from $regressions"
		# shellcheck disable=SC2086
		if ! "$fuzzer" $common "$@" >"${TMPDIR:-/tmp}/kexecd-replay.$$" 2>&1; then
			cat "${TMPDIR:-/tmp}/kexecd-replay.$$"
			rm -f "${TMPDIR:-/tmp}/kexecd-replay.$$"
			echo "== $target: FAILED: a regression input crashes again (see above)" >&2
			exit 1
		fi
		rm -f "${TMPDIR:-/tmp}/kexecd-replay.$$"
		echo "== $target: $replayed regression input(s) pass"
	fi
fi

if ! $keep; then
	rm -rf "$work"
fi
mkdir -p "$work/corpus"
if [ -d "$seeds" ]; then
	cp -p "$seeds"/* "$work/corpus/" 2>/dev/null || true
else
	echo "== $target: no seed directory $seeds, fuzzing from an empty corpus"
fi
if [ "$replayed" -gt 0 ]; then
	cp -p "$regressions"/* "$work/corpus/"
fi
set --
[ -f "$dict" ] && set -- "-dict=$dict"

echo "== $target: fuzzing for $seconds s from $(find "$work/corpus" -type f | wc -l) input(s)"
log=$work/fuzz.log
rc=0
# shellcheck disable=SC2086
"$fuzzer" $common -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/" \
	${KEXECD_FUZZ_FLAGS:-} "$@" "$work/corpus" >"$log" 2>&1 || rc=$?
# Progress lines are noise in a CI log; keep the interesting part.
grep -a -v -E '^(#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|RELOAD)|[[:space:]]+NEW_FUNC)' "$log" || true
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
echo "== $target: ${execs:-?} execs in $seconds s, corpus $(find "$work/corpus" -type f | wc -l), exit $rc"
if [ "$rc" -ne 0 ]; then
	echo "== $target: FAILED; reproduce with: KEXECD_FUZZ_TARGET=$target $fuzzer $work/crash-*" >&2
	echo "== then add the input to $regressions/ with the fix" >&2
fi
exit "$rc"
