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

# The machine's Debian archive: the URI of the apt source that carries this system's own suite.
mirror_uri() {
	local codename f
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || return 1
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		# deb822 stanzas are separated by blank lines; comment lines do not end a stanza.
		awk -v cn="$codename" '
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { if (uri != "" && suite_ok && type_ok) { print uri; exit } uri = ""; suite_ok = 0; type_ok = 0; next }
			/^URIs:/ { uri = $2 }
			/^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") type_ok = 1 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == cn) suite_ok = 1 }
			END { if (uri != "" && suite_ok && type_ok) print uri }' "$f"
	done | head -n1
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v cn="$codename" '$1 == "deb" {
			i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) == cn) { print $i; exit } }' "$f"
	done | head -n1
}

if ! have_debs; then
	uri=$(mirror_uri | head -n1)
	[ -n "$uri" ] || skip "no Debian archive found in this machine's apt sources"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[ -r "$keyring" ] || skip "$keyring missing (debian-archive-keyring)"
	echo "deb [signed-by=$keyring] $uri $suite main" >"$apt_dir/sources.list"
	apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
		-o APT::Get::List-Cleanup=false -o Debug::NoLocking=true -o APT::Sandbox::User=root)
	apt-get "${apt_opts[@]}" -qq update >&2 || skip "apt-get update of $suite from the machine's archive failed"
	(cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]}" >&2) \
		|| skip "apt-get download ${pkgs[*]} from $suite failed"
fi

deb=$(ls "$apt_dir/debs/systemd-boot-efi_"*.deb | sort -V | tail -n1)
version=$(dpkg-deb -f "$deb" Version)
root=$apt_dir/root-$version
if [ ! -d "$root" ]; then
	tmp=$(mktemp -d "$apt_dir/.root.XXXXXX")
	for p in "${pkgs[@]}"; do
		dpkg-deb -x "$(ls "$apt_dir/debs/${p}_"*.deb | sort -V | tail -n1)" "$tmp"
	done
	mv -T "$tmp" "$root" 2>/dev/null || rm -rf "$tmp"
fi
echo "fetch-newer-systemd: systemd-boot-efi $version from $suite" >&2
echo "$root"
