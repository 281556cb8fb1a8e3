#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""kexecctl as systemd users expect it (issue 28, the client's part).

The private bus, dbusmock logind/polkitd and the recording kernel of
test_kexecd.py. Every assertion is on what a user sees (exit codes, the
lines on stdout and stderr, colour and pager on a terminal) and on what the
kernel got (cmdline.bin), and every refused input leaves the staged kernel
as it was.

Two tests wait on kexecd's side of issue 28: test_cmdline_extra_appends and
test_cmdline_extra_bad_values need the Stage option cmdline_append,
test_dry_run_sends_what_the_call_sends needs PlanReboot to take force and
authorize as Reboot does.
"""

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_kexecd as base  # noqa: E402
from test_kexecd import (EXIT_ACCESS_DENIED, EXIT_INVALID, EXIT_OK, EXIT_UNSUPPORTED,  # noqa: E402
			 EXIT_USAGE, read)

import dbus  # noqa: E402

RED = '\x1b[0;1;31m'
YELLOW = '\x1b[0;1;38;5;185m'
COLOUR = re.compile(r'\x1b\[0;1;')
UKI_CMDLINE = b'console=ttyS0 kexecd.uki=1'
ADDON_CMDLINE = b'kexecd.addon=1'


class ClientCliTest(base.KexecdTest):

	# --- helpers

	def on_tty(self, *args, env=None, unprivileged=False, rows=0):
		"""kexecctl with stdout and stderr on one pseudo-terminal (of rows
		lines, when given); returns (exit code, what the terminal showed).
		No pager unless env names one: less would wait for a key."""
		master, slave = pty.openpty()
		if rows:
			fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', rows, 200, 0, 0))
		environ = dict(os.environ, TERM='xterm')
		for name in ('NO_COLOR', 'SYSTEMD_COLORS', 'SYSTEMD_PAGER', 'PAGER', 'LESS'):
			environ.pop(name, None)
		env = env or {}
		if 'SYSTEMD_PAGER' not in env and 'PAGER' not in env and not rows:
			environ['SYSTEMD_PAGER'] = 'cat'
		environ.update(env)
		for name in [name for name, value in environ.items() if value is None]:
			del environ[name]
		try:
			proc = subprocess.Popen(self.ctl_argv(*args, unprivileged=unprivileged), stdin=subprocess.DEVNULL,
						stdout=slave, stderr=slave, env=environ)
			os.close(slave)
			slave = None
			out = base.read_terminal(master, proc)
		finally:
			if slave is not None:
				os.close(slave)
			os.close(master)
		return proc.returncode, out.decode(errors='replace').replace('\r\n', '\n')

	def ctl_env(self, *args, env):
		argv = self.ctl_argv(*args)
		proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120,
				      stdin=subprocess.DEVNULL, env=dict(os.environ, **env))
		return base.Result(argv, proc)

	def assert_one_line(self, r):
		self.assertEqual(r.err.count('\n'), 1, f'expected one line on stderr: {r}')

	def staged_record(self):
		doc = self.status()
		return doc.get('state'), doc.get('staged'), self.loaded()

	def stage_uki(self, *extra, uki='uki.efi'):
		r = self.ctl('stage', self.fx(uki), '--scheme', 'classic', *extra)
		self.assertEqual(r.code, EXIT_OK, r)
		return r

	# --- item 3: --cmdline-extra appends, --cmdline-replace replaces

	def test_cmdline_extra_appends(self):
		# Waits on kexecd's Stage option cmdline_append (issue 28).
		self.stage_uki('--cmdline-extra', 'quiet splash')
		self.assertEqual(read(self.kfile('cmdline.bin')), UKI_CMDLINE + b' quiet splash\0')
		# After the addons' command lines.
		self.stage_uki('--addon', self.fx('addon-cmdline.addon.efi'), '--cmdline-extra', 'quiet')
		self.assertEqual(read(self.kfile('cmdline.bin')), UKI_CMDLINE + b' ' + ADDON_CMDLINE + b' quiet\0')
		r = self.ctl('status')
		self.assertIn('Command line: console=ttyS0 kexecd.uki=1 kexecd.addon=1 quiet', r.out)

	def test_cmdline_replace_replaces(self):
		self.stage_uki('--cmdline-replace', 'root=/dev/vdb')
		self.assertEqual(read(self.kfile('cmdline.bin')), b'root=/dev/vdb\0')
		# The addons' still follow, as systemd-stub appends them.
		self.stage_uki('--addon', self.fx('addon-cmdline.addon.efi'), '--cmdline-replace', 'root=/dev/vdb')
		self.assertEqual(read(self.kfile('cmdline.bin')), b'root=/dev/vdb ' + ADDON_CMDLINE + b'\0')

	def test_cmdline_empty_changes_nothing(self):
		for option in ('--cmdline-extra', '--cmdline-replace'):
			self.stage_uki(option, '')
			self.assertEqual(read(self.kfile('cmdline.bin')), UKI_CMDLINE + b'\0', option)

	def test_cmdline_extra_bad_values(self):
		# Waits on kexecd's Stage option cmdline_append (issue 28).
		self.stage_uki()
		before = self.staged_record()
		for value, why in (('x' * 1025, '1024'), ('quiet\nroot=/dev/evil', 'control character')):
			r = self.ctl('stage', self.fx('uki.efi'), '--scheme', 'classic', '--cmdline-extra', value)
			self.assertEqual(r.code, EXIT_INVALID, r)
			self.assertTrue(r.err.startswith('Invalid argument: '), r)
			self.assertIn('--cmdline-extra', r.err)
			self.assertIn(why, r.err)
			self.assertNotIn('cmdline_append', r.err)
			self.assert_one_line(r)
			self.assertEqual(self.staged_record(), before)

	def test_cmdline_replace_bad_values(self):
		self.stage_uki()
		before = self.staged_record()
		for value in ('x' * 5000, 'quiet\nroot=/dev/evil'):
			r = self.ctl('stage', self.fx('uki.efi'), '--scheme', 'classic', '--cmdline-replace', value)
			self.assertEqual(r.code, EXIT_INVALID, r)
			self.assertIn('--cmdline-replace', r.err)
			self.assertNotIn('cmdline_extra', r.err)
			self.assert_one_line(r)
			self.assertEqual(self.staged_record(), before)

	def test_cmdline_secure_boot_refused(self):
		with open(self.kfile('support.json'), 'w') as f:
			f.write('{"secure_boot": true}')
		self.stop_daemon()
		self.start_daemon('--signature-policy', 'warn')
		r = self.ctl('stage', self.fx('uki.efi'), '--scheme', 'classic', '--cmdline-replace', 'root=/dev/evil')
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertIn('--cmdline-replace', r.err)
		self.assertNotIn('cmdline_extra', r.err)
		self.assert_one_line(r)
		self.assertEqual(self.loaded(), '0')

	def test_help_man_words_for_cmdline(self):
		r = self.ctl('stage', '--help')
		self.assertEqual(r.code, EXIT_OK, r)
		extra = next(line for line in r.out.splitlines() if line.strip().startswith('--cmdline-extra'))
		replace = next(line for line in r.out.splitlines() if line.strip().startswith('--cmdline-replace'))
		self.assertIn('Appended', extra)
		self.assertIn('Replaces', replace)

	# --- item 4: warnings, the worst verdict, the empty command line

	def test_untrusted_stage_warns(self):
		r = self.stage_uki()
		self.assertIn(f"Warning: UKI '{self.fx('uki.efi')}' is not trusted: firmware verdict unsigned", r.err)
		self.assertIn(f"Warning: .linux of '{self.fx('uki.efi')}' is not trusted: kernel verdict", r.err)
		self.assertNotIn('\x1b', r.err)
		# The same with --quiet and with --json: stdout is quiet or the document.
		r = self.stage_uki('-q')
		self.assertEqual(r.out, '')
		self.assertIn('is not trusted: firmware verdict unsigned', r.err)
		r = self.ctl('--json', 'stage', self.fx('uki.efi'), '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_OK, r)
		r.json()
		self.assertIn('is not trusted: firmware verdict unsigned', r.err)

	def test_signed_uki_with_unsigned_addon_warns_about_the_addon(self):
		r = self.stage_uki('--addon', self.fx('addon-initrd.addon.efi'), uki='uki-signed.efi')
		addon = self.fx('addon-initrd.addon.efi')
		self.assertIn(f"Warning: addon 0 '{addon}' is not trusted: firmware verdict unsigned", r.err)
		self.assertNotIn('Warning: UKI', r.err)
		# The summary is the worst verdict (the addon's), not the UKI's trusted.
		out = self.ctl('status').out
		self.assertRegex(out, r'(?m)^\s*Signature: unsigned \(firmware verdict of addon 0: no certificate table\), '
				 r'policy warn$')
		self.assertRegex(out, r'(?m)^\s*Firmware verdict, uki: trusted')

	def test_tampered_uki_warns(self):
		r = self.stage_uki(uki='uki-tampered.efi')
		self.assertIn("is not trusted: firmware verdict bad-signature", r.err)
		self.assertRegex(self.ctl('status').out, r'(?m)^\s*Signature: bad-signature ')

	def test_empty_cmdline_warns_and_shows(self):
		r = self.ctl('stage', '--kernel', self.fx('vmlinuz'))
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertIn('Warning: the kernel was staged with an empty command line (no --append, --command-line '
			      'or --reuse-cmdline)', r.err)
		self.assertEqual(read(self.kfile('cmdline.bin')), b'\0')
		self.assertRegex(r.out, r'(?m)^\s*Command line:$')
		self.assertRegex(self.ctl('status').out, r'(?m)^\s*Command line:$')
		r = self.ctl('stage', '--kernel', self.fx('vmlinuz'), '--append', 'root=/dev/vda')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertNotIn('empty command line', r.err)

	def test_idle_status_shows_no_record(self):
		r = self.ctl('status')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertRegex(r.out, r'(?m)^\s*State: idle$')
		for label in ('Kind', 'UKI', 'Command line', 'Signature'):
			self.assertNotRegex(r.out, rf'(?m)^\s*{label}:', r.out)

	# --- item 5: hints

	def test_plain_kernel_given_as_uki_hints_kernel(self):
		self.stage_uki()
		before = self.staged_record()
		r = self.ctl('stage', self.fx('vmlinuz'))
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertIn('plain kernel image (bzimage)', r.err)
		self.assertIn('--kernel', r.err)
		self.assert_one_line(r)
		self.assertEqual(self.staged_record(), before)
		# A broken UKI gets no such hint.
		r = self.ctl('stage', self.fx('bad-trunc-sections.efi'))
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assertNotIn('--kernel', r.err)

	def test_no_esp_hints(self):
		empty = os.path.join(self.kdir, 'empty.conf')
		open(empty, 'w').close()
		r = self.ctl('--config', empty, 'list')
		if 'no ESP found' not in r.err:
			self.skipTest('this machine has an ESP in /efi, /boot or /boot/efi')
		self.assertEqual(r.code, EXIT_UNSUPPORTED, r)
		self.assertIn('--esp', r.err)
		self.assertIn('DebianLayout=yes', r.err)
		self.assert_one_line(r)
		r = self.ctl('stage')
		self.assertEqual(r.code, EXIT_UNSUPPORTED, r)
		self.assertIn('DebianLayout=yes', r.err)
		self.assertIn('ESP=', r.err)
		self.assert_one_line(r)
		self.assertEqual(self.loaded(), '0')

	def test_missing_esp_dir_is_named(self):
		for option in ('--esp', '--xbootldr'):
			path = os.path.join(self.kdir, 'typo')
			r = self.ctl('list', option, path)
			self.assertEqual(r.code, EXIT_INVALID, r)
			self.assertEqual(r.err, f"{option} '{path}': No such file or directory\n")
			r = self.ctl('list', option, self.fx('uki.efi'))
			self.assertEqual(r.code, EXIT_INVALID, r)
			self.assertIn('not a directory', r.err)
			self.assertNotIn('Unsupported', r.err)

	# --- item 6: systemd's CLI habits

	def test_no_verb_is_status(self):
		self.stage_uki()
		r = self.ctl()
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(r.out, self.ctl('status').out)
		r = self.ctl('--json=short')
		self.assertEqual(json.loads(r.out)['state'], 'staged')

	def test_unknown_verb(self):
		for args in (['foo'], ['--bus', os.environ['DBUS_SYSTEM_BUS_ADDRESS'], 'foo'], ['--no-pager', 'foo']):
			r = self.ctl(*args)
			self.assertEqual(r.code, EXIT_USAGE, r)
			self.assertEqual(r.err, "Unknown verb 'foo'.\n")
		r = self.ctl('--json', 'foo')
		self.assertEqual(r.code, EXIT_USAGE, r)
		self.assertEqual(r.json()['error'], {'kind': 'usage', 'message': "Unknown verb 'foo'.", 'exit_code': EXIT_USAGE})

	def test_json_modes(self):
		self.stage_uki()
		pretty = self.ctl('--json', 'status')
		self.assertGreater(pretty.out.count('\n'), 10)
		for args in (['--json=pretty', 'status'], ['status', '--json'], ['status', '--json=pretty']):
			self.assertEqual(self.ctl(*args).out, pretty.out, args)
		for args in (['--json=short', 'status'], ['status', '--json=short']):
			r = self.ctl(*args)
			self.assertEqual(r.code, EXIT_OK, r)
			self.assertEqual(r.out.count('\n'), 1, r)
			self.assertEqual(json.loads(r.out), json.loads(pretty.out))
		r = self.ctl('--json=off', 'status')
		self.assertRegex(r.out, r'(?m)^\s*State: staged$')
		for bad in ('--json=bogus', '--json='):
			r = self.ctl(bad, 'status')
			self.assertEqual(r.code, EXIT_USAGE, r)
			self.assert_one_line(r)
		# systemd's way: the mode only after '='.
		r = self.ctl('--json', 'short')
		self.assertEqual(r.code, EXIT_USAGE, r)
		self.assertEqual(r.err, "Unknown verb 'short'.\n")

	def test_version(self):
		for args in (['--version'], ['status', '--version']):
			r = self.ctl(*args)
			self.assertEqual(r.code, EXIT_OK, r)
			self.assertRegex(r.out, r'^kexecctl \d+\.\d+\.\d+\n$')

	def test_global_options_in_each_verbs_help(self):
		for verb in ('status', 'stage', 'unstage', 'reboot', 'soft-reboot', 'inspect', 'list'):
			r = self.ctl(verb, '--help')
			self.assertEqual(r.code, EXIT_OK, r)
			global_part = r.out.split('Global options:', 1)
			self.assertEqual(len(global_part), 2, r)
			for opt in ('--json[=MODE]', '--no-pager', '--no-legend', '-q,--quiet', '--no-ask-password',
				    '--config', '--bus', '--version'):
				self.assertIn(opt, global_part[1], f'{verb}: {opt}')

	def test_unstage_nothing_staged_succeeds(self):
		r = self.ctl('unstage')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(r.out, 'Nothing to unstage: no kernel is staged.\n')
		self.assertEqual(r.err, '')
		r = self.ctl('unstage', '-q')
		self.assertEqual((r.code, r.out, r.err), (EXIT_OK, '', ''), r)
		r = self.ctl('--json', 'unstage', '--crash')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(r.json(), {'verb': 'unstage', 'result': 'not-staged', 'slot': 'crash'})
		self.assertEqual(self.loaded(), '0')
		# Refused for lack of authorization it still fails.
		self.need_unprivileged()
		self.polkit_mock.SetAllowed(dbus.Array([], signature='s'))
		self.stage_uki()
		r = self.ctl('--no-ask-password', 'unstage', unprivileged=True)
		self.assertEqual(r.code, EXIT_ACCESS_DENIED, r)
		self.assertEqual(self.loaded(), '1')

	def test_quiet(self):
		r = self.ctl('-q', 'stage', self.fx('uki-signed.efi'), '--scheme', 'classic')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertEqual(r.out, '')
		r = self.ctl('unstage', '--quiet')
		self.assertEqual((r.code, r.out), (EXIT_OK, ''), r)
		self.assertEqual(self.loaded(), '0')
		# Errors are never quiet.
		r = self.ctl('-q', 'stage', self.fx('bad-elf.efi'))
		self.assertEqual(r.code, EXIT_INVALID, r)
		self.assert_one_line(r)
		# No progress bar on a terminal either.
		code, out = self.on_tty('-q', 'stage', self.fx('uki-signed.efi'), '--scheme', 'classic')
		self.assertEqual(code, EXIT_OK, out)
		self.assertNotRegex(out, r'\d+%')
		self.assertNotIn('Staged', out)

	def test_no_legend(self):
		esp, _, _ = self.make_esp()
		r = self.ctl('list', '--esp', esp)
		self.assertIn('1 entry listed.', r.out)
		r = self.ctl('list', '--esp', esp, '--no-legend')
		self.assertNotIn('listed', r.out)
		self.assertIn('* debian-6.1.efi', r.out)
		r = self.ctl('inspect', self.fx('uki.efi'))
		self.assertRegex(r.out, r'(?m)^Sections:$')
		self.assertRegex(r.out, r'(?m)^\s+NAME\s+OFFSET\s+SIZE$')
		r = self.ctl('--no-legend', 'inspect', self.fx('uki.efi'))
		self.assertNotIn('Sections:', r.out)
		self.assertNotRegex(r.out, r'(?m)^\s+NAME\s+OFFSET')
		self.assertRegex(r.out, r'(?m)^\s+\.linux\s+\d+\s+\d+$')
		self.stage_uki()
		self.assertIn('Nothing was changed (--dry-run).', self.ctl('reboot', '--dry-run').out)
		self.assertNotIn('Nothing was changed', self.ctl('reboot', '--dry-run', '--no-legend').out)

	def test_pager(self):
		self.stage_uki()
		pager = {'SYSTEMD_PAGER': 'sed s/^/PAGED:/'}
		for verb in (['status'], ['inspect', self.fx('uki.efi')], ['list', '--esp', self.make_esp()[0]]):
			code, out = self.on_tty(*verb, env=pager)
			self.assertEqual(code, EXIT_OK, out)
			lines = [line for line in out.splitlines() if line]
			self.assertTrue(lines and all(line.startswith('PAGED:') for line in lines), out)
			code, out = self.on_tty(*verb, '--no-pager', env=pager)
			self.assertEqual(code, EXIT_OK, out)
			self.assertNotIn('PAGED:', out)
		# PAGER when SYSTEMD_PAGER is unset; "cat" or empty is no pager.
		code, out = self.on_tty('status', env={'PAGER': 'sed s/^/PAGER:/'})
		self.assertIn('PAGER:', out)
		for none in ('cat', ''):
			code, out = self.on_tty('status', env={'SYSTEMD_PAGER': none, 'PAGER': 'sed s/^/PAGER:/'})
			self.assertEqual(code, EXIT_OK, out)
			self.assertNotIn('PAGER:', out)
		# less by default, which prints what fits on the screen and quits.
		if shutil.which('less'):
			code, out = self.on_tty('status', rows=500)
			self.assertEqual(code, EXIT_OK, out)
			self.assertIn('State: staged', out)  # less adds its own escapes
		# Nor on a terminal without TERM (an init's console: less would wait for a key).
		code, out = self.on_tty('status', env=dict(pager, TERM=None))
		self.assertEqual(code, EXIT_OK, out)
		self.assertNotIn('PAGED:', out)
		self.assertIsNone(COLOUR.search(out), out)
		# Never in a pipe, and never for stage.
		self.assertNotIn('PAGED:', self.ctl_env('status', env=pager).out)
		code, out = self.on_tty('stage', self.fx('uki.efi'), '--scheme', 'classic', env=pager)
		self.assertEqual(code, EXIT_OK, out)
		self.assertNotIn('PAGED:', out)

	def test_colour_on_terminal_only(self):
		code, out = self.on_tty('stage', self.fx('uki.efi'), '--scheme', 'classic')
		self.assertEqual(code, EXIT_OK, out)
		self.assertIn(YELLOW + 'Warning:\x1b[0m', out)
		code, out = self.on_tty('status')
		self.assertIn(RED + 'unsigned\x1b[0m', out)
		code, out = self.on_tty('stage', os.path.join(self.kdir, 'missing.efi'))
		self.assertEqual(code, EXIT_INVALID, out)
		self.assertIn(RED + "Cannot open '", out)
		for env in ({'NO_COLOR': '1'}, {'SYSTEMD_COLORS': '0'}, {'SYSTEMD_COLORS': 'false'}, {'TERM': 'dumb'}):
			for args in (['status'], ['stage', self.fx('uki.efi'), '--scheme', 'classic']):
				code, out = self.on_tty(*args, env=env)
				self.assertEqual(code, EXIT_OK, out)
				self.assertIsNone(COLOUR.search(out), f'{env} {args}: {out!r}')
		# A pipe gets none, unless SYSTEMD_COLORS asks for it (as systemd's tools).
		r = self.ctl('stage', self.fx('uki.efi'), '--scheme', 'classic')
		self.assertIsNone(COLOUR.search(r.out + r.err), r)
		r = self.ctl_env('status', env={'SYSTEMD_COLORS': '1'})
		self.assertIn(RED + 'unsigned', r.out)

	def test_list_json_null_not_empty_string(self):
		esp, linux, _ = self.make_esp()
		entries = os.path.join(esp, 'loader', 'entries')
		os.makedirs(entries)
		shutil.copyfile(self.fx('vmlinuz'), os.path.join(esp, 'vmlinuz'))
		with open(os.path.join(entries, 'plain.conf'), 'w') as f:
			f.write('title Plain\nlinux /vmlinuz\noptions root=/dev/vda\n')
		r = self.ctl('--json', 'list', '--esp', esp)
		self.assertEqual(r.code, EXIT_OK, r)
		doc = r.json()
		empty = [key for key, value in self.walk(doc) if value == '']
		self.assertEqual(empty, [], 'kexecctl(1): absent values are null, never ""')
		self.assertIsNone(doc['xbootldr'])
		self.assertEqual(doc['esp'], esp)
		uki = next(e for e in doc['entries'] if e['type'] == 'type2')
		plain = next(e for e in doc['entries'] if e['type'] == 'type1')
		for key in ('entry_file', 'options', 'problem', 'profile', 'machine_id', 'devicetree'):
			self.assertIsNone(uki[key], key)
		self.assertEqual(plain['options'], 'root=/dev/vda')
		self.assertIsNone(plain['version'])
		# No entries at all: no default, and no reason for one.
		bare = os.path.join(self.kdir, 'bare-esp')
		os.makedirs(os.path.join(bare, 'EFI', 'Linux'))
		os.makedirs(os.path.join(bare, 'loader'))
		doc = self.ctl('--json', 'list', '--esp', bare).json()
		self.assertEqual((doc['entries'], doc['default'], doc['default_reason']), ([], None, None), doc)

	def walk(self, doc, path=''):
		if isinstance(doc, dict):
			for k, v in doc.items():
				yield from self.walk(v, f'{path}/{k}')
		elif isinstance(doc, list):
			for i, v in enumerate(doc):
				yield from self.walk(v, f'{path}/{i}')
		else:
			yield path, doc

	# --- bad input: one line, the documented code, nothing changed

	def test_bad_input_leaves_the_staged_kernel(self):
		self.stage_uki('--addon', self.fx('addon-cmdline.addon.efi'))
		before = self.staged_record()
		kernel = read(self.kfile('kernel.bin'))
		missing = os.path.join(self.kdir, 'missing')
		uki = self.fx('uki.efi')
		cases = [
			(EXIT_USAGE, ['stage', uki, '--scheme', 'nonsense']),
			(EXIT_USAGE, ['stage', uki, '--signature-policy', 'lax']),
			(EXIT_USAGE, ['stage', uki, '--cmdline-extra', 'a', '--cmdline-replace', 'b']),
			(EXIT_USAGE, ['stage', '--kernel', self.fx('vmlinuz'), '--cmdline-extra', 'a']),
			(EXIT_USAGE, ['stage', '--kernel', self.fx('vmlinuz'), '--cmdline-replace', 'a']),
			(EXIT_USAGE, ['stage', '--kernel', self.fx('vmlinuz'), '--addon', self.fx('addon-cmdline.addon.efi')]),
			(EXIT_USAGE, ['stage', '--kernel', self.fx('vmlinuz'), '--command-line', 'a', '--reuse-cmdline']),
			(EXIT_USAGE, ['stage', uki, '--append', 'a']),
			(EXIT_USAGE, ['stage', '--initrd', self.fx('initrd.cpio')]),
			(EXIT_USAGE, ['stage', '--addon', self.fx('addon-cmdline.addon.efi')]),
			(EXIT_USAGE, ['stage', uki, uki]),
			(EXIT_USAGE, ['stage', uki, '--frobnicate']),
			(EXIT_USAGE, ['stage', uki, '--cmdline-extra']),
			(EXIT_USAGE, ['--json=yaml', 'stage', uki]),
			(EXIT_USAGE, ['stage', uki, '--json=']),
			(EXIT_USAGE, ['unstage', '--if-kernel']),
			(EXIT_USAGE, ['unstage', 'now']),
			(EXIT_USAGE, ['reboot', '--force', '--cold']),
			(EXIT_USAGE, ['reboot', '--auto', '--cold']),
			(EXIT_USAGE, ['inspect']),
			# "" is no file, version or address: never "none given".
			(EXIT_USAGE, ['stage', '']),
			(EXIT_USAGE, ['stage', '--kernel', '']),
			(EXIT_USAGE, ['stage', '--kernel', self.fx('vmlinuz'), '--initrd', '']),
			(EXIT_USAGE, ['stage', uki, '--addon', '']),
			(EXIT_USAGE, ['stage', uki, '--profile', '']),
			(EXIT_USAGE, ['unstage', '--if-kernel', '']),
			(EXIT_USAGE, ['--bus', '', 'unstage']),
			(EXIT_USAGE, ['--config', '', 'stage']),
			(EXIT_USAGE, ['list', '--esp', '']),
			(EXIT_USAGE, ['inspect', '']),
			(EXIT_USAGE, ['stage!']),
			(EXIT_INVALID, ['stage', missing]),
			(EXIT_INVALID, ['stage', uki, '--addon', missing]),
			(EXIT_INVALID, ['stage', '--kernel', missing]),
			(EXIT_INVALID, ['stage', self.fx('vmlinuz')]),
			(EXIT_INVALID, ['stage', uki, '--profile', 'nope']),
			(EXIT_INVALID, ['list', '--esp', missing]),
			(EXIT_INVALID, ['inspect', missing]),
		]
		for code, args in cases:
			r = self.ctl(*args)
			self.assertEqual(r.code, code, r)
			self.assert_one_line(r)
			self.assertEqual(self.staged_record(), before, args)
			self.assertEqual(read(self.kfile('kernel.bin')), kernel, args)
		# --json: the same error as a document too.
		r = self.ctl('--json', 'stage', uki, '--cmdline-extra', 'a', '--cmdline-replace', 'b')
		self.assertEqual(r.json()['error']['exit_code'], EXIT_USAGE)
		self.assert_one_line(r)

	# --- item 2 (client part): the dry run sends what the call sends

	def test_dry_run_sends_what_the_call_sends(self):
		# Waits on kexecd's side of issue 28: PlanReboot taking force and
		# authorizing as Reboot does.
		self.need_root('(reboot --force is for root only)')
		self.stage_uki()
		r = self.ctl('reboot', '--force', '--dry-run')
		self.assertEqual(r.code, EXIT_OK, r)
		self.assertNotIn('force=true', r.out + r.err)
		self.assertNotIn('reboot-kexec', read(self.kfile('calls.log')).decode())
		self.assertEqual(self.loaded(), '1')
		self.need_unprivileged()
		self.polkit_mock.SetAllowed(dbus.Array([], signature='s'))
		real = self.ctl('--no-ask-password', 'reboot', unprivileged=True)
		dry = self.ctl('--no-ask-password', 'reboot', '--dry-run', unprivileged=True)
		self.assertEqual(real.code, EXIT_ACCESS_DENIED, real)
		self.assertEqual(dry.code, real.code, dry)
		self.assertEqual(self.reboot_calls(), [])


class NoLogindTest(base.KexecdTest):
	"""No systemd-logind on the bus: what kexecctl says of it is in its own
	words, never a D-Bus error name or bus option."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.logind_proc.terminate()
		cls.logind_proc.wait(timeout=10)

		class Gone:
			def ClearCalls(self):
				pass
		cls.logind_mock = Gone()

	def test_messages_name_no_bus_words(self):
		self.stage_ok()
		for args in (['reboot', '--dry-run'], ['reboot'], ['reboot', '--auto', '--dry-run'], ['status'],
			     ['soft-reboot']):
			r = self.ctl(*args)
			text = r.out + r.err
			for leak in ('org.freedesktop.DBus.Error', 'ServiceUnknown', 'NameHasNoOwner', 'force=true',
				     'require_staged', 'ignore_inhibitors'):
				self.assertNotIn(leak, text, r)
		self.assertRegex(self.ctl('status').out, r'(?m)^\s*Reboot via logind: systemd-logind is not running$')
		r = self.ctl('reboot')
		self.assertEqual(r.code, EXIT_UNSUPPORTED, r)
		self.assertEqual(r.err.count('\n'), 1, r)


	def test_no_mode_loses_the_staged_kernel(self):
		# Issue 28: without logind no reboot happens, and none may cost
		# the staged kernel.
		self.stage_ok()
		for args in (['reboot'], ['reboot', '--cold'], ['reboot', '--auto'], ['soft-reboot']):
			with self.subTest(args=args):
				r = self.ctl(*args)
				self.assertNotEqual(r.code, EXIT_OK, r)
				self.assertEqual(self.loaded(), '1', r)
				self.assertEqual(self.status().get('state'), 'staged')


def load_tests(loader, tests, pattern):
	suite = ClientCliTest.own_tests(loader)
	suite.addTests(NoLogindTest.own_tests(loader))
	return suite


if __name__ == '__main__':
	unittest.main(verbosity=2)
