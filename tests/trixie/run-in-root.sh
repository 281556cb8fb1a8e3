#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs COMMAND inside a build root made by make-build-root.sh, as root, with SRC mounted read-only
# at /src, WORK (writable, on the host) at /work and the kexecd-test cache (Debian's kernel for
# the fixtures) at its usual path. Everything happens in private mount and PID namespaces: the
# mounts (proc, sys, dev, a tmpfs /tmp) vanish with the command, and so does every process it
# started (a dbus-daemon a test left behind included). The root's tree itself is not written.
#
# usage: run-in-root.sh ROOTDIR SRC WORK COMMAND [ARG...]     exit status: COMMAND's
set -euo pipefail

root=${1:?usage: run-in-root.sh ROOTDIR SRC WORK COMMAND...}/root
src=${2:?}
work=${3:?}
shift 3
[ $# -gt 0 ] || { echo "run-in-root: no command" >&2; exit 2; }
[ -x "$root/usr/bin/env" ] || { echo "run-in-root: $root is not a build root" >&2; exit 1; }
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}

# Bind mounts need their directories: the root keeps these three empty ones (made once).
mkdir -p "$root/src" "$root/work" "$root/var/cache/kexecd-test"
exec unshare --mount --pid --fork --propagation private -- /bin/bash -euo pipefail -c '
root=$1 src=$2 work=$3 cache=$4
shift 4
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mount --bind "$src" "$root/src"
mount -o remount,bind,ro "$root/src"
mount --bind "$work" "$root/work"
[ -d "$cache" ] && mount --bind "$cache" "$root/var/cache/kexecd-test"
# This shell stays PID 1 of the namespace (not exec, and not the last command, which bash would
# exec itself) and reaps what gets orphaned there (a daemon a test started and stopped), as init
# does on the host; unreaped, those zombies would look alive to the tests.
rc=0
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 \
	KEXECD_CACHE=/var/cache/kexecd-test "$@" || rc=$?
exit $rc
' run-in-root "$root" "$src" "$work" "$cache" "$@"
