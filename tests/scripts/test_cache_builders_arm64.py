#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The cache builders' contract (test_cache_builders.py) for the arm64 ones (issue 31): stdout
is the result and nothing else, a hit asks apt nothing, a half-built entry is never used.
Same stubs, same temporary cache."""

import os
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# As a module, not its names: unittest would run the imported Builders' tests here again.
import test_cache_builders as base  # noqa: E402


class Arm64Builders(base.BuilderCase):

	# --- fetch-arm64-guest.sh (issue 31) ----------------------------------------------------------

	def test_fetch_arm64_guest(self):
		if not base.debian_archive() or not os.path.exists('/usr/share/keyrings/debian-archive-keyring.gpg'):
			self.skipTest("no Debian archive in this machine's apt sources")
		self.stub('apt-get')
		self.make_deb('busybox-static', '1.99', {'bin/busybox': 'busybox'}, arch='arm64',
			      executable=('bin/busybox',))
		self.make_deb('dbus-daemon', '1.99', {'usr/bin/dbus-daemon': 'dbus'}, arch='arm64')
		self.make_deb('libexpat1', '2.99', {'lib/aarch64-linux-gnu/libexpat.so.1': 'expat'}, arch='arm64')
		self.make_deb('systemd-boot-efi', '252.99', {'usr/lib/systemd/boot/efi/linuxaa64.efi.stub': 'stub'},
			      arch='arm64')
		argv = [os.path.join(base.E2E, 'fetch-arm64-guest.sh'), self.cache]
		guests = os.path.join(self.cache, 'arm64-guest')

		# An interrupted download: nothing printed, no entry, no leftovers.
		self.assert_result(self.run_builder(argv, fail='apt-get', rc=77))
		self.assertFalse(os.path.exists(guests) and [n for n in os.listdir(guests)])

		r = self.run_builder(argv)
		entry = r.stdout.strip()
		self.assert_result(r, entry)
		self.assertEqual(os.path.dirname(entry), guests)
		self.assertTrue(os.access(os.path.join(entry, 'root/bin/busybox'), os.X_OK))
		self.assertTrue(os.path.isfile(os.path.join(entry, 'root/lib/aarch64-linux-gnu/libexpat.so.1')))
		with open(os.path.join(entry, 'versions')) as f:
			self.assertEqual(len(f.read().splitlines()), 4)
		self.assertEqual(self.build_dirs(guests), [])

		# A hit asks apt nothing.
		self.clear_calls()
		self.assert_result(self.run_builder(argv), entry)
		self.assertEqual(self.stub_calls('apt-get'), [])

		# An entry without its version list (written last) is unpacked again.
		os.unlink(os.path.join(entry, 'versions'))
		self.assert_result(self.run_builder(argv), entry)
		self.assertTrue(os.path.exists(os.path.join(entry, 'versions')))

		# An interrupted unpack's directory, complete as it may look, is not the entry.
		shutil.move(entry, os.path.join(guests, '.build-interrupted'))
		self.clear_calls()
		self.assert_result(self.run_builder(argv), entry)
		self.assertEqual(len([c for c in self.stub_calls('apt-get') if ' install ' in c]), 2)


	# --- tests/fixtures/fetch-arm64-kernel.sh (issue 31) -----------------------------------------

	def test_fetch_arm64_kernel(self):
		if not base.debian_archive() or not os.path.exists('/usr/share/keyrings/debian-archive-keyring.gpg'):
			self.skipTest("no Debian archive in this machine's apt sources")
		self.stub('apt-get')
		# The arm64 metapackage names the kernel package; show gives its version.
		with open(os.path.join(self.stubs, 'apt-cache'), 'w') as f:
			f.write(base.STUB_HEAD + '''case " $* " in
*" depends "*) echo "linux-image-arm64"; echo "  Depends: linux-image-6.1.0-99-arm64" ;;
*" show "*) echo "Package: linux-image-6.1.0-99-arm64"; echo "Version: 6.1.999-1" ;;
esac
''')
		os.chmod(os.path.join(self.stubs, 'apt-cache'), 0o755)
		# An arm64 Image says "ARM\x64" at 0x38.
		image = 'x' * 0x38 + 'ARMd' + 'y' * 64
		self.make_deb('linux-image-6.1.0-99-arm64', '6.1.999-1', {'boot/vmlinuz-6.1.0-99-arm64': image},
			      arch='arm64')
		argv = [os.path.join(base.SRC, 'tests', 'fixtures', 'fetch-arm64-kernel.sh'), self.cache]
		debs = os.path.join(self.cache, 'arm64-kernel')
		entry = os.path.join(debs, 'linux-image-6.1.0-99-arm64_6.1.999-1')

		# An interrupted download leaves no .deb under the name a hit looks for, and no entry.
		self.assert_result(self.run_builder(argv, fail='apt-get', rc=77))
		self.assertEqual(os.listdir(debs), [])

		self.assert_result(self.run_builder(argv), entry)
		for name in ('Image', 'vmlinuz'):
			with open(os.path.join(entry, name)) as f:
				self.assertEqual(f.read(), image)
		with open(os.path.join(entry, 'package')) as f:
			self.assertEqual(f.read(), 'linux-image-6.1.0-99-arm64 6.1.999-1\n')
		self.assertEqual(self.build_dirs(debs), [])

		self.clear_calls()
		self.assert_result(self.run_builder(argv), entry)
		self.assertEqual([c for c in self.stub_calls('apt-get') if ' download ' in c], [])

		# Without its Image the entry is unpacked again, from the cached .deb.
		os.unlink(os.path.join(entry, 'Image'))
		self.assert_result(self.run_builder(argv), entry)
		self.assertEqual([c for c in self.stub_calls('apt-get') if ' download ' in c], [])

		# The archive unreachable: the newest complete entry, not a newer incomplete one.
		os.makedirs(os.path.join(debs, 'linux-image-6.1.0-100-arm64_6.1.1000-1'))
		self.assert_result(self.run_builder(argv, fail='apt-get-update'), entry)


	# --- tests/e2e/build-arm64-kernel.sh (issue 31) ---------------------------------------------

	def test_build_arm64_kernel(self):
		"""The first kernel of the arm64 e2e: Debian's kernel source, built. The source package is a
		stub whose merge_config.sh appends the fragment, make a stub that writes an Image."""
		self.stub('apt-get')
		stubs = {
			'apt-cache': '''case " $* " in
*" depends linux-source "*) echo "linux-source"; echo "  Depends: linux-source-6.1" ;;
*" policy "*) echo "linux-source-6.1:"; echo "  Candidate: 6.1.999-1" ;;
esac
''',
			# make -C SRC O=OBJ ARCH=arm64 CROSS_COMPILE=... -j2 -s TARGET
			'make': '''for a; do case $a in O=*) obj=${a#O=} ;; esac; target=$a; done
mkdir -p "$obj"
case $target in
tinyconfig) echo "# tinyconfig" >"$obj/.config" ;;
Image)
	[ "${STUB_FAIL:-}" = make ] && exit 2
	mkdir -p "$obj/arch/arm64/boot" "$obj/include/config"
	echo image >"$obj/arch/arm64/boot/Image"
	echo 6.1.999 >"$obj/include/config/kernel.release" ;;
esac
''',
		}
		for tool in ('aarch64-linux-gnu-gcc', 'flex', 'bison', 'bc'):
			stubs[tool] = ''
		for name, body in stubs.items():
			path = os.path.join(self.stubs, name)
			with open(path, 'w') as f:
				f.write(base.STUB_HEAD + body)
			os.chmod(path, 0o755)
		# linux-source-6.1: usr/src/linux-source-6.1.tar.xz with a merge_config.sh that appends
		# the fragment (its last argument) to the .config in -O's directory.
		src = os.path.join(self.tmp, 'linux-source-6.1')
		os.makedirs(os.path.join(src, 'scripts', 'kconfig'))
		merge = os.path.join(src, 'scripts', 'kconfig', 'merge_config.sh')
		with open(merge, 'w') as f:
			f.write('#!/bin/sh\nwhile [ $# -gt 1 ]; do [ "$1" = -O ] && obj=$2; shift; done\n'
				'cat "$1" >>"$obj/.config"\n')
		os.chmod(merge, 0o755)
		root = os.path.join(self.tmp, 'debroot-src')
		os.makedirs(os.path.join(root, 'DEBIAN'))
		os.makedirs(os.path.join(root, 'usr', 'src'))
		subprocess.run(['tar', '-cJf', os.path.join(root, 'usr', 'src', 'linux-source-6.1.tar.xz'), '-C', self.tmp,
				'linux-source-6.1'], check=True)
		with open(os.path.join(root, 'DEBIAN', 'control'), 'w') as f:
			f.write('Package: linux-source-6.1\nVersion: 6.1.999-1\nArchitecture: all\n'
				'Maintainer: kexecd tests <tests@invalid>\nDescription: stub\n')
		subprocess.run(['dpkg-deb', '--root-owner-group', '-Znone', '--build', root,
				os.path.join(self.debs, 'linux-source-6.1_6.1.999-1_all.deb')], check=True,
			       stdout=subprocess.DEVNULL)
		argv = [os.path.join(base.E2E, 'build-arm64-kernel.sh'), self.cache]
		top = os.path.join(self.cache, 'arm64-kexec-kernel')
		entries = lambda: sorted(n for n in os.listdir(top) if not n.startswith('.') and not n.endswith('.deb'))

		# An interrupted download: nothing printed, no entry, no source package.
		self.assert_result(self.run_builder(argv, fail='apt-get', rc=77))
		self.assertEqual(os.listdir(top), [])
		# A failed build: nothing printed, no entry, its directory removed; the source stays.
		self.assert_result(self.run_builder(argv, fail='make', rc=1))
		self.assertEqual(entries(), [])
		self.assertEqual(self.build_dirs(top), [])

		r = self.run_builder(argv)
		entry = r.stdout.strip()
		self.assert_result(r, entry)
		self.assertEqual(os.path.dirname(entry), top)
		self.assertEqual(sorted(os.listdir(entry)), ['Image', 'config', 'version'])
		with open(os.path.join(entry, 'config')) as f:
			self.assertIn('CONFIG_KEXEC_FILE=y\n', f.read())
		with open(os.path.join(entry, 'version')) as f:
			self.assertEqual(f.read(), 'linux-source-6.1 6.1.999-1 6.1.999\n')
		self.assertEqual(self.build_dirs(top), [])

		# A hit: neither download nor build.
		self.clear_calls()
		self.assert_result(self.run_builder(argv), entry)
		self.assertEqual(self.stub_calls('make'), [])
		self.assertEqual([c for c in self.stub_calls('apt-get') if ' download ' in c], [])

		# An entry without its version (written with the rest, checked last) is built again, from
		# the cached source package.
		os.unlink(os.path.join(entry, 'version'))
		self.assert_result(self.run_builder(argv), entry)
		self.assertTrue(os.path.exists(os.path.join(entry, 'version')))
		self.assertEqual([c for c in self.stub_calls('apt-get') if ' download ' in c], [])


if __name__ == '__main__':
	unittest.main(verbosity=2)
