#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# An arm64 sysroot for the cross build (issue 31): the arm64 builds of the -dev packages
# debian/control's Build-Depends name, and what they depend on, unpacked into one tree. The
# packages come from the machine's own Debian archive and suite through a private apt
# configuration (lib-apt.sh): `dpkg --add-architecture` is never run, the system's apt state is
# never touched. The cross compiler itself (g++-aarch64-linux-gnu, with its own libc and
# libstdc++) is a host package from scripts/debian-packages.txt.
#
# The dependencies are resolved by apt against an empty dpkg status, as if installing into an
# empty arm64 system, then unpacked with dpkg-deb -x (no maintainer scripts: only files matter).
# The glibc development packages are left out: the cross toolchain brings its own, and a second
# libc.so linker script (absolute /lib/... paths) would be picked before it through pkg-config's
# -L. The runtime libc6 stays, so `qemu-aarch64 -L SYSROOT` runs the cross-built programs.
#
# Sysroots are cached under CACHE/sysroots/arm64-<key>/, where the key hashes the recipe (suite,
# package list, this script's steps), so a change to it makes a new one; built in a temporary
# directory and renamed into place complete. SYSROOT/sysroot.ini is a meson machine file that
# defines the constant `sysroot` for scripts/cross/aarch64-linux-gnu.ini (given after it).
#
# usage: make-sysroot.sh CACHE     prints the sysroot's directory, the only line on stdout
# exit 77 with a reason when the archive cannot be had.
set -euo pipefail
exec 3>&1 1>&2

cache=${1:?usage: make-sysroot.sh CACHE}
here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
skip() { echo "make-sysroot: $*" >&2; exit 77; }
die() { echo "make-sysroot: $*" >&2; exit 1; }
# private_apt_foreign, cache_lock
. "$srcroot/tests/e2e/lib-apt.sh"

arch=arm64
triplet=aarch64-linux-gnu
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$suite" ] || skip "no VERSION_CODENAME in /etc/os-release"
# Every -dev package of Build-Depends, the <!nocheck> ones included (the unit tests link gtest),
# read from debian/control so the list cannot drift from the native build's.
mapfile -t pkgs < <(awk '/^Build-Depends:/ { f = 1; next } f && /^[^ ]/ { f = 0 }
	f { gsub(/[ ,]/, ""); sub(/\(.*/, ""); sub(/<.*/, ""); if ($0 ~ /-dev$/) print }' \
	"$srcroot/debian/control")
[ ${#pkgs[@]} -gt 0 ] || die "no -dev packages in debian/control's Build-Depends"
# Provided by the cross toolchain (libc6-dev-arm64-cross, linux-libc-dev-arm64-cross).
toolchain_pkgs=(libc6-dev libc-dev-bin linux-libc-dev libcrypt-dev libnsl-dev libtirpc-dev rpcsvc-proto)

recipe_version=1
key=$(printf '%s\n' "$recipe_version" "$suite" "$arch" "${pkgs[@]}" -- "${toolchain_pkgs[@]}" |
	sha256sum | cut -c1-16)
dir=$cache/sysroots/$arch-$key
# One lock for the private apt directory, which every recipe and fetch-arm64-kernel.sh share.
cache_lock "$cache" "apt-$suite-$arch"
complete() { [ -r "$1/sysroot.ini" ] && [ -r "$1/versions" ]; }
if complete "$dir"; then
	echo "$dir" >&3
	exit 0
fi

t0=$SECONDS
apt_dir=$cache/apt-$suite-$arch
foreign_download_only "$apt_dir" "$suite" "$arch" "${pkgs[@]}" || skip "the arm64 -dev packages (reason above)"

mkdir -p "$cache/sysroots"
tmp=$(mktemp -d "$cache/sysroots/.build-$arch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/out"
# The resolver's answer, again, as the list to unpack: only what this install needs, not every
# .deb an earlier recipe left in the cache.
mapfile -t wanted < <(apt-get "${apt_opts[@]}" -s install "${pkgs[@]}" |
	awk '$1 == "Inst" { print $2 }' | sed 's/:.*//')
for p in "${wanted[@]}"; do
	case " ${toolchain_pkgs[*]} " in *" $p "*) continue ;; esac
	deb=$({ compgen -G "$apt_dir/cache/archives/${p}_*_$arch.deb" || true
		compgen -G "$apt_dir/cache/archives/${p}_*_all.deb" || true; } | sort -V | tail -n1)
	[ -n "$deb" ] || die "$p was resolved but not downloaded"
	dpkg-deb -x "$deb" "$tmp/out"
	dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$tmp/out/versions"
done
# Absolute symlinks (libfoo.so -> /lib/...) point into the build machine: make them relative,
# so they resolve inside the sysroot wherever it is.
while IFS= read -r -d '' link; do
	target=$(readlink "$link")
	rel=$(realpath -m --relative-to="$(dirname "$link")" "$tmp/out$target")
	ln -sfn "$rel" "$link"
done < <(find "$tmp/out" -type l -lname '/*' -print0)
# bookworm's packages are not merged-/usr on disk: the cross file searches both lib dirs.
[ -d "$tmp/out/usr/lib/$triplet/pkgconfig" ] || die "no $triplet pkg-config directory in the sysroot"
printf '%s\n' "# SPDX-License-Identifier: LGPL-2.1-or-later" \
	"# Written by scripts/cross/make-sysroot.sh: give it before scripts/cross/aarch64-linux-gnu.ini." \
	"[constants]" "sysroot = '$dir'" >"$tmp/out/sysroot.ini"
complete "$dir" || rm -rf "$dir"
mv -T "$tmp/out" "$dir" 2>/dev/null || true
complete "$dir" || die "$dir is incomplete after the rename"
echo "make-sysroot: $arch sysroot for $suite in $((SECONDS - t0)) s, ${#wanted[@]} packages: $dir" >&2
echo "$dir" >&3
