#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Build kexecd's Debian package the way the README says (dpkg-buildpackage from debian/), from a
# clean copy of the source tree (the files git tracks, plus new ones it does not ignore), and
# cache it under CACHE/deb/<key>/, where the key hashes those files (see below): the system e2e and the
# lintian test of the same tree share one build. DEB_BUILD_OPTIONS=nocheck: the unit suite runs
# in its own meson tests already.
#
# With RELEASE trixie the package is built the same way inside the Debian 13 build root
# (tests/trixie/make-build-root.sh; a chroot in private namespaces, as root): its shlibs, so its
# Depends, are trixie's (libsdbus-c++2, …). It is cached apart, under CACHE/deb/trixie-<key>/.
#
# usage: build-deb.sh CACHE [RELEASE]      prints the .deb's path; RELEASE: host (default) | trixie
# exit 77 with a reason when the packaging tools (or the trixie root) are missing.
set -euo pipefail
# The caller reads the path with $(…): it is the only line on stdout (fd 3 here); everything else
# goes to stderr.
exec 3>&1 1>&2

cache=${1:?usage: build-deb.sh CACHE [RELEASE]}
release=${2:-host}
here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
skip() { echo "build-deb: $*" >&2; exit 77; }

[ -d "$srcroot/debian" ] || skip "$srcroot has no debian/"
case "$release" in
host)
	command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage not found (install dpkg-dev)"
	command -v dh >/dev/null || skip "dh not found (install debhelper)"
	;;
trixie)
	[ "$(id -u)" = 0 ] || skip "building in the trixie root needs root"
	rc=0
	root=$("$here/../trixie/make-build-root.sh" "$cache") || rc=$?
	[ $rc = 77 ] && skip "no trixie build root (reason above)"
	[ $rc = 0 ] || exit $rc
	;;
*) echo "build-deb: unknown release '$release' (host | trixie)" >&2; exit 1 ;;
esac

# The file list: git's view when this is a checkout (build directories are ignored there), else
# everything but build directories.
list_files() {
	if git -C "$srcroot" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# A tracked file deleted in the work tree is not part of the tree.
		git -C "$srcroot" ls-files -z --cached --others --exclude-standard |
			(cd "$srcroot" && while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done) |
			sort -zu
	else
		(cd "$srcroot" && find . -path './build*' -prune -o -path './.git' -prune -o -type f -printf '%P\0' | sort -z)
	fi
}
# The key leaves out what cannot change the package: the tests (the package is built with
# -Dtests=disabled: tests/meson.build stops at its first line, and shell-completion/ registers
# its test scripts only with tests), the developer scripts and CI (nothing installs them) and
# the Markdown docs. So editing an e2e script does not rebuild the package.
key=$(cd "$srcroot" && list_files |
	grep -zv -e '^tests/.*/' -e '^shell-completion/test-' -e '^scripts/' -e '^\.ci/' -e '\.md$' |
	xargs -0 -r sha256sum -- |
	sha256sum | cut -c1-16)
[ "$release" = host ] || key=$release-$key
dir=$cache/deb/$key
. "$here/lib-apt.sh"
cache_lock "$cache" "deb-$key"
# The package is built in CACHE/deb/.build-*, and appears at $dir complete, by one rename.
built_deb() { ls "$dir"/kexecd_*.deb 2>/dev/null | head -n1 || true; }
deb=$(built_deb)
if [ -n "$deb" ]; then
	echo "$deb" >&3
	exit 0
fi

mkdir -p "$cache/deb"
tmp=$(mktemp -d "$cache/deb/.build-$key.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/kexecd"
(cd "$srcroot" && list_files | tar --null -T - -cf -) | tar -xf - -C "$tmp/kexecd"

t0=$SECONDS
echo "build-deb: building the package from $srcroot (key $key)" >&2
build() {
	if [ "$release" = host ]; then
		(cd "$tmp/kexecd" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -b -uc -us)
	else
		# The copy is the root's /work; dpkg-buildpackage writes the .deb next to it.
		"$here/../trixie/run-in-root.sh" "$root" "$tmp" "$tmp" /bin/sh -c \
			"cd /work/kexecd && DEB_BUILD_OPTIONS='nocheck parallel=$(nproc)' dpkg-buildpackage -b -uc -us"
	fi
}
# 3>&-: nothing the build leaves running may hold the caller's $(…) open.
if ! build >"$tmp/build.log" 2>&1 3>&-; then
	tail -n 40 "$tmp/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
fi
mkdir "$tmp/out"
mv "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp"/*.changes "$tmp/build.log" "$tmp/out/"
# A $dir without its .deb (not made by this script) would block the rename; one with it is
# another build's of the same tree, and is used as it is.
[ -n "$(built_deb)" ] || rm -rf "$dir"
mv -T "$tmp/out" "$dir" 2>/dev/null || true
deb=$(built_deb)
[ -n "$deb" ] || { echo "build-deb: no kexecd_*.deb in $dir after the rename" >&2; exit 1; }
echo "build-deb: built in $((SECONDS - t0)) s" >&2
echo "$deb" >&3
