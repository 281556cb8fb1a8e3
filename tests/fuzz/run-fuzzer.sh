#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run a libFuzzer binary for a bounded time over a corpus seeded from the
# generated fixtures (small files only: the fuzzer mutates, it does not need
# an 8 MiB kernel). Usage: run-fuzzer.sh FUZZER SECONDS FIXTURES_DIR WORKDIR
set -eu
fuzzer=$1 seconds=$2 fixtures=$3 work=$4
if [ -e "$fixtures/UNAVAILABLE" ] || [ ! -d "$fixtures" ]; then
	echo "fixtures unavailable, fuzzing from an empty corpus"
fi
rm -rf "$work" && mkdir -p "$work/corpus"
for f in "$fixtures"/*.efi "$fixtures"/*.addon.efi; do
	[ -f "$f" ] || continue
	[ "$(stat -c %s "$f")" -le 262144 ] && cp "$f" "$work/corpus/"
done
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -error_exitcode=1 -rss_limit_mb=2048 \
	-max_len=300000 -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus"
