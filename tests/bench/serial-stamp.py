#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Stamp each line of a VM's serial console with the host's monotonic clock (reboot.sh).

Reads the serial output on stdin (qemu -serial stdio) and writes "SECONDS TEXT" lines to LOG,
SECONDS being time.monotonic() when the line's first byte arrived: a line is stamped when the
guest starts writing it, so a long line or a slow console does not move its event later. The
reboot benchmark takes its boundaries from these stamps (the old kernel's last line, the
firmware's first output, the new kernel's first line), since the guest's own clocks restart at
every firmware boot and kexec. The stamper runs at normal priority while qemu is niced. LOG is
appended to (reboot.sh empties it first): qmp-reset.py adds its lines with the same clock.

usage: serial-stamp.py LOG < serial
"""

import os
import sys
import time


def main():
    out = open(sys.argv[1], 'a', buffering=1, encoding='utf-8')
    pending = b''
    started = None
    while True:
        chunk = os.read(0, 65536)
        now = time.monotonic()
        if not chunk:
            break
        while chunk:
            if started is None:
                started = now
            line, nl, chunk = chunk.partition(b'\n')
            pending += line
            if not nl:
                break
            text = pending.decode('utf-8', 'replace').replace('\r', '')
            out.write(f'{started:.6f} {text}\n')
            pending, started = b'', None
    if pending:
        out.write(f'{started:.6f} {pending.decode("utf-8", "replace")}\n')


if __name__ == '__main__':
    main()
