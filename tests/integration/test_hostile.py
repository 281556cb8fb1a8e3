#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hostile inputs, faults and load against the real kexecd on a private bus.

The same private dbus-daemon, dbusmock logind/polkitd and recording kernel
as test_kexecd.py (its KexecdTest is reused), and the test-only phase hook
(KEXECD_TEST_HOOK_DIR). Every case asserts a named error (or a clean
success), a live daemon, and the previous stage intact.

KEXECD_HOSTILE_CYCLES (default 1000) sets the stage/unstage soak length; the
sanitizer build runs fewer.
"""

import concurrent.futures
import errno
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_kexecd as base  # noqa: E402  (shares the fixtures and the bus set-up)
from test_kexecd import (EXIT_BUSY, EXIT_INVALID, EXIT_KERNEL_REFUSED,  # noqa: E402
			 EXIT_OK, UNPRIVILEGED, read, sha256)

import dbus  # noqa: E402

# A small UKI (zboot .linux of ~200 KiB) keeps the soak about the daemon,
# not about copying a real 8 MiB kernel 1000 times.
base.FIXTURES.append('uki-zboot.efi')

ERR = 'org.kexecd1.Error.'
ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
# The errnos KERNEL-ABI.md lists for kexec_file_load and the series.
KERNEL_ERRNOS = ['EPERM', 'EKEYREJECTED', 'ENOKEY', 'EBADMSG', 'ELIBBAD', 'ENOPKG', 'EMSGSIZE',
		 'ENOEXEC', 'EINVAL', 'EBUSY', 'ENOMEM', 'EACCES', 'EBADF']
PHASES = ['read', 'verify', 'compose', 'pending', 'loaded', 'recorded', 'posted']


def fd_count(pid):
	return len(os.listdir(f'/proc/{pid}/fd'))


def settled_fd_count(pid, timeout=5.0):
	"""The daemon's fd count once it stops changing: a staging's memfds are
	dropped on a reaper thread after the reply (issue 16), so a count taken
	right after a call may still include them."""
	deadline = time.monotonic() + timeout
	last, same = fd_count(pid), 0
	while same < 3 and time.monotonic() < deadline:
		time.sleep(0.05)
		now = fd_count(pid)
		same = same + 1 if now == last else 0
		last = now
	return last


def rss_kib(pid):
	with open(f'/proc/{pid}/status') as f:
		for line in f:
			if line.startswith('VmRSS:'):
				return int(line.split()[1])
	return 0


class HostileBase(base.KexecdTest):
	"""Helpers on top of KexecdTest; runs only the tests it defines."""

	def manager(self):
		obj = self.bus.get_object('org.kexecd1', '/org/kexecd1')
		return dbus.Interface(obj, 'org.kexecd1.Manager')

	def stage_fd(self, fd, addons=(), timeout=120, **options):
		opts = dbus.Dictionary({'scheme': 'classic', **options}, signature='sv')
		return self.manager().Stage(dbus.types.UnixFd(fd), dbus.Array(
			[dbus.types.UnixFd(a) for a in addons], signature='h'), opts, timeout=timeout)

	def stage_path(self, path, **options):
		with open(path, 'rb') as f:
			return self.stage_fd(f.fileno(), **options)

	def expect_error(self, name, fn, *args, **kwargs):
		with self.assertRaises(dbus.exceptions.DBusException) as cm:
			fn(*args, **kwargs)
		self.assertEqual(cm.exception.get_dbus_name(), name, cm.exception.get_dbus_message())
		return cm.exception.get_dbus_message()

	def describe(self):
		return json.loads(self.manager().Describe())

	def assert_alive_and_staged(self, digest):
		"""The daemon answers, and the stage from before is intact."""
		self.assertIsNone(self.daemon.poll(), 'kexecd died')
		doc = self.describe()
		self.assertEqual(doc['state'], 'staged', doc)
		self.assertEqual(doc['staged']['uki']['sha256'], digest, doc)
		self.assertEqual(self.loaded(), '1')

	def stage_baseline(self):
		self.stage_path(self.fx('uki-zboot.efi'), uki_path=self.fx('uki-zboot.efi'))
		return sha256(read(self.fx('uki-zboot.efi')))

	def set_hook(self, name, value):
		with open(os.path.join(self.hookdir, name), 'w') as f:
			f.write(value)

	def restart_with_hook(self):
		self.stop_daemon()
		self.hookdir = tempfile.mkdtemp(prefix='hook-', dir=self.kdir)
		os.environ['KEXECD_TEST_HOOK_DIR'] = self.hookdir
		try:
			self.start_daemon()
		finally:
			del os.environ['KEXECD_TEST_HOOK_DIR']


class HostileTest(HostileBase):

	def test_fd_kinds(self):
		digest = self.stage_baseline()
		tmp = tempfile.mkdtemp(dir=self.kdir)
		sparse = os.path.join(tmp, 'sparse.efi')
		with open(sparse, 'wb') as f:
			f.truncate((1 << 30) + 1)  # MaxImageSize default 1G, plus one
		writeonly = os.path.join(tmp, 'wo.efi')
		shutil.copyfile(self.fx('uki-zboot.efi'), writeonly)
		r, w = os.pipe()
		s1, s2 = socket.socketpair()
		kinds = {
			'directory': os.open(tmp, os.O_RDONLY | os.O_DIRECTORY),
			'pipe': r,
			'socket': s1.fileno(),
			'/dev/zero': os.open('/dev/zero', os.O_RDONLY),
			'sparse beyond the limit': os.open(sparse, os.O_RDONLY),
			'O_PATH': os.open(self.fx('uki-zboot.efi'), os.O_PATH),
			'write-only': os.open(writeonly, os.O_WRONLY),
		}
		try:
			for what, fd in kinds.items():
				with self.subTest(what):
					msg = self.expect_error(ERR + 'InvalidArgument', self.stage_fd, fd)
					self.assertRegex(msg, 'not a regular file|not open for reading|larger than the limit')
					self.assert_alive_and_staged(digest)
		finally:
			for fd in kinds.values():
				if fd not in (s1.fileno(),):
					os.close(fd)
			os.close(w)
			s1.close()
			s2.close()

	def test_file_rewritten_during_stage(self):
		"""Read once into a sealed copy: whatever the writer does, the
		record's digest is of the bytes the kernel got, or a named error."""
		self.restart_with_hook()
		self.set_hook('delay-read', '300')
		victim = os.path.join(self.kdir, 'victim.efi')
		shutil.copyfile(self.fx('uki-zboot.efi'), victim)
		stop = threading.Event()

		def scribble():
			garbage = os.urandom(4096)
			while not stop.is_set():
				with open(victim, 'r+b') as f:
					f.seek(1024)
					f.write(garbage)
		t = threading.Thread(target=scribble)
		with open(victim, 'rb') as f:
			t.start()
			try:
				reply = self.stage_fd(f.fileno())
				staged = True
			except dbus.exceptions.DBusException as e:
				self.assertTrue(e.get_dbus_name().startswith(ERR), e)
				staged = False
			finally:
				stop.set()
				t.join()
		self.assertIsNone(self.daemon.poll())
		if staged:
			self.assertEqual(self.describe()['staged']['uki']['sha256'], str(reply['uki']['sha256']))
			self.assertEqual(sha256(read(self.kfile('kernel.bin'))),
					 self.describe()['staged']['kernel']['sha256'])

	def test_wrong_types_oversize_and_labels(self):
		digest = self.stage_baseline()
		cases = [
			({'profile': dbus.Int32(1)}, 'must have type'),
			({'cmdline_extra': 'x' * (1 << 20)}, 'longer than'),
			({'cmdline_extra': 'quiet\nroot=/dev/evil'}, 'control character'),
			({'uki_path': '/efi/\x1b[2Jevil.efi'}, 'control character'),
			({'addon_discovery': True, 'uki_path': '/efi/EFI/Linux/x.efi'}, 'opens no path'),
			({'scheme': 'warp'}, 'unknown scheme'),
			({'nonsense': 'x'}, 'unknown option'),
		]
		for options, needle in cases:
			with self.subTest(options=str(options)[:60]):
				msg = self.expect_error(ERR + 'InvalidArgument', self.stage_path,
							self.fx('uki-zboot.efi'), **options)
				self.assertIn(needle, msg)
				self.assert_alive_and_staged(digest)

	def test_non_utf8_text_in_images(self):
		"""One bad byte used to wedge staging (Busy until a restart) or
		leave the caller without a reply and break Describe for all."""
		digest = self.stage_baseline()
		tmp = tempfile.mkdtemp(dir=self.kdir)
		bad_cmdline = patch_section(self.fx('uki-zboot.efi'), tmp, '.cmdline', first_byte=0xff)
		msg = self.expect_error(ERR + 'InvalidImage', self.stage_path, bad_cmdline)
		self.assertIn('.cmdline is not valid UTF-8 (byte 0xff at offset 0)', msg)
		self.assert_alive_and_staged(digest)

		for section, kwargs in (('.osrel', {'first_byte': 0xff}),
					('.uname', {'first_byte': 0xff}),
					('.initrd', {'new_name': b'.ini\xf4trd'})):
			with self.subTest(section):
				path = patch_section(self.fx('uki-zboot.efi'), tmp, section, **kwargs)
				if not path:
					continue
				try:
					reply = self.stage_path(path, uki_path=path)
					json.dumps(self.describe())
					self.assertEqual(self.describe()['state'], 'staged')
					self.assertEqual(self.describe()['staged']['uki']['sha256'],
							 sha256(read(path)))
					self.assertTrue(reply)
				except dbus.exceptions.DBusException as e:
					self.assertTrue(e.get_dbus_name().startswith(ERR), e)
				self.assertIsNone(self.daemon.poll())
				self.describe()
		# kexecctl --json inspect used to abort (exit 134) on such a file.
		r = self.ctl('--json', 'inspect', bad_cmdline)
		self.assertEqual(r.code, EXIT_INVALID, r)
		r = self.ctl('--json', 'inspect', patch_section(self.fx('uki-zboot.efi'), tmp, '.osrel',
								 first_byte=0xff))
		self.assertEqual(r.code, EXIT_OK, r)
		r.json()

	def test_read_only_kernel_directory(self):
		"""A kernel that cannot record used to throw and wedge staging."""
		digest = self.stage_baseline()
		os.unlink(self.kfile('kernel.bin'))
		os.mkdir(self.kfile('kernel.bin'))  # root ignores modes; a directory cannot be written
		try:
			self.expect_error_any(self.stage_path, self.fx('uki-zboot.efi'))
		finally:
			os.rmdir(self.kfile('kernel.bin'))
		self.assertIsNone(self.daemon.poll())
		self.assertNotEqual(self.describe()['state'], 'staging')
		self.stage_baseline()
		self.assert_alive_and_staged(digest)

	def expect_error_any(self, fn, *args):
		with self.assertRaises(dbus.exceptions.DBusException) as cm:
			fn(*args)
		self.assertTrue(cm.exception.get_dbus_name().startswith(ERR), cm.exception)
		return cm.exception

	def test_kill_9_at_each_phase(self):
		digest = sha256(read(self.fx('uki-zboot.efi')))
		for phase in PHASES:
			with self.subTest(phase):
				self.restart_with_hook()
				self.stage_baseline()
				# The baseline's worker reaches 'posted' after its reply:
				# arm stop-at only once it has passed, or it stops there.
				passed = os.path.join(self.hookdir, 'passed-posted')
				deadline = time.monotonic() + 30
				while not os.path.exists(passed) and time.monotonic() < deadline:
					time.sleep(0.02)
				self.assertTrue(os.path.exists(passed), 'the baseline staging never passed posted')
				self.set_hook('stop-at', phase)
				proc = subprocess.Popen(self.ctl_argv('stage', self.fx('uki.efi'), '--scheme', 'classic'),
							stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
				reached = os.path.join(self.hookdir, 'reached')
				deadline = time.monotonic() + 60
				while not os.path.exists(reached) and time.monotonic() < deadline:
					time.sleep(0.02)
				self.assertTrue(os.path.exists(reached), f'phase {phase} never reached')
				self.daemon.kill()
				self.daemon.wait()
				proc.wait(timeout=30)
				self.daemon = None
				self.stop_daemon()
				self.start_daemon()
				doc = self.describe()
				if phase in ('read', 'verify', 'compose'):
					# Nothing reached the kernel: the old stage stands.
					self.assertEqual(doc['state'], 'staged', doc)
					self.assertEqual(doc['staged']['uki']['sha256'], digest)
				elif phase in ('pending', 'loaded'):
					# Between intent and record: never vouch for either.
					self.assertEqual(doc['state'], 'foreign', doc)
					self.assertIn('interrupted', doc['last_error'])
				else:
					self.assertEqual(doc['state'], 'staged', doc)
					self.assertEqual(doc['staged']['uki']['sha256'], sha256(read(self.fx('uki.efi'))))
				self.assertEqual(self.loaded(), '1')

	def test_state_files(self):
		bad = {
			'corrupt': lambda p: write_text(p, '{"uki": '),
			'nested': lambda p: write_text(p, '[' * 200000 + ']' * 200000),
			'fifo': lambda p: os.mkfifo(p),
			'symlink': lambda p: os.symlink(self.fx('trust'), p),
		}
		for what, make in bad.items():
			for loaded in ('0', '1'):
				with self.subTest(what=what, loaded=loaded):
					self.stop_daemon()
					if os.path.lexists(self.state_file):
						os.unlink(self.state_file)
					make(self.state_file)
					with open(self.kfile('loaded'), 'w') as f:
						f.write(loaded + '\n')
					self.start_daemon()  # fails the test if it hangs or crashes
					doc = self.describe()
					self.assertEqual(doc['state'], 'foreign' if loaded == '1' else 'idle', doc)
					if loaded == '1':
						self.assertIn('state file', doc['last_error'])
		# The symlink target was not written through.
		self.stop_daemon()
		os.unlink(self.state_file)
		target = os.path.join(self.kdir, 'precious')
		with open(target, 'w') as f:
			f.write('precious')
		os.symlink(target, self.state_file)
		os.symlink(target, self.state_file + '.tmp')
		os.symlink(target, self.state_file + '.pending.tmp')
		self.start_daemon()
		self.stage_baseline()
		self.assertEqual(read(target), b'precious')
		self.assertTrue(stat.S_ISREG(os.lstat(self.state_file).st_mode))

	def test_kernel_errnos(self):
		digest = self.stage_baseline()
		for name in KERNEL_ERRNOS:
			with self.subTest(name):
				with open(self.kfile('fail-load-once'), 'w') as f:
					f.write(str(getattr(errno, name)))
				msg = self.expect_error(ERR + 'KernelRefused', self.stage_path, self.fx('uki.efi'))
				self.assertIn(f'[{name}]', msg)
				self.assert_alive_and_staged(digest)

	def test_racing_stagers(self):
		digest = self.stage_baseline()
		with open(self.kfile('delay-ms'), 'w') as f:
			f.write('300')
		argv = self.ctl_argv('stage', self.fx('uki.efi'), '--scheme', 'classic')
		procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
			 for _ in range(10)]
		codes = [p.wait(timeout=120) for p in procs]
		for p in procs:
			p.stdout.close()
			p.stderr.close()
		self.assertGreaterEqual(codes.count(EXIT_OK), 1, codes)
		self.assertEqual(codes.count(EXIT_OK) + codes.count(EXIT_BUSY), 10, codes)
		doc = self.describe()
		self.assertEqual(doc['state'], 'staged')
		self.assertIn(doc['staged']['uki']['sha256'], (digest, sha256(read(self.fx('uki.efi')))))
		self.assertEqual(read(self.kfile('kernel.bin')), read(self.fx('vmlinuz')))

	def test_readers_during_staging(self):
		self.stage_baseline()
		with open(self.kfile('delay-ms'), 'w') as f:
			f.write('3000')
		stager = subprocess.Popen(self.ctl_argv('stage', self.fx('uki.efi'), '--scheme', 'classic'),
					  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
		time.sleep(0.3)

		def read_status(_):
			start = time.monotonic()
			r = self.ctl('--json', 'status', timeout=30)
			return r.code, time.monotonic() - start, r.json().get('state') if r.code == 0 else None
		with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
			results = list(pool.map(read_status, range(100)))
		self.assertEqual(stager.wait(timeout=60), EXIT_OK)
		self.assertTrue(all(code == EXIT_OK for code, _, _ in results), results)
		self.assertIn('staging', [s for _, _, s in results])
		slowest = max(t for _, t, _ in results)
		print(f'100 concurrent readers during a staging: slowest {slowest:.2f} s', file=sys.stderr)
		self.assertLess(slowest, 10)

	def test_back_to_back_stages_never_deadlock(self):
		"""The loop used to join the previous worker under the connection
		lock while that worker dropped its reply: holding the worker right
		after it posts its result forced the deadlock every time."""
		self.restart_with_hook()
		self.set_hook('delay-posted', '50')
		for i in range(100):
			self.stage_path(self.fx('uki-zboot.efi'), timeout=20)
		self.assertIsNone(self.daemon.poll())

	def test_reboot_and_stage_interlock(self):
		self.stage_baseline()
		with open(self.kfile('delay-ms'), 'w') as f:
			f.write('1500')
		stager = subprocess.Popen(self.ctl_argv('stage', self.fx('uki.efi'), '--scheme', 'classic'),
					  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
		deadline = time.monotonic() + 10
		while self.describe()['state'] != 'staging' and time.monotonic() < deadline:
			time.sleep(0.02)
		self.expect_error(ERR + 'Busy', self.manager().Reboot, dbus.Dictionary({}, signature='sv'))
		self.assertEqual(stager.wait(timeout=60), EXIT_OK)
		os.unlink(self.kfile('delay-ms'))
		# The fake kernel returns from reboot(KEXEC): State stays rebooting.
		self.manager().Reboot(dbus.Dictionary({'force': True}, signature='sv'))
		self.assertEqual(self.describe()['state'], 'rebooting')
		msg = self.expect_error(ERR + 'Busy', self.stage_path, self.fx('uki-zboot.efi'))
		self.assertIn('reboot', msg)

	def test_kexecctl_finds_the_stub_addons(self):
		"""The daemon opens no caller-named path: kexecctl finds the addons
		systemd-stub would load for a UKI on the ESP (global, then
		<uki without boot counter>.extra.d) and passes them as fds."""
		esp = tempfile.mkdtemp(prefix='esp-', dir=self.kdir)
		os.makedirs(os.path.join(esp, 'EFI', 'Linux', 'x.efi.extra.d'))
		os.makedirs(os.path.join(esp, 'loader', 'addons'))
		uki = os.path.join(esp, 'EFI', 'Linux', 'x+3-0.efi')
		shutil.copyfile(self.fx('uki-zboot.efi'), uki)
		local = os.path.join(esp, 'EFI', 'Linux', 'x.efi.extra.d', 'local.addon.efi')
		glob = os.path.join(esp, 'loader', 'addons', 'global.addon.efi')
		shutil.copyfile(self.fx('addon-cmdline.addon.efi'), local)
		shutil.copyfile(self.fx('addon-initrd.addon.efi'), glob)
		conf = os.path.join(self.kdir, 'kexecd.conf')
		with open(conf, 'w') as f:
			f.write(f'[Manager]\nESP={esp}\n')
		r = self.ctl('--config', conf, '--json', 'stage', uki, '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual([a['path'] for a in r.json()['addons']], [glob, local])
		r = self.ctl('--config', conf, '--json', 'stage', uki, '--scheme', 'classic', '--no-addons')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(r.json()['addons'], [])
		# Outside the ESP the stub would load nothing either.
		r = self.ctl('--config', conf, '--json', 'stage', self.fx('uki-zboot.efi'), '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(r.json()['addons'], [])

	def test_addon_limit_matches_the_bus(self):
		addons = [self.fx('addon-cmdline.addon.efi')] * 16
		args = ['stage', self.fx('uki-zboot.efi')]
		for a in addons:
			args += ['--addon', a]
		r = self.ctl(*args)
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertIn('at most 15', r.err)
		self.assertIn('16', r.err)

	def test_full_run_directory(self):
		self.need_root('to mount a small tmpfs as /run')
		digest = self.stage_baseline()
		run = tempfile.mkdtemp(dir=self.kdir)
		subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', run], check=True)
		try:
			self.stop_daemon()
			self.state_file = os.path.join(run, 'staged.json')
			self.start_daemon()
			self.stage_baseline()
			digest = self.describe()['staged']['uki']['sha256']
			fill = os.open(os.path.join(run, 'filler'), os.O_WRONLY | os.O_CREAT, 0o600)
			try:
				while os.write(fill, b'\0' * 4096) > 0:
					pass
			except OSError as e:
				self.assertEqual(e.errno, errno.ENOSPC)
			finally:
				os.close(fill)
			msg = self.expect_error(ERR + 'Io', self.stage_path, self.fx('uki.efi'))
			self.assertIn('No space left', msg)
			self.assert_alive_and_staged(digest)
			self.assertEqual(json.loads(read(self.state_file))['uki']['sha256'], digest)
		finally:
			self.stop_daemon()
			subprocess.run(['umount', run], check=False)
			self.state_file = os.path.join(self.kdir, 'staged.json')

	def test_stage_unstage_soak(self):
		cycles = int(os.environ.get('KEXECD_HOSTILE_CYCLES', '1000'))
		pid = self.daemon.pid
		m = self.manager()
		opts = dbus.Dictionary({'scheme': 'classic'}, signature='sv')
		none = dbus.Dictionary({}, signature='sv')
		path = self.fx('uki-zboot.efi')
		warm = min(50, cycles // 4)
		fds0 = rss0 = None
		start = time.monotonic()
		for i in range(cycles):
			if i == warm:
				fds0, rss0 = settled_fd_count(pid), rss_kib(pid)
			with open(path, 'rb') as f:
				m.Stage(dbus.types.UnixFd(f.fileno()), dbus.Array([], signature='h'), opts, timeout=60)
			m.Unstage(none, timeout=60)
		took = time.monotonic() - start
		fds1, rss1 = settled_fd_count(pid), rss_kib(pid)
		print(f'{cycles} stage/unstage cycles in {took:.1f} s: fds {fds0} -> {fds1}, '
		      f'RSS {rss0} -> {rss1} KiB', file=sys.stderr)
		self.assertEqual(fds1, fds0)
		# ASan's quarantine keeps freed memory on purpose, so RSS says
		# nothing there; LeakSanitizer judges leaks in that pass instead.
		if 'detect_leaks' in os.environ.get('ASAN_OPTIONS', ''):
			print('RSS not asserted under AddressSanitizer (quarantine)', file=sys.stderr)
		else:
			self.assertLess(rss1 - rss0, 4096, 'RSS grew by more than 4 MiB')
		self.assertEqual(self.describe()['state'], 'idle')


class FloodTest(HostileBase):
	"""Its own bus and mocks: polkit is made to hang for good."""

	def test_fd_flood_with_polkit_hanging(self):
		self.need_root('to run the flooding client as another uid')
		self.need_unprivileged()
		digest = self.stage_baseline()
		# polkit that never answers: the mock blocks in its handler.
		self.polkit_mock.AddMethod('org.freedesktop.PolicyKit1.Authority', 'CheckAuthorization',
					   '(sa{sv})sa{ss}us', '(bba{ss})',
					   'import time; time.sleep(600); ret = (True, False, {})')
		pid = self.daemon.pid
		before = fd_count(pid)
		flood = subprocess.Popen(['setpriv', f'--reuid={UNPRIVILEGED}', f'--regid={UNPRIVILEGED}',
					  '--clear-groups', sys.executable, '-c', FLOOD_CLIENT,
					  self.fx('addon-cmdline.addon.efi')],
					 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
		line = flood.stdout.readline()
		self.assertTrue(line.startswith('sent'), line + flood.stderr.read() if not line else line)
		counts = json.loads(line[len('sent'):])
		held = fd_count(pid) - before
		print(f'flood: {counts}; daemon holds {held} extra fds', file=sys.stderr)
		# 4 requests x 16 fds, each held twice (the message and ours).
		self.assertLessEqual(held, 128 + 8)
		self.assertGreater(counts.get(ERR + 'Busy', 0), 0, counts)
		# Root is not stuck behind the flood (no polkit for uid 0).
		self.stage_baseline()
		self.assert_alive_and_staged(digest)
		# The caller leaves: its requests and fds go with it.
		flood.kill()
		flood.wait()
		flood.stdout.close()
		flood.stderr.close()
		deadline = time.monotonic() + 10
		while fd_count(pid) > before + 2 and time.monotonic() < deadline:
			time.sleep(0.1)
		self.assertLessEqual(fd_count(pid), before + 2)


# Sends 100 Stage calls with 16 fds each without waiting for replies, then
# reports which errors came back within a few seconds, and sleeps.
FLOOD_CLIENT = r'''
import json, os, sys, time
import dbus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib
DBusGMainLoop(set_as_default=True)
bus = dbus.SystemBus()
m = dbus.Interface(bus.get_object('org.kexecd1', '/org/kexecd1'), 'org.kexecd1.Manager')
path = sys.argv[1]
counts = {}
def err(e):
	counts[e.get_dbus_name()] = counts.get(e.get_dbus_name(), 0) + 1
def ok(*a):
	counts['ok'] = counts.get('ok', 0) + 1
for i in range(100):
	fds = [os.open(path, os.O_RDONLY) for _ in range(16)]
	m.Stage(dbus.types.UnixFd(fds[0]), dbus.Array([dbus.types.UnixFd(f) for f in fds[1:]], signature='h'),
		dbus.Dictionary({}, signature='sv'), reply_handler=ok, error_handler=err, timeout=600)
	for f in fds:
		os.close(f)
loop = GLib.MainLoop()
GLib.timeout_add(3000, loop.quit)
loop.run()
print('sent' + json.dumps(counts), flush=True)
time.sleep(600)
'''


def write_text(path, text):
	with open(path, 'w') as f:
		f.write(text)


def patch_section(path, outdir, section, first_byte=None, new_name=None):
	"""A copy of a PE with a section's first byte or its name replaced;
	None when the section is absent."""
	data = bytearray(read(path))
	pe = int.from_bytes(data[0x3c:0x40], 'little')
	nsec = int.from_bytes(data[pe + 6:pe + 8], 'little')
	optsize = int.from_bytes(data[pe + 20:pe + 22], 'little')
	table = pe + 24 + optsize
	for i in range(nsec):
		h = table + 40 * i
		name = bytes(data[h:h + 8]).rstrip(b'\0')
		if name != section.encode():
			continue
		raw = int.from_bytes(data[h + 20:h + 24], 'little')
		if first_byte is not None:
			data[raw] = first_byte
		if new_name is not None:
			data[h:h + 8] = new_name.ljust(8, b'\0')[:8]
		out = os.path.join(outdir, f'patched{section}{first_byte}{new_name}.efi'.replace('\\', ''))
		with open(out, 'wb') as f:
			f.write(data)
		os.chmod(out, 0o644)
		return out
	return None


def load_tests(loader, tests, pattern):
	suite = unittest.TestSuite()
	suite.addTests(HostileTest.own_tests(loader))
	suite.addTests(FloodTest.own_tests(loader))
	return suite


if __name__ == '__main__':
	unittest.main(verbosity=2)
