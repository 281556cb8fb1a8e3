#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reboot orchestration and the staged kernel's life cycle (issue 14).

The private bus, dbusmock logind/polkitd and the recording kernel of
test_kexecd.py. logind's RebootWithFlags checks its flags as systemd 252 and
254 do; its inhibitor list and PrepareForShutdown are driven from here. The
"running system" (/proc/cmdline, osrelease, /run/nextroot) is a directory
the daemon reads through KEXECD_SYSFS_ROOT.
"""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_kexecd as base  # noqa: E402
from test_kexecd import (EXIT_ACCESS_DENIED, EXIT_INHIBITED, EXIT_NO_CRASH_MEMORY,  # noqa: E402
			 EXIT_NOT_STAGED, EXIT_OK, read, EXIT_UNSUPPORTED, LOGIND_252, LOGIND_254, LOGIND_IFACE,
			 REBOOT_KEXEC, REBOOT_ROOT_CHECK_INHIBITORS, REBOOT_SOFT)

import dbus  # noqa: E402

EXIT_WOULD_NOT_UNLOCK = 15


class RebootTest(base.KexecdTest):

	def setUp(self):
		self.logind_mock.AddMethod(LOGIND_IFACE, 'RebootWithFlags', 't', '', LOGIND_254)
		self.inhibitor_fds = []
		super().setUp()

	def tearDown(self):
		for fd in self.inhibitor_fds:
			os.close(fd)
		super().tearDown()

	# --- helpers

	def sysroot(self, *parts):
		return os.path.join(self.kdir, 'sysroot', *parts)

	def running(self, uname, cmdline, nextroot=False):
		"""What the daemon reads as the running system."""
		os.makedirs(self.sysroot('proc', 'sys', 'kernel'), exist_ok=True)
		with open(self.sysroot('proc', 'sys', 'kernel', 'osrelease'), 'w') as f:
			f.write(uname + '\n')
		with open(self.sysroot('proc', 'cmdline'), 'w') as f:
			f.write(cmdline + '\n')
		if nextroot:
			os.makedirs(self.sysroot('run', 'nextroot', 'etc'), exist_ok=True)
			with open(self.sysroot('run', 'nextroot', 'etc', 'os-release'), 'w') as f:
				f.write('ID=debian\n')

	def plan(self, *args, unprivileged=False):
		r = self.ctl('--json', 'reboot', '--dry-run', *args, unprivileged=unprivileged)
		return r, r.json()

	def set_loaded(self, value):
		with open(self.kfile('loaded'), 'w') as f:
			f.write(value)

	def inhibit(self, who='backup-job', why='nightly backup'):
		"""A block inhibitor held by uid 1000 (dbusmock's Inhibit)."""
		logind = dbus.Interface(self.logind, LOGIND_IFACE)
		fd = logind.Inhibit('shutdown', who, why, 'block')
		self.inhibitor_fds.append(fd.take())

	def property_changes(self):
		"""Starts a PropertiesChanged listener (gdbus monitor) on the object."""
		return subprocess.Popen(
			# gdbus writes to a pipe in blocks; a line at a time, please.
			['stdbuf', '-oL', 'gdbus', 'monitor', '--system', '--dest', 'org.kexecd1', '--object-path', '/org/kexecd1'],
			stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

	def wait_for_line(self, proc, needle, timeout):
		import select
		# Raw reads: a text wrapper's readline() would keep later lines in its
		# own buffer, where select() cannot see them.
		deadline = time.monotonic() + timeout
		fd = proc.stdout.fileno()
		seen = getattr(proc, 'kexecd_seen', '')
		while needle not in seen and time.monotonic() < deadline:
			ready, _, _ = select.select([fd], [], [], 0.2)
			if ready:
				chunk = os.read(fd, 65536)
				if not chunk:
					break
				seen += chunk.decode(errors='replace')
		if needle in seen:
			# What follows the needle's line stays for the next wait.
			end = seen.find('\n', seen.find(needle))
			proc.kexecd_seen = seen[end + 1:] if end >= 0 else ''
			return seen[:end + 1] if end >= 0 else seen
		self.fail(f'no line with {needle!r} within {timeout} s; saw:\n{seen}')

	# --- capability probe

	def test_probe_254_shown_in_status(self):
		doc = self.status()
		self.assertEqual(doc['reboot']['kexec'], True, doc['reboot'])
		self.assertEqual(doc['reboot']['soft_reboot'], True, doc['reboot'])
		self.assertIn('Both reboot via kexec and soft reboot', doc['reboot']['detail'])
		r = self.ctl('status')
		self.assertRegex(r.out, r'(?m)^\s*Reboot via logind: kexec yes, soft-reboot yes$')
		self.assertEqual(self.reboot_calls(), [], 'the probe must have no side effect')

	def test_logind_252_kexecs_but_refuses_soft_reboot(self):
		self.stop_daemon()
		self.logind_mock.AddMethod(LOGIND_IFACE, 'RebootWithFlags', 't', '', LOGIND_252)
		self.logind_mock.ClearCalls()
		self.start_daemon()
		r = self.ctl('status')
		self.assertRegex(r.out, r'(?m)^\s*Reboot via logind: kexec yes, soft-reboot no \(needs systemd >= 254\)$')
		r = self.ctl('soft-reboot')
		self.assertEqual(r.code, EXIT_UNSUPPORTED, r)
		self.assertIn('254', r.err)
		self.assertIn('Invalid flags parameter', r.err)
		self.assertEqual(self.reboot_calls(), [])
		self.stage_ok()
		r = self.ctl('reboot')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.reboot_calls(), [('RebootWithFlags', [REBOOT_KEXEC])])

	# --- state tells the truth

	def test_unloaded_behind_our_back_reads_idle(self):
		self.stage_ok()
		self.assertEqual(self.status()['state'], 'staged')
		self.set_loaded('0')  # kexec -u by someone else
		doc = self.status()
		self.assertEqual(doc['state'], 'idle', doc)
		self.assertIn('unloaded outside kexecd', doc['last_error'])
		r = self.ctl('reboot')
		self.assertEqual(r.code, EXIT_NOT_STAGED, r)

	def test_loaded_behind_our_back_reads_foreign(self):
		self.set_loaded('1')
		doc = self.status()
		self.assertEqual(doc['state'], 'foreign', doc)

	def test_timer_announces_an_unload_nobody_asked_about(self):
		self.stage_ok()
		monitor = self.property_changes()
		try:
			time.sleep(0.5)
			self.set_loaded('0')
			# No reader: the daemon's own re-check (every 15 s) notices.
			seen = self.wait_for_line(monitor, "'State': <'idle'>", 25)
			self.assertIn('PropertiesChanged', seen)
		finally:
			monitor.terminate()
			monitor.wait()

	def test_cancelled_shutdown_returns_to_staged(self):
		self.stage_ok()
		r = self.ctl('reboot')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.status()['state'], 'rebooting')
		# A second reboot while one is under way is Busy, not "Nothing staged".
		self.assertNotEqual(self.ctl('reboot').code, EXIT_NOT_STAGED)
		self.logind_mock.EmitSignal(LOGIND_IFACE, 'PrepareForShutdown', 'b', [True])
		self.logind_mock.EmitSignal(LOGIND_IFACE, 'PrepareForShutdown', 'b', [False])
		deadline = time.monotonic() + 5
		while self.status()['state'] != 'staged' and time.monotonic() < deadline:
			time.sleep(0.1)
		doc = self.status()
		self.assertEqual(doc['state'], 'staged', doc)
		self.assertIn('cancelled or failed', doc['last_error'])
		r = self.ctl('reboot')
		self.assertEqual(r.code, EXIT_OK, r)

	def test_reboot_that_never_came_is_bounded(self):
		self.stop_daemon()
		conf = self.kfile('kexecd.conf')
		with open(conf, 'w') as f:
			f.write('[Manager]\nRebootTimeoutSec=10\n')
		self.start_daemon('--config', conf)
		self.stage_ok()
		self.assertEqual(self.ctl('reboot').code, EXIT_OK)
		self.assertEqual(self.status()['state'], 'rebooting')
		time.sleep(11)
		doc = self.status()
		self.assertEqual(doc['state'], 'staged', doc)
		self.assertIn('no shutdown within 10 s', doc['last_error'])

	# --- the right reboot

	def test_auto_decisions(self):
		# Nothing staged: a plain reboot, or a refusal on request.
		r, doc = self.plan('--auto')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(doc['decision'], 'cold', doc)
		self.assertIn('nothing is staged', doc['reasons'])
		r, doc = self.plan('--auto', '--require-staged')
		self.assertEqual(r.code, EXIT_NOT_STAGED, r)
		self.assertEqual(doc['decision'], 'refuse', doc)

		self.stage_ok()
		staged = self.status()['staged']
		uname, cmdline = staged['uki']['uname'], staged['cmdline']
		self.assertTrue(uname, staged)

		# Another kernel is running: kexec.
		self.running('0.0.1-other', cmdline)
		r, doc = self.plan('--auto')
		self.assertEqual(doc['decision'], 'kexec', doc)
		self.assertEqual(doc['logind_flags'], REBOOT_KEXEC)
		self.assertTrue(any('not the running 0.0.1-other' in x for x in doc['reasons']), doc)

		# The same kernel and command line, /run/nextroot prepared: soft.
		self.running(uname, 'BOOT_IMAGE=/vmlinuz ' + cmdline, nextroot=True)
		r, doc = self.plan('--auto')
		self.assertEqual(doc['decision'], 'soft-reboot', doc)
		self.assertEqual(doc['logind_flags'], REBOOT_SOFT)
		self.assertTrue(any('/run/nextroot' in x for x in doc['reasons']), doc)

		# Same kernel, another command line: kexec.
		self.running(uname, cmdline + ' quiet')
		r, doc = self.plan('--auto')
		self.assertEqual(doc['decision'], 'kexec', doc)

		# Nothing changed by any of it.
		self.assertEqual(self.reboot_calls(), [])
		self.assertEqual(self.status()['state'], 'staged')

		# Text output: the decision and each reason.
		r = self.ctl('reboot', '--auto', '--dry-run')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertRegex(r.out, r'(?m)^Decision: kexec \(logind RebootWithFlags 0x2\)$')
		self.assertIn('Nothing was changed', r.out)

	def test_auto_really_soft_reboots_the_same_kernel(self):
		self.stage_ok()
		staged = self.status()['staged']
		self.running(staged['uki']['uname'], staged['cmdline'])
		r = self.ctl('reboot', '--auto')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.reboot_calls(), [('RebootWithFlags', [REBOOT_SOFT])])

	def test_cold_unloads_first(self):
		self.stage_ok()
		r = self.ctl('reboot', '--cold')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.reboot_calls(), [('RebootWithFlags', [0])])
		self.assertEqual(self.loaded(), '0')

	def test_refused_reboot_keeps_the_staged_kernel(self):
		# Issue 28: a reboot in any mode leaves the staged kernel alone
		# unless logind really goes ahead; the refusal is in LastError.
		self.logind_mock.AddMethod(LOGIND_IFACE, 'RebootWithFlags', 't', '',
					   "raise dbus.exceptions.DBusException('Operation not permitted by logind', "
					   "name='org.freedesktop.DBus.Error.AccessDenied')")
		self.stage_ok()
		staged = self.status().get('staged')
		for mode in ('--kexec', '--cold', '--soft', '--auto'):
			with self.subTest(mode=mode):
				self.logind_mock.ClearCalls()
				r = self.ctl('reboot', mode)
				self.assertNotEqual(r.code, EXIT_OK, r)
				self.assertEqual(len(self.reboot_calls()), 1, mode)
				self.assertEqual(self.loaded(), '1', mode)
				after = self.status()
				self.assertEqual(after.get('state'), 'staged', after)
				self.assertEqual(after.get('staged'), staged)
				self.assertIn('did not happen', after.get('last_error', ''), after)

	def test_cold_reboot_unloads_only_once_logind_accepted(self):
		self.stage_ok()
		# The dry run says what the call does, and changes nothing.
		r, doc = self.plan('--cold')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(doc['decision'], 'cold', doc)
		self.assertEqual(self.loaded(), '1')
		r = self.ctl('reboot', '--cold')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.loaded(), '0')
		calls = read(self.kfile('calls.log')).decode().splitlines()
		self.assertEqual(calls[-1], 'unload', calls)

	# --- inhibitors apply to the real caller

	def test_root_caller_without_root_check(self):
		self.stage_ok()
		self.inhibit()
		self.assertEqual(self.ctl('reboot').code, EXIT_OK)
		self.assertEqual(self.reboot_calls(), [('RebootWithFlags', [REBOOT_KEXEC])])

	def test_unprivileged_caller_gets_root_check(self):
		self.need_unprivileged()
		self.stage_ok()
		r = self.ctl('--no-ask-password', 'reboot', unprivileged=True)
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.reboot_calls(),
				 [('RebootWithFlags', [REBOOT_KEXEC | REBOOT_ROOT_CHECK_INHIBITORS])])

	def test_unprivileged_caller_refused_by_inhibitor(self):
		self.need_unprivileged()
		self.stage_ok()
		self.inhibit('backup-job', 'nightly backup')
		r = self.ctl('--no-ask-password', 'reboot', unprivileged=True)
		self.assertEqual(r.code, EXIT_INHIBITED, r)
		self.assertIn("'backup-job'", r.err)
		self.assertIn('nightly backup', r.err)
		self.assertEqual(self.reboot_calls(), [])
		self.assertEqual(self.status()['state'], 'staged')
		# The plan names it too.
		r, doc = self.plan(unprivileged=True)
		self.assertEqual([i['who'] for i in doc['block_inhibitors']], ['backup-job'])

	def test_ignore_inhibitors_needs_its_own_action(self):
		self.need_unprivileged()
		self.stage_ok()
		self.inhibit()
		self.polkit_mock.SetAllowed(dbus.Array(base.ALL_ACTIONS, signature='s'))
		r = self.ctl('--no-ask-password', 'reboot', '--ignore-inhibitors', unprivileged=True)
		self.assertEqual(r.code, EXIT_ACCESS_DENIED, r)
		self.assertIn('org.kexecd1.reboot-ignore-inhibit', r.err)
		self.polkit_mock.SetAllowed(dbus.Array(base.ALL_ACTIONS + ['org.kexecd1.reboot-ignore-inhibit'],
						       signature='s'))
		r = self.ctl('--no-ask-password', 'reboot', '--ignore-inhibitors', unprivileged=True)
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.reboot_calls(), [('RebootWithFlags', [REBOOT_KEXEC])])

	# --- TPM2-bound volumes (issue 27)

	def start_with_locked_volume(self):
		"""A crypttab whose one volume cannot be read: unknown, which speaks
		against a kexec as a volume that would need a passphrase does."""
		self.stop_daemon()
		crypttab = self.kfile('crypttab')
		with open(crypttab, 'w') as f:
			f.write(f'data {self.kfile("no-such-device")} none luks\n')
		conf = self.kfile('kexecd.conf')
		with open(conf, 'w') as f:
			f.write(f'[Manager]\nCryptTab={crypttab}\n')
		self.running('0.0.1-other', 'root=/dev/vda')
		self.start_daemon('--config', conf)
		self.stage_ok()

	def test_volume_that_would_lock_out_keeps_the_kexec_from_happening(self):
		self.start_with_locked_volume()
		r, doc = self.plan('--kexec')
		self.assertEqual(r.code, EXIT_WOULD_NOT_UNLOCK, r)
		self.assertEqual(doc['decision'], 'refuse')
		self.assertEqual(doc['error']['name'], 'WouldNotUnlock')
		self.assertIn("'data'", doc['error']['message'])
		self.assertTrue(doc['tpm2_checked'])
		self.assertEqual([(v['volume'], v['verdict'], v['unlocks_after_kexec']) for v in doc['tpm2']],
				 [('data', 'unknown', False)])
		# auto reboots through the firmware and says why.
		r, doc = self.plan('--auto')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(doc['decision'], 'cold')
		self.assertTrue(any("'data'" in reason for reason in doc['reasons']), doc['reasons'])
		r = self.ctl('reboot', '--auto', '--dry-run')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertIn("volume 'data'", r.out)
		# The real call refuses with its own exit status and leaves the kernel.
		r = self.ctl('--no-ask-password', 'reboot', '--kexec')
		self.assertEqual(r.code, EXIT_WOULD_NOT_UNLOCK, r)
		self.assertIn("'data'", r.err)
		self.assertEqual(self.reboot_calls(), [])
		self.assertEqual(self.status()['state'], 'staged')
		# status: one line for the volume.
		r = self.ctl('status')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(len([l for l in r.out.splitlines() if "'data' would not unlock" in l]), 1, r.out)
		# ignore_tpm (root: no polkit) kexecs.
		r = self.ctl('--no-ask-password', 'reboot', '--kexec', '--ignore-tpm')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(self.reboot_calls(), [('RebootWithFlags', [REBOOT_KEXEC])])

	def test_ignore_tpm_needs_its_own_action(self):
		self.need_unprivileged()
		self.start_with_locked_volume()
		self.polkit_mock.SetAllowed(dbus.Array(base.ALL_ACTIONS, signature='s'))
		r, doc = self.plan('--kexec', '--ignore-tpm', unprivileged=True)
		self.assertEqual(r.code, EXIT_ACCESS_DENIED, r)
		self.assertEqual(doc['error']['name'], 'AccessDenied')
		self.assertIn('org.kexecd1.reboot-ignore-tpm', doc['error']['message'])
		r = self.ctl('--no-ask-password', 'reboot', '--kexec', '--ignore-tpm', unprivileged=True)
		self.assertEqual(r.code, EXIT_ACCESS_DENIED, r)
		self.assertIn('org.kexecd1.reboot-ignore-tpm', r.err)
		self.assertEqual(self.reboot_calls(), [])
		self.polkit_mock.SetAllowed(dbus.Array(base.ALL_ACTIONS + ['org.kexecd1.reboot-ignore-tpm'],
						       signature='s'))
		r, doc = self.plan('--kexec', '--ignore-tpm', unprivileged=True)
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(doc['decision'], 'kexec')
		self.assertTrue(doc['ignore_tpm'])
		self.assertTrue(any(reason.startswith("ignore_tpm: volume 'data'") for reason in doc['reasons']),
				doc['reasons'])

	# --- fleet hooks

	def test_reboot_required_file_follows_the_staged_kernel(self):
		self.stop_daemon()
		sentinel = self.kfile('reboot-required')
		conf = self.kfile('kexecd.conf')
		with open(conf, 'w') as f:
			f.write(f'[Manager]\nRebootRequiredFile={sentinel}\n')
		self.running('0.0.1-other', 'root=/dev/vda')
		self.start_daemon('--config', conf)
		self.assertFalse(os.path.exists(sentinel))
		self.stage_ok()
		with open(sentinel) as f:
			text = f.read()
		self.assertTrue(text.startswith('kexecd: the staged kernel'), text)
		self.assertIn('not the running 0.0.1-other', text)
		self.assertEqual(self.ctl('unstage').code, EXIT_OK)
		self.assertFalse(os.path.exists(sentinel), 'removed when nothing is staged')
		# The same kernel and command line as the running one: none required.
		self.stage_ok()
		staged = self.status()['staged']
		self.assertEqual(self.ctl('unstage').code, EXIT_OK)
		self.running(staged['uki']['uname'], staged['cmdline'])
		self.stage_ok()
		self.assertFalse(os.path.exists(sentinel), 'the staged kernel is the running one')

	# --- the kernel-install plugin against the daemon

	def test_kernel_install_plugin(self):
		esp = self.kfile('esp')
		linux = os.path.join(esp, 'EFI', 'Linux')
		os.makedirs(linux)
		os.makedirs(os.path.join(esp, 'loader'))
		uname = '6.1.0-57-amd64'  # the fixture's .uname
		# A boot-counted copy is the default; a newer entry that ran out
		# of tries (bad) sorts after it, as systemd-boot sorts them.
		import shutil
		shutil.copyfile(self.fx('uki.efi'), os.path.join(linux, f'debian-{uname}+3.efi'))
		shutil.copyfile(self.fx('uki.efi'), os.path.join(linux, 'debian-6.2.0-1-amd64+0-3.efi'))
		conf = self.kfile('kexecd.conf')
		with open(conf, 'w') as f:
			f.write(f'[Manager]\nESP={esp}\nStageOnInstall=yes\n')
		self.stop_daemon()
		self.start_daemon('--config', conf)
		plugin = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'systemd',
				      '95-kexecd.install')
		env = dict(os.environ, KEXECD_CONF=conf, KEXECCTL=self.kexecctl_bin)

		def run(*args):
			p = subprocess.run(['sh', plugin, *args], env=env, stdout=subprocess.PIPE,
					   stderr=subprocess.STDOUT, text=True, timeout=120)
			self.assertEqual(p.returncode, 0, p.stdout)
			return p.stdout

		run('add', uname, '/unused', '/unused/image.efi')
		staged = self.status()['staged']
		self.assertEqual(staged['uki']['path'], os.path.join(linux, f'debian-{uname}+3.efi'))
		run('remove', '6.2.0-1-amd64', '/unused')
		self.assertEqual(self.status()['state'], 'staged', 'another version must stay staged')
		run('remove', uname, '/unused')
		self.assertEqual(self.status()['state'], 'idle')
		self.assertEqual(self.loaded(), '0')
		# A daemon that refuses never fails the installation.
		self.stop_daemon()
		out = run('add', uname, '/unused', '/unused/image.efi')
		self.assertIn('failed, ignoring', out)

	# --- the crash slot

	def crash_memory(self, size):
		with open(self.kfile('support.json'), 'w') as f:
			json.dump({'crash_size': size}, f)

	def test_crash_slot_needs_crashkernel(self):
		r = self.ctl('stage', '--crash', self.fx('uki.efi'), '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_NO_CRASH_MEMORY, r)
		self.assertIn('crashkernel=', r.err)
		self.assertFalse(os.path.exists(self.kfile('crash-kernel.bin')))
		doc = self.status()
		self.assertEqual(doc['crash']['state'], 'idle', doc)
		self.assertRegex(self.ctl('status').out, r'(?m)^\s*Crash memory: none \(boot with crashkernel=')

	def test_crash_slot_is_separate(self):
		self.crash_memory(256 << 20)
		self.stage_ok()
		monitor = self.property_changes()
		try:
			# Subscribed (under load gdbus takes a while), then the staging.
			self.wait_for_line(monitor, 'Monitoring signals', 10)
			time.sleep(1)
			r = self.ctl('stage', '--crash', self.fx('uki.efi'), '--no-addons',
				     '--addon', self.fx('addon-cmdline.addon.efi'), '--scheme', 'classic')
			self.assertEqual(r.code, EXIT_OK, r)
			self.assertIn('as the crash kernel', r.out)
			self.wait_for_line(monitor, "'CrashState': <'staged'>", 10)
		finally:
			monitor.terminate()
			monitor.wait()
		# KEXEC_FILE_ON_CRASH, and its own bytes: the reboot slot is untouched.
		self.assertEqual(read(self.kfile('crash-flags')), b'0x2\n')
		self.assertEqual(read(self.kfile('crash-kernel.bin')), read(self.fx('vmlinuz')))
		self.assertEqual(read(self.kfile('crash-cmdline.bin')), b'console=ttyS0 kexecd.uki=1 kexecd.addon=1\0')
		self.assertEqual(read(self.kfile('cmdline.bin')), b'console=ttyS0 kexecd.uki=1\0')
		doc = self.status()
		self.assertEqual((doc['state'], doc['crash']['state']), ('staged', 'staged'), doc)
		self.assertEqual(doc['crash']['staged']['slot'], 'crash')
		self.assertEqual(doc['staged']['slot'], 'reboot')
		self.assertEqual(doc['kernel_support']['crash_size'], 256 << 20)
		self.assertEqual(doc['crash']['staged']['kernel']['sha256'], base.sha256(read(self.fx('vmlinuz'))))
		human = self.ctl('status').out
		self.assertRegex(human, r'(?m)^\s*Crash kernel: staged \(' + self.fx('uki.efi'))
		self.assertRegex(human, r'(?m)^\s*Crash memory: 256 MiB reserved')
		self.assertRegex(human, r'(?m)^\s*Crash command line: console=ttyS0 kexecd.uki=1 kexecd.addon=1$')
		crash = dbus.Interface(self.bus.get_object('org.kexecd1', '/org/kexecd1'),
				       'org.freedesktop.DBus.Properties')
		self.assertEqual(str(crash.Get('org.kexecd1.Manager', 'CrashState')), 'staged')

		# A restart finds both slots as they were.
		self.stop_daemon()
		self.start_daemon()
		doc = self.status()
		self.assertEqual((doc['state'], doc['crash']['state']), ('staged', 'staged'), doc)

		# Unstaging one slot never touches the other, either way round.
		r = self.ctl('unstage', '--crash')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(read(self.kfile('crash-loaded')), b'0\n')
		self.assertEqual(self.loaded(), '1')
		doc = self.status()
		self.assertEqual((doc['state'], doc['crash']['state']), ('staged', 'idle'), doc)
		# Nothing left to unstage is no failure, as for kexec -u (issue 28).
		self.assertEqual(self.ctl('unstage', '--crash').code, EXIT_OK)
		self.assertEqual(self.ctl('stage', '--crash', self.fx('uki.efi'), '--scheme', 'classic').code, EXIT_OK)
		self.assertEqual(self.ctl('unstage').code, EXIT_OK)
		self.assertEqual(self.loaded(), '0')
		self.assertEqual(read(self.kfile('crash-loaded')), b'1\n')
		# A reboot is never into the crash kernel.
		self.assertEqual(self.ctl('reboot').code, EXIT_NOT_STAGED)

		# A plain kernel goes into the crash slot the same way.
		r = self.ctl('stage', '--crash', '--kernel', self.fx('vmlinuz'), '--initrd', self.fx('initrd.cpio'),
			     '--append', 'console=ttyS0 irqpoll nr_cpus=1')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(read(self.kfile('crash-flags')), b'0x2\n')
		self.assertEqual(read(self.kfile('crash-kernel.bin')), read(self.fx('vmlinuz')))
		self.assertEqual(read(self.kfile('crash-cmdline.bin')), b'console=ttyS0 irqpoll nr_cpus=1\0')
		doc = self.status()
		self.assertEqual((doc['crash']['staged']['kind'], doc['crash']['staged']['slot']), ('kernel', 'crash'), doc)
		self.assertEqual(doc['state'], 'idle', doc)

		# kexec -p -u behind our back: the crash slot reads idle.
		with open(self.kfile('crash-loaded'), 'w') as f:
			f.write('0')
		doc = self.status()
		self.assertEqual(doc['crash']['state'], 'idle', doc)
		self.assertIn('kexec_crash_loaded is 0', doc['crash']['last_error'])

	# --- messages

	def test_force_denied_shows_the_daemons_reason(self):
		self.need_unprivileged()
		self.stage_ok()
		r = self.ctl('--no-ask-password', 'reboot', '--force', unprivileged=True)
		self.assertEqual(r.code, EXIT_ACCESS_DENIED, r)
		# In kexecctl's words, not the bus option's (issue 28).
		self.assertEqual(r.err.strip(), 'Access denied: reboot --force is reserved to root')


def load_tests(loader, tests, pattern):
	return RebootTest.own_tests(loader)


if __name__ == '__main__':
	unittest.main(verbosity=2)
