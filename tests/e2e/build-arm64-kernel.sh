#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The FIRST kernel of the arm64 e2e (issue 31): one that has kexec_file_load. Debian builds
# none for arm64 (CONFIG_KEXEC_FILE is not set in bookworm's 6.1, bookworm-backports' and
# trixie's 6.12, sid's 7.2, generic and cloud flavours alike), and kexecd loads only through
# kexec_file_load, so the running kernel is built here: Debian's own kernel source
# (linux-source-X.Y of the machine's suite, from its archive) cross-compiled for arm64 from
# tinyconfig plus what the e2e's first stage needs (arm64-kexec.config). The kernel it kexecs
# into stays Debian's packaged arm64 Image: kexec_file_load needs the support in the running
# kernel only.
#
# Cached under CACHE/arm64-kexec-kernel/<key>/ (Image, config, version), where the key hashes
# the source package's version, the fragment and this recipe; built in a .build-* directory and
# renamed into place complete. The source .deb stays in CACHE/arm64-kexec-kernel/.
#
# usage: build-arm64-kernel.sh CACHE     prints that directory, the only line on stdout
# exit 77 with a reason when the source, flex, bison or the cross compiler cannot be had.
set -euo pipefail
exec 3>&1 1>&2

cache=${1:?usage: build-arm64-kernel.sh CACHE}
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "build-arm64-kernel: $*" >&2; exit 77; }
die() { echo "build-arm64-kernel: $*" >&2; exit 1; }
# apt_download, cache_lock
. "$here/lib-apt.sh"

cross=aarch64-linux-gnu-
for tool in "${cross}gcc" flex bison bc make xz; do
	command -v "$tool" >/dev/null || skip "$tool not found (scripts/debian-packages.txt)"
done
top=$cache/arm64-kexec-kernel
mkdir -p "$top"
cache_lock "$cache" arm64-kexec-kernel

# The suite's own kernel source: what the metapackage linux-source names (bookworm:
# linux-source-6.1, the series of the Debian Image the e2e kexecs into), at apt's candidate.
src_pkg=$(apt-cache depends linux-source 2>/dev/null | sed -n 's/^ *Depends: \(linux-source-[0-9.]*\)$/\1/p' | head -n1)
[ -n "$src_pkg" ] || skip "the machine's apt knows no linux-source metapackage"
src_ver=$(apt-cache policy "$src_pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
[ -n "$src_ver" ] || skip "apt knows no version of $src_pkg"
recipe_version=1
key=$(cat - "$here/arm64-kexec.config" <<<"$recipe_version $src_pkg $src_ver" | sha256sum | cut -c1-16)
dir=$top/$key
complete() { [ -s "$1/Image" ] && [ -s "$1/config" ] && [ -s "$1/version" ]; }
if complete "$dir"; then
	echo "$dir" >&3
	exit 0
fi

t0=$SECONDS
deb=$(compgen -G "$top/${src_pkg}_${src_ver}_all.deb" || true)
if [ -z "$deb" ]; then
	# shellcheck disable=SC2034 # apt_download's options: none, the machine's apt
	apt_opts=()
	apt_download "$top" "$src_pkg=$src_ver" || skip "apt-get download $src_pkg=$src_ver failed"
	deb=$(compgen -G "$top/${src_pkg}_${src_ver}_all.deb" || true)
	[ -n "$deb" ] || die "apt-get download left no ${src_pkg}_${src_ver}_all.deb in $top"
fi
tmp=$(mktemp -d "$top/.build-$key.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './usr/src/linux-source-*.tar.xz'
tarball=$(compgen -G "$tmp/usr/src/linux-source-*.tar.xz" | head -n1)
[ -n "$tarball" ] || die "$deb holds no usr/src/linux-source-*.tar.xz"
mkdir "$tmp/src"
tar -xJf "$tarball" -C "$tmp/src" --strip-components=1
rm -f "$tarball"
echo "build-arm64-kernel: $src_pkg $src_ver unpacked in $((SECONDS - t0)) s" >&2

t1=$SECONDS
kmake() { nice -n 19 make -C "$tmp/src" O="$tmp/obj" ARCH=arm64 CROSS_COMPILE="$cross" -j2 "$@"; }
kmake -s tinyconfig >&2
"$tmp/src/scripts/kconfig/merge_config.sh" -m -O "$tmp/obj" "$tmp/obj/.config" "$here/arm64-kexec.config" >&2
kmake -s olddefconfig >&2
# merge_config.sh warns but goes on when an option did not stick: here that is an error.
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$here/arm64-kexec.config" | while IFS= read -r line; do
	grep -qxF "$line" "$tmp/obj/.config" || echo "$line"
done)
[ -z "$missing" ] || die "options that did not stick (dependencies?): $(echo "$missing" | tr '\n' ' ')"
kmake -s Image >"$tmp/make.log" 2>&1 || { tail -n 40 "$tmp/make.log"; die "the kernel build failed"; }
mkdir "$tmp/out"
cp "$tmp/obj/arch/arm64/boot/Image" "$tmp/out/Image"
cp "$tmp/obj/.config" "$tmp/out/config"
echo "$src_pkg $src_ver $(cat "$tmp/obj/include/config/kernel.release")" >"$tmp/out/version"
complete "$dir" || rm -rf "$dir"
mv -T "$tmp/out" "$dir" 2>/dev/null || true
complete "$dir" || die "$dir is incomplete after the rename"
echo "build-arm64-kernel: $(cat "$dir/version"): built in $((SECONDS - t1)) s, $(stat -c %s "$dir/Image") bytes" >&2
echo "$dir" >&3
