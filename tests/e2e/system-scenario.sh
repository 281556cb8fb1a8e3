#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The system e2e's scenario, run inside a real Debian system (make-debian-image.sh) by the
# kexecd-e2e.service oneshot: systemd is PID 1, logind, polkit and the system bus are Debian's,
# and kexecd comes from its .deb. run-system.sh put this file, env, the .deb and the UKIs into
# /root/e2e. It prints E2E-PASS/E2E-FAIL lines and command output between E2E-BEGIN name /
# E2E-END name rc=N on the console (the serial port); check-e2e.py asserts on them and on the
# second kernel's KEXECD-E2E-SECOND-STAGE line.
#
# Runs once per boot, and again after a soft-reboot (systemd >= 254): the phase is kept in
# /var/lib/kexecd-e2e, which survives both.
set -u
E=/root/e2e
# FLAVOR=252|254|257
. "$E/env"
state=/var/lib/kexecd-e2e
mkdir -p "$state"
phase=$(cat "$state/phase" 2>/dev/null || echo install)

FAILED=0
say() { echo "E2E: [$(cut -d' ' -f1 /proc/uptime)] $*"; }
pass() { echo "E2E-PASS $*"; }
fail() { echo "E2E-FAIL $*"; FAILED=1; }
# capture NAME CMD...: stdout and stderr between markers, rc in the end line; sets $out and $rc.
capture() {
	local name=$1
	shift
	out=$("$@" 2>&1)
	rc=$?
	echo "E2E-BEGIN $name"
	printf '%s\n' "$out"
	echo "E2E-END $name rc=$rc"
}
as_alice() { runuser -u alice -- "$@"; }
as_bob() { runuser -u bob -- "$@"; }
finish() {
	if [ "$FAILED" != 0 ]; then
		capture journal-kexecd journalctl -b --no-pager -o short-monotonic -u kexecd -u polkit -u systemd-logind
	fi
	echo "E2E-DONE phase=$phase failed=$FAILED"
	sync
}
expect_loaded() { # $1 = expected kexec_loaded, $2 = check name
	local v
	v=$(cat /sys/kernel/kexec_loaded)
	if [ "$v" = "$1" ]; then pass "$2 kexec_loaded=$v"; else fail "$2 kexec_loaded=$v expected=$1"; fi
}
# The staged UKI's digest must be in `status --json` (what a restart or soft-reboot must keep).
uki=/efi/EFI/Linux/kexecd-e2e.efi
uki_sha=$(sha256sum "$E/e2e-uki.efi" | cut -d' ' -f1)
uki2_sha=$(sha256sum "$E/e2e-uki2.efi" | cut -d' ' -f1)
expect_staged() { # $1 = check name, $2 = sha256
	local s
	s=$(kexecctl --json status 2>&1)
	if grep -q "$2" <<<"$s"; then pass "$1"; else fail "$1: $2 not in status: $(tr -s ' \n' ' ' <<<"$s" | cut -c1-300)"; fi
}

say "phase $phase, $(systemctl --version | head -n1), kernel $(uname -r)"

case "$phase" in
install)
	# --- the package: installing starts nothing, stages nothing ------------------------------
	capture dpkg-install dpkg -i "$E"/kexecd_*.deb
	[ "$rc" = 0 ] && pass dpkg-install || fail "dpkg-install rc=$rc"
	state_after=$(systemctl is-active kexecd.service)
	[ "$state_after" = inactive ] && pass "install-starts-nothing" || fail "install-starts-nothing: kexecd is $state_after"
	expect_loaded 0 install-stages-nothing
	# The unit is known to systemd without a manual daemon-reload (postinst did it).
	if systemctl show -p LoadState --value kexecd.service | grep -qx loaded; then
		pass unit-loaded
	else
		fail "unit-loaded: $(systemctl show -p LoadState --value kexecd.service)"
	fi

	# --- users, polkit rule, the ESP -----------------------------------------------------------
	useradd -m alice && useradd -m bob
	mkdir -p /etc/polkit-1/rules.d
	cat >/etc/polkit-1/rules.d/50-kexecd-e2e.rules <<'EOF'
// kexecd e2e: alice may use every kexecd action without a password; bob only has the defaults.
polkit.addRule(function(action, subject) {
	if (action.id.indexOf("org.kexecd1.") == 0 && subject.user == "alice")
		return polkit.Result.YES;
});
EOF
	# The image's ESP directory, with a global addon for now; the UKI comes after kernel-install.
	mkdir -p /efi/EFI/Linux /efi/loader/addons
	cp "$E/a.addon.efi" /efi/loader/addons/a.addon.efi

	# --- kernel-install: after an add the plugin stages the default entry, after a remove of the
	# staged kernel it unstages ---------------------------------------------------------------
	mkdir -p /etc/kexecd /etc/kernel/install.d
	printf '[Manager]\nStageOnInstall=yes\n' >/etc/kexecd/kexecd.conf
	echo layout=uki >/etc/kernel/install.conf
	# systemd 254's 60-ukify.install is Python, which the image does not have; the UKI is
	# ready-made, so there is nothing for it to build. Masked as kernel-install(8) documents.
	ln -sf /dev/null /etc/kernel/install.d/60-ukify.install
	# systemd 252 has no 90-uki-copy.install (253 brought it): the part of it this needs, so that
	# on both versions the new UKI lands on the ESP and becomes the default entry.
	if [ ! -e /usr/lib/kernel/install.d/90-uki-copy.install ]; then
		cat >/etc/kernel/install.d/90-uki-copy.install <<'EOF'
#!/bin/sh
# systemd >= 253's 90-uki-copy.install, reduced: the UKI to and from $BOOT_ROOT/EFI/Linux.
[ "$KERNEL_INSTALL_LAYOUT" = uki ] || exit 0
dst="$KERNEL_INSTALL_BOOT_ROOT/EFI/Linux/$KERNEL_INSTALL_ENTRY_TOKEN-$2.efi"
case "$1" in
add) mkdir -p "${dst%/*}" && install -m 0644 "$4" "$dst" ;;
remove) rm -f "$dst" ;;
esac
EOF
		chmod 0755 /etc/kernel/install.d/90-uki-copy.install
	fi
	# The version is the UKI's own (.uname), as a kernel package would install it.
	kver=$(kexecctl inspect "$E/e2e-uki2.efi" | sed -n 's/^ *Kernel version: //p')
	capture kernel-install env BOOT_ROOT=/efi kernel-install --verbose add "$kver" "$E/e2e-uki2.efi"
	[ "$rc" = 0 ] && pass kernel-install-add || fail "kernel-install-add rc=$rc"
	expect_loaded 1 kernel-install-loaded
	expect_staged kernel-install-staged-uki2 "$uki2_sha"
	capture kernel-install-remove env BOOT_ROOT=/efi kernel-install --verbose remove "$kver"
	[ "$rc" = 0 ] && pass kernel-install-remove || fail "kernel-install-remove rc=$rc"
	expect_loaded 0 kernel-install-remove-unstaged
	rm -f /etc/kexecd/kexecd.conf

	# The UKI alice stages, and a per-UKI addon (systemd-stub order: global ones first), which
	# kexecctl finds itself as systemd-stub would.
	mkdir -p /efi/EFI/Linux/kexecd-e2e.efi.extra.d
	cp "$E/e2e-uki.efi" "$uki"
	cp "$E/b.addon.efi" /efi/EFI/Linux/kexecd-e2e.efi.extra.d/b.addon.efi

	# --- a user the rule does not allow --------------------------------------------------------
	capture bob-stage as_bob kexecctl --json --no-ask-password stage "$uki"
	if [ "$rc" = 3 ] && grep -q 'org.freedesktop.DBus.Error.AccessDenied' <<<"$out"; then
		pass bob-access-denied
	else
		fail "bob-access-denied rc=$rc"
	fi
	expect_loaded 0 bob-staged-nothing
	# Reading is open to everyone (bus policy): bob may ask for the status.
	capture bob-status as_bob kexecctl status
	[ "$rc" = 0 ] && pass bob-status || fail "bob-status rc=$rc"
	if systemctl show -p ActiveState --value kexecd.service | grep -qx active; then
		pass dbus-activated
	else
		fail "dbus-activated: kexecd is $(systemctl show -p ActiveState --value kexecd.service)"
	fi

	# --- alice stages the ESP's UKI; its addons come along ------------------------------------
	capture stage as_alice kexecctl --no-ask-password stage "$uki"
	[ "$rc" = 0 ] && pass stage || fail "stage rc=$rc"
	expect_loaded 1 stage-loaded
	capture status as_alice kexecctl --json status
	[ "$rc" = 0 ] && pass status-json || fail "status-json rc=$rc"
	capture status-text as_alice kexecctl status
	# The sandbox must not hide what the verdicts read (/proc/keys for the kernel's keyrings,
	# efivarfs where there is one): root's `inspect` runs the same engine unconfined.
	verdicts() { grep -E 'verdict, (uki|\.linux):' <<<"$1" | sed 's/^[[:space:]]*//'; }
	staged_verdicts=$(verdicts "$out")
	capture inspect kexecctl inspect "$uki"
	if [ -n "$staged_verdicts" ] && [ "$staged_verdicts" = "$(verdicts "$out")" ]; then
		pass sandbox-verdicts-match
	else
		fail "sandbox-verdicts-match: the unit's verdicts differ from unconfined root's"
	fi

	# --- the journal has kexecd's structured fields for the staging ----------------------------
	capture journal-stage journalctl -b --no-pager -o verbose SYSLOG_IDENTIFIER=kexecd "KEXECD_PATH=$uki"
	if grep -q "KEXECD_PATH=$uki" <<<"$out" && grep -q 'CODE_FILE=' <<<"$out" && grep -q '_SYSTEMD_UNIT=kexecd.service' <<<"$out"; then
		pass journal-fields
	else
		fail journal-fields
	fi

	# --- a restart keeps what is staged -------------------------------------------------------
	pid_before=$(systemctl show -p MainPID --value kexecd.service)
	systemctl restart kexecd.service
	pid_after=$(systemctl show -p MainPID --value kexecd.service)
	[ "$pid_before" != "$pid_after" ] && pass "restart pid $pid_before -> $pid_after" || fail "restart: MainPID still $pid_after"
	expect_loaded 1 restart-loaded
	expect_staged restart-keeps-staged "$uki_sha"

	# --- a block inhibitor refuses a non-root caller's reboot, and is named ------------------
	# A kexecd that does not know org.kexecd1.Error.Inhibited asks logind as root without
	# ROOT_CHECK_INHIBITORS, and logind reboots past the inhibitor: that would end the run here,
	# so such a kexecd fails the check without trying.
	if grep -q 'org.kexecd1.Error.Inhibited' /usr/share/dbus-1/interfaces/org.kexecd1.Manager.xml; then
		systemd-inhibit --what=shutdown --mode=block --who=kexecd-e2e-inhibitor --why="e2e holds the shutdown" sleep 600 &
		inhibitor=$!
		sleep 2
		capture inhibitors systemd-inhibit --list --no-pager
		capture inhibited-reboot as_alice kexecctl --no-ask-password reboot
		# Reaching here at all means the reboot was refused.
		if [ "$rc" != 0 ] && grep -q kexecd-e2e-inhibitor <<<"$out"; then
			pass inhibited-reboot-refused
		else
			fail "inhibited-reboot-refused rc=$rc"
		fi
		kill "$inhibitor" 2>/dev/null
		wait "$inhibitor" 2>/dev/null
	else
		fail "inhibited-reboot-refused: not tried, this kexecd has no org.kexecd1.Error.Inhibited"
	fi
	expect_loaded 1 inhibited-still-loaded

	# --- soft-reboot: systemd >= 254 restarts userspace; 252 answers Unsupported --------------
	boot_id=$(cat /proc/sys/kernel/random/boot_id)
	echo "$boot_id" >"$state/boot-id"
	if [ "${E2E_SOFT_REBOOT:-yes}" = no ]; then
		say "soft-reboot not tried (KEXECD_E2E_SOFT_REBOOT=no)"
		echo reboot >"$state/phase"
		phase=reboot
	elif [ "$FLAVOR" = 252 ]; then
		capture soft-reboot as_alice kexecctl --no-ask-password --json soft-reboot
		if [ "$rc" = 9 ] && grep -q 'org.kexecd1.Error.Unsupported' <<<"$out"; then
			pass soft-reboot-unsupported
		else
			fail "soft-reboot-unsupported rc=$rc"
		fi
		echo reboot >"$state/phase"
		phase=reboot
	else
		echo soft-rebooted >"$state/phase"
		sync
		capture soft-reboot as_alice kexecctl --no-ask-password soft-reboot
		# On success systemd is already stopping us: this service runs again after it, and says
		# so there (under load the stop can come before a line printed here).
		if [ "$rc" != 0 ]; then
			fail "soft-reboot rc=$rc"
			echo reboot >"$state/phase"
			phase=reboot
		else
			finish
			exit 0
		fi
	fi
	;;
soft-rebooted)
	# Only a soft-reboot request that kexecctl saw succeed leads here (a failed one sets the
	# phase to reboot).
	pass soft-reboot-requested
	# Same kernel (same boot ID), userspace started anew, and the staged kernel is still there.
	if [ "$(cat /proc/sys/kernel/random/boot_id)" = "$(cat "$state/boot-id")" ]; then
		pass soft-reboot-same-kernel
	else
		fail "soft-reboot-same-kernel: the boot ID changed (a full reboot?)"
	fi
	expect_loaded 1 soft-reboot-loaded
	expect_staged soft-reboot-keeps-staged "$uki_sha"
	echo reboot >"$state/phase"
	phase=reboot
	;;
kernel-installed)
	# 257 only: the plain `systemctl reboot` kexec'ed into the UKI that kernel-install built.
	if [ "$(cat /proc/sys/kernel/random/boot_id)" != "$(cat "$state/boot-id")" ]; then
		pass plain-reboot-new-boot
	else
		fail "plain-reboot-new-boot: the boot ID did not change"
	fi
	if grep -qw kexecd.e2e=kernel-install /proc/cmdline; then
		pass "plain-reboot-kexeced-kernel-install-uki $(cat /proc/cmdline)"
	else
		fail "plain-reboot-kexeced-kernel-install-uki: /proc/cmdline is $(cat /proc/cmdline)"
	fi
	# kexecd saw the plain reboot kexec its kernel (PrepareForShutdown) and wrote its record, so
	# this boot knows it is no firmware boot (issue 26).
	capture this-boot kexecctl status
	if grep -q 'This boot:.*kexec by kexecd' <<<"$out"; then
		pass this-boot-is-kexec
	else
		fail "this-boot-is-kexec: status does not say this boot is a kexec by kexecd"
	fi
	capture kernel-install-real-remove env BOOT_ROOT=/efi kernel-install --verbose remove "$(uname -r)"
	[ "$rc" = 0 ] && pass kernel-install-real-remove || fail "kernel-install-real-remove rc=$rc"
	# Back to the scenario's UKI for the last reboot, which check-e2e.py compares byte for byte.
	mkdir -p /efi/EFI/Linux/kexecd-e2e.efi.extra.d
	cp "$E/e2e-uki.efi" "$uki"
	cp "$E/b.addon.efi" /efi/EFI/Linux/kexecd-e2e.efi.extra.d/b.addon.efi
	capture restage as_alice kexecctl --no-ask-password stage "$uki"
	[ "$rc" = 0 ] && pass restage || fail "restage rc=$rc"
	expect_staged restage-staged "$uki_sha"
	phase=final
	;;
esac

# --- 257: a real kernel package's kernel through kernel-install (layout=uki, trixie's ukify),
# staged by kexecd's plugin, and a plain `systemctl reboot` that kexecs into it -----------------
if [ "$phase" = reboot ] && [ "$FLAVOR" = 257 ]; then
	kver=$(uname -r)
	# The running kernel is the image's own package (/boot/vmlinuz-KVER, its initramfs-tools
	# initrd); the UKI gets this boot's command line and a marker the next boot looks for.
	echo "$(cat /proc/cmdline) kexecd.e2e=kernel-install" >/etc/kernel/cmdline
	rm -f /etc/kernel/install.d/60-ukify.install
	# The scenario's UKI leaves the ESP (it stays staged until the plugin replaces it), so the
	# new UKI is the default entry the plugin stages.
	rm -rf "$uki" /efi/EFI/Linux/kexecd-e2e.efi.extra.d
	printf '[Manager]\nStageOnInstall=yes\n' >/etc/kexecd/kexecd.conf
	capture kernel-install-real env BOOT_ROOT=/efi kernel-install --verbose add "$kver" "/boot/vmlinuz-$kver" "/boot/initrd.img-$kver"
	[ "$rc" = 0 ] && pass kernel-install-real-add || fail "kernel-install-real-add rc=$rc"
	rm -f /etc/kexecd/kexecd.conf
	ki_uki=$(ls /efi/EFI/Linux/*"-$kver.efi" 2>/dev/null | head -n1)
	if [ -n "$ki_uki" ] && kexecctl inspect "$ki_uki" | grep -q 'kexecd.e2e=kernel-install'; then
		pass "kernel-install-real-uki $ki_uki"
	else
		fail "kernel-install-real-uki: no UKI for $kver with the marker on the ESP ($(ls /efi/EFI/Linux))"
	fi
	if [ -n "$ki_uki" ]; then
		expect_staged kernel-install-real-staged "$(sha256sum "$ki_uki" | cut -d' ' -f1)"
	else
		fail "kernel-install-real-staged: no UKI to look for"
	fi
	cat /proc/sys/kernel/random/boot_id >"$state/boot-id"
	echo kernel-installed >"$state/phase"
	finish
	capture plain-reboot systemctl reboot
	[ "$rc" = 0 ] && exit 0
	# Not rebooting: the last reboot below still runs, and the checks above say what failed.
	fail "plain-reboot rc=$rc"
fi
[ "$phase" = final ] && phase=reboot

if [ "$phase" = reboot ]; then
	echo done >"$state/phase"
	capture status-before-reboot as_alice kexecctl status
	finish
	# systemd shuts down and kexecs into the staged kernel, which prints its marker line (through
	# kexecctl and logind's RebootWithFlags; 257 proved the plain `systemctl reboot` above).
	capture reboot as_alice kexecctl --no-ask-password reboot
	[ "$rc" = 0 ] && pass reboot-requested || fail "reboot rc=$rc"
	echo "E2E-DONE phase=reboot-call failed=$FAILED"
	[ "$FAILED" = 0 ] || systemctl poweroff
	exit 0
fi
if [ "$phase" = done ]; then
	# A plain reboot came back here instead of the staged kernel.
	fail "booted the system again instead of the staged kernel"
	finish
	systemctl poweroff
fi
