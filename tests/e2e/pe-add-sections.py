#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Append sections to a PE image, repeated names allowed (objcopy refuses them).

Multi-profile UKIs repeat .profile, .cmdline and friends after the base sections (UAPI.5), which
is how ukify --join-profile lays them out; ukify 257 cannot build the profile PEs it joins from
Debian's stubs, so the differential test appends the profile sections to ukify's plain UKI.
Each section goes page-aligned after the last one; the checksum is recomputed.

usage: pe-add-sections.py IN OUT NAME=FILE...
"""

import struct
import sys


def align(v, a):
    return (v + a - 1) // a * a


def main():
    src, dst, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    d = bytearray(open(src, 'rb').read())
    pe = struct.unpack_from('<I', d, 0x3c)[0]
    nsec = struct.unpack_from('<H', d, pe + 6)[0]
    optsize = struct.unpack_from('<H', d, pe + 20)[0]
    opt = pe + 24
    sect_align, file_align = struct.unpack_from('<II', d, opt + 32)
    size_of_headers = struct.unpack_from('<I', d, opt + 60)[0]
    table = opt + optsize
    # Certificates would be invalidated anyway; refuse rather than produce a broken image.
    pe32plus = struct.unpack_from('<H', d, opt)[0] == 0x20b
    cert_dir = opt + (144 if pe32plus else 128)
    if struct.unpack_from('<II', d, cert_dir)[1]:
        sys.exit('pe-add-sections: signed image; append before signing')
    last_va = 0
    end_raw = len(d)
    for i in range(nsec):
        h = table + 40 * i
        vsize, va, rawsize, rawptr = struct.unpack_from('<IIII', d, h + 8)
        last_va = max(last_va, va + max(vsize, rawsize))
    va = align(last_va, sect_align)
    d += b'\0' * (align(end_raw, file_align) - end_raw)
    for spec in specs:
        name, path = spec.split('=', 1)
        data = open(path, 'rb').read()
        h = table + 40 * nsec
        if h + 40 > size_of_headers:
            sys.exit('pe-add-sections: no room for another section header')
        raw = align(len(data), file_align)
        hdr = name.encode().ljust(8, b'\0') + struct.pack('<IIIIIIHHI', len(data), va, raw, len(d), 0, 0, 0, 0,
                                                         0x40000040)
        d[h:h + 40] = hdr
        d += data + b'\0' * (raw - len(data))
        va = align(va + len(data), sect_align)
        nsec += 1
    struct.pack_into('<H', d, pe + 6, nsec)
    struct.pack_into('<I', d, opt + 56, va)  # SizeOfImage
    ck = opt + 64
    struct.pack_into('<I', d, ck, 0)
    if len(d) % 2:
        d.append(0)
    total = sum(struct.unpack_from('<%dH' % (len(d) // 2), d))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    struct.pack_into('<I', d, ck, total + len(d))
    open(dst, 'wb').write(d)


if __name__ == '__main__':
    main()
