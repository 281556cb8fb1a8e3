#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The reboot benchmark's table (reboot.sh): from the stamped serial log to medians and spread.

Each reboot (step) is cut at these points, all on the host's monotonic clock:
  request    BENCH-REQUEST, written by the scenario to the UART right before it asks
  old end    the old kernel's last line: "reboot: machine restart" (cold) or "kexec_core:
             Starting new kernel" (kexec); a soft-reboot has none (see below)
  kernel     the new kernel's start: its "Run /init" line's stamp less that line's printk time (the
             "Linux version" line reaches the serial only when the console starts, 0.1-0.7 s in)
  initrd     the kernel's "Run /init as init process" (Debian's initramfs-tools: no systemd there,
             so systemd's InitRDTimestamp stays 0)
  userspace  systemd's UserspaceTimestamp in the new boot
  target     multi-user.target's ActiveEnterTimestamp in the new boot
systemd's realtime timestamps are mapped onto the host clock by BENCH-SYNC, the guest's realtime
written to the UART and stamped on arrival. A soft-reboot keeps the kernel and its clocks: its
new userspace starts at PID 1's "running in system mode" journal line after the request, and
its shutdown and userspace are read on the guest's clock.

Parts: shutdown = request..old end; firmware + loader (cold) = old end..kernel; kernel =
kernel..initrd (after a kexec, from the old end: purgatory and decompression are the kernel's);
initrd = initrd..userspace; userspace = userspace..target.

Also kexecd's critical path, from the old boot's journal (BENCH-J, guest realtime against the
request's): kexecctl to kexecd asking logind, to logind's "System is ..." (taking over), kexecd's
stop at shutdown, and that no staging happened after the request.

usage: reboot-report.py SERIAL_LOG [--machine TEXT] [--plot PNG]
Exit status 1 when a step cannot be read or staging happened at reboot time.
"""

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

PATHS = ['cold', 'kexecd', 'kexec-tools', 'soft', 'kexec-file']
LABELS = {'cold': 'cold (firmware)', 'kexecd': 'kexec, kexecd', 'kexec-tools': 'kexec, load at reboot',
          'soft': 'soft-reboot', 'kexec-file': 'kexec -s at reboot'}
PLOT_LABELS = {'cold': 'firmware', 'kexecd': 'kexecd', 'kexec-tools': 'kexec-tools', 'soft': 'soft',
               'kexec-file': 'kexec -s'}
PARTS = ['shutdown', 'firmware+loader', 'kernel', 'initrd', 'userspace']


def kv(text):
    return dict(re.findall(r'(\w+)=(\S+)', text))


def parse(path):
    lines = []
    for raw in open(path, encoding='utf-8', errors='replace'):
        t, _, text = raw.rstrip('\n').partition(' ')
        try:
            lines.append((float(t), text))
        except ValueError:
            continue
    return lines


def steps_of(lines):
    """Per step: its serial lines from its request to its SYNC, and the markers."""
    steps = {}
    current = None
    for t, text in lines:
        m = re.search(r'BENCH-(REQUEST|SYNC|TS|LOADED|J) step=(\d+)(.*)', text)
        if m:
            what, k, rest = m.group(1), int(m.group(2)), m.group(3)
            s = steps.setdefault(k, {'lines': [], 'journal': []})
            if what == 'REQUEST':
                s.update(t_req=t, **{'req_' + a: b for a, b in kv(rest).items()})
                current = k
            elif what == 'SYNC':
                s.update(t_sync=t, rt_sync=float(kv(rest)['rt']))
                current = None
            elif what == 'TS':
                s['ts'] = kv(rest)
            elif what == 'LOADED':
                s['t_loaded'] = t
            else:
                s['journal'].append(rest.strip())
            continue
        if current is not None:
            steps[current]['lines'].append((t, text))
    return steps


def first(lines, needle, after=None):
    for t, text in lines:
        if needle in text and (after is None or t >= after):
            return t
    return None


def journal_times(entries):
    """(realtime, ident, message) of the journal lines (-o short-unix)."""
    out = []
    for e in entries:
        m = re.match(r'(\d+\.\d+) \S+ ([^\[:]+)(?:\[\d+\])?: (.*)', e)
        if m:
            out.append((float(m.group(1)), m.group(2), m.group(3)))
    return out


def measure(k, s):
    """The parts of one reboot in seconds, or a reason it cannot be read."""
    path = s.get('req_path')
    stall = next((x for t, x in s['lines'] if 'BENCH-HOST-RESET' in x), None)
    if stall is not None:
        return None, f'step {k} ({path}): {stall.strip()}'
    if path is None or 't_sync' not in s or 'ts' not in s:
        return None, f'step {k}: incomplete (request, sync or timestamps missing)'
    ts = s['ts']
    off = s['t_sync'] - s['rt_sync']
    req_rt = float(s['req_rt'])
    target = int(ts['multi_user']) / 1e6
    journal = [j for j in journal_times(s['journal']) if j[0] >= req_rt]
    r = {'path': path, 'step': k, 'total': target + off - s['t_req'], 'journal': journal}
    lines = s['lines']
    if path == 'soft':
        # Same kernel, same clocks: the guest's realtime throughout.
        start = next((t for t, ident, msg in journal if ident == 'systemd' and 'running in system mode' in msg), None)
        if start is None or first(lines, 'Linux version'):
            return None, f'step {k} (soft): no new PID 1 in the journal, or a kernel booted'
        last = next((t for t, ident, msg in journal if ident == 'systemd' and msg.startswith('Soft-rebooting')), start)
        r.update(shutdown=start - req_rt, userspace=target - start, total_guest=target - req_rt,
                 reexec=start - last)
        return r, None
    if path == 'cold':
        old_end = first(lines, 'reboot: machine restart') or first(lines, 'reboot: Restarting system')
    else:
        old_end = first(lines, 'kexec_core: Starting new kernel')
    kernel = first(lines, 'Linux version', old_end)
    initrd = first(lines, 'Run /init as init process', kernel)
    # "Linux version" reaches the serial only when the console starts (0.1-0.7 s in): the start
    # is the Run /init line's stamp less its printk time, when that falls before the line.
    m = next((re.match(r'\[\s*([\d.]+)\] Run /init', x) for t, x in lines if t == initrd), None)
    if m and old_end is not None and old_end <= initrd - float(m.group(1)) <= kernel:
        kernel = initrd - float(m.group(1))
    userspace = int(ts['userspace']) / 1e6 + off
    if None in (old_end, kernel, initrd):
        return None, f'step {k} ({path}): old end {old_end}, kernel {kernel}, initrd {initrd} not all on the serial'
    if path == 'cold' and first(lines, 'kexec_core: Starting new kernel'):
        return None, f'step {k}: the cold reboot kexec\'ed'
    if path != 'cold' and first(lines, 'BdsDxe'):
        return None, f'step {k} ({path}): went through the firmware'
    if not initrd < userspace < target + off:
        return None, f'step {k} ({path}): the boundaries are out of order'
    r.update(shutdown=old_end - s['t_req'], initrd=userspace - initrd, userspace=target + off - userspace)
    if path == 'cold':
        r.update(**{'firmware+loader': kernel - old_end, 'kernel': initrd - kernel})
        # Details: OVMF's first output after the reset, and its hand-over to systemd-boot.
        r['firmware'] = (first(lines, 'BdsDxe: starting', old_end) or kernel) - old_end
        r['fw_silent'] = (next((t for t, x in lines if t > old_end and x.strip()), kernel)) - old_end
    else:
        r['kernel'] = initrd - old_end
        r['handover'] = kernel - old_end
    if 't_loaded' in s:
        r['load'] = s['t_loaded'] - s['t_req']
    return r, None


def critical_path(r):
    """kexecd on the reboot's path: journal times (guest realtime) of the old boot after the request."""
    out = {'staged': 0, 'failed': 0}
    for t, ident, msg in r['journal']:
        if ident == 'systemd' and msg.startswith('Started kexecd.service'):
            out.setdefault('activated', t)
        elif ident == 'kexecd' and 'Asking systemd-logind' in msg:
            out.setdefault('kexecd_asks', t)
        elif ident == 'systemd-logind' and re.match(r'System (userspace )?is ', msg):
            out.setdefault('logind', t)
        elif ident == 'systemd' and msg.startswith('Stopping kexecd.service'):
            out['stop_begin'] = t
        elif ident == 'systemd' and msg.startswith('Stopped kexecd.service'):
            out['stop_end'] = t
        elif ident == 'systemd' and msg.startswith("kexecd.service: Failed with result"):
            out['failed'] += 1
        elif ident == 'kexecd' and re.match(r'(Staging|Staged:)', msg):
            out['staged'] += 1
    return out


def fmt(values, scale=1.0, digits=1):
    if not values:
        return '-'
    v = [x * scale for x in values]
    med = statistics.median(v)
    if len(v) == 1:
        return f'{med:.{digits}f}'
    return f'{med:.{digits}f} [{min(v):.{digits}f}-{max(v):.{digits}f}]'


def table(results):
    cols = ['total'] + PARTS
    head = f'{"path":<22}' + ''.join(f'{c:>20}' for c in cols)
    print(head)
    medians = {}
    for p in PATHS:
        rs = [r for r in results if r['path'] == p]
        if not rs:
            continue
        row = f'{LABELS[p]:<22}'
        for c in cols:
            row += f'{fmt([r[c] for r in rs if c in r]):>20}'
        print(row + f'  n={len(rs)}')
        medians[p] = {c: statistics.median([r[c] for r in rs if c in r] or [0]) for c in cols}
    return medians


def median_run(results, path):
    """The reboot of PATH whose total is the median (the lower one for an even count)."""
    rs = sorted((r for r in results if r['path'] == path), key=lambda r: r['total'])
    return rs[(len(rs) - 1) // 2] if rs else None


def plot(results, png, title):
    """Stacked bars: each path's median reboot (the lower middle one of an even count), split
    into its parts (medians of parts would not add up to the median total)."""
    if not shutil.which('gnuplot'):
        print('plot: gnuplot not found, none written')
        return
    with tempfile.NamedTemporaryFile('w', suffix='.dat', delete=False) as f:
        for p in PATHS:
            r = median_run(results, p)
            if r:
                f.write(f'"{PLOT_LABELS[p]}" ' + ' '.join(f'{r.get(c, 0):.3f}' for c in PARTS) + '\n')
        data = f.name
    plots = ', '.join(f"'{data}' using {i + 2}{':xtic(1)' if i == 0 else ''} title '{c}'" for i, c in enumerate(PARTS))
    script = (f"set terminal png size 800,500; set output '{png}'; set style data histograms; "
              "set style histogram rowstacked; set style fill solid 0.85 border -1; set boxwidth 0.6; "
              "set key outside right top vertical; set grid ytics; set yrange [0:*]; "
              "set ylabel 'seconds from the reboot request to multi-user.target'; "
              f"set title '{title}'; plot {plots}")
    ok = subprocess.run(['gnuplot', '-e', script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    print(f'plot: {png}' if ok.returncode == 0 else f'plot failed: {ok.stderr.decode(errors="replace")}')


def details(results):
    def of(path, key):
        return [r[key] for r in results if r['path'] == path and key in r]
    if of('cold', 'firmware'):
        print(f'cold: OVMF silent after the reset {fmt(of("cold", "fw_silent"))} s, hands over to systemd-boot '
              f'{fmt(of("cold", "firmware"))} s after it; the kernel starts {fmt(of("cold", "firmware+loader"))} s after it')
    for p in ('kexecd', 'kexec-tools', 'kexec-file'):
        if of(p, 'handover'):
            print(f'{LABELS[p]}: kexec to the new kernel\'s start (purgatory, decompression) {fmt(of(p, "handover"))} s')
    for p in ('kexec-tools', 'kexec-file'):
        if of(p, 'load'):
            print(f'{LABELS[p]}: kexec --load took {fmt(of(p, "load"))} s of its shutdown')
    if of('soft', 'reexec'):
        print(f'soft-reboot: PID 1\'s "Soft-rebooting." to the new PID 1\'s first line {fmt(of("soft", "reexec"))} s')


def kexecd_path(results, steps):
    """Prints kexecd's share of the reboots kexecctl asked for; True when staging happened then."""
    print("\nkexecd on the reboot's path (old boot's journal), ms from the request, median [min-max]")
    failed = False
    for p in ('kexecd', 'soft'):
        rows = [(critical_path(r), float(steps[r['step']]['req_rt'])) for r in results if r['path'] == p]
        if not rows:
            continue

        def ms(key, base=None):
            return fmt([c[key] - (req if base is None else c[base]) for c, req in rows
                        if key in c and (base is None or base in c)], 1000, 0)
        activated = sum(1 for c, _ in rows if 'activated' in c)
        print(f'  {LABELS[p]}: kexecctl -> kexecd asks logind {ms("kexecd_asks")}, -> logind takes over '
              f'{ms("logind")}; D-Bus activation of kexecd in {activated} of {len(rows)}'
              + (f' (request -> started {ms("activated")})' if activated else ''))
        print(f'  {LABELS[p]}: kexecd.service stop at shutdown {ms("stop_end", "stop_begin")}; '
              f'ended "failed" in {sum(1 for c, _ in rows if c["failed"])} of {len(rows)}')
        if p == 'kexecd':
            staged = sum(c['staged'] for c, _ in rows)
            print(f'{"PASS" if staged == 0 else "FAIL"} no staging at reboot time with a kernel staged '
                  f'(kexecd logged {staged} staging line(s) after the request in {len(rows)} reboot(s))')
            failed |= staged != 0
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('log')
    ap.add_argument('--machine', default='')
    ap.add_argument('--plot')
    args = ap.parse_args()
    steps = steps_of(parse(args.log))
    results, problems = [], []
    stalls = []
    for k in sorted(steps):
        r, why = measure(k, steps[k])
        if r is not None:
            results.append(r)
        else:
            (stalls if 'BENCH-HOST-RESET' in why else problems).append(why)
    print('\nkexecd reboot downtime: request to the next multi-user.target, seconds, median [min-max]')
    if args.machine:
        print(f'machine: {args.machine}')
    medians = table(results)
    for p in problems:
        print(f'unreadable: {p}')
    # The firmware's stalls after a reset (reboot.sh, qmp-reset.py): left out, not failures.
    for p in stalls:
        print(f'left out, the firmware stalled after the reset and the host reset the VM: {p}')
    cold = medians.get('cold', {}).get('total')
    for p in PATHS[1:]:
        if cold and p in medians:
            print(f'cold / {LABELS[p]}: {cold / medians[p]["total"]:.2f}x'
                  f' ({cold:.1f} s against {medians[p]["total"]:.1f} s)')
    # Under TCG the first kexec after a firmware boot is slower (README): say where each began.
    began = {r['step']: steps.get(r['step'] - 1, {}).get('req_path', 'cold') for r in results}
    for p in ('kexecd', 'kexec-tools', 'kexec-file'):
        froms = [began[r['step']] for r in results if r['path'] == p]
        if froms:
            print(f'{LABELS[p]}: began in a boot by ' + ', '.join(
                f'{LABELS[f]} {froms.count(f)}/{len(froms)}' for f in PATHS if f in froms))
    details(results)
    failed = bool(problems) | kexecd_path(results, steps)
    if args.plot and results:
        counts = ', '.join(f'{PLOT_LABELS[p]} {n}' for p in PATHS if (n := sum(r['path'] == p for r in results)))
        plot(results, args.plot, f'One Debian VM, qemu TCG: the median reboot of each path ({counts})')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
