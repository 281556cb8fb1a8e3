# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# A private apt for packages from another suite of the machine's own Debian archive, without
# touching the system's apt state: sources list, lists and cache under one directory. The archive
# is read from the machine's apt sources (deb822 URIs: or one-line sources.list), never written
# here. Sourced by fetch-newer-systemd.sh, make-debian-image.sh, lib-e2e.sh and
# tests/kernel/prepare-kernel.sh. Each function prints only its result on stdout.

# The machine's Debian archive: the URI of the apt source that carries this system's own suite,
# one line (deb822 sources first, then one-line ones).
mirror_uri() {
	local codename
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || return 1
	_mirror_uris "$codename" | head -n1
}

_mirror_uris() { # CODENAME: every candidate, best first
	local codename=$1 f
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
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v cn="$codename" '$1 == "deb" {
			i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) == cn) { print $i; exit } }' "$f"
	done
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

# apt_download DIR PKG...: `apt-get download` of PKG... into DIR, with the options in apt_opts
# (empty or unset: the machine's apt). apt-get writes each .deb under its final name while it
# downloads, so an interrupted download in DIR would pass for a cached package: it downloads
# into a temporary DIR/.build-download.* and renames the .debs into DIR once all are complete.
# apt-get's progress goes to stderr.
apt_download() {
	local dir=$1 tmp deb rc=0
	shift
	tmp=$(mktemp -d "$dir/.build-download.XXXXXX") || return 1
	(cd "$tmp" && apt-get ${apt_opts[@]+"${apt_opts[@]}"} -qq download "$@" >&2) || rc=$?
	if [ $rc = 0 ]; then
		for deb in "$tmp"/*.deb; do
			[ -e "$deb" ] || continue
			mv -f "$deb" "$dir/" || rc=$?
		done
	fi
	rm -rf "$tmp"
	return $rc
}

# cache_lock CACHE NAME: hold CACHE/.locks/NAME until the calling script exits (fd 9). The cache
# builders (build-deb.sh, make-debian-image.sh, make-build-root.sh, fetch-newer-systemd.sh) take
# it before looking for their result, so tests that run side by side build each thing once: the
# second one waits, then finds it complete.
cache_lock() {
	mkdir -p "$1/.locks" || return 1
	exec 9>"$1/.locks/$2"
	flock 9
}

# private_apt_foreign DIR SUITE ARCH: private_apt for another architecture's packages (arm64 on an
# amd64 machine) without `dpkg --add-architecture`: only ARCH's indexes in DIR/sources.list, and
# apt resolving against an empty dpkg status in DIR/state, as if for an empty ARCH system (so
# `apt-get -s install` names a package's whole dependency closure). Updates the lists; sets
# apt_opts. Used by scripts/cross/make-sysroot.sh and tests/fixtures/fetch-arm64-kernel.sh.
private_apt_foreign() {
	local apt_dir=$1 suite=$2 arch=$3
	private_apt "$apt_dir" "$suite" --write-sources || return 1
	sed -i "s/^deb \[/deb [arch=$arch /" "$apt_dir/sources.list"
	mkdir -p "$apt_dir/state"
	: >"$apt_dir/state/status"
	apt_opts+=(-o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
		-o "Dir::State=$apt_dir/state" -o "Dir::State::status=$apt_dir/state/status"
		-o APT::Install-Recommends=false)
	apt-get "${apt_opts[@]}" -qq update >&2
}

# foreign_download_only DIR SUITE ARCH PKG...: private_apt_foreign, then PKG... and their whole
# dependency closure downloaded into DIR's archive cache (apt renames each .deb into place only
# once it is complete, so a cached one is whole). Says which step failed on stderr; sets apt_opts.
foreign_download_only() {
	local apt_dir=$1 suite=$2 arch=$3
	shift 3
	private_apt_foreign "$apt_dir" "$suite" "$arch" ||
		{ echo "no private apt for $suite ($arch), or its update from the machine's archive failed" >&2; return 1; }
	apt-get "${apt_opts[@]}" -qq -y --download-only install "$@" >&2 ||
		{ echo "apt-get could not download $* ($arch) from $suite" >&2; return 1; }
}
