#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The archive systemd-stub generates from a UKI's .osrel: /.extra/os-release in one newc cpio.

Written from the kernel's buffer-format document, not from kexecd's code, so that the e2e's
expected initrd composition is an independent statement (make-e2e-ukis.sh, make-arm64-ukis.sh).

usage: stub-osrel.py OSREL OUT
"""

import sys


def pad(b):
    return b + b'\0' * (-len(b) % 4)


def entry(ino, mode, name, body=b''):
    hdr = b'070701' + b''.join(b'%08x' % v for v in
                               (ino, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(name) + 1, 0))
    return pad(pad(hdr + name + b'\0') + body)


def main():
    data = open(sys.argv[1], 'rb').read()
    trailer = b'070701' + b'0' * 32 + b'00000001' + b'0' * 48 + b'0000000B' + b'0' * 8 + b'TRAILER!!!' + b'\0' * 4
    out = entry(1, 0o40555, b'.extra') + entry(2, 0o100444, b'.extra/os-release', data) + trailer
    open(sys.argv[2], 'wb').write(out)


if __name__ == '__main__':
    main()
