# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared by run-e2e.sh, run-diff.sh and run-system.sh (sourced; they define $work, $py, die).

# apt_download
. "$(dirname "${BASH_SOURCE[0]}")/lib-apt.sh"

# The same route as the fixture generator: the metapackage's dependency names the versioned image
# package; download it once into the cache and extract boot/vmlinuz-* with dpkg-deb.
# Prints the path of the vmlinuz and nothing else on stdout (callers read it with $(find_kernel));
# everything else goes to stderr: the function's stdout is fd 3, its fd 1 is stderr.
find_kernel() {
	if [ -n "${KEXECD_FIXTURES:-}" ] && [ -r "$KEXECD_FIXTURES/vmlinuz" ]; then
		echo "$KEXECD_FIXTURES/vmlinuz" >&3
		return 0
	fi
	local cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
	if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
		cache=$work/cache
		mkdir -p "$cache"
	fi
	# shellcheck disable=SC2034 # apt_download's options: none, the machine's apt
	local pkg deb apt_opts=()
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*-amd64\)$/\1/p' | head -n1)
	[ -n "$pkg" ] || return 1
	deb=$(ls "$cache/${pkg}_"*_amd64.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		# The .deb appears in the cache only once complete.
		apt_download "$cache" "$pkg" || return 1
		deb=$(ls "$cache/${pkg}_"*_amd64.deb 2>/dev/null | head -n1 || true)
		[ -n "$deb" ] || return 1
	fi
	# Extracted once next to the .deb, in the fixture generator's layout (<deb>.vmlinuz/vmlinuz-*):
	# decompressing the whole package takes ~15 s on a loaded machine, and both reuse it.
	local xcache=$deb.vmlinuz vmlinuz
	vmlinuz=$(ls "$xcache"/vmlinuz-* 2>/dev/null | head -n1 || true)
	if [ -z "$vmlinuz" ]; then
		local x
		x=$(mktemp -d "$cache/.build-e2e-extract.XXXXXX")
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$x" --wildcards './boot/vmlinuz-*' './boot/config-*' \
			|| { rm -rf "$x"; return 1; }
		# kexecd and kexec-tools' -s need kexec_file_load built in, not as a module.
		if ! grep -q '^CONFIG_KEXEC_FILE=y' "$x"/boot/config-*; then
			echo "e2e: $pkg has no CONFIG_KEXEC_FILE=y" >&2
			rm -rf "$x"
			return 1
		fi
		mkdir -p "$x/v"
		mv "$x"/boot/vmlinuz-* "$x/v/"
		# Another process may have won the race; then use its copy.
		mv -T "$x/v" "$xcache" 2>/dev/null || true
		rm -rf "$x"
		vmlinuz=$(ls "$xcache"/vmlinuz-* 2>/dev/null | head -n1 || true)
		[ -n "$vmlinuz" ] || return 1
	fi
	echo "$vmlinuz" >&3
} 3>&1 1>&2


# Copy a binary and every library ldd resolves for it (plus the loader) to the same paths in
# the image, as dracut does. The image is usr-merged like the host, so /lib paths land in /usr/lib.
install_bin() { # $1 = root, $2 = source binary, $3 = destination path in the image
	local root=$1 src=$2 dst=$3 lib deps
	mkdir -p "$root$(dirname "$dst")"
	# Debug info only slows packing and unpacking the image under TCG.
	rm -f "$root$dst"
	strip --strip-debug -o "$root$dst" "$src" 2>/dev/null || cp -L "$src" "$root$dst"
	chmod 0755 "$root$dst"
	# Static binaries (busybox-like) have nothing to resolve; ldd says so and fails.
	if ! deps=$(LC_ALL=C ldd "$src" 2>&1); then
		grep -q 'not a dynamic executable' <<<"$deps" && return 0
		die "ldd $src failed: $deps"
	fi
	if grep -q 'not found' <<<"$deps"; then
		die "$src needs libraries ldd cannot find: $(grep 'not found' <<<"$deps" | tr -s ' \t\n' ' ')"
	fi
	for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<<"$deps"); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

# run_or_skip VAR CMD...: VAR=$(CMD...), for the cache builders, which print only their result and
# exit 77 with their reason when they cannot run: that is passed on (the caller defines skip, die).
run_or_skip() {
	local outvar=$1 rc=0 val
	shift
	val=$("$@") || rc=$?
	[ $rc = 77 ] && skip "$(basename "$1") could not run (reason above)"
	[ $rc = 0 ] || die "$(basename "$1") failed (rc=$rc)"
	printf -v "$outvar" '%s' "$val"
}

# package_and_depends CACHE: sets deb (KEXECD_DEB, or build-deb.sh's cached build of this tree)
# and depends, the package's plain dependencies the image must carry (the guest has no network):
# the shared libraries, polkitd, systemd; make-debian-image.sh drops what it installs anyway. An
# alternative ("a | b") is the system bus, which the image has.
package_and_depends() {
	if [ -n "${KEXECD_DEB:-}" ]; then
		deb=$KEXECD_DEB
	else
		run_or_skip deb "$(dirname "${BASH_SOURCE[0]}")/build-deb.sh" "$1"
	fi
	# The helpers print only their result on stdout; anything else there is their bug.
	[ -f "$deb" ] || die "build-deb.sh printed '$deb', not the path of a .deb"
	mapfile -t depends < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | grep -v '|' | sed 's/(.*)//; s/[[:space:]]//g' |
		grep . | LC_ALL=C sort -u)
}
