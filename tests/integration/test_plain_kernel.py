#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Plain kernels, Type #1 entries and the Debian layout (issue 15).

The private bus, dbusmock logind/polkitd and the recording kernel of
test_kexecd.py. Every assertion is on the bytes the kernel got
(kernel.bin, initrd.bin, cmdline.bin) and on what kexecctl shows.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_kexecd as base  # noqa: E402
from test_kexecd import (EXIT_INVALID, EXIT_OK, EXIT_SIGNATURE, EXIT_USAGE, read,  # noqa: E402
			 sha256)


def pad4(data):
	return data + b'\0' * (-len(data) % 4)


class PlainKernelTest(base.KexecdTest):

	def write(self, name, data):
		path = os.path.join(self.kdir, name)
		os.makedirs(os.path.dirname(path), exist_ok=True)
		with open(path, 'wb') as f:
			f.write(data)
		os.chmod(path, 0o644)
		return path

	def two_initrds(self):
		# The first one odd-sized, as issue 9's padding bug needs.
		a = self.write('a.cpio', read(self.fx('initrd.cpio')) + b'odd')
		b = self.write('b.cpio', read(self.fx('addon-initrd.cpio')))
		self.assertNotEqual(len(read(a)) % 4, 0)
		return a, b

	def test_stage_kernel_exact_bytes(self):
		a, b = self.two_initrds()
		r = self.ctl('stage', '--kernel', self.fx('vmlinuz'), '--initrd', a, '--initrd', b,
			     '--append', 'console=ttyS0 kexecd.plain=1 x="a b"')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertIn(f"Staged '{self.fx('vmlinuz')}'", r.out)
		self.assertEqual(read(self.kfile('kernel.bin')), read(self.fx('vmlinuz')))
		self.assertEqual(read(self.kfile('initrd.bin')), pad4(read(a)) + pad4(read(b)))
		self.assertEqual(read(self.kfile('cmdline.bin')), b'console=ttyS0 kexecd.plain=1 x="a b"\0')
		self.assertEqual(int(read(self.kfile('flags')), 0), 0)

		staged = self.status()['staged']
		self.assertEqual(staged['kind'], 'kernel')
		self.assertEqual(staged['image']['path'], self.fx('vmlinuz'))
		self.assertEqual(staged['image']['format'], 'bzimage')
		self.assertEqual(staged['image']['sha256'], sha256(read(self.fx('vmlinuz'))))
		self.assertEqual([(i['path'], i['sha256']) for i in staged['initrds']],
				 [(a, sha256(read(a))), (b, sha256(read(b)))])
		# The composed initrd by its parts: each a whole initrd file, padded to 4.
		got = read(self.kfile('initrd.bin'))
		self.assertEqual(staged['initrd']['size'], len(got))
		self.assertEqual([(p['from']['file'], p['from']['offset'], p['offset'], p['size'])
				  for p in staged['initrd']['parts']],
				 [(a, 0, 0, len(read(a))), (b, 0, len(pad4(read(a))), len(read(b)))])
		self.assertEqual(staged['kernel']['sha256'], sha256(read(self.kfile('kernel.bin'))))
		self.assertEqual(staged['cmdline'], 'console=ttyS0 kexecd.plain=1 x="a b"')
		self.assertEqual(staged['cmdline_source'], 'append')
		r = self.ctl('status')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertRegex(r.out, r'(?m)^\s*Kind: kernel$')
		self.assertIn(b.split('/')[-1], r.out)

	def test_stage_kernel_without_initrd(self):
		r = self.ctl('stage', '--kernel', self.fx('vmlinuz'), '--command-line', 'root=/dev/vda')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertFalse(os.path.exists(self.kfile('initrd.bin')) and read(self.kfile('initrd.bin')))
		self.assertEqual(read(self.kfile('cmdline.bin')), b'root=/dev/vda\0')
		self.assertEqual(int(read(self.kfile('flags')), 0), 4)  # KEXEC_FILE_NO_INITRAMFS

	def test_bad_kernels_are_named(self):
		trunc = self.write('trunc/vmlinuz', read(self.fx('vmlinuz'))[:len(read(self.fx('vmlinuz'))) // 2])
		r = self.ctl('stage', '--kernel', trunc, '--append', 'x')
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertIn(trunc, r.err)
		self.assertIn('truncated bzImage', r.err)
		r = self.ctl('stage', '--kernel', self.fx('uki.efi'))
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertIn('not a kernel image', r.err)
		self.assertEqual(self.loaded(), '0')

	def test_signature_policy_applies(self):
		# Debian's kernel is signed by Debian's CA, which the fixtures'
		# trust store does not hold: enforce refuses it.
		r = self.ctl('stage', '--kernel', self.fx('vmlinuz'), '--signature-policy', 'enforce')
		self.assertEqual(r.code, EXIT_SIGNATURE, r)
		self.assertEqual(self.loaded(), '0')

	def test_reuse_cmdline_usage(self):
		r = self.ctl('stage', '--initrd', self.fx('initrd.cpio'))
		self.assertEqual(r.code, EXIT_USAGE, r)
		r = self.ctl('stage', '--kernel', self.fx('vmlinuz'), '--reuse-cmdline', '--command-line', 'x')
		self.assertEqual(r.code, EXIT_USAGE, r)
		r = self.ctl('stage', self.fx('uki.efi'), '--kernel', self.fx('vmlinuz'))
		self.assertEqual(r.code, EXIT_USAGE, r)
		# The client's own /proc/cmdline, less BOOT_IMAGE= and initrd=.
		r = self.ctl('--json', 'stage', '--kernel', self.fx('vmlinuz'), '--reuse-cmdline', '--append', 'k=1')
		self.assertEqual(r.code, EXIT_OK, r)
		words = [w for w in read('/proc/cmdline').decode().split()
			 if not w.startswith(('BOOT_IMAGE=', 'initrd='))]
		self.assertEqual(read(self.kfile('cmdline.bin')), ' '.join(words + ['k=1']).encode() + b'\0')
		self.assertEqual(r.json()['cmdline_source'], 'reuse')

	def type1_esp(self):
		esp = os.path.join(self.kdir, 'esp')
		a, b = self.two_initrds()
		self.write('esp/fedora/6.1/linux', read(self.fx('vmlinuz')))
		self.write('esp/fedora/6.1/a.cpio', read(a))
		self.write('esp/fedora/6.1/b.cpio', read(b))
		self.write('esp/loader/entries/fedora-6.1+2.conf',
			   b'title Fedora\nsort-key fedora\nversion 6.1\nlinux /fedora/6.1/linux\n'
			   b'initrd /fedora/6.1/a.cpio\ninitrd /fedora/6.1/b.cpio\n'
			   b'options root=/dev/vda\noptions console=ttyS0\ndevicetree /dtb/board.dtb\n')
		self.write('esp/loader/entries/evil.conf', b'sort-key zzz\nlinux /../etc/shadow\n')
		return esp, a, b

	def test_stage_default_type1(self):
		esp, a, b = self.type1_esp()
		conf = self.write('kexecd.conf', f'[Manager]\nESP={esp}\n'.encode())
		self.stop_daemon()
		self.start_daemon('--config', conf)
		r = self.ctl('stage')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(read(self.kfile('kernel.bin')), read(self.fx('vmlinuz')))
		self.assertEqual(read(self.kfile('initrd.bin')), pad4(read(a)) + pad4(read(b)))
		self.assertEqual(read(self.kfile('cmdline.bin')), b'root=/dev/vda console=ttyS0\0')
		staged = self.status()['staged']
		self.assertEqual(staged['discovery']['id'], 'fedora-6.1.conf')
		self.assertEqual(staged['discovery']['type'], 'type1')
		self.assertEqual(staged['cmdline_source'], 'entry')
		self.assertIn('not applied', staged['discovery']['devicetree'])

		r = self.ctl('--json', 'list', '--esp', esp)
		self.assertEqual(r.code, EXIT_OK, r)
		doc = r.json()
		self.assertEqual(doc['default'], 'fedora-6.1.conf')
		self.assertEqual([(e['id'], e['kind'], e['type'], e['default']) for e in doc['entries']],
				 [('fedora-6.1.conf', 'kernel', 'type1', True), ('evil.conf', 'kernel', 'type1', False)])
		self.assertIn("'..'", doc['entries'][1]['problem'])
		r = self.ctl('list', '--esp', esp)
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertIn('* fedora-6.1.conf', r.out)

	def test_stage_default_bad_entry_is_named(self):
		esp, _, _ = self.type1_esp()
		os.unlink(os.path.join(esp, 'fedora/6.1/linux'))
		conf = self.write('kexecd.conf', f'[Manager]\nESP={esp}\n'.encode())
		self.stop_daemon()
		self.start_daemon('--config', conf)
		r = self.ctl('stage')
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertIn('fedora-6.1+2.conf', r.err)
		self.assertIn('boot loader entry', r.err)

	def test_debian_layout(self):
		root = os.path.join(self.kdir, 'debian')
		self.write('debian/boot/vmlinuz-6.1.0-57-amd64', read(self.fx('vmlinuz')))
		a, _ = self.two_initrds()
		self.write('debian/boot/initrd.img-6.1.0-57-amd64', read(a))
		os.symlink('boot/vmlinuz-6.1.0-57-amd64', os.path.join(root, 'vmlinuz'))
		os.symlink('boot/initrd.img-6.1.0-57-amd64', os.path.join(root, 'initrd.img'))
		# The daemon's "running system" (KEXECD_SYSFS_ROOT).
		self.write('sysroot/proc/cmdline', b'BOOT_IMAGE=/vmlinuz-6.1.0-56-amd64 root=/dev/vda ro initrd=x quiet\n')
		conf = self.write('kexecd.conf', (f'[Manager]\nESP={os.path.join(self.kdir, "no-esp")}\n'
						  f'DebianLayout=yes\nDebianRoot={root}\n').encode())
		self.stop_daemon()
		self.start_daemon('--config', conf)
		r = self.ctl('stage')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(read(self.kfile('kernel.bin')), read(self.fx('vmlinuz')))
		self.assertEqual(read(self.kfile('initrd.bin')), read(a))  # one initrd goes as it is
		self.assertEqual(read(self.kfile('cmdline.bin')), b'root=/dev/vda ro quiet\0')
		staged = self.status()['staged']
		self.assertEqual(staged['discovery']['type'], 'debian')
		self.assertIn('DebianLayout=yes', staged['discovery']['why'])
		r = self.ctl('status')
		self.assertIn('DebianLayout=yes', r.out)


def load_tests(loader, tests, pattern):
	return PlainKernelTest.own_tests(loader)


if __name__ == '__main__':
	unittest.main(verbosity=2)
