#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write a small seed corpus for fuzz_parse_core: image containers laid out
like the engine's writer (.pe.N, .ima, .select; .shstrtab last) around tiny
PEs with .linux/.initrd/.cmdline/.ucode/.profile, and a zboot PE.

usage: make_seeds.py OUTDIR
"""

import gzip
import os
import struct
import sys


def pe(sections, zboot_payload=None):
    lfanew, opt = 0x40, 0xf0
    table = lfanew + 24 + opt
    off = (table + 40 * len(sections) + 511) & ~511
    head = bytearray(off)
    head[0:2] = b'MZ'
    struct.pack_into('<I', head, 0x3c, lfanew)
    head[lfanew:lfanew + 4] = b'PE\0\0'
    struct.pack_into('<HH', head, lfanew + 4, 0x8664, len(sections))
    struct.pack_into('<H', head, lfanew + 20, opt)
    body = bytearray()
    for i, (name, data) in enumerate(sections):
        raw = (len(data) + 511) & ~511
        h = table + 40 * i
        head[h:h + 8] = name.encode().ljust(8, b'\0')[:8]
        struct.pack_into('<IIII', head, h + 8, len(data), 0x1000 * (i + 1), raw, off if raw else 0)
        if zboot_payload is not None and name == '.payload':
            head[4:8] = b'zimg'
            struct.pack_into('<II', head, 8, off, len(data))
            head[0x18:0x1d] = b'gzip\0'
        body += data + bytes(raw - len(data))
        off += raw
    return bytes(head + body)


def container(sections):
    names = b'\0'
    offs = []
    for n, _ in sections:
        offs.append(len(names))
        names += n.encode() + b'\0'
    shstr_name = len(names)
    names += b'.shstrtab\0'
    data = bytearray(64)
    hdrs = [bytes(64)]
    for (n, d), o in zip(sections, offs):
        hdrs.append(struct.pack('<IIQQQQIIQQ', o, 1, 0, 0, len(data), len(d), 0, 0, 1, 0))
        data += d
    hdrs.append(struct.pack('<IIQQQQIIQQ', shstr_name, 3, 0, 0, len(data), len(names), 0, 0, 1, 0))
    data += names
    data += bytes((8 - len(data) % 8) % 8)
    shoff = len(data)
    data += b''.join(hdrs)
    ident = b'\x7fELF\x02\x01\x01' + bytes(9)
    struct.pack_into('<16sHHIQQQIHHHHHH', data, 0, ident, 1, 0, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                     len(hdrs), len(hdrs) - 1)
    return bytes(data)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    uki = pe([('.osrel', b'ID=x\n'), ('.cmdline', b'console=ttyS0 '), ('.linux', b'KERNEL' * 8),
              ('.initrd', b'070701INITRD'), ('.ucode', b'UCODE')])
    profiles = pe([('.cmdline', b'base=1'), ('.initrd', b'I'), ('.linux', b'K'),
                   ('.profile', b'ID=a'), ('.profile', b'ID=b'), ('.cmdline', b'base=1 b'),
                   ('.profile', b'ID=c'), ('.initrd', b'')])
    addon = pe([('.cmdline', b'addon=1'), ('.initrd', b'AI'), ('.ucode', b'AU')])
    bad_addon = pe([('.linux', b'evil'), ('.cmdline', b'y')])
    zb = pe([('.payload', gzip.compress(b'vmlinux' * 100, mtime=0))], zboot_payload=True)
    zuki = pe([('.linux', zb), ('.initrd', b'I'), ('.cmdline', b'z')])
    seeds = {
        'uki': container([('.pe.1', uki)]),
        'uki-addons': container([('.pe.1', uki), ('.ima', b'\x03\x02sig'), ('.pe.2', addon),
                                 ('.pe.3', addon)]),
        'profiles-1': container([('.pe.1', profiles), ('.select', b'1')]),
        'profiles-2': container([('.pe.1', profiles), ('.pe.2', addon), ('.select', b'2\n')]),
        'addon-linux': container([('.pe.1', uki), ('.pe.2', bad_addon)]),
        'zboot-uki': container([('.pe.1', zuki)]),
        'zboot-raw': zb,
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
