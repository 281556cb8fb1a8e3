#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Debian's 6.12 kernel (bookworm-backports) and what an out-of-tree module with BTF needs, without
# installing anything: linux-image (for its vmlinuz), linux-headers (its vmlinux keeps .BTF, which
# module BTF is split against), linux-headers-*-common and linux-kbuild (resolve_btfids), fetched
# with a private apt (tests/e2e/lib-apt.sh) and unpacked with dpkg-deb under CACHE/kmod-ABI/.
# Reused offline once unpacked.
#
# usage: prepare-kernel.sh CACHE     prints KDIR=… VMLINUZ=… ABI=… (shell assignments)
# exit 77 with a reason when the packages or pahole cannot be had.
set -euo pipefail
# The caller evaluates stdout: the three assignments are all it gets (fd 3 here); everything else
# goes to stderr.
exec 3>&1 1>&2

cache=${1:?usage: prepare-kernel.sh CACHE}
suite=${KEXECD_KERNEL_SUITE:-bookworm-backports}
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "prepare-kernel: $*" >&2; exit 77; }
. "$here/../e2e/lib-apt.sh"

command -v pahole >/dev/null || skip "pahole not found (install pahole): module BTF cannot be generated"
command -v dpkg-deb >/dev/null || skip "dpkg-deb not found"

emit() { # $1 = kmod dir
	local abi
	abi=$(cat "$1/abi")
	printf 'KDIR=%s\nVMLINUZ=%s\nABI=%s\n' "$1/root/usr/src/linux-headers-$abi" "$1/vmlinuz" "$abi" >&3
}

# KEXECD_KERNEL_ABI pins a version (e.g. 6.12.95+deb12-amd64); otherwise the newest the suite has,
# or, when the archive cannot be reached, the newest already unpacked.
abi=${KEXECD_KERNEL_ABI:-}
apt_dir=$cache/apt-$suite
if [ -z "$abi" ]; then
	if private_apt "$apt_dir" "$suite" --write-sources 2>/dev/null &&
		apt-get "${apt_opts[@]}" -qq update >&2 2>/dev/null; then
		abi=$(apt-cache "${apt_opts[@]}" pkgnames linux-headers-6.12 2>/dev/null |
			sed -n 's/^linux-headers-\(6\.12\.[0-9]*+deb12-amd64\)$/\1/p' | sort -V | tail -n1)
	fi
	if [ -z "$abi" ]; then
		ready=$(ls -d "$cache"/kmod-*/ready 2>/dev/null | sort -V | tail -n1 || true)
		[ -n "$ready" ] || skip "no linux-headers-6.12.*+deb12-amd64 in $suite and nothing cached in $cache"
		emit "$(dirname "$ready")"
		exit 0
	fi
fi
kmod=$cache/kmod-$abi
if [ -e "$kmod/ready" ]; then
	emit "$kmod"
	exit 0
fi

common=${abi%-amd64}
pkgs=("linux-image-$abi" "linux-headers-$abi" "linux-headers-$common-common" "linux-kbuild-$common")
debs=$apt_dir/debs
mkdir -p "$debs"
private_apt "$apt_dir" "$suite"
for p in "${pkgs[@]}"; do
	ls "$debs/${p}_"*.deb >/dev/null 2>&1 && continue
	# The e2e suite may already have downloaded the image package into the cache's top level.
	if ls "$cache/${p}_"*.deb >/dev/null 2>&1; then
		ln -sf "$(ls "$cache/${p}_"*.deb | sort -V | tail -n1)" "$debs/"
		continue
	fi
	apt_download "$debs" "$p" || skip "apt-get download $p from $suite failed"
done

# Unpacked in CACHE/.build-kmod-*, and renamed to CACHE/kmod-ABI once complete; its ready file is
# written last, and only a kmod dir with it is used.
tmp=$(mktemp -d "$cache/.build-kmod-$abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for p in "${pkgs[@]}"; do
	deb=$(ls "$debs/${p}_"*.deb | sort -V | tail -n1)
	if [ "$p" = "linux-image-$abi" ]; then
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "./boot/vmlinuz-$abi" "./boot/config-$abi"
	else
		dpkg-deb -x "$deb" "$tmp/root"
	fi
done
hdr=$tmp/root/usr/src/linux-headers-$abi
grep -q '^CONFIG_DEBUG_INFO_BTF_MODULES=y' "$hdr/.config" || skip "$abi has no CONFIG_DEBUG_INFO_BTF_MODULES"
grep -q '^CONFIG_KEXEC_FILE=y' "$hdr/.config" || skip "$abi has no CONFIG_KEXEC_FILE"
[ -r "$hdr/vmlinux" ] || skip "linux-headers-$abi has no vmlinux (module BTF needs its .BTF)"
# The headers package includes the -common Makefile by absolute /usr/src path; point it at the
# copy. The scripts/tools links are relative and stay inside the copy.
sed -i "s|^include /usr/src/|include $kmod/root/usr/src/|" "$hdr/Makefile"
mv "$tmp/boot/vmlinuz-$abi" "$tmp/vmlinuz"
echo "$abi" >"$tmp/abi"
touch "$tmp/ready"
rm -rf "${tmp:?}/boot"
# A kmod dir without ready (not made by this script) would block the rename; one with it is
# another run's of the same ABI, and is used as it is.
[ -e "$kmod/ready" ] || rm -rf "$kmod"
mv -T "$tmp" "$kmod" 2>/dev/null || rm -rf "$tmp"
trap - EXIT
[ -e "$kmod/ready" ] || { echo "prepare-kernel: $kmod is incomplete after the rename" >&2; exit 1; }
emit "$kmod"
