#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write one seed corpus directory per fuzz_kexecd target.

Seeds are small on purpose (the fuzzer mutates; it does not need an 8 MiB
kernel): tiny generated PEs laid out like the fixtures (UKIs, profiles,
addons, zboot, PE32), the fixtures' own files up to 256 KiB, signed copies
made with the fixtures' keys, and hand-made text for the text targets.
Multi-file targets (uki, compose, record) get the chunked format of
fuzz_common.h: OPTIONS @@KXF@@ UKI @@KXF@@ ADDON ...

usage: make-seeds.py --fuzzer FUZZ_KEXECD --fixtures DIR --out DIR
"""

import argparse
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

SEP = b'@@KXF@@'
MAX_FIXTURE = 256 * 1024


def align(v, a):
    return (v + a - 1) & ~(a - 1)


def pe(sections, machine=0x8664, pe32=False, zboot=None):
    """A valid PE with these (name, bytes) sections, as the engine reads it:
    VirtualSize = payload size, raw size rounded to 512, zero-size sections
    with everything 0 (as the fixtures' masking .initrd)."""
    lfanew = 0x40
    opt_size = 0xe0 if pe32 else 0xf0
    table = lfanew + 24 + opt_size
    off = align(table + 40 * len(sections), 0x200)
    head = bytearray(off)
    head[0:2] = b'MZ'
    struct.pack_into('<I', head, 0x3c, lfanew)
    head[lfanew:lfanew + 4] = b'PE\0\0'
    struct.pack_into('<HHIIIHH', head, lfanew + 4, machine, len(sections), 0, 0, 0, opt_size, 0x22)
    opt = lfanew + 24
    struct.pack_into('<H', head, opt, 0x10b if pe32 else 0x20b)
    struct.pack_into('<II', head, opt + 32, 0x1000, 0x200)  # section / file alignment
    struct.pack_into('<I', head, opt + 60, off)              # SizeOfHeaders
    struct.pack_into('<H', head, opt + 68, 10)               # EFI application
    struct.pack_into('<I', head, opt + (92 if pe32 else 108), 16)
    body = bytearray()
    rva = 0x1000
    for i, (name, data) in enumerate(sections):
        h = table + 40 * i
        raw = align(len(data), 0x200)
        head[h:h + 8] = name.ljust(8, b'\0')[:8]
        struct.pack_into('<IIII', head, h + 8, len(data), rva if data else 0, raw, off if raw else 0)
        struct.pack_into('<I', head, h + 36, 0x40000040)
        if zboot is not None and name == b'.payload':
            head[4:8] = b'zimg'
            struct.pack_into('<II', head, 8, off, len(data))
            head[0x18:0x18 + len(zboot) + 1] = zboot + b'\0'
            struct.pack_into('<I', head, 0x38, 0x818223cd)
        body += data + bytes(raw - len(data))
        off += raw
        rva += align(max(len(data), 1), 0x1000)
    struct.pack_into('<I', head, opt + 56, rva)  # SizeOfImage
    return bytes(head + body)


def multi(uki, addons=(), selector=b'', extra=b''):
    return SEP.join([selector + b'\n' + extra, uki] + list(addons))


def tool(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def cert_table(data):
    """(offset, size) of a PE's certificate table, or None (also for
    whatever is too broken to tell)."""
    try:
        if data[:2] != b'MZ':
            return None
        lfanew = struct.unpack_from('<I', data, 0x3c)[0]
        opt = lfanew + 24
        dirs = opt + (112 if struct.unpack_from('<H', data, opt)[0] == 0x20b else 96)
        off, size = struct.unpack_from('<II', data, dirs + 4 * 8)
    except struct.error:
        return None
    return (off, size) if off and size and off + size <= len(data) else None


def pkcs7_blobs(data):
    ct = cert_table(data)
    out = []
    if not ct:
        return out
    table = data[ct[0]:ct[0] + ct[1]]
    pos = 0
    while pos + 8 <= len(table):
        length, rev, typ = struct.unpack_from('<IHH', table, pos)
        if length < 8:
            break
        if rev == 0x200 and typ == 2:
            out.append(table[pos + 8:pos + length])
        pos += (length + 7) & ~7
    return out


def sign(data, keys, name, work):
    """sbsign a copy with keys/<name>.{key,crt}; None when that cannot be done."""
    key, crt = os.path.join(keys, name + '.key'), os.path.join(keys, name + '.crt')
    if not (os.path.exists(key) and os.path.exists(crt) and shutil.which('sbsign')):
        return None
    src, dst = os.path.join(work, 'in.efi'), os.path.join(work, 'out.efi')
    with open(src, 'wb') as f:
        f.write(data)
    try:
        tool('sbsign', '--key', key, '--cert', crt, '--output', dst, src)
    except subprocess.CalledProcessError as e:
        print(f'make-seeds: sbsign failed ({e.stderr.decode(errors="replace").strip()}); '
              'no signed seed', file=sys.stderr)
        return None
    with open(dst, 'rb') as f:
        return f.read()


def esl(certs_der, hashes=()):
    """EFI_SIGNATURE_LISTs: one X.509 list per certificate, one SHA-256 list."""
    x509 = bytes.fromhex('a159c0a5e494a74a87b5ab155c2bf072')
    sha256 = bytes.fromhex('2616c4c14c509240aca941f936934328')
    owner = bytes(range(16))
    out = b''
    for der in certs_der:
        out += x509 + struct.pack('<III', 28 + 16 + len(der), 0, 16 + len(der)) + owner + der
    if hashes:
        out += sha256 + struct.pack('<III', 28 + 48 * len(hashes), 0, 48)
        out += b''.join(owner + h for h in hashes)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--fuzzer', required=True)
    ap.add_argument('--fixtures', required=True)
    ap.add_argument('--out', required=True)
    args = ap.parse_args()

    seeds = {t: {} for t in ('pe', 'uki', 'trust', 'compose', 'osrel', 'discovery', 'state', 'record', 'inplace')}
    work = tempfile.mkdtemp(prefix='kexecd-seeds-')
    fixtures = args.fixtures
    have_fixtures = os.path.isdir(fixtures) and not os.path.exists(os.path.join(fixtures, 'UNAVAILABLE'))
    keys = os.path.join(fixtures, 'keys')

    # --- small generated images
    osrel = b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
    cpio = b'070701' + b'0' * 104 + b'TRAILER!!!\0'
    kernel = b'MZ' + b'\0' * 62 + b'bzImage kernel ' * 16
    zb_gzip = pe([(b'.payload', gzip.compress(b'vmlinux ' * 512, mtime=0))], machine=0xaa64, zboot=b'gzip')
    uki = pe([(b'.osrel', osrel), (b'.cmdline', b'console=ttyS0 quiet'), (b'.uname', b'6.1.0-26-amd64'),
              (b'.initrd', cpio), (b'.ucode', b'UCODE' * 8), (b'.linux', kernel)])
    uki_min = pe([(b'.linux', kernel)])
    uki_stub = pe([(b'.text', b'\xc3' * 32), (b'.sdmagic', b'#### LoaderInfo: systemd-stub ####'),
                   (b'.sbat', b'sbat,1\n'), (b'.osrel', b'ID=x\nIMAGE_ID=img\nIMAGE_VERSION=3\n'),
                   (b'.linux', kernel), (b'.dtb', b'\xd0\x0d\xfe\xed'), (b'.splash', b'BM')])
    profiles = pe([(b'.osrel', osrel), (b'.cmdline', b'base=1'), (b'.uname', b'6.1.0-26-amd64'),
                   (b'.initrd', cpio), (b'.linux', kernel),
                   (b'.profile', b'ID=default\nTITLE=Default\n'),
                   (b'.profile', b'ID=debug\nTITLE="Debug mode"\n'), (b'.cmdline', b'base=1 debug'),
                   (b'.profile', b'ID=noinitrd\n'), (b'.initrd', b''),
                   (b'.profile', b'ID=7\n'), (b'.linux', kernel[:64])])
    uki_zboot = pe([(b'.osrel', osrel), (b'.cmdline', b'z=1'), (b'.linux', zb_gzip)], machine=0xaa64)
    odd_names = pe([(b'.li\xffux', b'x'), (b'\x01\x7f.a', b'y'), (b'.linux', kernel),
                    (b'.cmdline', 'grüße=1 \t'.encode())])
    addon_cmdline = pe([(b'.cmdline', b'kexecd.addon=1')])
    addon_initrd = pe([(b'.cmdline', b'kexecd.addon2=1'), (b'.initrd', cpio), (b'.ucode', b'AU' * 16)])
    addon_uname = pe([(b'.uname', b'0.0.0-other'), (b'.cmdline', b'x=1')])
    addon_linux = pe([(b'.linux', b'not a kernel'), (b'.cmdline', b'y=1')])
    addon_ia32 = pe([(b'.text', b'\xc3' * 16), (b'.cmdline', b'z=1')], machine=0x14c, pe32=True)
    ukis = {'uki': uki, 'uki-min': uki_min, 'uki-stub': uki_stub, 'uki-profiles': profiles,
            'uki-zboot': uki_zboot, 'uki-odd-names': odd_names}
    addons = {'addon-cmdline': addon_cmdline, 'addon-initrd': addon_initrd, 'addon-uname': addon_uname,
              'addon-linux': addon_linux, 'addon-ia32': addon_ia32}

    signed = {}
    if os.path.isdir(keys):
        for name, data in (('uki-signed', uki), ('uki-profiles-signed', profiles),
                           ('addon-signed', addon_cmdline)):
            s = sign(data, keys, 'trusted', work)
            if s:
                signed[name] = s
        s = sign(uki, keys, 'untrusted', work)
        if s:
            signed['uki-untrusted'] = s
        if 'uki-signed' in signed:
            t = bytearray(signed['uki-signed'])
            t[0x200] ^= 0x20  # first payload byte: digest mismatch
            signed['uki-tampered'] = bytes(t)

    from_fixtures = {}
    if have_fixtures:
        for name in sorted(os.listdir(fixtures)):
            p = os.path.join(fixtures, name)
            if name.endswith('.efi') and os.path.isfile(p) and os.path.getsize(p) <= MAX_FIXTURE:
                with open(p, 'rb') as f:
                    from_fixtures['fixture-' + name] = f.read()

    images = {**ukis, **addons, **signed, 'zboot-gzip': zb_gzip, **from_fixtures}
    seeds['pe'].update(images)

    combos = {
        'uki+addons': multi(uki, [addon_cmdline, addon_initrd]),
        'uki+bad-addons': multi(uki, [addon_uname, addon_linux, addon_ia32]),
        'profiles@1+addon': multi(profiles, [addon_initrd], b'@1', b'extra=1'),
        'profiles-debug': multi(profiles, [], b'debug'),
        'profiles-2': multi(profiles, [addon_cmdline], b'2'),
        'profiles-unknown': multi(profiles, [], b'nope'),
        'zboot+addon': multi(uki_zboot, [addon_cmdline]),
        'odd-names': multi(odd_names, [addon_cmdline], b'', 'ä=\x01'.encode()),
    }
    if 'uki-signed' in signed:
        combos['signed+signed-addon'] = multi(signed['uki-signed'], [signed.get('addon-signed', addon_cmdline)])
    if 'uki-profiles-signed' in signed:
        combos['signed-profiles@2'] = multi(signed['uki-profiles-signed'], [addon_initrd], b'@2')
    multi_seeds = {**ukis, **signed, **combos}
    # The record target is the slowest per input (signatures, hashes,
    # memfds): only the small generated seeds, so inputs stay a few KiB.
    seeds['record'].update(multi_seeds)
    seeds['inplace'].update(multi_seeds)
    for name, data in from_fixtures.items():
        if 'addon' in name:
            multi_seeds['uki+' + name] = multi(uki, [data])
    seeds['uki'].update(multi_seeds)
    seeds['compose'].update(multi_seeds)
    seeds['compose']['zboot-gzip'] = zb_gzip
    # Plain kernel headers (issue 15): a minimal bzImage setup header (protocol 2.15, one setup
    # sector, 1 KiB of payload, a version string) and an arm64 Image header.
    bz = bytearray(512 * 2 + 1024)
    bz[0:2] = b'MZ'
    bz[0x1f1] = 1
    struct.pack_into('<I', bz, 0x1f4, 1024 // 16)
    struct.pack_into('<H', bz, 0x1fe, 0xaa55)
    bz[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', bz, 0x206, 0x020f)
    struct.pack_into('<H', bz, 0x20e, 0x240 - 0x200)
    bz[0x240:0x240 + 24] = b'6.1.0-26-amd64 (fuzz) #1'
    seeds['compose']['bzimage'] = bytes(bz)
    arm64 = bytearray(4096)
    arm64[0x38:0x3c] = b'ARM\x64'
    struct.pack_into('<Q', arm64, 0x10, len(arm64))  # image_size: 0 is refused
    seeds['compose']['arm64-image'] = bytes(arm64)
    for name, data in from_fixtures.items():
        if 'zboot' in name:
            seeds['compose'][name] = data
            seeds['compose']['uki-with-' + name] = pe([(b'.cmdline', b'z=1'), (b'.linux', data)],
                                                      machine=0xaa64)

    # --- trust: signed PEs, raw PKCS#7 blobs (wrapped by the target into its
    # template PE), EFI signature lists
    trust = seeds['trust']
    for name, data in {**signed, **from_fixtures}.items():
        if cert_table(data):
            trust[name] = data
            for i, blob in enumerate(pkcs7_blobs(data)):
                trust[f'p7-{name}-{i}'] = blob
    trust['unsigned'] = uki_min
    template = os.path.join(work, 'template.efi')
    env = dict(os.environ, KEXECD_FUZZ_TARGET='trust', KEXECD_FUZZ_WRITE_TEMPLATE=template)
    subprocess.run([args.fuzzer], env=env, check=True)
    with open(template, 'rb') as f:
        tdata = f.read()
    for key in ('trusted', 'untrusted'):
        s = sign(tdata, keys, key, work) if os.path.isdir(keys) else None
        if s:
            trust['template-signed-' + key] = s
            for blob in pkcs7_blobs(s):
                trust['p7-template-' + key] = blob
    ders = []
    for key in ('trusted', 'untrusted'):
        crt = os.path.join(keys, key + '.crt')
        if os.path.exists(crt):
            ders.append(tool('openssl', 'x509', '-in', crt, '-outform', 'DER'))
    trust['esl-certs'] = esl(ders, [bytes(32)])
    trust['esl-hash-only'] = esl([], [bytes(range(32))])

    # --- text targets
    osr = seeds['osrel']
    osr['debian'] = osrel
    osr['quoted'] = b"NAME='Fedora Linux'\nID=fedora\n# comment\nVERSION_ID=40\r\nPRETTY_NAME=\"Fedora 40\"\n"
    osr['profile'] = b'ID=debug\nTITLE=Debug\n'
    osr['odd'] = b' =x\nA==b\n"=\n\tKEY = "v\xff\x01"\nIMAGE_ID=a\0IGNORED=1\n'
    osr['utf8'] = 'PRETTY_NAME="Ünïcødé ✓ 🐧"\nID=x\n'.encode() + b'BAD=\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\n'

    dis = seeds['discovery']
    dis['tries'] = b'debian-6.1.0-26-amd64+3-1.efi\n6.1.0-9-amd64'
    dis['tries-addon'] = b'x+0.addon.efi\n.addon.efi'
    dis['versions'] = b'6.1.0-10-amd64\n6.1.0-9-amd64'
    dis['versions-tilde'] = b'1.0~rc1^git2.a\n1.0-1.b~'
    dis['versions-three'] = b'123~rc1-1\n123^post1\n123.a-1'
    dis['versions-three-b'] = b'6.1.0-9\n6.1.0-10~bpo\n6.01.0-10'
    dis['loader.conf'] = b'timeout 3\n# default x\ndefault  "debian-*.efi"\t\r\ndefault @saved\neditor no\n'
    var = struct.pack('<I', 7) + 'debian-6.1.efi'.encode('utf-16-le') + b'\0\0'
    dis['loader-variable'] = var
    dis['type1-entry'] = (b'# Fedora\ntitle "Fedora 40"\nversion 6.8.5\nmachine-id 0123456789abcdef\n'
                          b'sort-key fedora\nlinux /0123/6.8.5/linux\ninitrd /0123/ucode.img\n'
                          b'initrd 0123//./initrd\noptions root=UUID=1 ro\noptions\tquiet\n'
                          b'architecture x64\ndevicetree /d.dtb\n')
    dis['type1-uki-dotdot'] = b'uki /EFI/Linux/../../x.efi\nlinux /k\noptions BOOT_IMAGE=/x initrd=y a="b c"\n'

    dis['loader-variable-surrogates'] = struct.pack('<I', 7) + '🐧x'.encode('utf-16-le') + b'\x00\xd8\x00\x00'

    st = seeds['state']
    record = {
        'uki': {'size': 123, 'sha256': 'ab' * 32, 'path': '/boot/efi/EFI/Linux/debian.efi',
                'uname': '6.1.0-26-amd64',
                'os_release': {'id': 'debian', 'version_id': '12', 'pretty_name': 'Debian'},
                'signature': {'verdict': 'trusted', 'signer': 'CN=test', 'detail': 'ok'}},
        'profile': {'index': 1, 'id': 'debug', 'title': 'Debug'},
        'addons': [{'size': 1, 'sha256': '00' * 32, 'path': '/a.addon.efi',
                    'signature': {'verdict': 'unsigned', 'signer': '', 'detail': 'no certificate table'}}],
        'signature_policy': 'warn', 'cmdline': 'console=ttyS0 quiet', 'scheme': 'classic',
        'scheme_reason': 'auto', 'kernel': {'size': 5, 'sha256': '11' * 32, 'zboot': False},
        'initrd': None, 'flags': 4, 'staged_at': '2026-11-30T07:00:00Z',
        'discovery_notes': ['a', 'b'], 'numbers': [1, -2, 3.5, 18446744073709551615, -9223372036854775808],
    }
    st['record'] = json.dumps(record, indent=2).encode()
    st['empty-addons'] = b'{"addons":[],"x":[[]],"y":[{}],"z":[1,"a",null,true,{"k":[]}]}'
    st['escapes'] = b'{"s":"\\u0000\\ud83d\\udc27\\n\\"","t":1e400,"u":-0.0,"":"","\\u00e9":{}}'
    st['deep16'] = b'[' * 15 + b'{}' + b']' * 15
    st['deep17'] = b'{"a":' * 17 + b'1' + b'}' * 17
    st['not-object'] = b'["a"]'

    for target, files in seeds.items():
        d = os.path.join(args.out, target)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        for name, data in files.items():
            with open(os.path.join(d, name), 'wb') as f:
                f.write(data)
    shutil.rmtree(work)
    print('make-seeds: ' + ', '.join(f'{t} {len(f)}' for t, f in seeds.items()) +
          ('' if have_fixtures else ' (fixtures unavailable: generated seeds only)'))


if __name__ == '__main__':
    main()
