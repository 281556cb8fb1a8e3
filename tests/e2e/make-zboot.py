#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A zboot image of a kernel, laid out as the kernel's own zboot stub lays it out.

drivers/firmware/efi/libstub/zboot-header.S: "MZ", "zimg" at 4, the payload's offset and size
at 8 and 12, comp_type at 0x18 ("gzip", or "zstd22" for zstd), LINUX_PE_MAGIC at 0x38. The
compressed payload sits in a .payload section of STUB (a PE of the target's machine, so Machine
says what a real one would). For zstd the kernel's build appends the uncompressed size (u32 LE)
after the stream (size_append), and payload_size leaves it out. Used by make-bpf-ref-inputs.sh
(x86, the BPF zboot parser) and make-arm64-ukis.sh (arm64, kexecd's classic unpacking).

usage: make-zboot.py STUB KERNEL OUT gzip|zstd LEVEL
"""

import os
import struct
import subprocess
import sys
import tempfile

LINUX_PE_MAGIC = 0x818223CD


def main():
    stub, kernel, out, comp, level = sys.argv[1:6]
    here = os.path.dirname(os.path.abspath(__file__))
    tool = {'gzip': ['gzip', f'-{level}', '-n', '-c'], 'zstd': ['zstd', f'-{level}', '-q', '-c']}[comp]
    # The file, not stdin: zstd then records the content size in its frame header, as the
    # kernel's build does.
    stream = subprocess.run(tool + [kernel], stdout=subprocess.PIPE, check=True).stdout
    section = stream + (struct.pack('<I', os.path.getsize(kernel)) if comp == 'zstd' else b'')
    with tempfile.TemporaryDirectory() as tmp:
        payload, pe_file = os.path.join(tmp, 'payload'), os.path.join(tmp, 'zboot.pe')
        with open(payload, 'wb') as f:
            f.write(section)
        subprocess.run([sys.executable, os.path.join(here, 'pe-add-sections.py'), stub, pe_file,
                        f'.payload={payload}'], check=True)
        d = bytearray(open(pe_file, 'rb').read())
    pe, = struct.unpack_from('<I', d, 0x3c)
    nsec, = struct.unpack_from('<H', d, pe + 6)
    opt, = struct.unpack_from('<H', d, pe + 20)
    rawptr = None
    for i in range(nsec):
        s = pe + 24 + opt + 40 * i
        if d[s:s + 8].rstrip(b'\0') == b'.payload':
            rawptr, = struct.unpack_from('<I', d, s + 20)
    comp_type = b'gzip' if comp == 'gzip' else b'zstd22'
    assert rawptr is not None and pe >= 0x40, 'no .payload section, or no room for the zboot header'
    d[4:8] = b'zimg'
    struct.pack_into('<IIII', d, 8, rawptr, len(stream), 0, 0)
    d[0x18:0x38] = comp_type.ljust(0x20, b'\0')
    struct.pack_into('<I', d, 0x38, LINUX_PE_MAGIC)
    with open(out, 'wb') as f:
        f.write(d)


if __name__ == '__main__':
    main()
