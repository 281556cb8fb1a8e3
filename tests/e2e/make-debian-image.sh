#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A real Debian system for the system e2e (run-system.sh): mmdebstrap rootfs with systemd as
# PID 1, logind, dbus, polkit and Debian's kernel, made into an ext4 image without a loop mount
# (`mkfs.ext4 -d`). FLAVOR picks the release and systemd: 252 is bookworm's, 254 comes from
# bookworm-backports through an apt pin, 257 is Debian 13 "trixie" (its kernel, 6.12, too). The archive is the one this machine's apt uses
# (mirror_uri), never written here.
#
# Images are cached (about 180 MB zstd each, 3–4 min to build under a busy machine, 2 s to
# unpack) under CACHE/images/<flavor>-<key>/, where the key hashes the recipe (packages, suites,
# hooks), so a change to it builds a new image.
#
# usage: make-debian-image.sh CACHE FLAVOR [EXTRA_PACKAGE...]     FLAVOR: 252 | 254 | 257
# prints the image directory: rootfs.ext4.zst, vmlinuz, initrd.img, systemd-version
# exit 77 with a reason when mmdebstrap or the archive cannot be had.
set -euo pipefail
# The caller reads the directory with $(…): it is the only line on stdout (fd 3 here); everything
# else, mkfs.ext4's "Creating regular file …" included, goes to stderr.
exec 3>&1 1>&2

cache=${1:?usage: make-debian-image.sh CACHE FLAVOR [EXTRA_PACKAGE...]}
flavor=${2:?usage: make-debian-image.sh CACHE FLAVOR [EXTRA_PACKAGE...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "make-debian-image: $*" >&2; exit 77; }
die() { echo "make-debian-image: $*" >&2; exit 1; }
# mirror_uri
. "$here/lib-apt.sh"

case "$flavor" in
252 | 254 | 257) ;;
*) die "unknown flavor '$flavor' (252 | 254 | 257)" ;;
esac

# PROOFS.md's measured package set. kexec-tools is there for its `kexec` as a tool of last resort
# when debugging; its LSB scripts are masked below. systemd-boot is Debian's package of
# systemd-bless-boot and its generator (boot assessment, e2e-boot-assessment); its postinst does
# nothing without an ESP, which the image has not. The TPM 2.0 libraries are what systemd dlopens
# for systemd-cryptenroll, the cryptsetup tpm2 token and the PCR phases (e2e-boot-assessment's
# measured boot); Debian's systemd only recommends them.
pkgs=(systemd systemd-sysv dbus polkitd pkexec udev libpam-systemd kexec-tools linux-image-amd64
	initramfs-tools zstd systemd-boot)
# trixie renamed them in the 64-bit time_t transition (and libtss2-mu0 became libtss2-mu-4.0.1-0).
if [ "$flavor" = 257 ]; then
	pkgs+=(libtss2-esys-3.0.2-0t64 libtss2-mu-4.0.1-0t64 libtss2-rc0t64 libtss2-tcti-device0t64)
else
	pkgs+=(libtss2-esys-3.0.2-0 libtss2-mu0 libtss2-rc0 libtss2-tcti-device0)
fi
# The extra packages, less the ones above: the key depends only on what the image gets.
for p in "$@"; do
	[[ " ${pkgs[*]} " == *" $p "* ]] || pkgs+=("$p")
done
suites=(bookworm)
if [ "$flavor" = 257 ]; then
	suites=(trixie)
	# kernel-install's layout=uki builds the UKI with trixie's ukify (system-scenario.sh), around
	# systemd-stub, which trixie's systemd-boot no longer pulls in.
	pkgs+=(systemd-ukify systemd-boot-efi)
fi
hooks=()
if [ "$flavor" = 254 ]; then
	suites+=(bookworm-backports)
	# Only systemd and what must move in lockstep with it come from backports.
	hooks+=(--setup-hook 'mkdir -p "$1/etc/apt/preferences.d" && cat >"$1/etc/apt/preferences.d/kexecd-e2e-systemd" <<EOF
Package: systemd systemd-* libsystemd0 libsystemd-shared udev libudev1 libpam-systemd libnss-systemd systemd-boot systemd-boot-efi
Pin: release n=bookworm-backports
Pin-Priority: 990
EOF')
fi

# The runner unit: run-system.sh drops the scenario into /root/e2e (debugfs), and each boot and
# each soft-reboot runs it once multi-user.target is up. Its output goes to the serial console.
hooks+=(--customize-hook 'cat >"$1/etc/systemd/system/kexecd-e2e.service" <<EOF
[Unit]
Description=kexecd system e2e scenario
ConditionPathExists=/root/e2e/scenario.sh
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/bash /root/e2e/scenario.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
ln -s /etc/systemd/system/kexecd-e2e.service "$1/etc/systemd/system/multi-user.target.wants/kexecd-e2e.service"')
# kexec-tools LSB scripts add ~9 s and could load their own kernel over the staged one; the
# timers would only compete for the one TCG CPU.
hooks+=(--customize-hook 'for u in kexec-load.service kexec.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer; do ln -sf /dev/null "$1/etc/systemd/system/$u"; done')
hooks+=(--customize-hook 'echo kexecd-e2e >"$1/etc/hostname"')
hooks+=(--customize-hook 'chroot "$1" dpkg-query -W -f="\${Version}\n" systemd >"$1/root/systemd-version"')

mmdebstrap_args=(--variant=apt --include="$(IFS=,; echo "${pkgs[*]}")" "${hooks[@]}")
# The key is the recipe: packages, suites, hooks and the image format below (not the archive's
# address, and not unrelated edits to this script). Bump the version when the steps after
# mmdebstrap change.
recipe_version=1
key=$(printf '%s\n' "$recipe_version" "$flavor" "${suites[@]}" "${mmdebstrap_args[@]}" | sha256sum | cut -c1-16)
dir=$cache/images/$flavor-$key
cache_lock "$cache" "image-$flavor-$key"
# An image is built in CACHE/images/.build-*, and appears at $dir complete, by one rename.
complete() {
	local f
	for f in rootfs.ext4.zst vmlinuz initrd.img systemd-version; do
		[ -r "$1/$f" ] || return 1
	done
}
if complete "$dir"; then
	echo "$dir" >&3
	exit 0
fi

command -v mmdebstrap >/dev/null || skip "mmdebstrap not found (install mmdebstrap)"
command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 not found (install e2fsprogs)"
[ "$(id -u)" = 0 ] || skip "building the rootfs needs root (mmdebstrap's root mode)"
uri=$(mirror_uri | head -n1)
[ -n "$uri" ] || skip "no Debian archive found in this machine's apt sources"
sources=()
for suite in "${suites[@]}"; do
	sources+=("deb $uri $suite main")
done

mkdir -p "$cache/images"
tmp=$(mktemp -d "$cache/images/.build-$flavor.XXXXXX")
# --one-file-system: an interrupted mmdebstrap may leave /proc and /sys mounted in the rootfs.
trap 'rm -rf --one-file-system "$tmp"' EXIT

t0=$SECONDS
echo "make-debian-image: building the systemd $flavor rootfs from $uri (a few minutes)" >&2
# 3>&-: nothing mmdebstrap leaves running may hold the caller's $(…) open.
mmdebstrap "${mmdebstrap_args[@]}" "${suites[0]}" "$tmp/root" "${sources[@]}" >"$tmp/mmdebstrap.log" 2>&1 3>&- \
	|| { tail -n 30 "$tmp/mmdebstrap.log" >&2; skip "mmdebstrap failed (archive unreachable?), log above"; }

version=$(cat "$tmp/root/root/systemd-version")
case "$version" in
"$flavor"*) ;;
*) die "wanted systemd $flavor, the rootfs has $version" ;;
esac
# Debian keeps the kernel links at / (PROOFS.md); qemu boots them directly.
cp -L "$tmp/root/vmlinuz" "$tmp/vmlinuz"
cp -L "$tmp/root/initrd.img" "$tmp/initrd.img"
echo "$version" >"$tmp/systemd-version"
# Room for the scenario's files and the journal; sparse, so the free space costs nothing.
mkfs.ext4 -q -L kexecd-e2e -d "$tmp/root" "$tmp/rootfs.ext4" 2G
zstd -q -T0 --rm "$tmp/rootfs.ext4" -o "$tmp/rootfs.ext4.zst"
rm -rf "$tmp/root"
mkdir "$tmp/image"
mv "$tmp/rootfs.ext4.zst" "$tmp/vmlinuz" "$tmp/initrd.img" "$tmp/systemd-version" "$tmp/mmdebstrap.log" "$tmp/image/"
# An incomplete $dir (not made by this script) would block the rename; a complete one is another
# build's of the same recipe, and is used as it is.
complete "$dir" || rm -rf "$dir"
mv -T "$tmp/image" "$dir" 2>/dev/null || true
complete "$dir" || die "$dir is incomplete after the rename"
echo "make-debian-image: systemd $version image in $((SECONDS - t0)) s: $dir" >&2
echo "$dir" >&3
