#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check a signed parser container independently of the code that wrote it.

1. Split the appended module signature with struct (sign-file layout) and
   verify it with the openssl CLI (`openssl cms -verify`), not with OpenSSL
   through our C++ code.
2. Re-check every rule of the kernel's validator (kexec_bpf_loader.c L8b
   validate_elf_bpf_sections, KERNEL-ABI.md section 1) with a separate ELF
   parser: ELF magic, ELFCLASS64, sane e_shoff/e_shentsize/e_shnum/
   e_shstrndx, NUL-terminated .shstrtab, every other section named .bpf.N
   (single digit 1..8, no gaps, no duplicates) or .bpf.nested (at most once),
   no other sections (.symtab/.strtab would make it "not a container").
3. Each .bpf.N must be an ELF object whose symbol table has opts_data and
   opts_insn (the light-skeleton blobs, symbol size - 1 bytes used) with a
   trailing NUL; .bpf.nested is checked recursively (and its own signature).

usage: check_container.py CONTAINER CERT.pem [--expect-nested]
"""

import os
import struct
import subprocess
import sys
import tempfile

MAGIC = b'~Module signature appended~\n'


class Bad(Exception):
    pass


def split_signature(data):
    if len(data) < 12 + len(MAGIC) or not data.endswith(MAGIC):
        raise Bad('no "~Module signature appended~" marker')
    info = data[-len(MAGIC) - 12:-len(MAGIC)]
    algo, hash_, id_type, signer_len, key_id_len = struct.unpack('5B', info[:5])
    pad = info[5:8]
    (sig_len,) = struct.unpack('>I', info[8:12])
    if id_type != 2:
        raise Bad('module_signature.id_type %d, expected 2 (PKEY_ID_PKCS7)' % id_type)
    if algo or hash_ or signer_len or key_id_len or pad != b'\0\0\0':
        raise Bad('module_signature fields must be zero for PKCS#7')
    if sig_len == 0 or sig_len > len(data) - 12 - len(MAGIC):
        raise Bad('sig_len %d out of range' % sig_len)
    end = len(data) - len(MAGIC) - 12
    return data[:end - sig_len], data[end - sig_len:end]


def openssl_verify(payload, sig, cert):
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, 'payload')
        s = os.path.join(tmp, 'sig.der')
        with open(p, 'wb') as f:
            f.write(payload)
        with open(s, 'wb') as f:
            f.write(sig)
        r = subprocess.run(['openssl', 'cms', '-verify', '-binary', '-inform', 'DER',
                            '-in', s, '-content', p, '-certfile', cert, '-CAfile', cert,
                            '-purpose', 'any', '-out', os.devnull],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Bad('openssl cms -verify failed: ' + r.stderr.strip())
        # And the digest: sign-file uses SHA-256.
        r = subprocess.run(['openssl', 'cms', '-cmsout', '-print', '-inform', 'DER', '-in', s],
                           capture_output=True, text=True)
        if r.returncode != 0 or 'sha256' not in r.stdout:
            raise Bad('signature does not use SHA-256')
        # sign-file signs without authenticated attributes (CMS_NOATTR)
        # and embeds no certificates (CMS_NOCERTS)
        compact = ' '.join(r.stdout.split())
        if 'signedAttrs: <ABSENT>' not in compact:
            raise Bad('signature carries signed attributes')
        if 'certificates: <ABSENT>' not in compact:
            raise Bad('signature embeds certificates')


def sections(elf, what):
    if len(elf) < 64 or elf[:4] != b'\x7fELF':
        raise Bad('%s: no ELF magic' % what)
    if elf[4] != 2:
        raise Bad('%s: not ELFCLASS64' % what)
    if elf[5] != 1:
        raise Bad('%s: not little-endian' % what)
    (shoff,) = struct.unpack_from('<Q', elf, 40)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', elf, 58)
    if shentsize != 64:
        raise Bad('%s: e_shentsize %d' % (what, shentsize))
    if shnum < 2 or shstrndx == 0 or shstrndx >= shnum:
        raise Bad('%s: e_shnum %d / e_shstrndx %d insane' % (what, shnum, shstrndx))
    if shoff > len(elf) or shnum * 64 > len(elf) - shoff:
        raise Bad('%s: section header table outside the file' % what)
    hdrs = []
    for i in range(shnum):
        name, typ, flags, addr, off, size, link, info, align, entsize = \
            struct.unpack_from('<IIQQQQIIQQ', elf, shoff + i * 64)
        hdrs.append((name, typ, off, size, link))
    _, _, stroff, strsz, _ = hdrs[shstrndx]
    if strsz == 0 or stroff > len(elf) or strsz > len(elf) - stroff:
        raise Bad('%s: .shstrtab outside the file' % what)
    strtab = elf[stroff:stroff + strsz]
    if strtab[-1] != 0:
        raise Bad('%s: .shstrtab not NUL-terminated' % what)
    out = []
    for i, (name, typ, off, size, link) in enumerate(hdrs):
        if name >= strsz:
            raise Bad('%s: section %d name outside .shstrtab' % (what, i))
        n = strtab[name:strtab.index(b'\0', name)].decode('latin-1')
        if typ != 8 and (off > len(elf) or size > len(elf) - off):  # 8 = SHT_NOBITS
            raise Bad('%s: section %s outside the file' % (what, n))
        out.append((i, n, typ, elf[off:off + size] if typ != 8 else b'', link, size))
    return out, shstrndx


def check_blob(obj, what):
    secs, _ = sections(obj, what)
    syms = {}
    for i, n, typ, data, link, size in secs:
        if typ != 2:  # SHT_SYMTAB
            continue
        strtab = secs[link][3]
        for k in range(0, len(data) - 23, 24):
            st_name, st_info, st_other, st_shndx, st_value, st_size = \
                struct.unpack_from('<IBBHQQ', data, k)
            if st_name == 0:
                continue
            name = strtab[st_name:strtab.index(b'\0', st_name)].decode()
            syms[name] = (st_info >> 4, st_shndx, st_value, st_size)
    for want in ('opts_data', 'opts_insn'):
        if want not in syms:
            raise Bad('%s: no symbol %s' % (what, want))
        bind, shndx, value, size = syms[want]
        if bind != 1:  # STB_GLOBAL
            raise Bad('%s: %s is not global' % (what, want))
        if size < 2 or shndx == 0 or shndx >= len(secs):
            raise Bad('%s: %s has an insane size or section' % (what, want))
        sec = secs[shndx][3]
        if value + size > len(sec) or sec[value + size - 1] != 0:
            raise Bad('%s: %s does not end in the NUL the kernel strips' % (what, want))
    insn_size = syms['opts_insn'][3] - 1
    if insn_size % 8:
        raise Bad('%s: opts_insn is not whole BPF instructions' % what)


def check_container(data, cert, what, expect_nested):
    payload, sig = split_signature(data)
    openssl_verify(payload, sig, cert)
    secs, shstrndx = sections(payload, what)
    if shstrndx != len(secs) - 1:
        raise Bad('%s: .shstrtab is not the last section' % what)
    if secs[shstrndx][1] != '.shstrtab':
        raise Bad('%s: e_shstrndx does not name .shstrtab' % what)
    numbers = []
    nested = []
    for i, n, typ, body, link, size in secs[1:]:
        if i == shstrndx:
            continue
        if n == '.bpf.nested':
            nested.append(body)
        elif len(n) == 6 and n.startswith('.bpf.') and n[5] in '12345678':
            numbers.append(int(n[5]))
            check_blob(body, '%s:%s' % (what, n))
        else:
            raise Bad('%s: section %r is not allowed in a parser container' % (what, n))
    if sorted(numbers) != list(range(1, len(numbers) + 1)) or not numbers:
        raise Bad('%s: .bpf.N sections %s have gaps or duplicates' % (what, numbers))
    if len(nested) > 1:
        raise Bad('%s: more than one .bpf.nested' % what)
    if expect_nested is not None and bool(nested) != expect_nested:
        raise Bad('%s: .bpf.nested %s' % (what, 'missing' if expect_nested else 'unexpected'))
    for body in nested:
        check_container(body, cert, what + ':.bpf.nested', None)
    return len(numbers), bool(nested)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    if len(args) != 2:
        sys.exit(__doc__)
    with open(args[0], 'rb') as f:
        data = f.read()
    try:
        n, nested = check_container(data, args[1], os.path.basename(args[0]),
                                    '--expect-nested' in sys.argv)
    except Bad as e:
        print('FAIL:', e)
        sys.exit(1)
    print('OK: %d parser(s) in layer one, nested layer: %s, signature verified by openssl'
          % (n, 'yes' if nested else 'no'))


if __name__ == '__main__':
    main()
