#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""D-Bus latency of kexecd's read path (DESIGN.md §7): Describe() and the
State property, round trips measured from a client on a private bus, while
idle and while a staging is in flight (the daemon must keep answering).
Prints medians and 99th percentiles; asserts nothing."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import dbus

SKIP = 77


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    kexecd, kexecctl = sys.argv[1], sys.argv[2]
    fixtures, rounds = os.path.abspath(sys.argv[3]), int(sys.argv[4])
    if os.path.exists(os.path.join(fixtures, 'UNAVAILABLE')):
        print('bench: fixtures unavailable', file=sys.stderr)
        return SKIP
    tmp = tempfile.mkdtemp(prefix='kexecd-bench-')
    conf = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'scripts', 'demo-bus.conf')
    bus_addr = f'unix:path={tmp}/bus'
    bus = subprocess.Popen(['dbus-daemon', f'--config-file={conf}', f'--address={bus_addr}', '--nofork',
                            '--nopidfile'])
    daemon = None
    try:
        for _ in range(100):
            if os.path.exists(f'{tmp}/bus'):
                break
            time.sleep(0.05)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus_addr)
        kdir = os.path.join(tmp, 'kernel')
        os.makedirs(kdir)
        daemon = subprocess.Popen([kexecd, '--config=/dev/null', f'--kernel=fake:{kdir}',
                                   '--state-file', os.path.join(tmp, 'staged.json'),
                                   '--trust-dir', os.path.join(fixtures, 'trust')],
                                  env=env, stderr=subprocess.DEVNULL)
        conn = dbus.bus.BusConnection(bus_addr)
        for _ in range(200):
            if conn.name_has_owner('org.kexecd1'):
                break
            time.sleep(0.05)
        obj = conn.get_object('org.kexecd1', '/org/kexecd1')
        manager = dbus.Interface(obj, 'org.kexecd1.Manager')
        props = dbus.Interface(obj, 'org.freedesktop.DBus.Properties')

        def measure(call):
            out = []
            for _ in range(rounds):
                start = time.perf_counter()
                call()
                out.append((time.perf_counter() - start) * 1e6)
            return out

        results = {
            'Describe() idle': measure(lambda: manager.Describe()),
            'Get(State) idle': measure(lambda: props.Get('org.kexecd1.Manager', 'State')),
        }

        # Hold a staging in flight (the fake kernel sleeps in load) and
        # measure the read path meanwhile.
        with open(os.path.join(kdir, 'delay-ms'), 'w') as f:
            f.write('3000')
        staging = subprocess.Popen([kexecctl, 'stage', os.path.join(fixtures, 'uki.efi')], env=env,
                                   stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while props.Get('org.kexecd1.Manager', 'State') != 'staging':
            if time.monotonic() > deadline or staging.poll() is not None:
                print('bench: the staging never started', file=sys.stderr)
                return 1
            time.sleep(0.01)
        results['Describe() staging'] = measure(lambda: manager.Describe())
        staging.wait()
        for name, values in results.items():
            print(f'{name:<22} median {percentile(values, 0.5):8.0f} us   p99 {percentile(values, 0.99):8.0f} us'
                  f'   ({len(values)} calls)')
        return 0
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait()
        bus.terminate()
        bus.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
