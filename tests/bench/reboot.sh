#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The reboot itself, measured (issue 30): the downtime of a firmware reboot, a kexec by kexecd, a
# kexec loaded at reboot time (what systemctl kexec does) and a soft-reboot, of one Debian system
# (systemd 254 from bookworm-backports, the boot-assessment e2e's cached image, kexecd's .deb)
# that OVMF and systemd-boot boot from a UKI on a GPT ESP. One VM, RUNS rounds of the paths in
# turn, driven by reboot-scenario.sh inside; the serial console is read through serial-stamp.py,
# which stamps each line with the host's monotonic clock as it arrives; reboot-report.py splits
# each reboot into shutdown, firmware + loader, kernel, initrd and userspace and prints the table.
#
# A benchmark, run by hand or by `meson test --benchmark reboot-downtime`; it is in no test suite
# and not in .ci/run (16 minutes for RUNS=3 on a 2-core machine under TCG, 15 reboots, images cached).
#
# usage: reboot.sh [RUNS]           (default 3)
# Environment: KEXECD_CACHE (default /var/cache/kexecd-test), KEXECD_BENCH_WORK (scratch, kept),
# KEXECD_BENCH_PATHS (default "cold kexecd cold kexec-tools soft"), KEXECD_BENCH_PLOT (a PNG to write),
# KEXECD_BENCH_TIMEOUT (the whole qemu run, default 2400 s), KEXECD_DEB (a .deb to measure).
# exit 77 with the reason when qemu, OVMF, the archive, the packaging tools or root are missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
e2e=$(cd "$here/../e2e" && pwd)
py=/usr/bin/python3
qemu=${KEXECD_QEMU:-qemu-system-x86_64}
cache=${KEXECD_CACHE:-/var/cache/kexecd-test}
runs=${1:-3}
# Both kexecs start from a kernel the firmware booted: under TCG, the first kexec after a firmware
# boot brings up a kernel that runs 3-6x slower to /init than one kexec'ed from a kexec'ed
# kernel, whichever tool loads it (tests/bench/README.md), so a fixed order would favour one.
paths=${KEXECD_BENCH_PATHS:-cold kexecd cold kexec-tools soft}
# The boot-assessment e2e's image: the same flavor and extra packages, so the cache is shared.
flavor=254
skip() { echo "SKIP: $*"; exit 77; }
die() { echo "ERROR: $*" >&2; exit 1; }
# system_preflight, system_inputs, make_uki, make_esp_disk, make_root_disk, ovmf_vm_args
# shellcheck source=../e2e/lib-e2e.sh
. "$e2e/lib-e2e.sh"

[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number, not '$runs'"
system_preflight "$cache"

work=${KEXECD_BENCH_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/kexecd-reboot-bench.XXXXXX")}
rm -rf "$work" && mkdir -p "$work"
work=$(cd "$work" && pwd)
t_start=$SECONDS

# --- the package, the image, systemd-boot and ukify (all cached) ----------------------------
system_inputs "$cache" "$flavor"
echo "reboot-bench: package $deb, image $image (systemd $(cat "$image/systemd-version"))"

# --- one UKI of the image's kernel and initrd; the kexec-tools path loads the same two files
# from the root (/vmlinuz, /initrd.img) with the same command line ------------------------------
cmdline="root=/dev/vdb rw console=ttyS0 fsck.mode=skip systemd.show_status=error panic=-1"
printf 'ID=debian\nNAME="Debian GNU/Linux"\nPRETTY_NAME="kexecd reboot bench"\nVERSION_ID=1\n' >"$work/os-release"
make_uki "$sd" "$work/kexecd-a.efi" "$image/vmlinuz" "$image/initrd.img" "$cmdline" "$work/os-release"
make_esp_disk "$work/esp-disk.img" "$sd" "$work/kexecd-a.efi=/EFI/Linux/kexecd-a.efi"
printf 'PATHS="%s"\nRUNS=%s\nCMDLINE="%s"\n' "$paths" "$runs" "$cmdline" >"$work/bench.conf"
make_root_disk "$work/rootfs.ext4" "$image" "$here/reboot-scenario.sh" \
	"$deb=/root/e2e/$(basename "$deb")" "$work/bench.conf=/root/e2e/bench.conf"
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
ovmf_vm_args "$work/vars.fd" "$work/esp-disk.img" "$work/rootfs.ext4"
echo "reboot-bench: disks ready ($((SECONDS - t_start)) s); $runs round(s) of: $paths"

# --- the run: one VM, every reboot in it -----------------------------------------------------------
log=$work/serial.log
loads=$work/loadavg
tmo=${KEXECD_BENCH_TIMEOUT:-2400}
t_boot=$SECONDS
: >"$log"
# Niced: other jobs share the machine; the stamper is not, so the stamps stay prompt. Reboots are
# the point (no -no-reboot); the guest powers off at the end, and qemu exits.
# The QMP socket: qmp-reset.py resets a VM whose firmware stalled after a reset (below).
qmp=$work/qmp.sock
nice -n 5 "$qemu" "${vm_args[@]}" -display none -serial stdio -pidfile "$work/qemu.pid" \
	-qmp "unix:$qmp,server=on,wait=off" </dev/null |
	"$py" "$here/serial-stamp.py" "$log" &
stamp_pid=$!
qemu_pid() { cat "$work/qemu.pid" 2>/dev/null || true; }
trap 'p=$(qemu_pid); [ -n "$p" ] && kill "$p" 2>/dev/null; true' EXIT
verdict=
t_end=
size=0 t_quiet=$SECONDS
# After a reset OVMF is quiet for 4-30 s; sometimes it stays quiet for many minutes at a full
# CPU (README.md). Past this the host resets the VM once and the report leaves that reboot out.
stall=${KEXECD_BENCH_STALL:-120}
host_resets=0
while kill -0 "$stamp_pid" 2>/dev/null; do
	# A boot prints all the time, the firmware's reset is the longest quiet (~25 s loaded): five
	# minutes without a line is a hang (one cold reboot stopped after systemd-boot's start).
	if [ "$(stat -c %s "$log")" != "$size" ]; then size=$(stat -c %s "$log") t_quiet=$SECONDS; fi
	if [ $((SECONDS - t_quiet)) -ge "$stall" ] && tail -n 1 "$log" | grep -a -q -e 'reboot: machine restart' -e 'reboot: Restarting system'; then
		where=$("$py" "$here/qmp-reset.py" "$qmp" "$log" "$((SECONDS - t_quiet))" 2>&1) || where="QMP failed: $where"
		host_resets=$((host_resets + 1))
		echo "reboot-bench: the firmware was quiet for $((SECONDS - t_quiet)) s after a reset ($where); reset by the host"
		size=$(stat -c %s "$log") t_quiet=$SECONDS
	fi
	if [ $((SECONDS - t_quiet)) -ge 300 ]; then verdict="no serial output for 300 s after: $(tail -n 1 "$log" | cut -c1-100)"; break; fi
	cut -d' ' -f1 /proc/loadavg >>"$loads"
	if [ -z "$t_end" ] && grep -a -q 'BENCH-END' "$log"; then verdict="done" t_end=$SECONDS; fi
	# The guest powers off after its last report; a minute is plenty for that.
	if [ -n "$t_end" ] && [ $((SECONDS - t_end)) -ge 60 ]; then break; fi
	if grep -a -q 'BENCH-ABORT' "$log"; then verdict="aborted: $(grep -a -m1 -o 'BENCH-ABORT.*' "$log")"; break; fi
	# A broken ESP drops OVMF into its shell, which waits forever (PROOFS.md).
	if grep -a -q 'Shell>' "$log"; then verdict="OVMF fell into the UEFI shell"; break; fi
	if [ $((SECONDS - t_boot)) -ge "$tmo" ]; then verdict="timeout after ${tmo}s"; break; fi
	sleep 5
done
p=$(qemu_pid)
[ -n "$p" ] && kill "$p" 2>/dev/null || true
wait "$stamp_pid" 2>/dev/null || true
trap - EXIT
[ -n "$verdict" ] || verdict="qemu exited before the scenario's end"
run_s=$((SECONDS - t_boot))
load=$(awk '{ s += $1; if ($1 > m) m = $1 } END { if (NR) printf "load average (1 min) during the run: mean %.2f, max %.2f, %d samples", s / NR, m, NR }' "$loads")
echo "reboot-bench: qemu ran ${run_s} s, end: $verdict; $host_resets firmware stall(s) reset by the host; $load"

rc=0
"$py" "$here/reboot-report.py" "$log" --machine "$(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)), qemu $("$qemu" --version | head -n1 | sed 's/.*version \([^ ]*\).*/\1/'), TCG (no KVM), -smp 1, OVMF $(dpkg-query -W -f='${Version}' ovmf 2>/dev/null || echo '?'); run ${run_s} s; $load" \
	${KEXECD_BENCH_PLOT:+--plot "$KEXECD_BENCH_PLOT"} || rc=$?
[ "$verdict" = "done" ] || { echo "reboot-bench: the run did not finish: $verdict (serial log $log)"; rc=1; }
echo "reboot-bench: $([ $rc = 0 ] && echo "done" || echo FAILED) in $((SECONDS - t_start)) s (scratch $work)"
[ $rc = 0 ] && rm -f "$work/esp-disk.img" "$work/rootfs.ext4"
exit $rc
