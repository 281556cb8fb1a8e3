#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The boot-assessment e2e's scenario (run-assess.sh), inside a real Debian system with systemd as
# PID 1 that OVMF and systemd-boot boot from a GPT ESP holding boot-counted UKIs. It runs once per
# boot (kexecd-e2e.service), keeps its phase in /var/lib/kexecd-e2e, and prints E2E-PASS/E2E-FAIL
# lines and E2E-STATE lines (what the firmware path and the kexecd path leave) on the serial
# console, which run-assess.sh checks.
#   boot 1 firmware  systemd-boot takes a try of kexecd-b+3.efi, systemd-bless-boot blesses it
#   boot 2 kexec     the same entry, counted again, through kexecd: kexecd takes the try,
#                    kexecd-bless-boot blesses it; the state must equal boot 1's
#   boot 3 kexec     into kexecd-a.efi (kernel A, older); staging b again must plan a kexec
#   boot 4 kexec     into kexecd-c+1.efi, whose boot fails boot-complete.target: no try back,
#                    StageDefault falls back to b
#   boot 5 firmware  systemd-boot boots b as well; then the firmware setup is asked for with b
#                    staged, and a kexec.target reboot (what systemctl reboot --firmware-setup is
#                    on systemd >= 255) must end in the firmware setup, not in b
# Measured boot (issue 27), in the same boots: boot 1 enrolls two LUKS2 volumes with
# systemd-cryptenroll and swtpm, one bound to PCR 7 and one to a signed PCR 11 policy, lists them
# in crypttab, and asserts kexecd's prediction (PCR 7 unlocks, PCR 11 would not, auto goes cold,
# --kexec refused with exit 15); the kexecs then pass --ignore-tpm. Boot 2 observes what the
# prediction said; boot 4's `reboot --auto` must go cold; boot 5, a firmware boot, unlocks both.
set -u
E=/root/e2e
state=/var/lib/kexecd-e2e
mkdir -p "$state"
phase=$(cat "$state/phase" 2>/dev/null || echo 1)
L=/efi/EFI/Linux
FAILED=0
say() { echo "E2E: [$(cut -d' ' -f1 /proc/uptime)] $*"; }
pass() { echo "E2E-PASS $*"; }
fail() { echo "E2E-FAIL $*"; FAILED=1; }
check() { # NAME ACTUAL EXPECTED
	if [ "$2" = "$3" ]; then pass "$1: $2"; else fail "$1: '$2', expected '$3'"; fi
}
capture() {
	local name=$1
	shift
	out=$("$@" 2>&1)
	rc=$?
	echo "E2E-BEGIN $name"
	printf '%s\n' "$out"
	echo "E2E-END $name rc=$rc"
}
next() { echo "$1" >"$state/phase"; sync; }
entries() { (cd $L && ls | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'); }
# Waits for boot-complete.target to be reached or to fail, then for the bless units to be done.
# (is-system-running says "starting" while this oneshot runs: the failed units say more.)
settle() {
	local i u
	for i in $(seq 1 120); do
		systemctl list-jobs --no-legend 2>/dev/null | grep -q -E 'boot-complete|bless-boot|e2e-health' || break
		sleep 1
	done
	for u in systemd-bless-boot.service kexecd-bless-boot.service; do
		for i in $(seq 1 60); do
			case "$(systemctl show -p ActiveState --value "$u")" in activating) sleep 1 ;; *) break ;; esac
		done
	done
}
# What a boot leaves: the ESP names, systemd-bless-boot's and kexecd's word, the system state.
report() { # LABEL
	settle
	echo "E2E-STATE $1 entries=$(entries)"
	echo "E2E-STATE $1 bless-status=$(/usr/lib/systemd/systemd-bless-boot status 2>&1 | head -n1)"
	# The volumes have their own line: a kexec leaves them otherwise than the firmware, by design.
	echo "E2E-STATE $1 system=boot-complete:$(systemctl is-active boot-complete.target) failed:$(systemctl list-units --failed --no-legend --plain 2>/dev/null | awk '{print $1}' | grep -v '^systemd-cryptsetup@' | tr '\n' ' ' | sed 's/ $//')"
	echo "E2E-STATE $1 volumes=$(volumes)"
	echo "E2E-STATE $1 booted=$(kexecctl --no-pager status | sed -n 's/^ *This boot: //p' | cut -d';' -f1)"
	echo "E2E-STATE $1 kexecd-bless-boot=$(/usr/libexec/kexecd-bless-boot status 2>&1 | sed -n 2p)"
	echo "E2E-STATE $1 units=sd-bless:$(systemctl show -p ConditionResult --value systemd-bless-boot.service)/$(systemctl show -p Result --value systemd-bless-boot.service) kexecd-bless:$(systemctl show -p ConditionResult --value kexecd-bless-boot.service)/$(systemctl show -p ActiveState --value kexecd-bless-boot.service)"
}
dry_run() { kexecctl --no-pager --json reboot --auto --dry-run "$@" 2>&1; }
# Whether each crypttab volume was unlocked in this boot, by its cryptsetup unit and its mapping.
volumes() {
	local v out=
	for v in pcr7 pcr11; do
		[ -e /etc/crypttab ] && grep -q "^$v " /etc/crypttab || { out+="$v:none "; continue; }
		out+="$v:$(systemctl show -p ActiveState --value "systemd-cryptsetup@$v.service")$([ -e /dev/mapper/$v ] && echo +mapped) "
	done
	echo "${out% }"
}
# The unlock check's verdict per volume, from the plan's tpm2 list (keys come sorted: verdict, then
# volume): "pcr11:needs_passphrase pcr7:unlocks".
tpm_verdicts() {
	sed -n '/"tpm2": \[/,$p' | grep -o '"\(verdict\|volume\)": "[^"]*"' | sed 's/^[^:]*: "//; s/"$//' |
		paste -d' ' - - | awk '{print $2 ":" $1}' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}
pcr() { tr -d '\n' </sys/class/tpm/tpm0/pcr-sha256/"$1" 2>/dev/null | cut -c1-16; }
# Boot 1: the volumes, enrolled as an admin would, and listed in crypttab (needed at boot).
enroll_volumes() {
	local d=/var/lib/kexecd-e2e/luks
	mkdir -p $d /etc/kexecd-e2e
	cp "$E/pcr7.img" "$E/pcr11.img" $d/
	cp "$E/pcrsig.json" "$E/pcr-public.pem" /etc/kexecd-e2e/
	capture enroll-pcr7 systemd-cryptenroll --unlock-key-file="$E/luks.key" --tpm2-device=auto \
		--tpm2-pcrs=7 $d/pcr7.img
	[ "$rc" = 0 ] && pass enroll-pcr7 || fail "enroll-pcr7 rc=$rc"
	capture enroll-pcr11 systemd-cryptenroll --unlock-key-file="$E/luks.key" --tpm2-device=auto \
		--tpm2-pcrs= --tpm2-public-key=/etc/kexecd-e2e/pcr-public.pem --tpm2-public-key-pcrs=11 $d/pcr11.img
	[ "$rc" = 0 ] && pass enroll-pcr11 || fail "enroll-pcr11 rc=$rc"
	# headless: a volume that does not unlock fails its unit instead of waiting at a prompt.
	printf '%s\n' "pcr7 $d/pcr7.img none tpm2-device=auto,headless=true" \
		"pcr11 $d/pcr11.img none tpm2-device=auto,tpm2-signature=/etc/kexecd-e2e/pcrsig.json,headless=true" \
		>>/etc/crypttab
	systemctl daemon-reload
}
# The image has no Python or jq: the first "KEY": "string" of kexecctl's pretty JSON on stdin.
jget() { grep -o "\"$1\": *\"[^\"]*\"" | head -n1 | sed 's/^[^:]*: *"//; s/"$//'; }
# The same within the object OBJ.
jget_in() { sed -n "/\"$1\": {/,/}/p" | jget "$2"; }

say "phase $phase, $(systemctl --version | head -n1), kernel $(uname -r), cmdline $(cat /proc/cmdline)"
echo "E2E-TPM phase=$phase pcr0=$(pcr 0) pcr4=$(pcr 4) pcr7=$(pcr 7) pcr11=$(pcr 11)"
say "LoaderEntrySelected=$(tail -c +5 /sys/firmware/efi/efivars/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f 2>/dev/null | tr -d '\0')"

case "$phase" in
1)
	capture dpkg-install dpkg -i "$E"/kexecd_*.deb
	[ "$rc" = 0 ] && pass dpkg-install || fail "dpkg-install rc=$rc"
	mkdir -p /etc/kexecd
	printf '[Manager]\nESP=/efi\n' >/etc/kexecd/kexecd.conf
	cp "$E/kexecd-c.efi" /root/kexecd-c.efi
	# A health check boot-complete.target requires (systemd's pattern for boot assessment): it
	# fails while $state/fail-boot exists.
	cat >/etc/systemd/system/e2e-health.service <<'UNIT'
[Unit]
Description=kexecd e2e health check
DefaultDependencies=no
After=local-fs.target
Before=boot-complete.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c '! test -e /var/lib/kexecd-e2e/fail-boot'

[Install]
RequiredBy=boot-complete.target
UNIT
	systemctl enable e2e-health.service
	# The firmware boot: kexecd-boot-detect ran before kexecd was installed; it runs now, as it
	# does at every boot once installed.
	/usr/libexec/kexecd-bless-boot detect
	report firmware
	# systemd-boot's id keeps or drops the counter depending on its version.
	check "firmware-entry-selected" "$(kexecctl --no-pager status | sed -n 's/^ *This boot: //p' | sed 's/+[0-9-]*\.efi/.efi/')" "firmware, entry 'kexecd-b.efi'"
	# The same entry counted again, as a fresh install of it would be.
	mv $L/kexecd-b.efi $L/kexecd-b+3.efi && sync
	capture stage-b kexecctl --no-pager stage
	[ "$rc" = 0 ] && pass stage-default-b || fail "stage-default-b rc=$rc"
	plan=$(dry_run)
	echo "E2E-PLAN1 $plan"
	check plan-boot-counting "$(jget_in boot_counting renamed_to <<<"$plan")" "$L/kexecd-b+2-1.efi"
	# b is the running kernel: auto restarts userspace instead.
	check plan-same-kernel "$(jget decision <<<"$plan")" soft-reboot
	# Measured boot: the prediction, before any kexec, with another kernel (A) staged.
	[ -e /sys/class/tpm/tpm0/pcr-sha256/11 ] && [ "$(pcr 11)" != 0000000000000000 ] &&
		pass "a TPM 2.0 that systemd-stub measured into: PCR 11 $(pcr 11)" || fail "no TPM or PCR 11 unmeasured: '$(pcr 11)'"
	enroll_volumes
	capture stage-a-for-tpm kexecctl --no-pager stage $L/kexecd-a.efi
	plan=$(dry_run)
	echo "E2E-PLAN-TPM $plan"
	check tpm-prediction "$(tpm_verdicts <<<"$plan")" "pcr11:needs_passphrase pcr7:unlocks"
	check tpm-auto-goes-cold "$(jget decision <<<"$plan")" cold
	check tpm-reason-names-pcr11 "$(sed -n '/"reasons"/,/\]/p' <<<"$plan" | grep -q "pcr11" && echo yes)" yes
	echo "E2E-STATE firmware tpm-plan=$(tpm_verdicts <<<"$plan") decision=$(jget decision <<<"$plan")"
	capture status-tpm kexecctl --no-pager status
	check tpm-status-line "$(grep -c "TPM2 after kexec: *'pcr11' would not unlock" <<<"$out")" 1
	capture reboot-kexec-refused kexecctl --no-pager reboot --kexec
	check tpm-kexec-refused-exit "$rc" 15
	# Back to b, counted, for the kexec the boot-assessment proof needs.
	capture stage-b-again kexecctl --no-pager stage
	check plan-boot-counting-again "$(dry_run | jget_in boot_counting renamed_to)" "$L/kexecd-b+2-1.efi"
	next 2
	say "rebooting into kexecd-b+3.efi through kexecd, past the volume that will not unlock"
	capture reboot-kexec kexecctl --no-pager reboot --kexec --ignore-tpm
	[ "$rc" = 0 ] || fail "reboot-kexec rc=$rc"
	;;
2)
	report kexec
	# What boot 1 predicted: PCR 7 still matches, PCR 11 holds the last boot's measurements.
	check tpm-kexec-boot-as-predicted "$(volumes)" "pcr7:active+mapped pcr11:failed"
	capture pcr11-unlock-log journalctl -b --no-pager -o cat -u systemd-cryptsetup@pcr11.service
	check "kexec-boot-detected" "$(cat /run/kexecd/kexec-boot 2>/dev/null | jget entry)" "kexecd-b.efi"
	# Rollback: into the older kernel A (a file, not discovered) ...
	capture stage-a kexecctl --no-pager stage $L/kexecd-a.efi
	[ "$rc" = 0 ] && pass stage-a || fail "stage-a rc=$rc"
	next 3
	capture reboot-kexec-a kexecctl --no-pager reboot --kexec --ignore-tpm
	[ "$rc" = 0 ] || fail "reboot-kexec-a rc=$rc"
	;;
3)
	settle
	# ... and back: b's kernel is not the running one although LoaderEntrySelected says b.
	capture stage-b-again kexecctl --no-pager stage
	plan=$(dry_run --ignore-tpm)
	echo "E2E-PLAN3 $plan"
	check rollback-plan-decision "$(jget decision <<<"$plan")" kexec
	check rollback-plan-booted "$(jget_in booted via <<<"$plan")" kexec
	# Without --ignore-tpm the PCR 11 volume sends it through the firmware.
	check rollback-plan-tpm "$(dry_run | jget decision)" cold
	# A kexec'd boot that fails: kexecd-c+1.efi, newest, one try; boot-complete.target fails.
	cp /root/kexecd-c.efi $L/kexecd-c+1.efi && sync
	touch "$state/fail-boot"
	capture stage-c kexecctl --no-pager stage
	check stage-default-c "$(kexecctl --no-pager --json status | jget_in discovery id)" kexecd-c.efi
	next 4
	capture reboot-kexec-c kexecctl --no-pager reboot --kexec --ignore-tpm
	[ "$rc" = 0 ] || fail "reboot-kexec-c rc=$rc"
	;;
4)
	report failed-kexec
	rm -f "$state/fail-boot"
	check failed-entry-kept-decremented "$(entries | grep -o 'kexecd-c[^ ]*')" "kexecd-c+0-1.efi"
	capture stage-fallback kexecctl --no-pager stage
	check fallback-entry "$(kexecctl --no-pager --json status | jget_in discovery id)" kexecd-b.efi
	# b's kernel is the running one (c has it too): a soft-reboot keeps the TPM's volumes open, so
	# the PCR 11 volume does not stand in its way.
	plan=$(dry_run)
	check tpm-same-kernel-soft-reboot "$(jget decision <<<"$plan") $(tpm_verdicts <<<"$plan")" \
		"soft-reboot pcr11:needs_passphrase pcr7:unlocks"
	# Another kernel: auto must go through the firmware for the PCR 11 volume; boot 5 is a firmware
	# boot only if it did.
	capture stage-a-cold kexecctl --no-pager stage $L/kexecd-a.efi
	plan=$(dry_run)
	check tpm-auto-cold-in-kexec-boot "$(jget decision <<<"$plan") $(tpm_verdicts <<<"$plan")" \
		"cold pcr11:needs_passphrase pcr7:unlocks"
	next 5
	capture reboot-auto kexecctl --no-pager reboot --auto
	[ "$rc" = 0 ] || fail "reboot-auto rc=$rc"
	;;
5)
	report firmware-after-fallback
	check firmware-fallback-entry "$(kexecctl --no-pager status | sed -n 's/^ *This boot: //p')" "firmware, entry 'kexecd-b.efi'"
	check tpm-firmware-boot-unlocks-both "$(volumes)" "pcr7:active+mapped pcr11:active+mapped"
	capture stage-before-setup kexecctl --no-pager stage
	next 6
	# `systemctl reboot --firmware-setup` on systemd >= 255: logind sets OsIndications
	# (SetRebootToFirmwareSetup), then, because a kernel is loaded, starts kexec.target. systemd
	# 254 does not kexec on a plain reboot yet, so the scenario takes those two steps itself.
	# kexecd must unload the kernel at PrepareForShutdown so the reboot ends in the firmware.
	busctl call org.freedesktop.login1 /org/freedesktop/login1 org.freedesktop.login1.Manager \
		SetRebootToFirmwareSetup b true
	echo "E2E-FIRMWARE-SETUP-REQUESTED failed=$FAILED"
	sync
	systemctl kexec
	exit 0
	;;
*)
	fail "phase $phase: booted Linux again after the firmware setup request"
	;;
esac
echo "E2E-DONE phase=$phase failed=$FAILED"
sync
