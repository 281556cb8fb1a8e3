#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Integration tests: the real kexecd and the real kexecctl on a private bus.

A private dbus-daemon (system-bus.conf) carries python3-dbusmock's logind and
polkitd templates and `kexecd --kernel=fake:DIR`, whose recording kernel
writes what it was handed into DIR. kexecctl runs as a subprocess, as root
and (via setpriv) as uid 65534, and every assertion is on what a user or the
kernel would see: exit codes, messages, recorded bytes, logind calls.

Environment: KEXECD_BIN, KEXECCTL_BIN, KEXECD_FIXTURES (tests/fixtures
output). Exits 77 when something the machine lacks is needed.
"""

import hashlib
import json
import os
import pty
import select
import shutil
import struct
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77

try:
	import dbus
	import dbusmock
except ImportError as e:
	print(f'SKIP: python3-dbus / python3-dbusmock missing: {e}', file=sys.stderr)
	sys.exit(SKIP)

HERE = os.path.dirname(os.path.abspath(__file__))
UNPRIVILEGED = 65534

# kexecctl(1) EXIT STATUS
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_ACCESS_DENIED = 3
EXIT_INVALID = 4
EXIT_SIGNATURE = 5
EXIT_NOT_STAGED = 6
EXIT_BUSY = 7
EXIT_KERNEL_REFUSED = 8
EXIT_UNSUPPORTED = 9
EXIT_UNREACHABLE = 10

ALL_ACTIONS = ['org.kexecd1.stage', 'org.kexecd1.unstage', 'org.kexecd1.reboot',
	       'org.kexecd1.soft-reboot']

FIXTURES = ['uki.efi', 'uki-signed.efi', 'uki-tampered.efi', 'addon-cmdline.addon.efi',
	    'addon-initrd.addon.efi', 'addon-linux.addon.efi', 'addon-uname.addon.efi',
	    'bad-trunc-sections.efi', 'bad-elf.efi', 'vmlinuz', 'initrd.cpio', 'addon-initrd.cpio']

LOGIND_IFACE = 'org.freedesktop.login1.Manager'
REBOOT_ROOT_CHECK_INHIBITORS = 0x01
REBOOT_KEXEC = 0x02
REBOOT_SOFT = 0x04
REBOOT_PROBE = REBOOT_KEXEC | REBOOT_SOFT
EXIT_INHIBITED = 11
EXIT_NO_CRASH_MEMORY = 12

# RebootWithFlags as systemd-logind 254 and 252 check its flags
# (src/login/logind-dbus.c), measured in Debian VMs (PROOFS.md).
LOGIND_254 = '''if args[0] & ~0x0f:
    raise dbus.exceptions.DBusException('Invalid flags parameter', name='org.freedesktop.DBus.Error.InvalidArgs')
if args[0] & 0x06 == 0x06:
    raise dbus.exceptions.DBusException('Both reboot via kexec and soft reboot selected, which is not supported', name='org.freedesktop.DBus.Error.InvalidArgs')
'''
LOGIND_252 = '''if args[0] & ~0x03:
    raise dbus.exceptions.DBusException('Invalid flags parameter', name='org.freedesktop.DBus.Error.InvalidArgs')
'''


def env_path(name):
	value = os.environ.get(name)
	if not value:
		print(f'SKIP: {name} is not set (run through meson test)', file=sys.stderr)
		sys.exit(SKIP)
	return value


def sha256(data):
	return hashlib.sha256(data).hexdigest()


def read(path):
	with open(path, 'rb') as f:
		return f.read()


def strings_in(doc):
	"""Every string anywhere in a JSON document, to find a hash whatever its key."""
	if isinstance(doc, str):
		yield doc
	elif isinstance(doc, dict):
		for v in doc.values():
			yield from strings_in(v)
	elif isinstance(doc, list):
		for v in doc:
			yield from strings_in(v)



def read_terminal(master, proc):
	"""What a process wrote to the pseudo-terminal whose master is given,
	until it closes the terminal (or 60 s pass without output); waits for it."""
	out = b''
	while True:
		ready, _, _ = select.select([master], [], [], 60)
		if not ready:
			break
		try:
			chunk = os.read(master, 4096)
		except OSError:  # EIO: the child closed the terminal
			break
		if not chunk:
			break
		out += chunk
	proc.wait(timeout=60)
	return out

class Result:
	def __init__(self, argv, proc):
		self.argv = argv
		self.code = proc.returncode
		self.out = proc.stdout
		self.err = proc.stderr

	def json(self):
		try:
			return json.loads(self.out)
		except ValueError as e:
			raise AssertionError(f'{self} did not print JSON: {e}')

	def __str__(self):
		return (f'`{" ".join(self.argv)}` exited {self.code}\n'
			f'--- stdout\n{self.out}--- stderr\n{self.err}')


class KexecdTest(dbusmock.DBusTestCase):
	"""One private bus with logind and polkitd mocks per class, a fresh
	kexecd with an empty fake kernel per test."""

	@classmethod
	def setUpClass(cls):
		cls.kexecd_bin = env_path('KEXECD_BIN')
		cls.kexecctl_bin = env_path('KEXECCTL_BIN')
		fixtures = env_path('KEXECD_FIXTURES')
		unavailable = os.path.join(fixtures, 'UNAVAILABLE')
		if os.path.exists(unavailable):
			print(f'SKIP: {read(unavailable).decode().strip()}', file=sys.stderr)
			sys.exit(SKIP)
		for tool in ('dbus-daemon',):
			if not shutil.which(tool):
				print(f'SKIP: {tool} not installed', file=sys.stderr)
				sys.exit(SKIP)

		# Copies, 0755/0644 all the way, so uid 65534 reaches the bus
		# socket and the files it stages even when the build directory is
		# private. Only what the tests use: the fixtures are large.
		cls.tmp = tempfile.mkdtemp(prefix='kexecd-it-')
		os.chmod(cls.tmp, 0o755)
		cls.fixtures = os.path.join(cls.tmp, 'fixtures')
		os.makedirs(cls.fixtures)
		for name in FIXTURES:
			shutil.copyfile(os.path.join(fixtures, name), os.path.join(cls.fixtures, name))
			os.chmod(os.path.join(cls.fixtures, name), 0o644)
		shutil.copytree(os.path.join(fixtures, 'trust'), os.path.join(cls.fixtures, 'trust'))
		for root, dirs, files in os.walk(cls.fixtures):
			os.chmod(root, 0o755)

		cls.bus_socket = os.path.join(cls.tmp, 'system_bus_socket')
		cls.address = f'unix:path={cls.bus_socket}'
		cls.bus_log = open(os.path.join(cls.tmp, 'dbus-daemon.log'), 'w')
		cls.bus_proc = subprocess.Popen(
			['dbus-daemon', '--config-file=' + os.path.join(HERE, 'system-bus.conf'),
			 '--address=' + cls.address, '--nofork', '--nopidfile', '--print-address'],
			stdout=subprocess.PIPE, stderr=cls.bus_log, text=True)
		if not cls.bus_proc.stdout.readline().strip():
			raise RuntimeError('dbus-daemon did not start')
		os.chmod(cls.bus_socket, 0o777)
		os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = cls.address
		# Nothing here may talk to the real system or session bus.
		os.environ.pop('DBUS_SESSION_BUS_ADDRESS', None)

		cls.bus = cls.get_dbus(system_bus=True)
		cls.logind_proc, cls.logind = cls.spawn_server_template(
			'logind', {}, stdout=subprocess.DEVNULL, system_bus=True)
		cls.logind_mock = dbus.Interface(cls.logind, dbusmock.MOCK_IFACE)
		# dbusmock 0.28's logind template predates RebootWithFlags; this
		# one answers the capability probe (0x06) as systemd 254 does.
		cls.logind_mock.AddMethod(LOGIND_IFACE, 'RebootWithFlags', 't', '', LOGIND_254)
		cls.polkit_proc, cls.polkit = cls.spawn_server_template(
			'polkitd', {}, stdout=subprocess.DEVNULL, system_bus=True)
		cls.polkit_mock = dbus.Interface(cls.polkit, dbusmock.MOCK_IFACE)

	@classmethod
	def tearDownClass(cls):
		for proc in (cls.logind_proc, cls.polkit_proc, cls.bus_proc):
			proc.terminate()
			try:
				proc.wait(timeout=5)
			except subprocess.TimeoutExpired:
				proc.kill()
				proc.wait()
		cls.bus_proc.stdout.close()
		cls.bus_log.close()
		shutil.rmtree(cls.tmp, ignore_errors=True)

	def setUp(self):
		self.polkit_mock.SetAllowed(dbus.Array(ALL_ACTIONS, signature='s'))
		self.logind_mock.ClearCalls()
		self.kdir = tempfile.mkdtemp(prefix='kernel-', dir=self.tmp)
		os.chmod(self.kdir, 0o755)
		self.state_file = os.path.join(self.kdir, 'staged.json')
		self.daemon = None
		self.daemon_log_path = os.path.join(self.kdir, 'kexecd.log')
		self.start_daemon()

	def tearDown(self):
		self.stop_daemon()
		if self._outcome_failed():
			with open(self.daemon_log_path, errors='replace') as f:
				sys.stderr.write(f'--- kexecd log of {self.id()}\n{f.read()}\n')

	def _outcome_failed(self):
		outcome = getattr(self, '_outcome', None)
		result = getattr(outcome, 'result', None)
		if result is None:
			return False
		return any(t is self for t, _ in result.failures + result.errors)

	# --- helpers

	@classmethod
	def own_tests(cls, loader):
		"""Only the tests a subclass defines, not the ones it inherits."""
		names = [n for n in cls.__dict__ if n.startswith('test_')]
		return unittest.TestSuite(cls(n) for n in sorted(names))

	def start_daemon(self, *extra, trust=None):
		argv = [self.kexecd_bin, f'--kernel=fake:{self.kdir}', '--state-file', self.state_file,
			'--trust-dir', trust or os.path.join(self.fixtures, 'trust'), *extra]
		log = open(self.daemon_log_path, 'a')
		# An empty /sys and /proc: no firmware variables, and the kernel's
		# keyrings unknown, so the host's own keys never decide a verdict.
		root = os.path.join(self.kdir, 'sysroot')
		os.makedirs(root, exist_ok=True)
		env = dict(os.environ, KEXECD_SYSFS_ROOT=root)
		self.daemon = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
		log.close()
		deadline = time.monotonic() + 20
		while time.monotonic() < deadline:
			if self.daemon.poll() is not None:
				self.fail(f'kexecd exited with {self.daemon.returncode} on start:\n'
					  + read(self.daemon_log_path).decode(errors='replace'))
			if self.bus.name_has_owner('org.kexecd1'):
				return
			time.sleep(0.05)
		self.fail('kexecd did not take the name org.kexecd1 within 20 s')

	def stop_daemon(self, sig=signal.SIGTERM):
		if self.daemon is None:
			return
		if self.daemon.poll() is None:
			self.daemon.send_signal(sig)
			try:
				self.daemon.wait(timeout=10)
			except subprocess.TimeoutExpired:
				self.daemon.kill()
				self.daemon.wait()
		self.daemon = None
		# The name must be gone before the next daemon may take it.
		deadline = time.monotonic() + 10
		while self.bus.name_has_owner('org.kexecd1') and time.monotonic() < deadline:
			time.sleep(0.05)

	def ctl_argv(self, *args, unprivileged=False):
		argv = [self.kexecctl_bin, *args]
		if unprivileged and os.geteuid() == 0:
			argv = ['setpriv', f'--reuid={UNPRIVILEGED}', f'--regid={UNPRIVILEGED}',
				'--clear-groups', *argv]
		return argv

	def ctl(self, *args, unprivileged=False, timeout=120):
		argv = self.ctl_argv(*args, unprivileged=unprivileged)
		proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
				      timeout=timeout, stdin=subprocess.DEVNULL)
		return Result(argv, proc)

	def need_unprivileged(self):
		if os.geteuid() == 0 and not shutil.which('setpriv'):
			self.skipTest('setpriv missing')

	def need_root(self, why='to run kexecctl as another uid'):
		if os.geteuid() != 0:
			self.skipTest('needs root ' + why)

	def fx(self, name):
		return os.path.join(self.fixtures, name)

	def kfile(self, name):
		return os.path.join(self.kdir, name)

	def loaded(self):
		try:
			return read(self.kfile('loaded')).decode().strip()
		except FileNotFoundError:
			return '0'

	def status(self, unprivileged=False):
		r = self.ctl('--json', 'status', unprivileged=unprivileged)
		self.assertEqual(r.code, EXIT_OK, r)
		return r.json()

	def stage_ok(self, *extra):
		r = self.ctl('--no-ask-password', 'stage', self.fx('uki.efi'), '--scheme', 'classic', *extra)
		self.assertEqual(r.code, EXIT_OK, r)
		return r

	def reboot_calls(self):
		# Without kexecd's side-effect-free capability probe (0x06).
		return [(str(c[1]), [int(a) for a in c[2]])
			for c in self.logind_mock.GetCalls()
			if str(c[1]) == 'RebootWithFlags' and int(c[2][0]) != REBOOT_PROBE]

	# --- tests

	def test_status_idle(self):
		doc = self.status()
		self.assertEqual(doc.get('state'), 'idle', doc)
		r = self.ctl('status')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertRegex(r.out, r'(?m)^\s*State: idle$')

	def test_stage_uki_and_addon(self):
		r = self.ctl('stage', self.fx('uki.efi'), '--addon', self.fx('addon-cmdline.addon.efi'),
			     '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertIn('Staged', r.out)

		kernel = read(self.kfile('kernel.bin'))
		self.assertEqual(kernel, read(self.fx('vmlinuz')), 'kernel.bin is not the UKI .linux')
		self.assertEqual(read(self.kfile('cmdline.bin')),
				 b'console=ttyS0 kexecd.uki=1 kexecd.addon=1\0')
		initrd = read(self.kfile('initrd.bin'))
		self.assertTrue(initrd.startswith(read(self.fx('initrd.cpio'))),
				'initrd.bin does not start with the UKI .initrd')
		self.assertEqual(self.loaded(), '1')

		doc = self.status()
		self.assertEqual(doc.get('state'), 'staged', doc)
		found = set(strings_in(doc))
		# The initrd is described by its parts (issue 16): each where the
		# record says, with the bytes of the file it names.
		staged = doc['staged']
		self.assertEqual(staged['initrd']['size'], len(initrd))
		for part in staged['initrd']['parts']:
			got = initrd[part['offset']:part['offset'] + part['size']]
			if 'from' in part:
				src = read(part['from']['file'])
				self.assertEqual(got, src[part['from']['offset']:part['from']['offset'] + part['size']], part)
			else:
				self.assertEqual(sha256(got), part['sha256'], part)
		for what, digest in (('kernel', sha256(kernel)),
				     ('UKI', sha256(read(self.fx('uki.efi')))),
				     ('addon', sha256(read(self.fx('addon-cmdline.addon.efi'))))):
			self.assertIn(digest, found, f'SHA-256 of the {what} missing from status --json')
		self.assertIn(self.fx('uki.efi'), found, 'UKI path missing from status --json')

		human = self.ctl('status')
		self.assertEqual(human.code, EXIT_OK, human)
		self.assertRegex(human.out, r'(?m)^\s*State: staged$')
		self.assertIn(sha256(kernel), human.out)
		self.assertIn('console=ttyS0 kexecd.uki=1 kexecd.addon=1', human.out)

	def test_stage_json_reply(self):
		r = self.ctl('--json', 'stage', self.fx('uki.efi'), '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_OK, r)
		reply = r.json()
		self.assertIn(sha256(read(self.fx('vmlinuz'))), set(strings_in(reply)), reply)

	def test_stage_initrd_addon(self):
		r = self.ctl('stage', self.fx('uki.efi'), '--addon', self.fx('addon-initrd.addon.efi'),
			     '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(read(self.kfile('cmdline.bin')),
				 b'console=ttyS0 kexecd.uki=1 kexecd.addon2=1\0')
		initrd = read(self.kfile('initrd.bin'))
		for part in ('initrd.cpio', 'addon-initrd.cpio'):
			self.assertIn(read(self.fx(part)), initrd, f'{part} missing from the initrd')

	def test_unstage(self):
		self.stage_ok()
		self.assertEqual(self.loaded(), '1')
		r = self.ctl('unstage')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.loaded(), '0')
		self.assertEqual(self.status().get('state'), 'idle')

	def test_reboot_calls_logind_kexec(self):
		self.stage_ok()
		r = self.ctl('reboot')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.reboot_calls(), [('RebootWithFlags', [REBOOT_KEXEC])])

	def test_soft_reboot_calls_logind(self):
		self.stage_ok()
		r = self.ctl('soft-reboot')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.reboot_calls(), [('RebootWithFlags', [REBOOT_SOFT])])

	def test_reboot_not_staged(self):
		r = self.ctl('reboot')
		self.assertEqual(r.code, EXIT_NOT_STAGED, r)
		self.assertEqual(self.reboot_calls(), [])
		self.assertEqual(r.err.count('\n'), 1, 'expected one line on stderr')

	def test_polkit_denies_unprivileged_stage(self):
		self.need_unprivileged()
		self.polkit_mock.SetAllowed(dbus.Array([], signature='s'))
		r = self.ctl('--no-ask-password', 'stage', self.fx('uki.efi'), unprivileged=True)
		self.assertEqual(r.code, EXIT_ACCESS_DENIED, r)
		self.assertIn('Access denied', r.err)
		self.assertIn('org.kexecd1.stage', r.err)
		self.assertFalse(os.path.exists(self.kfile('kernel.bin')), 'something was loaded')
		self.assertEqual(self.loaded(), '0')
		self.assertEqual(self.status().get('state'), 'idle')

		# With a kernel staged, the other verbs are refused too and
		# change nothing (root passes without polkit; a non-root test run
		# needs the grant).
		self.polkit_mock.SetAllowed(dbus.Array(['org.kexecd1.stage'], signature='s'))
		self.stage_ok()
		for verb, action in (('unstage', 'org.kexecd1.unstage'), ('reboot', 'org.kexecd1.reboot'),
				     ('soft-reboot', 'org.kexecd1.soft-reboot')):
			r = self.ctl('--no-ask-password', verb, unprivileged=True)
			self.assertEqual(r.code, EXIT_ACCESS_DENIED, r)
			self.assertIn(action, r.err)
		self.assertEqual(self.reboot_calls(), [])
		self.assertEqual(self.loaded(), '1')
		self.assertEqual(self.status().get('state'), 'staged')

	def test_polkit_allows_unprivileged_stage(self):
		self.need_unprivileged()
		self.polkit_mock.SetAllowed(dbus.Array(['org.kexecd1.stage'], signature='s'))
		r = self.ctl('--no-ask-password', 'stage', self.fx('uki.efi'), '--scheme', 'classic',
			     unprivileged=True)
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.loaded(), '1')
		# stage does not imply unstage
		r = self.ctl('--no-ask-password', 'unstage', unprivileged=True)
		self.assertEqual(r.code, EXIT_ACCESS_DENIED, r)
		self.assertEqual(self.loaded(), '1')

	def test_unprivileged_reads_status(self):
		self.need_unprivileged()
		self.stage_ok()
		self.polkit_mock.SetAllowed(dbus.Array([], signature='s'))
		doc = self.status(unprivileged=True)
		self.assertEqual(doc.get('state'), 'staged', doc)
		self.assertIn(sha256(read(self.fx('vmlinuz'))), set(strings_in(doc)))
		r = self.ctl('status', unprivileged=True)
		self.assertEqual(r.code, EXIT_OK, r)

	def test_concurrent_stage_busy(self):
		# The recording kernel sleeps in load(), so the first staging is
		# still running when the second arrives.
		with open(self.kfile('delay-ms'), 'w') as f:
			f.write('3000\n')
		argv = self.ctl_argv('--no-ask-password', 'stage', self.fx('uki.efi'), '--scheme', 'classic')
		first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
		# Wait until the daemon reports staging, then race the second call.
		deadline = time.monotonic() + 10
		while time.monotonic() < deadline:
			if self.status().get('state') == 'staging':
				break
			time.sleep(0.05)
		second = self.ctl('--no-ask-password', 'stage', self.fx('uki.efi'), '--scheme', 'classic')
		out, err = first.communicate(timeout=60)
		self.assertEqual(first.returncode, EXIT_OK, f'first stage: {out}{err}')
		self.assertEqual(second.code, EXIT_BUSY, second)
		self.assertIn('Busy', second.err)
		self.assertEqual(self.loaded(), '1')

	def test_status_answers_during_staging(self):
		with open(self.kfile('delay-ms'), 'w') as f:
			f.write('3000\n')
		argv = self.ctl_argv('--no-ask-password', 'stage', self.fx('uki.efi'), '--scheme', 'classic')
		stage = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
		try:
			seen = None
			deadline = time.monotonic() + 10
			while time.monotonic() < deadline and seen != 'staging':
				t0 = time.monotonic()
				seen = self.status().get('state')
				self.assertLess(time.monotonic() - t0, 2.0, 'status blocked behind a staging')
				time.sleep(0.05)
			self.assertEqual(seen, 'staging')
		finally:
			out, err = stage.communicate(timeout=60)
		self.assertEqual(stage.returncode, EXIT_OK, f'{out}{err}')

	def test_status_answers_while_polkit_hangs(self):
		self.need_unprivileged()
		self.polkit_mock.SimulateHangActions(dbus.Array(['org.kexecd1.stage'], signature='s'))
		stage = subprocess.Popen(self.ctl_argv('--no-ask-password', 'stage', self.fx('uki.efi'),
						       '--scheme', 'classic', unprivileged=True),
					 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
		try:
			deadline = time.monotonic() + 10
			while not self.polkit_mock.HaveHangingCalls() and time.monotonic() < deadline:
				time.sleep(0.05)
			self.assertTrue(self.polkit_mock.HaveHangingCalls(), 'kexecd never asked polkit')
			t0 = time.monotonic()
			self.assertEqual(self.status().get('state'), 'idle')
			self.assertLess(time.monotonic() - t0, 2.0, 'status blocked behind polkit')
		finally:
			self.polkit_mock.SimulateHangActions(dbus.Array([], signature='s'))
			self.polkit_mock.ReleaseHangingCalls()
			out, err = stage.communicate(timeout=60)
		self.assertEqual(stage.returncode, EXIT_OK, f'{out}{err}')
		self.assertEqual(self.loaded(), '1')

	def test_malformed_keeps_previous(self):
		self.stage_ok()
		before = self.status()
		kernel = read(self.kfile('kernel.bin'))
		r = self.ctl('stage', self.fx('bad-trunc-sections.efi'), '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertIn('Invalid image', r.err)
		self.assertEqual(r.err.count('\n'), 1, 'expected one line on stderr')
		after = self.status()
		self.assertEqual(after.get('state'), 'staged', after)
		self.assertEqual(after.get('staged'), before.get('staged'))
		self.assertEqual(read(self.kfile('kernel.bin')), kernel)
		self.assertEqual(self.loaded(), '1')

	def test_invalid_inputs_are_named(self):
		cases = [
			(['bad-elf.efi'], 'Invalid image', 'bad-elf.efi'),
			(['uki.efi', '--addon', 'addon-linux.addon.efi'], 'Invalid image', 'addon-linux.addon.efi'),
			(['uki.efi', '--addon', 'addon-uname.addon.efi'], 'Invalid image', 'addon-uname.addon.efi'),
			(['uki.efi', '--profile', 'no-such-profile'], 'Invalid argument', 'no-such-profile'),
			# kexecctl's option, not the bus option cmdline_extra it sends (issue 28).
			(['uki.efi', '--cmdline-replace', 'x' * 5000], 'Invalid argument', '--cmdline-replace'),
		]
		for args, title, named in cases:
			argv = [self.fx(a) if a.endswith('.efi') else a for a in args]
			r = self.ctl('stage', *argv, '--scheme', 'classic')
			self.assertEqual(r.code, EXIT_INVALID, r)
			self.assertTrue(r.err.startswith(title + ': '), r)
			self.assertIn(named, r.err)
			self.assertEqual(r.err.count('\n'), 1, r)
		r = self.ctl('stage', self.fixtures)  # a directory
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertEqual(self.loaded(), '0')
		self.assertFalse(os.path.exists(self.kfile('kernel.bin')))

	def test_signature_rejected(self):
		r = self.ctl('stage', self.fx('uki-tampered.efi'), '--scheme', 'classic',
			     '--signature-policy', 'enforce')
		self.assertEqual(r.code, EXIT_SIGNATURE, r)
		self.assertIn('Signature rejected', r.err)
		self.assertEqual(self.loaded(), '0')

	def test_signed_uki_enforced(self):
		r = self.ctl('--json', 'stage', self.fx('uki-signed.efi'), '--scheme', 'classic',
			     '--signature-policy', 'enforce')
		self.assertEqual(r.code, EXIT_OK, r)
		status = self.status()
		self.assertIn('trusted', set(strings_in(status)))
		# Both verdicts cross D-Bus: the envelope's (firmware) and the .linux's
		# (kernel; unknown here, the daemon sees no keyrings).
		objects = status['staged']['signatures']['objects']
		self.assertEqual([o['object'] for o in objects], ['uki', 'kernel'], objects)
		self.assertEqual(objects[0]['firmware']['verdict'], 'trusted')
		self.assertEqual(objects[1]['kernel']['verdict'], 'unknown')
		r = self.ctl('status')
		self.assertIn('Kernel verdict, .linux: unknown', r.out, r)

	def test_sigkill_restart_keeps_status(self):
		self.stage_ok()
		before = self.status()
		self.stop_daemon(signal.SIGKILL)
		self.start_daemon()
		after = self.status()
		self.assertEqual(after.get('state'), 'staged', after)
		self.assertEqual(after.get('staged'), before.get('staged'))

	def test_kernel_refused_keeps_previous(self):
		self.stage_ok()
		before = self.status()
		with open(self.kfile('fail-load'), 'w') as f:
			f.write('22\n')  # EINVAL
		r = self.ctl('stage', self.fx('uki.efi'), '--addon', self.fx('addon-cmdline.addon.efi'),
			     '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_KERNEL_REFUSED, r)
		self.assertIn('Kernel refused', r.err)
		after = self.status()
		self.assertEqual(after.get('staged'), before.get('staged'))
		self.assertTrue(after.get('last_error'), 'LastError not set after a refused load')
		self.assertEqual(read(self.kfile('cmdline.bin')), b'console=ttyS0 kexecd.uki=1\0')

	def test_bpf_scheme_unsupported(self):
		# The recording kernel reports no BPF parser unless support.json says so.
		r = self.ctl('stage', self.fx('uki.efi'), '--scheme', 'bpf')
		self.assertEqual(r.code, EXIT_UNSUPPORTED, r)
		self.assertIn('Unsupported', r.err)
		self.assertEqual(self.loaded(), '0')

	def elf_sections(self, data):
		"""Section names and bytes of an ELF64 LE file, parsed here with
		struct, independently of the engine's container writer."""
		shoff, = struct.unpack_from('<Q', data, 0x28)
		shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3a)
		headers = [struct.unpack_from('<IIQQQQIIQQ', data, shoff + i * shentsize) for i in range(shnum)]
		strtab = headers[shstrndx]
		names = data[strtab[4]:strtab[4] + strtab[5]]
		out = []
		for i, h in enumerate(headers[1:], 1):
			name = names[h[0]:names.index(b'\0', h[0])].decode()
			out.append((name, data[h[4]:h[4] + h[5]]))
		return out

	def test_bpf_scheme_stages_two_containers(self):
		parser = os.environ.get('KEXECD_PARSER_CONTAINER')
		cert = os.environ.get('KEXECD_PARSER_CERT')
		if not parser or not cert:
			self.skipTest('built without the BPF parser container')
		trust = os.path.join(self.kdir, 'trust')
		os.makedirs(trust)
		shutil.copy(self.fx('trust/trusted.pem'), trust)
		shutil.copy(cert, os.path.join(trust, 'parser.pem'))
		with open(self.kfile('support.json'), 'w') as f:
			f.write('{"bpf_parser": true, "generation": "post-v7"}')
		self.stop_daemon()
		self.start_daemon('--parser', parser, trust=trust)

		r = self.ctl('stage', self.fx('uki.efi'), '--addon', self.fx('addon-initrd.addon.efi'),
			     '--scheme', 'bpf')
		self.assertEqual(r.code, EXIT_OK, r)
		# fd 1: the signed parser container as installed; cmdline_len 0.
		self.assertEqual(read(self.kfile('kernel.bin')), read(parser))
		self.assertEqual(read(self.kfile('cmdline.bin')), b'')
		# fd 2: the UKI and the addon, untouched, in order.
		container = read(self.kfile('initrd.bin'))
		sections = self.elf_sections(container)
		self.assertEqual([n for n, _ in sections], ['.pe.1', '.pe.2', '.shstrtab'])
		self.assertEqual(sections[0][1], read(self.fx('uki.efi')))
		self.assertEqual(sections[1][1], read(self.fx('addon-initrd.addon.efi')))

		staged = self.status()['staged']
		self.assertEqual(staged['scheme'], 'bpf')
		# The container by its sections' digests, .pe.N being the files'.
		self.assertEqual(staged['container']['size'], len(container))
		self.assertEqual([c['sha256'] for c in staged['container']['sections']],
				 [sha256(data) for name, data in sections if name != '.shstrtab'])
		self.assertEqual(staged['container']['sections'][0]['sha256'], staged['uki']['sha256'])
		self.assertEqual(staged['parser']['sha256'], sha256(read(parser)))
		self.assertEqual(staged['parser']['signature']['verdict'], 'trusted')
		self.assertEqual(staged['cmdline'], 'console=ttyS0 kexecd.uki=1 kexecd.addon2=1')
		human = self.ctl('status')
		self.assertIn('Image container', human.out)
		self.assertIn(sha256(sections[1][1]), human.out)

	def test_bpf_parser_signature_enforced(self):
		parser = os.environ.get('KEXECD_PARSER_CONTAINER')
		if not parser:
			self.skipTest('built without the BPF parser container')
		with open(self.kfile('support.json'), 'w') as f:
			f.write('{"bpf_parser": true}')
		self.stop_daemon()
		# The fixtures' trust store does not hold the parser's signing cert.
		self.start_daemon('--parser', parser, '--signature-policy', 'enforce')
		r = self.ctl('stage', self.fx('uki-signed.efi'), '--scheme', 'bpf')
		self.assertEqual(r.code, EXIT_SIGNATURE, r)
		self.assertIn('parser container', r.err)
		self.assertEqual(self.loaded(), '0')

	def test_auto_scheme_explains_choice(self):
		r = self.ctl('--json', 'stage', self.fx('uki.efi'))
		self.assertEqual(r.code, EXIT_OK, r)
		staged = self.status()['staged']
		self.assertEqual(staged.get('scheme'), 'classic', staged)
		self.assertTrue(staged.get('scheme_reason'), 'no reason recorded for the scheme')

	def test_force_reboot(self):
		self.need_root('(reboot --force is for root only)')
		self.stage_ok()
		r = self.ctl('reboot', '--force')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.reboot_calls(), [], 'force must not go through logind')
		self.assertIn('reboot-kexec', read(self.kfile('calls.log')).decode())

	def test_force_reboot_needs_root(self):
		self.need_root()
		self.stage_ok()
		r = self.ctl('--no-ask-password', 'reboot', '--force', unprivileged=True)
		self.assertEqual(r.code, EXIT_ACCESS_DENIED, r)
		self.assertNotIn('reboot-kexec', read(self.kfile('calls.log')).decode())

	def test_restart_reconciles_lost_kernel(self):
		self.stage_ok()
		self.stop_daemon(signal.SIGKILL)
		# Someone ran `kexec -u` while kexecd was down.
		with open(self.kfile('loaded'), 'w') as f:
			f.write('0\n')
		self.start_daemon()
		self.assertEqual(self.status().get('state'), 'idle')

	def test_restart_reconciles_foreign_kernel(self):
		# A kernel kexecd did not stage (no state file) is someone else's.
		with open(self.kfile('loaded'), 'w') as f:
			f.write('1\n')
		self.stop_daemon()
		self.start_daemon()
		self.assertEqual(self.status().get('state'), 'foreign')
		r = self.ctl('status')
		self.assertRegex(r.out, r'(?m)^\s*State: foreign$')

	def test_missing_file(self):
		r = self.ctl('stage', os.path.join(self.tmp, 'does-not-exist.efi'))
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertIn('does-not-exist.efi', r.err)

	def make_esp(self):
		"""A private ESP with one UKI and one addon in its .extra.d."""
		esp = os.path.join(self.kdir, 'esp')
		linux = os.path.join(esp, 'EFI', 'Linux')
		extra = os.path.join(linux, 'debian-6.1.efi.extra.d')
		os.makedirs(extra)
		os.makedirs(os.path.join(esp, 'loader'))
		shutil.copyfile(self.fx('uki.efi'), os.path.join(linux, 'debian-6.1.efi'))
		shutil.copyfile(self.fx('addon-cmdline.addon.efi'), os.path.join(extra, 'console.addon.efi'))
		return esp, linux, extra

	def test_list(self):
		esp, linux, extra = self.make_esp()
		r = self.ctl('--json', 'list', '--esp', esp)
		self.assertEqual(r.code, EXIT_OK, r)
		doc = r.json()
		self.assertEqual(doc['default'], 'debian-6.1.efi')
		self.assertEqual([(e['path'], e['addons'], e['default']) for e in doc['entries']],
				 [(os.path.join(linux, 'debian-6.1.efi'), [os.path.join(extra, 'console.addon.efi')],
				   True)])
		r = self.ctl('list', '--esp', esp)
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertIn('* debian-6.1.efi', r.out)
		# A directory that is not there is named, not "no ESP" (issue 28).
		r = self.ctl('list', '--esp', os.path.join(self.kdir, 'no-esp'))
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertIn(os.path.join(self.kdir, 'no-esp'), r.err)

	def test_stage_default(self):
		# Without a UKI the daemon picks the default entry of the ESP and
		# the addons systemd-stub would load (StageDefault).
		esp, linux, extra = self.make_esp()
		conf = os.path.join(self.kdir, 'kexecd.conf')
		with open(conf, 'w') as f:
			f.write(f'[Manager]\nESP={esp}\n')
		self.stop_daemon()
		self.start_daemon('--config', conf)

		r = self.ctl('stage', '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertIn(os.path.join(linux, 'debian-6.1.efi'), r.out)
		self.assertEqual(read(self.kfile('cmdline.bin')),
				 b'console=ttyS0 kexecd.uki=1 kexecd.addon=1\0')
		staged = self.status()['staged']
		self.assertEqual(staged['uki']['path'], os.path.join(linux, 'debian-6.1.efi'))
		self.assertEqual([a['path'] for a in staged['addons']],
				 [os.path.join(extra, 'console.addon.efi')])

	def test_usage(self):
		r = self.ctl('stage', '--addon', self.fx('addon-cmdline.addon.efi'))
		self.assertEqual(r.code, EXIT_USAGE, r)
		r = self.ctl('stage', self.fx('uki.efi'), '--scheme', 'nonsense')
		self.assertEqual(r.code, EXIT_USAGE, r)
		r = self.ctl('frobnicate')
		self.assertEqual(r.code, EXIT_USAGE, r)

	def test_daemon_unreachable(self):
		self.stop_daemon()
		r = self.ctl('status')
		self.assertEqual(r.code, EXIT_UNREACHABLE, r)
		r = self.ctl('--bus', f'unix:path={self.tmp}/no-such-socket', 'status')
		self.assertEqual(r.code, EXIT_UNREACHABLE, r)
		r = self.ctl('--json', 'status')
		self.assertEqual(r.code, EXIT_UNREACHABLE, r)
		self.assertEqual(r.json()['error']['exit_code'], EXIT_UNREACHABLE)

	def test_explicit_bus_address(self):
		env_addr = os.environ['DBUS_SYSTEM_BUS_ADDRESS']
		try:
			os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = f'unix:path={self.tmp}/no-such-socket'
			r = self.ctl('--bus', env_addr, '--json', 'status')
		finally:
			os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = env_addr
		self.assertEqual(r.code, EXIT_OK, r)

	def run_on_tty(self, *args):
		"""kexecctl with stdout on a pseudo-terminal; returns (exit code, output)."""
		master, slave = pty.openpty()
		try:
			proc = subprocess.Popen(self.ctl_argv(*args), stdin=subprocess.DEVNULL, stdout=slave,
						stderr=subprocess.DEVNULL)
			os.close(slave)
			slave = None
			out = read_terminal(master, proc)
		finally:
			if slave is not None:
				os.close(slave)
			os.close(master)
		return proc.returncode, out.decode(errors='replace')

	def test_progress_bar_on_tty(self):
		code, out = self.run_on_tty('stage', self.fx('uki.efi'), '--scheme', 'classic')
		self.assertEqual(code, EXIT_OK, out)
		self.assertRegex(out, r'\[[# ]+\]\s+\d+%', 'no progress bar drawn on a terminal')
		self.assertIn('Staged', out)

	def test_no_progress_bar_with_json_or_pipe(self):
		code, out = self.run_on_tty('--json', 'stage', self.fx('uki.efi'), '--scheme', 'classic')
		self.assertEqual(code, EXIT_OK, out)
		json.loads(out)  # nothing but the document, even on a terminal
		r = self.ctl('stage', self.fx('uki.efi'), '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertNotIn('\x1b', r.out)
		self.assertNotIn('\r', r.out)

	def test_inspect(self):
		r = self.ctl('--json', 'inspect', self.fx('uki.efi'), '--addon',
			     self.fx('addon-cmdline.addon.efi'))
		self.assertEqual(r.code, EXIT_OK, r)
		doc = r.json()
		self.assertIsInstance(doc, dict)
		r = self.ctl('inspect', self.fx('uki.efi'))
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertIn('.linux', r.out)
		r = self.ctl('inspect', self.fx('bad-trunc-sections.efi'))
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertIn('Invalid image', r.err)

	def test_inspect_signature(self):
		r = self.ctl('--json', 'inspect', '--trust-dir', self.fx('trust'), self.fx('uki-signed.efi'))
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertIn('trusted', set(strings_in(r.json())))
		r = self.ctl('--json', 'inspect', '--trust-dir', self.fx('trust'), self.fx('uki-tampered.efi'))
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertIn('bad-signature', set(strings_in(r.json())))

	def test_inspect_unprivileged(self):
		self.need_unprivileged()
		r = self.ctl('--json', 'inspect', self.fx('uki.efi'), unprivileged=True)
		self.assertEqual(r.code, EXIT_OK, r)


if __name__ == '__main__':
	unittest.main(verbosity=2)
