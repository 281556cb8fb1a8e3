#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The cache builders' contract (issue 24): stdout is the result and nothing else, and a
half-built cache entry is never taken for a built one.

Callers read a builder's result with $(…) (run-system.sh, run-diff.sh, run-e2e.sh,
check-deb.sh): one stray line on stdout, such as mkfs.ext4's "Creating regular file …", becomes
part of the path. Each builder runs here against a temporary KEXECD_CACHE with stubs first on
PATH for the slow or networked tools (mmdebstrap, mkfs.ext4, zstd, apt-get, dpkg-buildpackage,
make...): every stub prints noise on stdout and on stderr, and creates what the real tool would.
Then: stdout is exactly the result; a second run is a cache hit (the stub is not run again); an
entry without its last file, or a complete-looking .build-* directory left by an interrupted
build, is rebuilt rather than used; a failed build prints nothing and leaves no entry.

No network, no root (a stub `id` stands in for mmdebstrap's root check), a few seconds.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

# make-fixtures.py is imported from the source tree: no __pycache__ there.
sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
E2E = os.path.join(SRC, 'tests', 'e2e')
KERNEL = os.path.join(SRC, 'tests', 'kernel')
FIXTURES = os.path.join(SRC, 'tests', 'fixtures')

# Every stub logs its name and arguments, prints noise on both streams, then runs its body.
# STUB_FAIL=name makes that stub fail after writing half of what it would.
STUB_HEAD = '''#!/bin/sh
echo "$(basename "$0") $*" >>"$STUB_LOG"
echo "noise on stdout from $(basename "$0")"
echo "noise on stderr from $(basename "$0")" >&2
'''

STUBS = {
	# Real mkfs.ext4 prints this on stdout even with -q: the line that broke run-system.sh.
	'mkfs.ext4': '''eval "out=\\${$(($# - 1))}"
echo "Creating regular file $out"
[ "${STUB_FAIL:-}" = mkfs.ext4 ] && { echo partial >"$out"; exit 1; }
echo ext4 >"$out"
''',
	# mmdebstrap [OPTIONS] SUITE TARGET [SOURCES]: the rootfs with what make-debian-image.sh and
	# make-build-root.sh read.
	'mmdebstrap': '''target=
prev=
for a; do
	case $prev in bookworm | trixie) [ -z "$target" ] && target=$a ;; esac
	prev=$a
done
mkdir -p "$target/root" "$target/boot" "$target/usr/bin"
[ "${STUB_FAIL:-}" = mmdebstrap ] && exit 1
printf '#!/bin/sh\n' >"$target/usr/bin/g++" && chmod +x "$target/usr/bin/g++"
echo "g++ 4:14.99" >"$target/root/versions"
echo kernel >"$target/boot/vmlinuz-6.1.0-99-amd64"
echo initrd >"$target/boot/initrd.img-6.1.0-99-amd64"
ln -s boot/vmlinuz-6.1.0-99-amd64 "$target/vmlinuz"
ln -s boot/initrd.img-6.1.0-99-amd64 "$target/initrd.img"
echo "$STUB_SYSTEMD_VERSION" >"$target/root/systemd-version"
''',
	# zstd -q -T0 --rm IN -o OUT
	'zstd': '''in= out= prev=
for a; do
	if [ "$prev" = -o ]; then
		out=$a
	else
		case $a in -*) ;; *) in=$a ;; esac
	fi
	prev=$a
done
cp "$in" "$out" && rm -f "$in"
''',
	# apt-get [OPTIONS] download PKG[=VERSION]...: a prebuilt .deb from STUB_DEBS for each PKG. apt-get
	# writes the final name while it downloads: STUB_FAIL=apt-get leaves half of one and fails.
	# apt-get update does nothing; STUB_FAIL=apt-get-update: the archive cannot be reached.
	# apt-get [OPTIONS] install PKG... resolves to every .deb in STUB_DEBS (the whole closure):
	# -s prints apt's "Inst" lines, --download-only copies them to Dir::Cache's archives/ (the
	# real apt keeps an unfinished one in archives/partial/, as STUB_FAIL=apt-get does).
	'apt-get': '''cmd= pkgs= sim= cachedir= prev=
for a; do
	[ "$prev" = -o ] && case $a in Dir::Cache=*) cachedir=${a#Dir::Cache=} ;; esac
	prev=$a
	case $a in
	-o | -qq | -y | --download-only) ;;
	-s) sim=1 ;;
	download | update | install) cmd=$a ;;
	*) [ "$cmd" = download ] && pkgs="$pkgs $a" ;;
	esac
done
if [ "$cmd" = update ]; then
	[ "${STUB_FAIL:-}" = apt-get-update ] && exit 100
	exit 0
fi
if [ "$cmd" = install ]; then
	for d in "$STUB_DEBS"/*.deb; do
		if [ -n "$sim" ]; then
			n=$(basename "$d" .deb)
			echo "Inst ${n%%_*} (${n#*_} stub [arm64])"
		elif [ "${STUB_FAIL:-}" = apt-get ]; then
			mkdir -p "$cachedir/archives/partial"
			head -c 100 "$d" >"$cachedir/archives/partial/$(basename "$d")"
			exit 100
		else
			mkdir -p "$cachedir/archives"
			cp "$d" "$cachedir/archives/"
		fi
	done
	exit 0
fi
[ "$cmd" = download ] || exit 100
for p in $pkgs; do
	p=${p%%=*}
	for d in "$STUB_DEBS/${p}_"*.deb; do
		if [ "${STUB_FAIL:-}" = apt-get ]; then
			head -c 100 "$d" >"$(basename "$d")"
			exit 100
		fi
		cp "$d" .
	done
done
''',
	'apt-cache': '''echo "linux-image-amd64"
echo "  Depends: linux-image-6.1.0-99-amd64"
''',
	# dpkg-buildpackage -b -uc -us, run in the source copy: the package lands in ..
	'dpkg-buildpackage': '''[ "${STUB_FAIL:-}" = dpkg-buildpackage ] && { echo partial >../kexecd_9.9_amd64.deb; exit 2; }
sleep "${STUB_SLEEP:-0}"
for f in kexecd_9.9_amd64.deb kexecd-dbgsym_9.9_amd64.deb kexecd_9.9_amd64.buildinfo kexecd_9.9_amd64.changes; do
	echo "$f" >"../$f"
done
''',
	'dh': '',
	'pahole': '',
	# make -s -C KDIR M=OUT modules
	'make': '''for a; do case $a in M=*) out=${a#M=} ;; esac; done
echo "  CC [M]  $out/kexecd_ref_core.o"
echo module >"$out/kexecd_ref.ko"
''',
	'readelf': '''echo "  [42] .BTF              PROGBITS         0000000000000000  00001000"
''',
}


def have(tool):
	return shutil.which(tool) is not None


def debian_archive():
	"""make-debian-image.sh asks lib-apt.sh's mirror_uri for the archive before it builds."""
	r = subprocess.run(['bash', '-c', '. "$1"; mirror_uri', '_', os.path.join(E2E, 'lib-apt.sh')],
			   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
	return r.stdout.strip()


class BuilderCase(unittest.TestCase):
	"""The stubs, a temporary KEXECD_CACHE and the helpers; test_cache_builders_arm64.py's tests
	use them too."""

	def setUp(self):
		self.tmp = tempfile.mkdtemp(prefix='kexecd-cache-builders.')
		self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
		self.cache = os.path.join(self.tmp, 'cache')
		os.makedirs(self.cache)
		self.stubs = os.path.join(self.tmp, 'stubs')
		os.makedirs(self.stubs)
		self.debs = os.path.join(self.tmp, 'debs')
		os.makedirs(self.debs)
		self.log = os.path.join(self.tmp, 'stub.log')
		open(self.log, 'w').close()
		self.env = dict(os.environ)
		for v in ('KEXECD_FIXTURES', 'KEXECD_KERNEL_ABI', 'KEXECD_NEWER_SUITE', 'KEXECD_KERNEL_SUITE',
			  'STUB_FAIL'):
			self.env.pop(v, None)
		self.env.update({
			'PATH': self.stubs + ':' + os.environ.get('PATH', '/usr/bin:/bin'),
			'KEXECD_CACHE': self.cache,
			'STUB_LOG': self.log,
			'STUB_DEBS': self.debs,
			'STUB_SYSTEMD_VERSION': '252.99-1~deb12u1',
			'LC_ALL': 'C',
		})

	def stub(self, *names):
		for name in names:
			path = os.path.join(self.stubs, name)
			with open(path, 'w') as f:
				f.write(STUB_HEAD + STUBS[name])
			os.chmod(path, 0o755)

	def stub_root(self):
		"""make-debian-image.sh refuses to build unless `id -u` says 0 (mmdebstrap's root mode);
		mmdebstrap is a stub here, so any user can pass."""
		if os.getuid() == 0:
			return
		path = os.path.join(self.stubs, 'id')
		with open(path, 'w') as f:
			f.write('#!/bin/sh\n[ "$1" = -u ] && { echo 0; exit 0; }\nexec /usr/bin/id "$@"\n')
		os.chmod(path, 0o755)

	def stub_calls(self, name):
		with open(self.log) as f:
			return [l for l in f if l.split(' ', 1)[0] == name]

	def clear_calls(self):
		open(self.log, 'w').close()

	def run_builder(self, argv, fail=None, rc=0):
		env = dict(self.env)
		if fail:
			env['STUB_FAIL'] = fail
		r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
				   stderr=subprocess.PIPE, text=True, timeout=60)
		msg = f'{argv[0]}: rc {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}'
		if rc is not None:
			self.assertEqual(r.returncode, rc, msg)
		# The stubs' noise must never reach stdout; the builder's own messages neither.
		self.assertNotIn('noise', r.stdout, msg)
		return r

	def assert_result(self, r, *lines):
		"""stdout is exactly these lines, each ending in a newline."""
		self.assertEqual(r.stdout, ''.join(l + '\n' for l in lines), r.stderr)

	def build_dirs(self, where):
		return sorted(n for n in os.listdir(where) if n.startswith('.build'))

	def make_deb(self, pkg, version, files, arch='amd64', dest=None, executable=()):
		"""A real (tiny) .deb: the builders read it with dpkg-deb; the paths in executable are
		mode 0755."""
		if not have('dpkg-deb'):
			self.skipTest('dpkg-deb not found')
		root = os.path.join(self.tmp, 'debroot-' + pkg)
		os.makedirs(os.path.join(root, 'DEBIAN'))
		with open(os.path.join(root, 'DEBIAN', 'control'), 'w') as f:
			f.write(f'Package: {pkg}\nVersion: {version}\nArchitecture: {arch}\n'
				'Maintainer: kexecd tests <tests@invalid>\nDescription: stub\n')
		for path, data in files.items():
			p = os.path.join(root, path)
			os.makedirs(os.path.dirname(p), exist_ok=True)
			with open(p, 'w') as f:
				f.write(data)
			if path in executable:
				os.chmod(p, 0o755)
		deb = os.path.join(dest or self.debs, f'{pkg}_{version}_{arch}.deb')
		subprocess.run(['dpkg-deb', '--root-owner-group', '-Znone', '--build', root, deb], check=True,
			       stdout=subprocess.DEVNULL)
		shutil.rmtree(root)
		return deb


class Builders(BuilderCase):

	# --- make-debian-image.sh ------------------------------------------------------------------

	def test_debian_image(self):
		if not debian_archive():
			self.skipTest("no Debian archive in this machine's apt sources (make-debian-image.sh "
				      'exits 77 before building)')
		self.stub('mmdebstrap', 'mkfs.ext4', 'zstd')
		self.stub_root()
		argv = [os.path.join(E2E, 'make-debian-image.sh'), self.cache, '252', 'libfoo1']
		images = os.path.join(self.cache, 'images')

		# A failed build: nothing on stdout, no entry, its temporary directory removed.
		r = self.run_builder(argv, fail='mkfs.ext4', rc=1)
		self.assert_result(r)
		self.assertEqual(os.listdir(images), [])

		r = self.run_builder(argv)
		self.assertEqual(len(r.stdout.splitlines()), 1, r.stdout)
		image = r.stdout.strip()
		self.assert_result(r, image)
		self.assertEqual(os.path.dirname(image), images)
		self.assertEqual(sorted(os.listdir(image)), ['initrd.img', 'mmdebstrap.log', 'rootfs.ext4.zst',
							     'systemd-version', 'vmlinuz'])
		with open(os.path.join(image, 'systemd-version')) as f:
			self.assertEqual(f.read(), '252.99-1~deb12u1\n')
		self.assertEqual(self.build_dirs(images), [])

		# A hit: no build.
		self.clear_calls()
		self.assert_result(self.run_builder(argv), image)
		self.assertEqual(self.stub_calls('mmdebstrap'), [])

		# An entry without its last file is not an image: rebuilt.
		os.unlink(os.path.join(image, 'systemd-version'))
		self.assert_result(self.run_builder(argv), image)
		self.assertEqual(len(self.stub_calls('mmdebstrap')), 1)
		self.assertTrue(os.path.exists(os.path.join(image, 'systemd-version')))

		# An interrupted build's directory, complete as it may look, is not the entry.
		shutil.move(image, os.path.join(images, '.build-252.interrupted'))
		self.clear_calls()
		self.assert_result(self.run_builder(argv), image)
		self.assertEqual(len(self.stub_calls('mmdebstrap')), 1)

	# --- tests/trixie/make-build-root.sh ---------------------------------------------------------

	def test_build_root(self):
		if not debian_archive():
			self.skipTest("no Debian archive in this machine's apt sources (make-build-root.sh "
				      'exits 77 before building)')
		self.stub('mmdebstrap')
		self.stub_root()
		argv = [os.path.join(SRC, 'tests', 'trixie', 'make-build-root.sh'), self.cache]
		roots = os.path.join(self.cache, 'roots')

		# A failed mmdebstrap: nothing on stdout, no entry, no temporary directory left.
		r = self.run_builder(argv, fail='mmdebstrap', rc=77)
		self.assert_result(r)
		self.assertEqual(os.listdir(roots), [])

		r = self.run_builder(argv)
		root = r.stdout.strip()
		self.assert_result(r, root)
		self.assertEqual(os.path.dirname(root), roots)
		self.assertTrue(os.path.basename(root).startswith('trixie-'), root)
		self.assertEqual(sorted(os.listdir(root)), ['mmdebstrap.log', 'root'])
		self.assertEqual(self.build_dirs(roots), [])

		self.clear_calls()
		self.assert_result(self.run_builder(argv), root)
		self.assertEqual(self.stub_calls('mmdebstrap'), [])

		# A root without its version list (the last thing mmdebstrap writes) is rebuilt.
		os.unlink(os.path.join(root, 'root', 'root', 'versions'))
		self.assert_result(self.run_builder(argv), root)
		self.assertEqual(len(self.stub_calls('mmdebstrap')), 1)

		shutil.move(root, os.path.join(roots, '.build-trixie.interrupted'))
		self.clear_calls()
		self.assert_result(self.run_builder(argv), root)
		self.assertEqual(len(self.stub_calls('mmdebstrap')), 1)

	# --- build-deb.sh ----------------------------------------------------------------------------

	def test_build_deb(self):
		# A source tree of its own (not a git checkout: build-deb.sh lists it with find), so that
		# edits elsewhere in the checkout cannot change the key between runs.
		src = os.path.join(self.tmp, 'src')
		os.makedirs(os.path.join(src, 'tests', 'e2e'))
		os.makedirs(os.path.join(src, 'debian'))
		for script in ('build-deb.sh', 'lib-apt.sh'):
			shutil.copy(os.path.join(E2E, script), os.path.join(src, 'tests', 'e2e'))
		with open(os.path.join(src, 'debian', 'control'), 'w') as f:
			f.write('Source: kexecd\n')
		with open(os.path.join(src, 'meson.build'), 'w') as f:
			f.write("project('kexecd')\n")
		self.stub('dpkg-buildpackage', 'dh')
		argv = [os.path.join(src, 'tests', 'e2e', 'build-deb.sh'), self.cache]
		debdir = os.path.join(self.cache, 'deb')

		r = self.run_builder(argv, fail='dpkg-buildpackage', rc=1)
		self.assert_result(r)
		self.assertEqual(os.listdir(debdir), [])

		r = self.run_builder(argv)
		deb = r.stdout.strip()
		self.assert_result(r, deb)
		self.assertEqual(os.path.basename(deb), 'kexecd_9.9_amd64.deb')
		entry = os.path.dirname(deb)
		self.assertEqual(os.path.dirname(entry), debdir)
		self.assertEqual(self.build_dirs(debdir), [])

		self.clear_calls()
		self.assert_result(self.run_builder(argv), deb)
		self.assertEqual(self.stub_calls('dpkg-buildpackage'), [])

		# The entry without its .deb: rebuilt.
		os.unlink(deb)
		self.assert_result(self.run_builder(argv), deb)
		self.assertEqual(len(self.stub_calls('dpkg-buildpackage')), 1)

		shutil.move(entry, os.path.join(debdir, '.build-interrupted'))
		self.clear_calls()
		self.assert_result(self.run_builder(argv), deb)
		self.assertEqual(len(self.stub_calls('dpkg-buildpackage')), 1)

		# Two tests side by side on a cold cache (meson runs the long e2e tests two at a time):
		# the lock makes the second wait for the first's package instead of building its own.
		shutil.rmtree(entry)
		self.clear_calls()
		env = dict(self.env, STUB_SLEEP='1')
		both = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
			for _ in range(2)]
		outs = [p.communicate()[0].strip() for p in both]
		self.assertEqual([p.returncode for p in both], [0, 0])
		self.assertEqual(outs, [deb, deb])
		self.assertEqual(len(self.stub_calls('dpkg-buildpackage')), 1)

	# --- fetch-newer-systemd.sh --------------------------------------------------------------------

	def test_fetch_newer_systemd(self):
		self.stub('apt-get')
		apt_dir = os.path.join(self.cache, 'apt-trixie')
		debs = os.path.join(apt_dir, 'debs')
		argv = [os.path.join(E2E, 'fetch-newer-systemd.sh'), self.cache]
		root = os.path.join(apt_dir, 'root-257.99-1')
		# Downloading needs the private apt's sources: the machine's archive and keyring.
		download = bool(debian_archive()) and os.path.exists('/usr/share/keyrings/debian-archive-keyring.gpg')
		os.makedirs(debs)
		self.make_deb('systemd-boot-efi', '257.99-1', {'usr/lib/systemd/boot/efi/linuxx64.efi.stub': 'stub'},
			      dest=None if download else debs)
		self.make_deb('systemd-ukify', '257.99-1', {'usr/bin/ukify': 'ukify'}, arch='all',
			      dest=None if download else debs)
		if download:
			# An interrupted download leaves no .deb under the name a hit looks for.
			self.assert_result(self.run_builder(argv, fail='apt-get', rc=77))
			self.assertEqual(os.listdir(debs), [])
		# An interrupted unpack's directory is not the root.
		os.makedirs(os.path.join(apt_dir, '.build-root-257.99-1.interrupted', 'usr'))

		self.assert_result(self.run_builder(argv), root)
		self.assertTrue(os.path.isfile(os.path.join(root, 'usr/lib/systemd/boot/efi/linuxx64.efi.stub')))
		self.assertTrue(os.path.isfile(os.path.join(root, 'usr/bin/ukify')))
		self.clear_calls()
		self.assert_result(self.run_builder(argv), root)
		self.assertEqual(self.stub_calls('apt-get'), [])

	# --- tests/kernel/prepare-kernel.sh -----------------------------------------------------------

	def kernel_debs(self, abi, dest):
		common = abi[:-len('-amd64')]
		hdr = f'usr/src/linux-headers-{abi}'
		self.make_deb(f'linux-image-{abi}', '1', {f'boot/vmlinuz-{abi}': 'bzImage',
							   f'boot/config-{abi}': 'CONFIG_KEXEC_FILE=y\n'}, dest=dest)
		self.make_deb(f'linux-headers-{abi}', '1', {
			f'{hdr}/.config': 'CONFIG_DEBUG_INFO_BTF_MODULES=y\nCONFIG_KEXEC_FILE=y\n',
			f'{hdr}/vmlinux': 'vmlinux with .BTF',
			f'{hdr}/Makefile': f'include /usr/src/linux-headers-{common}-common/Makefile\n'}, dest=dest)
		self.make_deb(f'linux-headers-{common}-common', '1',
			      {f'usr/src/linux-headers-{common}-common/Makefile': '# kbuild\n'}, arch='all', dest=dest)
		self.make_deb(f'linux-kbuild-{common}', '1', {'usr/lib/linux-kbuild-6.12/scripts/x': 'x'}, dest=dest)

	def test_prepare_kernel(self):
		self.stub('apt-get', 'pahole')
		abi = '6.12.99+deb12-amd64'
		debs = os.path.join(self.cache, 'apt-bookworm-backports', 'debs')
		self.kernel_debs(abi, self.debs)
		argv = [os.path.join(KERNEL, 'prepare-kernel.sh'), self.cache]
		kmod = os.path.join(self.cache, 'kmod-' + abi)
		want = (f'KDIR={kmod}/root/usr/src/linux-headers-{abi}', f'VMLINUZ={kmod}/vmlinuz', f'ABI={abi}')
		self.env['KEXECD_KERNEL_ABI'] = abi

		# An interrupted download leaves no .deb under the name a hit looks for.
		self.assert_result(self.run_builder(argv, fail='apt-get', rc=77))
		self.assertEqual(os.listdir(debs), [])
		self.assertFalse(os.path.exists(kmod))

		self.assert_result(self.run_builder(argv), *want)
		self.assertTrue(os.path.exists(os.path.join(kmod, 'ready')))
		with open(os.path.join(kmod, 'root', f'usr/src/linux-headers-{abi}', 'Makefile')) as f:
			self.assertEqual(f.read(), f'include {kmod}/root/usr/src/linux-headers-6.12.99+deb12-common/Makefile\n')
		self.assertEqual(self.build_dirs(self.cache), [])
		self.assertEqual(len(os.listdir(debs)), 4)

		# A hit.
		self.clear_calls()
		mtime = os.stat(os.path.join(kmod, 'ready')).st_mtime_ns
		self.assert_result(self.run_builder(argv), *want)
		self.assertEqual(os.stat(os.path.join(kmod, 'ready')).st_mtime_ns, mtime)
		self.assertEqual(self.stub_calls('apt-get'), [])

		# Without its ready file the directory is not used: unpacked again.
		os.unlink(os.path.join(kmod, 'ready'))
		self.assert_result(self.run_builder(argv), *want)
		self.assertTrue(os.path.exists(os.path.join(kmod, 'ready')))

		# The archive unreachable: the newest complete kmod dir, not a newer half-built one.
		del self.env['KEXECD_KERNEL_ABI']
		os.makedirs(os.path.join(self.cache, 'kmod-6.12.100+deb12-amd64', 'root'))
		self.assert_result(self.run_builder(argv, fail='apt-get-update'), *want)

	# --- fetch-newest-kernel.sh -----------------------------------------------------------------

	def test_fetch_newest_kernel(self):
		if not debian_archive() or not os.path.exists('/usr/share/keyrings/debian-archive-keyring.gpg'):
			self.skipTest("no Debian archive in this machine's apt sources")
		self.stub('apt-get', 'apt-cache')
		abi = '6.1.0-99-amd64'
		# The newer layout: the image in linux-binary-ABI, under /usr/lib/modules/ABI/.
		self.make_deb(f'linux-binary-{abi}', '1', {f'usr/lib/modules/{abi}/vmlinuz': 'bzImage'})
		self.env['KEXECD_NEWEST_KERNEL_SUITES'] = 'trixie-backports'
		argv = [os.path.join(E2E, 'fetch-newest-kernel.sh'), self.cache]
		kdir = os.path.join(self.cache, 'kernel-' + abi)
		want = os.path.join(kdir, 'vmlinuz')

		# An interrupted download: nothing printed, no entry, no leftovers.
		self.assert_result(self.run_builder(argv, fail='apt-get', rc=77))
		self.assertFalse(os.path.exists(kdir))
		self.assertEqual(self.build_dirs(self.cache), [])

		# A directory without its vmlinuz is not an entry: fetched again.
		os.makedirs(kdir)
		self.assert_result(self.run_builder(argv), want)
		with open(want) as f:
			self.assertEqual(f.read(), 'bzImage')
		self.assertEqual(self.build_dirs(self.cache), [])

		# A hit downloads nothing.
		self.clear_calls()
		self.assert_result(self.run_builder(argv), want)
		self.assertEqual([c for c in self.stub_calls('apt-get') if ' download ' in c], [])

		# The archive unreachable: the newest complete entry, not a newer incomplete one.
		os.makedirs(os.path.join(self.cache, 'kernel-6.1.0-100-amd64'))
		self.assert_result(self.run_builder(argv, fail='apt-get-update'), want)

	# --- tests/kernel/build-module.sh -------------------------------------------------------------

	def test_build_module(self):
		if not os.path.exists('/usr/include/bpf/skel_internal.h'):
			self.skipTest('/usr/include/bpf/skel_internal.h missing (libbpf-dev)')
		self.stub('make', 'readelf')
		out = os.path.join(self.tmp, 'kexecd-ref')
		r = self.run_builder([os.path.join(KERNEL, 'build-module.sh'), os.path.join(self.tmp, 'kdir'), out])
		self.assert_result(r, os.path.join(out, 'kexecd_ref.ko'))

	# --- lib-e2e.sh find_kernel, lib-apt.sh apt_download ------------------------------------------

	def find_kernel(self, rc=0, fail=None):
		work = os.path.join(self.tmp, 'work')
		os.makedirs(work, exist_ok=True)
		return self.run_builder(['bash', '-c', 'set -euo pipefail; work=$1; . "$2"; find_kernel', '_', work,
					 os.path.join(E2E, 'lib-e2e.sh')], fail=fail, rc=rc)

	def test_find_kernel(self):
		self.stub('apt-get', 'apt-cache')
		kver = '6.1.0-99-amd64'
		deb = self.make_deb('linux-image-' + kver, '6.1.999-1', {f'boot/vmlinuz-{kver}': 'bzImage',
									 f'boot/config-{kver}': 'CONFIG_KEXEC_FILE=y\n'})
		cached = os.path.join(self.cache, os.path.basename(deb))
		vmlinuz = f'{cached}.vmlinuz/vmlinuz-{kver}'

		# An interrupted download leaves no .deb under the name a hit looks for.
		self.assert_result(self.find_kernel(rc=1, fail='apt-get'))
		self.assertEqual(os.listdir(self.cache), [])
		self.clear_calls()

		self.assert_result(self.find_kernel(), vmlinuz)
		self.assertEqual(len(self.stub_calls('apt-get')), 1)
		self.assertEqual(sorted(os.listdir(self.cache)), [os.path.basename(cached), os.path.basename(cached) + '.vmlinuz'])

		self.clear_calls()
		self.assert_result(self.find_kernel(), vmlinuz)
		self.assertEqual(self.stub_calls('apt-get'), [])

	def apt_download(self, rc=0, fail=None):
		dest = os.path.join(self.cache, 'debs')
		os.makedirs(dest, exist_ok=True)
		return self.run_builder(['bash', '-c', 'set -euo pipefail; . "$1"; apt_download "$2" systemd-ukify',
					 '_', os.path.join(E2E, 'lib-apt.sh'), dest], fail=fail, rc=rc), dest

	def test_apt_download(self):
		self.stub('apt-get')
		self.make_deb('systemd-ukify', '257.99-1', {'usr/bin/ukify': 'ukify'}, arch='all')
		r, dest = self.apt_download(rc=100, fail='apt-get')
		self.assert_result(r)
		self.assertEqual(os.listdir(dest), [])
		r, dest = self.apt_download()
		self.assert_result(r)
		self.assertEqual(os.listdir(dest), ['systemd-ukify_257.99-1_all.deb'])

	def test_fixtures_apt_download(self):
		"""make-fixtures.py's (and make-real-fixtures.py's) downloads into the cache."""
		self.stub('apt-get')
		self.make_deb('shim-signed', '1.99', {'usr/lib/shim/shimx64.efi.signed': 'shim'})
		spec = importlib.util.spec_from_file_location('make_fixtures', os.path.join(FIXTURES, 'make-fixtures.py'))
		mf = importlib.util.module_from_spec(spec)
		spec.loader.exec_module(mf)
		old = dict(os.environ)
		self.addCleanup(lambda: (os.environ.clear(), os.environ.update(old)))
		os.environ.update(self.env)
		os.environ['STUB_FAIL'] = 'apt-get'
		with self.assertRaises(mf.FixtureError):
			mf.apt_download(self.cache, ['shim-signed'])
		self.assertEqual(os.listdir(self.cache), [])
		del os.environ['STUB_FAIL']
		mf.apt_download(self.cache, ['shim-signed'])
		self.assertEqual(os.listdir(self.cache), ['shim-signed_1.99_amd64.deb'])

	# --- make-e2e-ukis.sh (real tools, no cache: its output directory is its result) ---------------

	def test_e2e_ukis(self):
		stub = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub'
		for tool in ('objcopy', 'objdump', 'sbsign', 'openssl'):
			if not have(tool):
				self.skipTest(f'{tool} not found')
		if not os.path.exists(stub) or not os.access('/usr/bin/busybox', os.X_OK):
			self.skipTest(f'{stub} or /usr/bin/busybox missing')
		vmlinuz = os.path.join(self.tmp, 'vmlinuz')
		with open(vmlinuz, 'wb') as f:
			f.write(os.urandom(64 * 1024))
		out = os.path.join(self.tmp, 'ukis')
		r = self.run_builder([os.path.join(E2E, 'make-e2e-ukis.sh'), out, vmlinuz, '6.1.0-99-amd64'])
		self.assert_result(r, out)
		self.assertTrue(os.path.isfile(os.path.join(out, 'e2e-uki.signed.efi')))


if __name__ == '__main__':
	unittest.main(verbosity=2)
