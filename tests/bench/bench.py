#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Staging against its physical bound (issue 16), printed as ratios.

Builds signed UKIs of 16, 64 and 256 MiB (Debian's kernel as .linux, the rest
an incompressible .initrd) with 0 and 3 signed addons, starts kexecd with the
null kernel (--kernel=null: loads are fstat()ed and dropped) on a private bus,
and measures, interleaved, every series REPS times (min and median):

  bound      read the UKI and addons once + one SHA-256 (openssl dgst), one process
  classic    kexecctl stage --scheme classic, end to end through the daemon
  bpf        kexecctl stage --scheme bpf (the parser container; refused above
             the parser's payload limit, which is measured too)
  extract    kexec-tools-like: objcopy .linux and .initrd to temp files, read back
  inspect    kexecctl inspect (local, no daemon)

plus the daemon's peak memory per staging (VmHWM, and the largest RssShmem and
RssAnon sampled every 2 ms), its idle RSS, and Describe()/Get(State) round
trips from 1 and 8 clients. Ends with one line per target:
PASS|FAIL name measured target. Exit status 0 either way (a benchmark, not a
test); 77 when the tools or fixtures are missing.

usage: bench.py KEXECD KEXECCTL FIXTURES PARSER_CONTAINER PARSER_CERT [REPS]
env:   KEXECD_BENCH_REPS (rounds, at least 5), KEXECD_BENCH_DIR (default /var/tmp/kexecd-bench: inputs, kept between runs)
       KEXECD_BENCH_SIZES (default "16 64 256", MiB), KEXECD_BENCH_CALLS (10000)
"""

import hashlib
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
MiB = 1 << 20
STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub'


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def timed(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    return dt, p.returncode, p.stderr.decode(errors='replace')


def make_uki(path, size, fx, work):
    """A signed UKI of `size` bytes, the way ukify lays it out."""
    if os.path.exists(path):
        return
    kernel = os.path.join(fx, 'vmlinuz')
    initrd = os.path.join(work, 'initrd.bin')
    fill = max(size - os.path.getsize(kernel) - 64 * 1024, 4096)
    with open(initrd, 'wb') as f:
        # Incompressible and unique: nothing downstream may shortcut it.
        f.write(hashlib.sha256(str(size).encode()).digest() * (fill // 32))
    for name, text in (('osrel', 'ID=debian\nPRETTY_NAME="bench"\n'), ('cmdline', 'console=ttyS0 bench=1'),
                       ('uname', '6.1.0-bench-amd64')):
        with open(os.path.join(work, name), 'w') as f:
            f.write(text)
    # Sections after the stub's, page aligned (as make-fixtures.py does, shortened).
    out = run(['objdump', '-h', STUB]).stdout.decode().split('\n')
    end = 0
    base = 0
    for line in out:
        parts = line.split()
        if len(parts) >= 4 and parts[0].isdigit():
            end = max(end, int(parts[3], 16) + int(parts[2], 16))
    hdr = run(['objdump', '-p', STUB]).stdout.decode()
    for line in hdr.split('\n'):
        if line.startswith('ImageBase'):
            base = int(line.split()[1], 16)
    vma = (end + 0xfff) & ~0xfff
    cmd = ['objcopy']
    for name, src in (('.osrel', 'osrel'), ('.cmdline', 'cmdline'), ('.uname', 'uname'),
                      ('.linux', kernel), ('.initrd', initrd)):
        src = os.path.join(work, src)
        cmd += ['--add-section', f'{name}={src}', '--change-section-vma', f'{name}={vma:#x}',
                '--set-section-flags', f'{name}=data,readonly']
        vma = (vma + os.path.getsize(src) + 0xfff) & ~0xfff
    unsigned = path + '.unsigned'
    run(cmd + [STUB, unsigned])
    run(['sbsign', '--key', os.path.join(fx, 'keys', 'trusted.key'), '--cert',
         os.path.join(fx, 'keys', 'trusted.crt'), '--output', path, unsigned])
    os.unlink(unsigned)
    os.unlink(initrd)
    _ = base


def status_of(pid):
    out = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            k, _, v = line.partition(':')
            if v.strip().endswith('kB'):
                out[k] = int(v.split()[0]) * 1024
    return out


class PeakSampler:
    """Largest RssShmem / RssAnon of a process while a staging runs; VmHWM
    (reset through clear_refs) gives the peak of their sum."""

    def __init__(self, pid):
        self.pid = pid
        self.shmem = self.anon = 0
        self.stop = threading.Event()
        with open(f'/proc/{pid}/clear_refs', 'w') as f:
            f.write('5')
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            s = status_of(self.pid)
            self.shmem = max(self.shmem, s.get('RssShmem', 0))
            self.anon = max(self.anon, s.get('RssAnon', 0))
            time.sleep(0.002)

    def done(self):
        self.stop.set()
        self.thread.join()
        return status_of(self.pid).get('VmHWM', 0), self.shmem, self.anon


def latency_worker(args):
    addr, what, n = args
    import dbus
    bus = dbus.bus.BusConnection(addr)
    obj = bus.get_object('org.kexecd1', '/org/kexecd1')
    if what == 'Describe':
        call = lambda: obj.Describe(dbus_interface='org.kexecd1.Manager')
    else:
        call = lambda: obj.Get('org.kexecd1.Manager', 'State', dbus_interface='org.freedesktop.DBus.Properties')
    call()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def plot(series, sizes, work):
    """Median time against UKI size for each series (no addons), as a PNG, when gnuplot is there;
    refusals (the BPF scheme above its limit) are left out, they are not stagings."""
    if not shutil.which('gnuplot') or len(sizes) < 2:
        return
    names = ('bound', 'classic', 'bpf', 'extract', 'inspect')
    dat = os.path.join(work, 'bench.dat')
    png = os.environ.get('KEXECD_BENCH_PLOT') or os.path.join(work, 'bench.png')
    with open(dat, 'w') as f:
        for size in sizes:
            row = [str(size)]
            for name in names:
                v = series.get((name, size, 0))
                row.append(f'{statistics.median(v) * 1000:.1f}' if v else 'NaN')
            f.write(' '.join(row) + '\n')
    lines = ', '.join(f"'{dat}' using 1:{i + 2} with linespoints title '{name}'" for i, name in enumerate(names))
    script = (f"set terminal png size 800,500; set output '{png}'; set key left top; set grid; "
              f"set xlabel 'UKI size (MiB), no addons'; set ylabel 'median time (ms)'; "
              f"set title 'kexecd staging against reading and hashing the bytes once (bound)'; plot {lines}")
    if subprocess.run(['gnuplot', '-e', script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        print(f'plot: {png}')


def main():
    if len(sys.argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    kexecd, kexecctl, fx, parser, parser_cert = (os.path.abspath(a) for a in sys.argv[1:6])
    reps = max(5, int(os.environ.get('KEXECD_BENCH_REPS') or (sys.argv[6] if len(sys.argv) > 6 else 5)))
    sizes = [int(s) for s in os.environ.get('KEXECD_BENCH_SIZES', '16 64 256').split()]
    calls = int(os.environ.get('KEXECD_BENCH_CALLS', '10000'))
    for tool in ('objcopy', 'objdump', 'sbsign', 'openssl', 'dbus-daemon'):
        if not shutil.which(tool):
            print(f'bench: {tool} missing', file=sys.stderr)
            return SKIP
    if not os.path.exists(STUB) or not os.path.exists(os.path.join(fx, 'vmlinuz')):
        print('bench: systemd-boot-efi stub or the fixtures missing', file=sys.stderr)
        return SKIP
    try:
        import dbus  # noqa: F401
    except ImportError:
        print('bench: python3-dbus missing', file=sys.stderr)
        return SKIP

    work = os.environ.get('KEXECD_BENCH_DIR', '/var/tmp/kexecd-bench')
    os.makedirs(work, exist_ok=True)
    ukis = {}
    for size in sizes:
        ukis[size] = os.path.join(work, f'uki-{size}.efi')
        make_uki(ukis[size], size * MiB, fx, work)
    addon = os.path.join(fx, 'addon-signed.addon.efi')
    addon_sets = {0: [], 3: [addon] * 3}

    tmp = tempfile.mkdtemp(prefix='kexecd-bench-')
    trust = os.path.join(tmp, 'trust')
    os.makedirs(trust)
    shutil.copy(os.path.join(fx, 'trust', 'trusted.pem'), trust)
    shutil.copy(parser_cert, os.path.join(trust, 'parser.pem'))
    conf = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'scripts', 'demo-bus.conf')
    addr = f'unix:path={tmp}/bus'
    bus = subprocess.Popen(['dbus-daemon', f'--config-file={conf}', f'--address={addr}', '--nofork',
                            '--nopidfile'])
    daemon = None
    try:
        for _ in range(200):
            if os.path.exists(f'{tmp}/bus'):
                break
            time.sleep(0.05)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=addr, KEXECD_LOG_LEVEL='warning')
        daemon = subprocess.Popen([kexecd, '--kernel=null', '--trust-dir', trust, '--parser', parser,
                                   '--state-file', os.path.join(tmp, 'staged.json')],
                                  env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, 'log'), 'w'))
        ctl = [kexecctl, '--bus', addr]
        for _ in range(200):
            if subprocess.run(ctl + ['status'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.05)
        time.sleep(0.5)
        idle_rss = status_of(daemon.pid)['VmRSS']

        series = {}
        peaks = {}

        def add(key, value):
            series.setdefault(key, []).append(value)

        for rep in range(reps):
            for size in sizes:
                for n, addons in addon_sets.items():
                    files = [ukis[size]] + addons
                    inbytes = sum(os.path.getsize(f) for f in files)
                    dt, rc, err = timed(['openssl', 'dgst', '-sha256'] + files)
                    add(('bound', size, n), dt)
                    for scheme in ('classic', 'bpf'):
                        argv = ctl + ['stage', ukis[size], '--no-addons', '--scheme', scheme]
                        for a in addons:
                            argv += ['--addon', a]
                        sampler = PeakSampler(daemon.pid)
                        dt, rc, err = timed(argv)
                        hwm, shmem, anon = sampler.done()
                        refused = rc != 0
                        if refused and not (scheme == 'bpf' and 'the BPF parser' in err):
                            raise SystemExit(f'bench: {scheme} staging of {size} MiB failed: {err}')
                        add((scheme + ('-refused' if refused else ''), size, n), dt)
                        key = (scheme, size, n)
                        if not refused:
                            old = peaks.get(key, (0, 0, 0, inbytes))
                            peaks[key] = (max(old[0], hwm - idle_rss), max(old[1], shmem),
                                          max(old[2], anon), inbytes)
                    with tempfile.TemporaryDirectory(dir=work) as x:
                        t0 = time.perf_counter()
                        for sec in ('.linux', '.initrd'):
                            out = os.path.join(x, sec[1:])
                            run(['objcopy', '-O', 'binary', f'--only-section={sec}', ukis[size], out])
                            with open(out, 'rb') as f:
                                while f.read(1 << 20):
                                    pass
                        add(('extract', size, n), time.perf_counter() - t0)
                    argv = ctl + ['inspect', ukis[size]] + [x for a in addons for x in ('--addon', a)]
                    dt, rc, err = timed(argv)
                    add(('inspect', size, n), dt)
            print(f'bench: round {rep + 1}/{reps} done', file=sys.stderr)
        subprocess.run(ctl + ['unstage'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        idle_after = status_of(daemon.pid)['VmRSS']

        lat = {}
        for what in ('Describe', 'State'):
            for clients in (1, 8):
                with multiprocessing.Pool(clients) as pool:
                    parts = pool.map(latency_worker, [(addr, what, calls // clients)] * clients)
                values = [v for p in parts for v in p]
                lat[(what, clients)] = (pct(values, 0.5), pct(values, 0.99))
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait()
        bus.terminate()
        bus.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    ms = lambda s: s * 1000
    print()
    print(f'kexecd staging against its bound, {reps} interleaved rounds, times in ms (min / median),')
    print('ratio = median / median of the bound; null kernel; 3 addons = 3 signed .cmdline addons')
    print()
    print(f'{"UKI":>5} {"add":>3} | {"bound":>15} | {"classic":>15} {"x":>5} | {"bpf":>15} {"x":>5} | '
          f'{"extract":>15} {"x":>5} | {"inspect":>15} {"x":>5}')
    ratios = {}
    for size in sizes:
        for n in addon_sets:
            b = series[('bound', size, n)]
            row = f'{size:>4}M {n:>3} | {ms(min(b)):>6.1f} / {ms(statistics.median(b)):>6.1f} |'
            for name in ('classic', 'bpf', 'extract', 'inspect'):
                v = series.get((name, size, n)) or series.get((name + '-refused', size, n))
                r = statistics.median(v) / statistics.median(b)
                ratios[(name, size, n)] = r
                mark = '*' if (name + '-refused', size, n) in series else ' '
                row += f' {ms(min(v)):>6.1f} / {ms(statistics.median(v)):>6.1f}{mark}{r:>5.2f} |'
            print(row.rstrip('|'))
    print('* refused: the BPF parser\'s payload limit; the time is the time to the refusal')
    plot(series, sizes, work)
    print()
    print('peak memory of the daemon per staging (MiB): input, VmHWM above idle, max RssShmem, max RssAnon')
    for (scheme, size, n), (hwm, shmem, anon, inbytes) in sorted(peaks.items()):
        print(f'  {scheme:<8} {size:>4}M +{n} addons: input {inbytes / MiB:7.1f}  peak {hwm / MiB:7.1f} '
              f'({hwm / inbytes:4.2f}x)  shmem {shmem / MiB:7.1f}  anon {anon / MiB:6.1f}')
    print(f'idle RSS: {idle_rss / MiB:.1f} MiB at start, {idle_after / MiB:.1f} MiB after the runs and an unstage')
    print()
    print(f'D-Bus round trips ({calls} calls, ms):')
    for (what, clients), (p50, p99) in sorted(lat.items()):
        print(f'  {what:<8} {clients} client(s): p50 {ms(p50):.3f}  p99 {ms(p99):.3f}')
    print()

    def target(name, measured, limit, fmt='{:.2f}', less=True):
        ok = measured <= limit if less else measured >= limit
        print(f'{"PASS" if ok else "FAIL"} {name} {fmt.format(measured)} {fmt.format(limit)}')

    for scheme in ('classic', 'bpf'):
        for size in (s for s in sizes if s >= 64):
            for n in addon_sets:
                if (scheme + '-refused', size, n) in series:
                    continue
                target(f'{scheme}-{size}MiB-{n}addons-vs-bound', ratios[(scheme, size, n)], 1.3)
    for size in (s for s in sizes if s >= 64):
        speedup = ratios[('extract', size, 3)] / ratios[('classic', size, 3)]
        target(f'classic-{size}MiB-vs-extraction-speedup', speedup, 2.0, less=False)
    for (scheme, size, n), (hwm, shmem, anon, inbytes) in sorted(peaks.items()):
        if size >= 64:
            target(f'peak-memory-{scheme}-{size}MiB-{n}addons-MiB', hwm / MiB, (1.1 * inbytes + 16 * MiB) / MiB, '{:.1f}')
    target('describe-p99-1-client-ms', ms(lat[('Describe', 1)][1]), 1.0, '{:.3f}')
    target('idle-rss-MiB', idle_rss / MiB, 10.0, '{:.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
