#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# `systemd-analyze verify` of kexecd.service, then its exposure score
# (STYLE 9). verify insists that ExecStart= exists, so the unit is checked
# as a copy pointing at the freshly built binary.
# Usage: verify-unit.sh UNIT KEXECD_BINARY
set -eu
unit="$1"
binary="$2"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not installed, skipping"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=.*|ExecStart=$binary|" "$unit" > "$tmp/kexecd.service"

# --man=no: the man pages are not installed where verify would look.
out=$(systemd-analyze verify --man=no "$tmp/kexecd.service" 2>&1) || {
    echo "$out"
    echo "systemd-analyze verify failed"
    exit 1
}
# verify reports problems of unrelated units on the host too; only
# lines naming our unit count.
if echo "$out" | grep -q 'kexecd.service'; then
    echo "$out"
    echo "systemd-analyze verify complained about kexecd.service"
    exit 1
fi
echo "systemd-analyze verify: ok"

# The ceiling the unit must stay under: 2.5 (--threshold counts tenths).
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    if ! systemd-analyze security --no-pager --offline=true --threshold=25 "$tmp/kexecd.service"; then
        echo "kexecd.service's exposure is above 2.5"
        exit 1
    fi
fi
