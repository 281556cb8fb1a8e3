#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Build kexecd's Debian package the way the README says (dpkg-buildpackage from debian/), from a
# clean copy of the source tree (the files git tracks, plus new ones it does not ignore), and
# cache it under CACHE/deb/<key>/, where the key hashes those files (see below): the system e2e and the
# lintian test of the same tree share one build. DEB_BUILD_OPTIONS=nocheck: the unit suite runs
# in its own meson tests already.
#
# usage: build-deb.sh CACHE      prints the .deb's path
# exit 77 with a reason when the packaging tools are missing.
set -euo pipefail

cache=${1:?usage: build-deb.sh CACHE}
here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
skip() { echo "build-deb: $*" >&2; exit 77; }

command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage not found (install dpkg-dev)"
command -v dh >/dev/null || skip "dh not found (install debhelper)"
[ -d "$srcroot/debian" ] || skip "$srcroot has no debian/"

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
# -Dtests=disabled: tests/meson.build stops at its first line) and the Markdown docs. So
# editing an e2e script does not rebuild the package.
key=$(cd "$srcroot" && list_files | grep -zv -e '^tests/.*/' -e '\.md$' | xargs -0 -r sha256sum -- |
	sha256sum | cut -c1-16)
dir=$cache/deb/$key
deb=$(ls "$dir"/kexecd_*.deb 2>/dev/null | head -n1 || true)
if [ -n "$deb" ]; then
	echo "$deb"
	exit 0
fi

mkdir -p "$cache/deb"
tmp=$(mktemp -d "$cache/deb/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/kexecd"
(cd "$srcroot" && list_files | tar --null -T - -cf -) | tar -xf - -C "$tmp/kexecd"

t0=$SECONDS
echo "build-deb: building the package from $srcroot (key $key)" >&2
if ! (cd "$tmp/kexecd" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	dpkg-buildpackage -b -uc -us) >"$tmp/build.log" 2>&1; then
	tail -n 40 "$tmp/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
fi
mkdir -p "$dir.new"
mv "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp"/*.changes "$tmp/build.log" "$dir.new/"
rm -rf "$dir"
mv -T "$dir.new" "$dir"
echo "build-deb: built in $((SECONDS - t0)) s" >&2
ls "$dir"/kexecd_*.deb | head -n1
