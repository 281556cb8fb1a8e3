#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job on a private bus: kexecd with the recording fake kernel (so
# nothing is loaded into the running kernel), and kexecctl staging a real
# UKI built from Debian's kernel with two addons, then showing status.
# On a real system kexecd runs as kexecd.service and `--kernel=real`.
#
# usage: scripts/demo.sh [--keep] [BUILDDIR]
#   --keep  leave kexecd and its private bus running afterwards and print how
#           to talk to them (and how to stop them); without it everything the
#           demo started is stopped and its temporary directory removed.
set -eu
cd "$(dirname "$0")/.."
keep=no
case "${1:-}" in
--keep) keep=yes; shift ;;
-h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
-*) echo "demo: unknown option '$1' (usage: scripts/demo.sh [--keep] [BUILDDIR])" >&2; exit 2 ;;
esac
# Debian's kernel package (for the test UKIs) is cached system-wide as root,
# per user otherwise.
if [ -z "${KEXECD_CACHE:-}" ] && [ "$(id -u)" -ne 0 ]; then
	export KEXECD_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kexecd-test"
fi
builddir=$(realpath "${1:-build}")
ninja -C "$builddir" tests/fixtures/fixtures.stamp >/dev/null
fx=$(realpath "$builddir/tests/fixtures/out")
if [ -e "$fx/UNAVAILABLE" ]; then
	echo "demo: cannot build the demo UKI: $(cat "$fx/UNAVAILABLE")" >&2
	exit 1
fi
work=$(mktemp -d /tmp/kexecd-demo.XXXXXX)
chmod 755 "$work"
daemon_pid=
bus_pid=
# Everything the demo started goes, unless --keep and the demo got to its end.
cleanup() {
	rc=$?
	if [ "$keep" = yes ] && [ "$rc" = 0 ]; then
		return
	fi
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	[ -z "$bus_pid" ] || kill "$bus_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dbus-daemon --config-file=scripts/demo-bus.conf --address="unix:path=$work/bus" \
	--fork --print-pid >"$work/bus.pid"
bus_pid=$(cat "$work/bus.pid")
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$work/bus"
"$builddir/daemon/kexecd" --config=/dev/null --kernel="fake:$work/kernel" \
	--state-file="$work/staged.json" --trust-dir="$fx/trust" </dev/null >"$work/kexecd.log" 2>&1 &
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

if [ "$keep" = no ]; then
	echo "demo: stopping kexecd and its bus, removing $work (--keep leaves them running)"
	exit 0
fi
cat <<EOF

demo: kexecd (pid $daemon_pid) keeps running on its private bus (dbus-daemon pid $bus_pid).
Talk to it from any shell:

  export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$work/bus
  $kexecctl status

or name the bus on each call:

  $kexecctl --bus unix:path=$work/bus status

The (fake) kernel's files are in $work/kernel, kexecd's log is $work/kexecd.log.
Stop both and remove the directory with:

  kill $daemon_pid $bus_pid; rm -rf $work
EOF
