# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared by the e2e runners and tests/bench/reboot.sh (sourced; they define $work, $py, die).

# apt_download
. "$(dirname "${BASH_SOURCE[0]}")/lib-apt.sh"

# e2e_scratch NAME [--fresh]: sets work to KEXECD_E2E_WORK (emptied first with --fresh), or to a
# new temporary directory that is removed at exit when the run passed and KEXECD_E2E_KEEP is not 1;
# otherwise the exit says where the scratch is. It sets the EXIT trap.
e2e_scratch() {
	e2e_scratch_name=$1
	if [ -n "${KEXECD_E2E_WORK:-}" ]; then
		work=$KEXECD_E2E_WORK
		[ "${2:-}" = --fresh ] && rm -rf "$work"
		mkdir -p "$work"
		e2e_own_work=0
	else
		work=$(mktemp -d "${TMPDIR:-/tmp}/kexecd-$1.XXXXXX")
		e2e_own_work=1
	fi
	work=$(cd "$work" && pwd)
	trap e2e_scratch_cleanup EXIT
}
e2e_scratch_cleanup() {
	local rc=$?
	if [ "$e2e_own_work" = 1 ] && [ "$rc" = 0 ] && [ "${KEXECD_E2E_KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	else
		echo "$e2e_scratch_name: scratch directory kept: $work"
	fi
}

# make_marker_initrd OUT MARKER ORDER: a second-stage initrd (newc cpio) with static busybox
# ($busybox), stage2-init.sh as /init, the file etc/MARKER and the order tag ORDER in
# etc/kexecd-order (the last archive unpacked wins it); built under $tmp with $py.
make_marker_initrd() {
	local root="$tmp/root-$2" lib
	lib=$(dirname "${BASH_SOURCE[0]}")
	mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/etc"
	cp "$busybox" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	install -m 0755 "$lib/stage2-init.sh" "$root/init"
	echo "$2" >"$root/etc/$2"
	echo "$3" >"$root/etc/kexecd-order"
	"$py" "$lib/mkcpio.py" "$root" "$1" --node dev/console:c:5:1
}

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

# package_and_depends CACHE [RELEASE]: sets deb (KEXECD_DEB, or build-deb.sh's cached build of this
# tree for RELEASE: host, the default, or trixie)
# and depends, the package's plain dependencies the image must carry (the guest has no network):
# the shared libraries, polkitd, systemd; make-debian-image.sh drops what it installs anyway. An
# alternative ("a | b") is the system bus, which the image has.
package_and_depends() {
	if [ -n "${KEXECD_DEB:-}" ]; then
		deb=$KEXECD_DEB
	else
		run_or_skip deb "$(dirname "${BASH_SOURCE[0]}")/build-deb.sh" "$1" "${2:-host}"
	fi
	# The helpers print only their result on stdout; anything else there is their bug.
	[ -f "$deb" ] || die "build-deb.sh printed '$deb', not the path of a .deb"
	mapfile -t depends < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | grep -v '|' | sed 's/(.*)//; s/[[:space:]]//g' |
		grep . | LC_ALL=C sort -u)
}

# --- a real Debian system booted by OVMF and systemd-boot (run-assess.sh, tests/bench/reboot.sh) ---

# system_preflight CACHE TOOL...: skips (the caller's skip, exit 77) unless this machine can boot
# that system: root (mmdebstrap's root mode, debugfs on the image), qemu ($qemu), OVMF, the tools
# named, python3-pefile for ukify, and a writable CACHE.
system_preflight() {
	local cache=$1 tool
	shift
	[ "$(id -u)" = 0 ] || skip "needs root (mmdebstrap's root mode, debugfs on the image)"
	command -v "$qemu" >/dev/null || skip "$qemu not found (install qemu-system-x86)"
	[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] && [ -r /usr/share/OVMF/OVMF_VARS_4M.fd ] ||
		skip "OVMF_CODE_4M.fd not found (install ovmf)"
	for tool in debugfs zstd sfdisk mkfs.fat mcopy file "$@"; do
		command -v "$tool" >/dev/null || skip "$tool not found"
	done
	/usr/bin/python3 -c 'import pefile' 2>/dev/null || skip "python3-pefile not found (ukify needs it)"
	mkdir -p "$cache" || skip "cannot create $cache"
}

# system_inputs CACHE FLAVOR: what a booted Debian system needs, all cached: deb and depends
# (package_and_depends), image (make-debian-image.sh with those depends, so every caller of one
# flavor shares one image) and sd (fetch-newer-systemd.sh: systemd-boot and ukify from trixie).
system_inputs() {
	package_and_depends "$1"
	run_or_skip image "$(dirname "${BASH_SOURCE[0]}")/make-debian-image.sh" "$1" "$2" "${depends[@]}"
	run_or_skip sd "$(dirname "${BASH_SOURCE[0]}")/fetch-newer-systemd.sh" "$1"
}

# make_uki SD OUT KERNEL INITRD CMDLINE OS_RELEASE [UKIFY_OPTION...]: a UKI from trixie's ukify
# and stub (fetch-newer-systemd.sh's root SD); further options (PCR signing) are passed on.
make_uki() {
	local sd=$1 out=$2 kernel=$3 initrd=$4 cmdline=$5 osrel=$6 kver
	shift 6
	kver=$(file -bL "$kernel" | sed -n 's/.*version \([^ ]*\).*/\1/p')
	/usr/bin/python3 "$sd/usr/bin/ukify" build --stub "$sd/usr/lib/systemd/boot/efi/linuxx64.efi.stub" \
		--linux "$kernel" --initrd "$initrd" --cmdline "$cmdline" --os-release "@$osrel" --uname "$kver" \
		"$@" --output "$out" >/dev/null 2>"$out.log" || die "ukify build $(basename "$out"): $(cat "$out.log")"
}

# make_esp_disk DISK SD FILE=ESP_PATH...: a 200 MiB GPT disk whose one partition is an ESP with
# systemd-boot (from SD) as the removable-media loader, `timeout 0`, and the files given. No loop
# mount: mkfs.fat on an image file, mtools, dd into the partition.
make_esp_disk() {
	local disk=$1 sd=$2 fat=$1.fat pair
	shift 2
	truncate -s 200M "$disk"
	printf 'label: gpt\nstart=2048, size=380928, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="ESP"\n' |
		sfdisk -q "$disk"
	truncate -s 186M "$fat"
	mkfs.fat -F 32 -n ESP "$fat" >/dev/null
	printf 'timeout 0\n' >"$fat.loader.conf"
	MTOOLS_SKIP_CHECK=1 mmd -i "$fat" ::/EFI ::/EFI/BOOT ::/EFI/Linux ::/loader
	MTOOLS_SKIP_CHECK=1 mcopy -i "$fat" "$sd/usr/lib/systemd/boot/efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
	MTOOLS_SKIP_CHECK=1 mcopy -i "$fat" "$fat.loader.conf" ::/loader/loader.conf
	for pair in "$@"; do
		MTOOLS_SKIP_CHECK=1 mcopy -i "$fat" "${pair%%=*}" "::${pair#*=}"
	done
	dd if="$fat" of="$disk" bs=1M seek=1 conv=notrunc status=none
	rm -f "$fat" "$fat.loader.conf"
}

# make_root_disk DISK IMAGE SCENARIO FILE=GUEST_PATH...: the cached image (make-debian-image.sh)
# unpacked to DISK, with the ESP mounted at /efi, no getty on the serial console (the scenario
# owns it), SCENARIO as /root/e2e/scenario.sh (kexecd-e2e.service runs it after multi-user.target)
# and the files given, put in with debugfs (no loop mount).
make_root_disk() {
	local disk=$1 image=$2 scenario=$3 pair
	shift 3
	zstd -q -f -d "$image/rootfs.ext4.zst" -o "$disk"
	echo "/dev/vda1 /efi vfat umask=0077 0 2" >"$disk.fstab"
	{
		echo "symlink /etc/systemd/system/serial-getty@ttyS0.service /dev/null"
		echo "mkdir /efi"
		echo "rm /etc/fstab"
		echo "write $disk.fstab /etc/fstab"
		echo "mkdir /root/e2e"
		echo "write $scenario /root/e2e/scenario.sh"
		for pair in "$@"; do echo "write ${pair%%=*} ${pair#*=}"; done
	} >"$disk.debugfs"
	debugfs -w -f "$disk.debugfs" "$disk" >"$disk.debugfs.log" 2>&1 ||
		die "debugfs failed: $(cat "$disk.debugfs.log")"
	rm -f "$disk.fstab" "$disk.debugfs" "$disk.debugfs.log"
}

# ovmf_vm_args VARS ESP_DISK ROOT_DISK: sets vm_args, the qemu options of that system under TCG
# (never KVM on this machine kind): OVMF's code and a copy of its variables as pflash, the ESP
# disk as vda, the root as vdb, no default devices and no monitor. The caller adds the serial.
ovmf_vm_args() {
	vm_args=(-accel tcg -cpu max -m 2048 -smp 1 -machine q35 -nodefaults -monitor none
		-drive "if=pflash,format=raw,unit=0,file=/usr/share/OVMF/OVMF_CODE_4M.fd,readonly=on"
		-drive "if=pflash,format=raw,unit=1,file=$1"
		-drive "file=$2,format=raw,if=virtio" -drive "file=$3,format=raw,if=virtio")
}
