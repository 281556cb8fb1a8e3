#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job on a private bus: kexecd with the recording fake kernel (so
# nothing is loaded into the running kernel), and kexecctl staging a real
# UKI built from Debian's kernel with two addons, then showing status.
# On a real system kexecd runs as kexecd.service and `--kernel=real`.
set -eu
cd "$(dirname "$0")/.."
# Debian's kernel package (for the test UKIs) is cached system-wide as root,
# per user otherwise.
if [ -z "${KEXECD_CACHE:-}" ] && [ "$(id -u)" -ne 0 ]; then
	export KEXECD_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kexecd-test"
fi
builddir=${1:-build}
ninja -C "$builddir" tests/fixtures/fixtures.stamp >/dev/null
fx=$(realpath "$builddir/tests/fixtures/out")
if [ -e "$fx/UNAVAILABLE" ]; then
	echo "demo: cannot build the demo UKI: $(cat "$fx/UNAVAILABLE")" >&2
	exit 1
fi
work=$(mktemp -d /tmp/kexecd-demo.XXXXXX)
chmod 755 "$work"
cleanup() {
	[ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null || true
	[ -f "$work/bus.pid" ] && kill "$(cat "$work/bus.pid")" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

dbus-daemon --config-file=scripts/demo-bus.conf --address="unix:path=$work/bus" \
	--fork --print-pid >"$work/bus.pid"
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$work/bus"
"$builddir/daemon/kexecd" --config=/dev/null --kernel="fake:$work/kernel" \
	--state-file="$work/staged.json" --trust-dir="$fx/trust" 2>"$work/kexecd.log" &
daemon_pid=$!
kexecctl="$builddir/client/kexecctl"
i=0
until "$kexecctl" status >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 50 ]; then
		echo "demo: kexecd did not come up:" >&2
		cat "$work/kexecd.log" >&2
		exit 1
	fi
	sleep 0.1
done

set -x
"$kexecctl" status
"$kexecctl" stage "$fx/uki-signed.efi" --addon "$fx/addon-signed.addon.efi" --addon "$fx/addon-initrd.addon.efi"
"$kexecctl" status
"$kexecctl" inspect "$fx/uki.efi" --scheme bpf
set +x
echo "demo: what the (fake) kernel received is in $work/kernel:"
ls -l "$work/kernel"
