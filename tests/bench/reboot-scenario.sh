#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The reboot benchmark's scenario (reboot.sh), inside a real Debian system with systemd as PID 1
# that OVMF and systemd-boot boot from a UKI. kexecd-e2e.service runs it once per boot, and again
# after a soft-reboot, once multi-user.target is reached. Its step counter (/var/lib/kexecd-bench)
# walks through /root/e2e/bench.conf's PATHS, RUNS times, one reboot a step (a path may come twice:
# reboot.sh puts a cold reboot before each kexec, so both start from a kernel the firmware booted):
#   cold         systemctl reboot: firmware, systemd-boot, the UKI
#   kexecd       kexecctl reboot --kexec of the UKI kexecd staged earlier in the boot
#   kexec-tools  what systemctl kexec does with nothing loaded (systemd 254, a Type #1 entry):
#                kexec --load KERNEL --append=OPTIONS --initrd=INITRD, then systemctl kexec;
#                bookworm's kexec-tools cannot read a UKI, so the plain kernel and initrd
#   soft         kexecctl reboot --soft (systemd >= 254): userspace restarts, the kernel stays
#   kexec-file   not in the default set: kexec-tools path with -s (kexec_file_load, the system call
#                kexecd uses), to tell what kexecd does from what that call does
# Step 0 (the first boot) installs kexecd. Each later boot first reports the reboot that led to it:
#   BENCH-SYNC    the guest's realtime clock, written straight to the UART, which the host stamps:
#                 it maps this boot's realtime timestamps onto the host's clock
#   BENCH-TS      systemd's own timestamps (org.freedesktop.systemd1: the manager's Kernel/InitRD/
#                 Userspace timestamps, multi-user.target's ActiveEnterTimestamp), realtime µs
#   BENCH-J       the journal of the reboot's old side from the request on: logind, kexecd,
#                 kexecctl and PID 1's lines about kexecd and the soft-reboot (reboot-report.py
#                 reads kexecd's critical path from them)
# then prepares the next one and writes BENCH-REQUEST to the UART right before asking for it.
set -u
E=/root/e2e
state=/var/lib/kexecd-bench
mkdir -p "$state"
# PATHS, RUNS, CMDLINE (the UKI's, for the kexec-tools path)
. "$E/bench.conf"
read -r -a paths <<<"$PATHS"
total=$((${#paths[@]} * RUNS))
step=$(cat "$state/step" 2>/dev/null || echo 0)
# Markers whose arrival time matters go to the UART directly: the unit's stdout reaches the
# console through journald, later and at journald's pace.
mark() { echo "BENCH-$*" >/dev/ttyS0; }
say() { echo "BENCH: [$(cut -d' ' -f1 /proc/uptime)] $*"; }
abort() { mark "ABORT step=$step $*"; sync; systemctl poweroff; exit 1; }
prop() { # OBJECT INTERFACE PROPERTY...: the values, space-separated (busctl prints "t N" each)
	local obj=$1 iface=$2
	shift 2
	busctl get-property org.freedesktop.systemd1 "$obj" "$iface" "$@" | awk '{ printf "%s ", $2 }'
}

if [ "$step" -gt 0 ]; then
	# As early as the script can: the mapping's error is this write's latency.
	mark "SYNC step=$step rt=$EPOCHREALTIME"
	read -r k_rt i_rt u_rt u_mono <<<"$(prop /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager \
		KernelTimestamp InitRDTimestamp UserspaceTimestamp UserspaceTimestampMonotonic)"
	read -r mu_rt mu_mono <<<"$(prop /org/freedesktop/systemd1/unit/multi_2duser_2etarget org.freedesktop.systemd1.Unit \
		ActiveEnterTimestamp ActiveEnterTimestampMonotonic)"
	mark "TS step=$step kernel=$k_rt initrd=$i_rt userspace=$u_rt userspace_mono=$u_mono multi_user=$mu_rt multi_user_mono=$mu_mono boot_id=$(cat /proc/sys/kernel/random/boot_id) uptime=$(cut -d' ' -f1 /proc/uptime)"
	req=$(cat "$state/req-rt")
	# A soft-reboot keeps the boot (and its journal boot ID); the others start a new one.
	if [ "$(cat "$state/path")" = soft ]; then jb=0; else jb=-1; fi
	journalctl -b "$jb" -o short-unix --no-pager --since "@$((${req%.*} - 1))" 2>/dev/null |
		grep -a -E ' (systemd-logind|kexecd|kexecctl)\[| systemd\[1\]: .*(kexecd|running in system mode|[Ss]oft-reboot|Reached target (multi-user|soft-reboot|kexec|reboot)\.target)' |
		sed "s/^/BENCH-J step=$step /" | head -n 60
	say "step $step ($(cat "$state/path")) reported: $(systemctl --version | head -n1), kernel $(uname -r)"
fi

if [ "$step" = 0 ]; then
	dpkg -i "$E"/kexecd_*.deb >"$state/dpkg.log" 2>&1 || abort "dpkg -i kexecd: $(tail -n 3 "$state/dpkg.log" | tr '\n' ' ')"
	mkdir -p /etc/kexecd
	printf '[Manager]\nESP=/efi\n' >/etc/kexecd/kexecd.conf
	mark "SETUP $(systemctl --version | head -n1), kernel $(uname -r), kexecd $(dpkg-query -W -f='${Version}' kexecd)"
fi

if [ "$step" -ge "$total" ]; then
	mark "END steps=$total"
	sync
	systemctl poweroff
	exit 0
fi

path=${paths[$((step % ${#paths[@]}))]}
# Nothing loaded unless this step's path is kexecd's: a kernel left by the last step would make
# systemctl kexec skip its load, and is not what a cold or soft reboot carries. A kexec boot starts
# with nothing loaded; a soft-reboot keeps what was.
if [ "$path" != kexecd ] && [ "$(cat /sys/kernel/kexec_loaded)" = 1 ]; then
	kexecctl --no-pager unstage >/dev/null 2>&1
	kexec -u 2>/dev/null
fi
if [ "$path" = kexecd ]; then
	# Staged beforehand, as StageOnBoot or kernel-install would: not part of the reboot.
	out=$(kexecctl --no-pager stage 2>&1) || abort "kexecctl stage: $out"
fi
# The boot's own jobs done (this unit's start job is the one left), then a quiet moment, so the
# shutdown measured is the reboot's, not the end of the boot.
for _ in $(seq 1 120); do
	[ -z "$(systemctl list-jobs --no-legend 2>/dev/null | grep -v kexecd-e2e.service)" ] && break
	sleep 1
done
sync
sleep 2
echo $((step + 1)) >"$state/step"
echo "$path" >"$state/path"
sync
req=$EPOCHREALTIME
echo "$req" >"$state/req-rt"
mark "REQUEST step=$((step + 1)) path=$path rt=$req"
case "$path" in
cold) systemctl reboot ;;
kexecd) kexecctl --no-pager reboot --kexec ;;
kexec-tools)
	# Marked in between: how much of this path's shutdown is the load.
	kexec --load /vmlinuz --append="$CMDLINE" --initrd=/initrd.img && mark "LOADED step=$((step + 1))" &&
		systemctl kexec
	;;
kexec-file)
	kexec -s --load /vmlinuz --append="$CMDLINE" --initrd=/initrd.img && mark "LOADED step=$((step + 1))" &&
		systemctl kexec
	;;
soft) kexecctl --no-pager reboot --soft ;;
*) abort "unknown path '$path'" ;;
esac
rc=$?
[ $rc = 0 ] || abort "the $path reboot request failed (rc=$rc)"
exit 0
