#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The arm64 packages the arm64 e2e (run-e2e-arm64.sh, issue 31) puts in its guest besides the
# cross-built kexecd: busybox-static (the first stage's shell and the marker initrds), the system
# bus (dbus-daemon, dbus-send from dbus-bin) with every library they need, and systemd-stub for
# arm64 (linuxaa64.efi.stub, systemd-boot-efi) around which the UKIs are built. They come from
# the machine's own Debian archive and suite through the private arm64 apt that
# scripts/cross/make-sysroot.sh and tests/fixtures/fetch-arm64-kernel.sh use (lib-apt.sh
# private_apt_foreign: the system's apt and architectures untouched), resolved against an empty
# arm64 system and unpacked with dpkg-deb -x (no maintainer scripts: only the files matter).
#
# Cached under CACHE/arm64-guest/<suite>-<key>/ (root/, versions), where the key hashes the
# recipe, so a changed package list makes a new entry; unpacked in a temporary directory and
# renamed into place complete.
#
# usage: fetch-arm64-guest.sh CACHE     prints that directory, the only line on stdout
# exit 77 with a reason when the archive cannot be had.
set -euo pipefail
exec 3>&1 1>&2

cache=${1:?usage: fetch-arm64-guest.sh CACHE}
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "fetch-arm64-guest: $*" >&2; exit 77; }
die() { echo "fetch-arm64-guest: $*" >&2; exit 1; }
# private_apt_foreign, cache_lock
. "$here/lib-apt.sh"

arch=arm64
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$suite" ] || skip "no VERSION_CODENAME in /etc/os-release"
pkgs=(busybox-static dbus-daemon dbus-bin systemd-boot-efi)
recipe_version=1
key=$(printf '%s\n' "$recipe_version" "$suite" "$arch" "${pkgs[@]}" | sha256sum | cut -c1-16)
dir=$cache/arm64-guest/$suite-$key
# The private apt directory is make-sysroot.sh's and fetch-arm64-kernel.sh's too: one lock.
cache_lock "$cache" "apt-$suite-$arch"
complete() { [ -s "$1/versions" ] && [ -d "$1/root" ]; }
if complete "$dir"; then
	echo "$dir" >&3
	exit 0
fi

t0=$SECONDS
apt_dir=$cache/apt-$suite-$arch
foreign_download_only "$apt_dir" "$suite" "$arch" "${pkgs[@]}" || skip "the guest's arm64 packages (reason above)"
mapfile -t wanted < <(apt-get "${apt_opts[@]}" -s install "${pkgs[@]}" |
	awk '$1 == "Inst" { print $2 }' | sed 's/:.*//')
[ ${#wanted[@]} -gt 0 ] || die "apt resolved nothing for ${pkgs[*]}"

mkdir -p "$cache/arm64-guest"
tmp=$(mktemp -d "$cache/arm64-guest/.build-$suite.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out/root"
for p in "${wanted[@]}"; do
	deb=$({ compgen -G "$apt_dir/cache/archives/${p}_*_$arch.deb" || true
		compgen -G "$apt_dir/cache/archives/${p}_*_all.deb" || true; } | sort -V | tail -n1)
	[ -n "$deb" ] || die "$p was resolved but not downloaded"
	dpkg-deb -x "$deb" "$tmp/out/root"
	dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$tmp/out/versions"
done
# Absolute symlinks (libfoo.so.1 -> /lib/...) would resolve into the build machine when the e2e
# looks up libraries here: made relative, as make-sysroot.sh does.
while IFS= read -r -d '' link; do
	target=$(readlink "$link")
	ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$tmp/out/root$target")" "$link"
done < <(find "$tmp/out/root" -type l -lname '/*' -print0)
[ -x "$tmp/out/root/bin/busybox" ] || die "busybox-static left no /bin/busybox"
[ -r "$tmp/out/root/usr/lib/systemd/boot/efi/linuxaa64.efi.stub" ] ||
	die "systemd-boot-efi ($arch) left no linuxaa64.efi.stub"
complete "$dir" || rm -rf "$dir"
mv -T "$tmp/out" "$dir" 2>/dev/null || true
complete "$dir" || die "$dir is incomplete after the rename"
echo "fetch-arm64-guest: ${#wanted[@]} $arch packages for $suite in $((SECONDS - t0)) s: $dir" >&2
echo "$dir" >&3
