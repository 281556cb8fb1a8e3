#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reset a VM whose firmware stalled after a reset, and say where its CPU was (reboot.sh).

Under TCG, OVMF sometimes prints nothing for many minutes after a reset while qemu uses a full
CPU (tests/bench/README.md). Through qemu's QMP socket this records the vCPU's instruction
pointer and code segment (firmware addresses lie below 4 GiB, the kernel's at 0xffff...), resets
the machine as its own reset would, and appends a BENCH-HOST-RESET line stamped with the same
monotonic clock as serial-stamp.py's to the serial log, so reboot-report.py leaves that reboot
out of the medians and names it.

usage: qmp-reset.py SOCKET LOG QUIET_SECONDS
"""

import json
import re
import socket
import sys
import time


def main():
    sock_path, log, quiet = sys.argv[1], sys.argv[2], sys.argv[3]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock_path)
    f = s.makefile('rw', encoding='utf-8')

    def call(cmd, **args):
        f.write(json.dumps({'execute': cmd, 'arguments': args} if args else {'execute': cmd}) + '\n')
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if 'return' in reply or 'error' in reply:
                return reply

    json.loads(f.readline())  # the greeting
    call('qmp_capabilities')
    regs = call('human-monitor-command', **{'command-line': 'info registers'}).get('return', '')
    rip = re.search(r'RIP=([0-9a-f]+)', regs) or re.search(r'EIP=([0-9a-f]+)', regs)
    cs = re.search(r'CS =([0-9a-f]+)', regs)
    where = f'rip={rip.group(1) if rip else "?"} cs={cs.group(1) if cs else "?"}'
    call('system_reset')
    with open(log, 'a', encoding='utf-8') as out:
        out.write(f'{time.monotonic():.6f} BENCH-HOST-RESET quiet={quiet} {where}\n')
    print(where)


if __name__ == '__main__':
    main()
