#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A Debian 13 "trixie" build root for the trixie suite (run-in-root.sh) and the trixie package:
# an mmdebstrap buildd tree with kexecd's build dependencies (debian/control) and what the unit,
# D-Bus and docs suites run (dbus-daemon, python-dbusmock, sbsigntool, zsh, fish…), plus lintian.
# The archive is the one this machine's apt uses (mirror_uri), never written here. A chroot
# shares the running kernel: no VM is needed to build and test against trixie's userspace.
#
# Roots are cached (about 1.5 GB, a few minutes to build once) under CACHE/roots/trixie-<key>/,
# where the key hashes the recipe (packages, hooks), so a change to it builds a new root. The
# tree is used in place and never changed: run-in-root.sh mounts its work on top, in a private
# mount namespace.
#
# usage: make-build-root.sh CACHE      prints the root's directory (its tree is DIR/root)
# exit 77 with a reason when mmdebstrap, root or the archive cannot be had.
set -euo pipefail
# The caller reads the directory with $(…): it is the only line on stdout (fd 3 here).
exec 3>&1 1>&2

cache=${1:?usage: make-build-root.sh CACHE}
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "make-build-root: $*" >&2; exit 77; }
die() { echo "make-build-root: $*" >&2; exit 1; }
# mirror_uri
. "$here/../e2e/lib-apt.sh"

suite=trixie
# debian/control's Build-Depends (the buildd variant brings build-essential), then the test
# suites' tools, then the package checks'.
pkgs=(debhelper meson ninja-build pkgconf bash-completion bpftool clang llvm libbpf-dev
	libcli11-dev libfmt-dev libsdbus-c++-bin libsdbus-c++-dev libspdlog-dev libssl-dev
	libsystemd-dev libzstd-dev nlohmann-json3-dev openssl python3 scdoc systemd zlib1g-dev
	dbus-daemon libgmock-dev libgtest-dev
	dbus python3-dbus python3-dbusmock binutils sbsigntool cpio gzip zstd util-linux
	python3-pefile systemd-boot-efi kmod zsh fish libglib2.0-bin libcryptsetup-dev cryptsetup-bin
	dpkg-dev lintian)
hooks=()
# dbus-daemon wants a machine id; a chroot has none of its own.
hooks+=(--customize-hook 'chroot "$1" dbus-uuidgen --ensure=/etc/machine-id')
hooks+=(--customize-hook 'chroot "$1" dpkg-query -W -f="\${Package} \${Version}\n" g++ libsdbus-c++-dev bpftool libbpf-dev clang meson systemd lintian >"$1/root/versions"')

mmdebstrap_args=(--variant=buildd --include="$(IFS=,; echo "${pkgs[*]}")" "${hooks[@]}")
# The key is the recipe, not the archive's address. Bump the version when the steps after
# mmdebstrap change.
recipe_version=1
key=$(printf '%s\n' "$recipe_version" "$suite" "${mmdebstrap_args[@]}" | sha256sum | cut -c1-16)
dir=$cache/roots/$suite-$key
cache_lock "$cache" "root-$suite-$key"
# A root is built in CACHE/roots/.build-*, and appears at $dir complete, by one rename.
complete() { [ -r "$1/root/root/versions" ] && [ -x "$1/root/usr/bin/g++" ]; }
if complete "$dir"; then
	echo "$dir" >&3
	exit 0
fi

command -v mmdebstrap >/dev/null || skip "mmdebstrap not found (install mmdebstrap)"
[ "$(id -u)" = 0 ] || skip "building the root needs root (mmdebstrap's root mode)"
uri=$(mirror_uri | head -n1)
[ -n "$uri" ] || skip "no Debian archive found in this machine's apt sources"

mkdir -p "$cache/roots"
tmp=$(mktemp -d "$cache/roots/.build-$suite.XXXXXX")
# --one-file-system: an interrupted mmdebstrap may leave /proc and /sys mounted in the tree.
trap 'rm -rf --one-file-system "$tmp"' EXIT

t0=$SECONDS
echo "make-build-root: building the $suite build root from $uri (a few minutes)" >&2
# 3>&-: nothing mmdebstrap leaves running may hold the caller's $(…) open.
mkdir "$tmp/out"
mmdebstrap "${mmdebstrap_args[@]}" "$suite" "$tmp/out/root" "deb $uri $suite main" \
	>"$tmp/out/mmdebstrap.log" 2>&1 3>&- \
	|| { tail -n 30 "$tmp/out/mmdebstrap.log" >&2; skip "mmdebstrap failed (archive unreachable?), log above"; }
complete "$tmp/out" || die "the $suite root lacks g++ or its version list"
# A $dir that is not complete (not made by this script) would block the rename; a complete one
# is another build's of the same recipe, and is used as it is.
complete "$dir" || rm -rf --one-file-system "$dir"
mv -T "$tmp/out" "$dir" 2>/dev/null || true
complete "$dir" || die "$dir is incomplete after the rename"
echo "make-build-root: $suite root in $((SECONDS - t0)) s: $dir ($(tr '\n' ',' <"$dir/root/root/versions"))" >&2
echo "$dir" >&3
