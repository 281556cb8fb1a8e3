#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The newest kernel Debian ships, for the pinned-kernel verifier test (run-verifier.sh): the
# versioned image package that linux-image-amd64 depends on in each of the candidate suites of
# the machine's own archive (default: trixie-backports and unstable), whichever is newest,
# fetched with a private apt (lib-apt.sh) and its vmlinuz unpacked to CACHE/kernel-ABI/vmlinuz.
# Offline, the newest such directory already in the cache is used.
#
# usage: fetch-newest-kernel.sh CACHE     prints the vmlinuz path, nothing else
# exit 77 with a reason when no such kernel can be had.
set -euo pipefail
# The caller reads stdout: the path is all it gets (fd 3 here); everything else goes to stderr.
exec 3>&1 1>&2

cache=${1:?usage: fetch-newest-kernel.sh CACHE}
read -r -a suites <<<"${KEXECD_NEWEST_KERNEL_SUITES:-trixie-backports sid}"
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "fetch-newest-kernel: $*" >&2; exit 77; }
. "$here/lib-apt.sh"
command -v dpkg-deb >/dev/null || skip "dpkg-deb not found"

# suite<TAB>package of every candidate suite that answers
best= best_suite=
for suite in "${suites[@]}"; do
	apt_dir=$cache/apt-$suite
	private_apt "$apt_dir" "$suite" --write-sources 2>/dev/null || continue
	apt-get "${apt_opts[@]}" -qq update >&2 2>/dev/null || { echo "fetch-newest-kernel: $suite: apt-get update failed" >&2; continue; }
	pkg=$(apt-cache "${apt_opts[@]}" depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
	[ -n "$pkg" ] || continue
	echo "fetch-newest-kernel: $suite has $pkg" >&2
	if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$best" "$pkg" | sort -V | tail -n1)" = "$pkg" ]; then
		best=$pkg best_suite=$suite
	fi
done

if [ -z "$best" ]; then
	ready=$(ls -d "$cache"/kernel-*/vmlinuz 2>/dev/null | sort -V | tail -n1 || true)
	[ -n "$ready" ] || skip "none of ${suites[*]} answered and no kernel is cached in $cache"
	echo "fetch-newest-kernel: archive unreachable, using the cached $ready" >&2
	echo "$ready" >&3
	exit 0
fi

abi=${best#linux-image-}
dir=$cache/kernel-$abi
if [ -r "$dir/vmlinuz" ]; then
	echo "$dir/vmlinuz" >&3
	exit 0
fi
# Downloaded and unpacked in CACHE/.build-kernel-*, renamed to CACHE/kernel-ABI once complete.
tmp=$(mktemp -d "$cache/.build-kernel-$abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
private_apt "$cache/apt-$best_suite" "$best_suite"
# Newer kernels keep the image in linux-binary-ABI, which linux-image-ABI depends on.
img=$best
apt-cache "${apt_opts[@]}" show "linux-binary-$abi" >/dev/null 2>&1 && img=linux-binary-$abi
apt_download "$tmp" "$img" || skip "apt-get download $img from $best_suite failed"
# /boot/vmlinuz-ABI, or /usr/lib/modules/ABI/vmlinuz in the newer layout
mkdir "$tmp/x" "$tmp/k"
dpkg-deb --fsys-tarfile "$tmp/${img}_"*.deb | tar -x -C "$tmp/x" --wildcards '*vmlinuz*'
vmlinuz=$(find "$tmp/x" -type f \( -name "vmlinuz-$abi" -o -path "*/modules/$abi/vmlinuz" \) | head -n1)
[ -n "$vmlinuz" ] || skip "$img has no vmlinuz for $abi"
mv "$vmlinuz" "$tmp/k/vmlinuz"
echo "$best_suite" >"$tmp/k/suite"
# A directory without its vmlinuz (not made by this script) would block the rename; one with it is
# another run's, and is used as it is.
[ -r "$dir/vmlinuz" ] || rm -rf "$dir"
mv -T "$tmp/k" "$dir" 2>/dev/null || true
[ -r "$dir/vmlinuz" ] || { echo "fetch-newest-kernel: $dir is incomplete after the rename" >&2; exit 1; }
echo "fetch-newest-kernel: $best from $best_suite in $dir" >&2
echo "$dir/vmlinuz" >&3
