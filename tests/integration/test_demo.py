#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""scripts/demo.sh (issue 28, item 6): with --keep, kexecd stays up on its
private bus and the demo says exactly how to talk to it and how to stop it;
without, nothing it started is left behind.

Environment: KEXECD_BUILD_ROOT (the build directory the demo uses).
Exits 77 when something the machine lacks is needed.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

SKIP = 77
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def alive(pid):
	try:
		os.kill(pid, 0)
	except ProcessLookupError:
		return False
	return True


def processes_in(path):
	"""pids whose command line names path."""
	found = []
	for pid in filter(str.isdigit, os.listdir('/proc')):
		try:
			with open(f'/proc/{pid}/cmdline', 'rb') as f:
				if path.encode() in f.read():
					found.append(int(pid))
		except OSError:
			pass
	return found


class DemoTest(unittest.TestCase):

	@classmethod
	def setUpClass(cls):
		cls.builddir = os.environ.get('KEXECD_BUILD_ROOT')
		if not cls.builddir:
			print('SKIP: KEXECD_BUILD_ROOT is not set (run through meson test)', file=sys.stderr)
			sys.exit(SKIP)
		if os.path.exists(os.path.join(cls.builddir, 'tests', 'fixtures', 'out', 'UNAVAILABLE')):
			print('SKIP: the demo UKI cannot be built here', file=sys.stderr)
			sys.exit(SKIP)
		if not shutil.which('dbus-daemon'):
			print('SKIP: dbus-daemon not installed', file=sys.stderr)
			sys.exit(SKIP)

	def demo(self, *args):
		env = dict(os.environ)
		env.pop('DBUS_SYSTEM_BUS_ADDRESS', None)
		proc = subprocess.run([os.path.join(SOURCE_ROOT, 'scripts', 'demo.sh'), *args, self.builddir],
				      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300,
				      stdin=subprocess.DEVNULL, env=env)
		self.assertEqual(proc.returncode, 0, f'{proc.stdout}\n{proc.stderr}')
		return proc.stdout

	def test_keep_leaves_kexecd_up_and_says_how_to_reach_it(self):
		out = self.demo('--keep')
		m = re.search(r'(?m)^  export DBUS_SYSTEM_BUS_ADDRESS=(unix:path=(/tmp/kexecd-demo\.\w+)/bus)$', out)
		self.assertIsNotNone(m, out)
		address, work = m.group(1), m.group(2)
		stop = re.search(r'(?m)^  (kill (\d+) (\d+); rm -rf (\S+))$', out)
		try:
			self.assertIsNotNone(stop, out)
			self.assertEqual(stop.group(4), work)
			kexecctl = re.search(r'(?m)^  (\S+/kexecctl) status$', out)
			self.assertIsNotNone(kexecctl, out)
			# Both ways the demo names work, from a shell of one's own.
			env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
			r = subprocess.run([kexecctl.group(1), '--json', 'status'], stdout=subprocess.PIPE, text=True,
					   env=env, timeout=30)
			self.assertEqual(r.returncode, 0)
			self.assertEqual(json.loads(r.stdout)['state'], 'staged')
			self.assertIn(f'  {kexecctl.group(1)} --bus {address} status\n', out)
			r = subprocess.run([kexecctl.group(1), '--bus', address, 'status'], stdout=subprocess.PIPE,
					   text=True, timeout=30, env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS='unix:path=/nonexistent'))
			self.assertEqual(r.returncode, 0)
			self.assertRegex(r.stdout, r'(?m)^\s*State: staged$')
			# The line it prints to stop it stops it.
			subprocess.run(['sh', '-c', stop.group(1)], check=True, timeout=30)
			pids = [int(stop.group(2)), int(stop.group(3))]
			for pid in pids:
				for _ in range(100):
					if not alive(pid):
						break
					time.sleep(0.1)
			self.assertFalse(os.path.exists(work))
			self.assertEqual([p for p in pids if alive(p)], [])
		finally:
			for pid in processes_in(work):
				os.kill(pid, signal.SIGTERM)
			shutil.rmtree(work, ignore_errors=True)

	def test_without_keep_nothing_is_left(self):
		out = self.demo()
		m = re.search(r'removing (/tmp/kexecd-demo\.\w+)', out)
		self.assertIsNotNone(m, out)
		self.assertFalse(os.path.exists(m.group(1)), 'the demo left its directory')
		self.assertEqual(processes_in(m.group(1)), [], 'the demo left kexecd or its bus running')
		self.assertNotIn('DBUS_SYSTEM_BUS_ADDRESS', out)


if __name__ == '__main__':
	unittest.main(verbosity=2)
