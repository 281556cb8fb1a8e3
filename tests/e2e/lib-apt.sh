# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# A private apt for packages from another suite of the machine's own Debian archive, without
# touching the system's apt state: sources list, lists and cache under one directory. The archive
# is read from the machine's apt sources (deb822 URIs: or one-line sources.list), never written
# here. Sourced by fetch-newer-systemd.sh and tests/kernel/prepare-kernel.sh.

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

# private_apt DIR SUITE: sets the array apt_opts for apt-get/apt-cache on DIR. With
# --write-sources also writes DIR/sources.list for SUITE (fails without an archive or keyring).
private_apt() {
	local apt_dir=$1 suite=$2 write=${3:-}
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
	apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
		-o APT::Get::List-Cleanup=false -o Debug::NoLocking=true -o APT::Sandbox::User=root)
	[ "$write" = --write-sources ] || return 0
	local uri keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	uri=$(mirror_uri | head -n1)
	[ -n "$uri" ] || { echo "no Debian archive found in this machine's apt sources" >&2; return 1; }
	[ -r "$keyring" ] || { echo "$keyring missing (debian-archive-keyring)" >&2; return 1; }
	echo "deb [signed-by=$keyring] $uri $suite main" >"$apt_dir/sources.list"
}
