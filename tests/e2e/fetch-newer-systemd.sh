#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Fetch systemd-boot-efi and systemd-ukify from a newer Debian suite (trixie by default) of the
# same archive this machine's apt uses, without touching the system's apt state: a private
# sources list, lists and cache under CACHE. The archive is read from the machine's apt sources
# (deb822 URIs: or one-line sources.list), never written here. Cached .debs are reused offline.
#
# usage: fetch-newer-systemd.sh CACHE     prints the extracted root (ROOT/usr/lib/systemd/boot/efi…)
# exit 77 with a reason when the packages cannot be had.
set -euo pipefail
# The caller reads the root with $(…): it is the only line on stdout (fd 3 here); everything else
# goes to stderr.
exec 3>&1 1>&2

cache=${1:?usage: fetch-newer-systemd.sh CACHE}
suite=${KEXECD_NEWER_SUITE:-trixie}
pkgs=(systemd-boot-efi systemd-ukify)
skip() { echo "fetch-newer-systemd: $*" >&2; exit 77; }

apt_dir=$cache/apt-$suite
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"

have_debs() {
	local p
	for p in "${pkgs[@]}"; do
		ls "$apt_dir/debs/${p}_"*.deb >/dev/null 2>&1 || return 1
	done
}

. "$(dirname "$0")/lib-apt.sh"
# apt-get update in one private directory at a time.
cache_lock "$cache" "apt-$suite"

if ! have_debs; then
	private_apt "$apt_dir" "$suite" --write-sources || skip "no private apt for $suite"
	apt-get "${apt_opts[@]}" -qq update >&2 || skip "apt-get update of $suite from the machine's archive failed"
	apt_download "$apt_dir/debs" "${pkgs[@]}" || skip "apt-get download ${pkgs[*]} from $suite failed"
fi

deb=$(ls "$apt_dir/debs/systemd-boot-efi_"*.deb | sort -V | tail -n1)
version=$(dpkg-deb -f "$deb" Version)
# Unpacked in APT_DIR/.build-root-*, and renamed to ROOT once complete: ROOT is never partial.
root=$apt_dir/root-$version
if [ ! -d "$root" ]; then
	tmp=$(mktemp -d "$apt_dir/.build-root-$version.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	for p in "${pkgs[@]}"; do
		dpkg-deb -x "$(ls "$apt_dir/debs/${p}_"*.deb | sort -V | tail -n1)" "$tmp"
	done
	# Another run may have unpacked the same version meanwhile; then use its copy.
	mv -T "$tmp" "$root" 2>/dev/null || true
fi
echo "fetch-newer-systemd: systemd-boot-efi $version from $suite" >&2
echo "$root" >&3
