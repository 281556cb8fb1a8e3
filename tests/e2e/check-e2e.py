#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Assert on the serial log of one e2e qemu run (see run-e2e.sh and stage1-init.sh).

The first stage prints "E2E-PASS/E2E-FAIL" lines, command output between "E2E-BEGIN name" and
"E2E-END name rc=N", and "E2E-TIMING tool ns". The second kernel prints one line:
"KEXECD-E2E-SECOND-STAGE cmdline=<...> files=<...> order=<...>".
"""

import argparse
import hashlib
import json
import os
import re
import struct
import sys
import tempfile

UKI_CMDLINE = 'console=ttyS0 kexecd.uki=1'
# arm64's virt machine has a PL011, not a 16550.
ARM64_UKI_CMDLINE = 'console=ttyAMA0 kexecd.uki=1'
# system-scenario.sh's checks, on every systemd version.
SYSTEM_PASSES = [
	'dpkg-install', 'install-starts-nothing', 'install-stages-nothing', 'unit-loaded',
	'bob-access-denied', 'bob-staged-nothing', 'bob-status', 'dbus-activated',
	'kernel-install-add', 'kernel-install-loaded', 'kernel-install-staged-uki2',
	'kernel-install-remove', 'kernel-install-remove-unstaged', 'stage', 'stage-loaded',
	'status-json', 'sandbox-verdicts-match', 'journal-fields', 'restart', 'restart-loaded',
	'restart-keeps-staged', 'inhibited-reboot-refused', 'inhibited-still-loaded',
	'reboot-requested',
]

# The UKI's .cmdline, then the addons' in the order they were given (systemd-stub order).
EXPECTED = {
	'kexec-tools': {
		'cmdline': UKI_CMDLINE + ' kexecd.addon=1 kexecd.addon2=1',
		# UKI initrd and then addon b's initrd were unpacked, b's last (it wrote kexecd-order).
		'files': '/etc/kexecd-addon-marker,/etc/kexecd-uki-marker',
		'order': 'addon-b',
		'passes': ['kexec-tools-load'],
	},
	'kexecd': {
		'cmdline': UKI_CMDLINE + ' kexecd.addon=1 kexecd.addon2=1',
		'files': '/etc/kexecd-addon-marker,/etc/kexecd-uki-marker',
		'order': 'addon-b',
		'passes': ['before-kexecd', 'stage', 'after-stage'],
	},
	'kexecd-negative': {
		# The second stage call replaced the first: uki2 without addons.
		'cmdline': UKI_CMDLINE + ' kexecd.second=1',
		'files': '/etc/kexecd-uki2-marker',
		'order': 'uki2',
		'passes': ['enforce-tampered', 'enforce-signed', 'enforce-signed-loaded', 'unstage-signed',
		           'stage-for-unstage', 'unstage', 'stage-replace'],
	},
	# A sysrq crash starts the crash kernel staged with --crash: the kernel puts elfcorehdr= (the
	# old kernel's memory, for /proc/vmcore) in front of the composed command line, which only a
	# crash kernel gets.
	'kexecd-crash': {
		'cmdline': UKI_CMDLINE + ' kexecd.addon=1 kexecd.addon2=1',
		'cmdline_prefix': r'elfcorehdr=0x[0-9a-f]+ ',
		'files': '/etc/kexecd-addon-marker,/etc/kexecd-uki-marker',
		'order': 'addon-b',
		'passes': ['crash-size-reported', 'stage-crash', 'crash-loaded', 'reboot-slot-untouched',
		           'reboot-slot-staged', 'reboot-slot-unstaged', 'crash-survives-unstage'],
	},
	# A plain kernel with two initrds (issue 15): the uki marker initrd (gzip, odd-sized) then b's,
	# and the command line exactly as given.
	'kexecd-plain': {
		'cmdline': 'console=ttyS0 kexecd.plain=1 kexecd.quoted="a b"',
		'files': '/etc/kexecd-addon-marker,/etc/kexecd-uki-marker',
		'order': 'addon-b',
		'passes': ['stage', 'after-stage'],
	},
	'bpf-reference': {
		# The BPF parser composes no /.extra/os-release (the stub's, not the UKI's): the markers
		# are the same as for the classic scheme.
		'cmdline': UKI_CMDLINE + ' kexecd.addon=1 kexecd.addon2=1',
		'files': '/etc/kexecd-addon-marker,/etc/kexecd-uki-marker',
		'order': 'addon-b',
		'passes': ['insmod', 'tampered-container', 'unsigned-container', 'oversize-uki', 'linux-addon',
		           'zboot-gzip', 'zboot-gzip-loaded', 'zboot-gzip-unstage',
		           'zboot-zstd', 'zboot-zstd-loaded', 'zboot-zstd-unstage',
		           'tampered-uki', 'unsigned-addon', 'stage', 'after-stage'],
	},
	# run-e2e-arm64.sh (issue 31): Debian's arm64 kernel in qemu-system-aarch64 kexecs into a UKI
	# built with arm64's systemd-stub (.linux the Image, or a zboot of it), whose odd-sized first
	# initrd and both addons compose as on x86; and a plain Image with two initrds.
	**{f'arm64-{case}': {
		'cmdline': ARM64_UKI_CMDLINE + ' kexecd.addon=1 kexecd.addon2=1',
		'files': '/etc/kexecd-addon-marker,/etc/kexecd-uki-marker',
		'order': 'addon-b',
		# uki: an x86 UKI offered after staging is refused by name, and the staged one stays.
		'passes': ['stage', 'after-stage'] + (['x86-uki-refused', 'x86-uki-kept'] if case == 'uki' else []),
		'uki': uki,
	} for case, uki in (('uki', 'e2e-uki.efi'), ('zboot-gzip', 'zboot-gzip.efi'), ('zboot-zstd', 'zboot-zstd.efi'))},
	'arm64-plain': {
		'cmdline': 'console=ttyAMA0 kexecd.plain=1 kexecd.quoted="a b"',
		'files': '/etc/kexecd-addon-marker,/etc/kexecd-uki-marker',
		'order': 'addon-b',
		'passes': ['stage', 'after-stage'],
	},
	# run-system.sh: a real Debian system (systemd as PID 1) reboots through logind into the UKI
	# staged from its ESP directory, with the global addon a and the per-UKI addon b.
	'system-252': {
		'cmdline': UKI_CMDLINE + ' kexecd.addon=1 kexecd.addon2=1',
		'files': '/etc/kexecd-addon-marker,/etc/kexecd-uki-marker',
		'order': 'addon-b',
		'passes': SYSTEM_PASSES + ['soft-reboot-unsupported'],
	},
	'system-254': {
		'cmdline': UKI_CMDLINE + ' kexecd.addon=1 kexecd.addon2=1',
		'files': '/etc/kexecd-addon-marker,/etc/kexecd-uki-marker',
		'order': 'addon-b',
		'passes': SYSTEM_PASSES + ['soft-reboot-requested', 'soft-reboot-same-kernel',
		                           'soft-reboot-loaded', 'soft-reboot-keeps-staged'],
	},
}
# Debian 13: the same as 254, then a real kernel package through kernel-install (layout=uki,
# trixie's ukify) that kexecd's plugin stages, and a plain `systemctl reboot` that kexecs into it.
EXPECTED['system-257'] = dict(EXPECTED['system-254'])
EXPECTED['system-257']['passes'] = EXPECTED['system-254']['passes'] + [
	'kernel-install-real-add', 'kernel-install-real-uki', 'kernel-install-real-staged',
	'plain-reboot-new-boot', 'plain-reboot-kexeced-kernel-install-uki', 'this-boot-is-kexec',
	'kernel-install-real-remove', 'restage', 'restage-staged']

errors = []


def check(cond, msg):
	print(('ok   ' if cond else 'FAIL ') + msg)
	if not cond:
		errors.append(msg)


def sha256(path):
	h = hashlib.sha256()
	with open(path, 'rb') as f:
		for chunk in iter(lambda: f.read(1 << 20), b''):
			h.update(chunk)
	return h.hexdigest()


def blocks(lines):
	"""name -> (text, rc) for every E2E-BEGIN/E2E-END block (last one wins)."""
	out = {}
	name, buf = None, []
	for line in lines:
		if line.startswith('E2E-BEGIN '):
			name, buf = line.split()[1], []
		elif line.startswith('E2E-END ') and name is not None:
			m = re.search(r'rc=(\d+)', line)
			out[name] = ('\n'.join(buf), int(m.group(1)) if m else None)
			name = None
		elif name is not None:
			buf.append(line)
	return out


def walk(obj):
	if isinstance(obj, dict):
		for k, v in obj.items():
			yield k, v
			yield from walk(v)
	elif isinstance(obj, list):
		for v in obj:
			yield from walk(v)


def check_status(text, expected_sha, absent_sha=None, scheme='classic'):
	"""The one place that knows the shape of `kexecctl status --json`: adjust here if it changes.

	Expected: a key `scheme` == scheme, `kernel_support.bpf_parser` == (scheme == "bpf") (Debian's
	6.1 has no BPF parser; with kexecd_ref.ko loaded 6.12 has), the SHA-256 of every staged input
	and composed part somewhere in the document, and none of absent_sha (what a replaced stage
	must no longer show).
	"""
	try:
		status = json.loads(text)
	except ValueError as e:
		check(False, f'status --json is JSON ({e}): {text[:200]!r}')
		return
	schemes = [v for k, v in walk(status) if k == 'scheme']
	check(scheme in schemes, f'status scheme is {scheme} (found {schemes})')
	bpf = [v.get('bpf_parser') for k, v in walk(status) if k == 'kernel_support' and isinstance(v, dict)]
	want = scheme == 'bpf'
	check(bpf[:1] == [want], f'status kernel_support.bpf_parser is {str(want).lower()} (found {bpf})')
	strings = {v.lower() for v in walk_values(status) if isinstance(v, str)}
	for name, digest in expected_sha.items():
		check(digest in strings, f'status has sha256 of {name} ({digest[:16]}…)')
	for name, digest in (absent_sha or {}).items():
		check(digest not in strings, f'status no longer has sha256 of {name} ({digest[:16]}…)')
	durations = [v for k, v in walk(status) if k == 'duration_usec']
	if durations:
		print(f'info kexecd reports staging took {durations[0] / 1e3:.1f} ms inside the daemon')


def check_initrd_record(record, reference, ukis, label):
	"""The record describes the composed initrd by its parts (issue 16): rebuild it from them, with
	the host's copies of the files they name (by base name), and compare with reference, the
	expected composition; a generated part's bytes are reference's, checked by its digest."""
	if isinstance(record, str):
		try:
			record = json.loads(record)
		except ValueError:
			record = {}
	initrds = [v for k, v in walk(record) if k == 'initrd' and isinstance(v, dict) and 'parts' in v]
	if not initrds:
		check(False, f'{label}: the record describes the composed initrd by its parts')
		return
	rec = initrds[0]
	with open(reference, 'rb') as f:
		want = f.read()
	# The record names files by their path in the guest; their digests, also in the record, find
	# the host's copies.
	guest = {}

	def files(obj):
		if isinstance(obj, dict):
			if isinstance(obj.get('path'), str) and isinstance(obj.get('sha256'), str):
				guest[obj['path']] = obj['sha256']
			for v in obj.values():
				files(v)
		elif isinstance(obj, list):
			for v in obj:
				files(v)
	files(record)
	host = {}
	for name in os.listdir(ukis):
		path = os.path.join(ukis, name)
		if os.path.isfile(path):
			host[sha256(path)] = path
	built = bytearray(rec.get('size', 0))
	for part in rec['parts']:
		off, size = part['offset'], part['size']
		if 'from' in part:
			src = host.get(guest.get(part['from']['file'], ''))
			if not src:
				check(False, f'{label}: part {part["what"]} comes from {part["from"]["file"]}, whose digest '
				      'the record gives and the host has')
				return
			with open(src, 'rb') as f:
				f.seek(part['from']['offset'])
				built[off:off + size] = f.read(size)
		else:
			piece = want[off:off + size]
			check(hashlib.sha256(piece).hexdigest() == part.get('sha256'),
			      f'{label}: generated part {part["what"]} has the digest the record gives')
			built[off:off + size] = piece
	check(bytes(built) == want,
	      f'{label}: the initrd rebuilt from the record\'s parts ({len(rec["parts"])}, {len(built)} bytes) '
	      f'is the expected composition ({len(want)} bytes)')


def walk_values(obj):
	if isinstance(obj, dict):
		for v in obj.values():
			yield from walk_values(v)
	elif isinstance(obj, list):
		for v in obj:
			yield from walk_values(v)
	else:
		yield obj


def print_progress(text):
	"""Informational: time between kexecd's Progress signals (dbus-monitor's timestamps).

	The first signal of a stage ends its first read, so the time before it is not shown.
	"""
	events = []
	for line in text.split('\n'):
		m = re.match(r'signal time=([0-9.]+) ', line)
		if m:
			if 'member=Progress' in line:
				events.append([float(m.group(1)), None, None])
			else:
				# NameAcquired/NameLost of the monitor itself: not kexecd's.
				events.append(None)
			continue
		if events and events[-1] is None:
			continue
		elif events and events[-1][1] is None and (m := re.match(r'\s*string "(.*)"', line)):
			events[-1][1] = m.group(1)
		elif events and events[-1][2] is None and (m := re.match(r'\s*double ([0-9.e+-]+)', line)):
			events[-1][2] = float(m.group(1))
	events = [e for e in events if e is not None and e[1] is not None and e[2] is not None]
	for prev, cur in zip(events, events[1:]):
		if cur[2] < prev[2]:
			print('info progress: ---- next stage ----')
			continue
		# kexecd signals a phase when it has finished it.
		print(f'info progress phase {cur[1]} ({prev[2]:.2f} -> {cur[2]:.2f}) took {(cur[0] - prev[0]) * 1e3:.0f} ms')


def pe_section_size(path, want):
	"""Payload size of a PE section (min(VirtualSize, SizeOfRawData)), 0 when absent."""
	with open(path, 'rb') as f:
		d = f.read(4096)
	pe = struct.unpack_from('<I', d, 0x3c)[0]
	nsec = struct.unpack_from('<H', d, pe + 6)[0]
	opt = struct.unpack_from('<H', d, pe + 20)[0]
	for i in range(nsec):
		s = pe + 24 + opt + 40 * i
		if d[s:s + 8].rstrip(b'\0') == want.encode():
			vsize, _, rawsize = struct.unpack_from('<III', d, s + 8)
			return min(vsize or rawsize, rawsize)
	return 0


def check_bpf_reference(blk, ukis):
	"""What the reference kernel side (kexecd_ref.ko) and kexecd said about each case."""
	vmlinuz = pe_section_size(os.path.join(ukis, 'e2e-uki.efi'), '.linux')
	initrd = sum(pe_section_size(os.path.join(ukis, f), '.initrd') for f in ('e2e-uki.efi', 'b.addon.efi'))
	cmdline = len(EXPECTED['bpf-reference']['cmdline']) + 1
	if 'status-probe' in blk:
		st = json.loads(blk['status-probe'][0] or '{}')
		ks = [v for k, v in walk(st) if k == 'kernel_support' and isinstance(v, dict)]
		check(bool(ks) and ks[0].get('bpf_parser') is True and ks[0].get('generation') == 'post-v7',
		      f'probe: the module\'s BTF is the post-v7 generation (found {ks[:1]})')
		check(bool(ks) and ks[0].get('sig_mode') == 'none', f'probe: sig_mode none at first (found {ks[:1]})')
	# The final staging runs with sig_mode SIG: three VERIFY_SIG (UKI, both addons), then the COPYs.
	dm = blk.get('stage-dmesg', ('', None))[0]
	check('layer 1 .bpf.1: 7 commands, 3 PE(s) verified, DONE' in dm,
	      'kernel side: layer 1 ran the UKI parser: VERIFY_SIG x3, COPY KERNEL, COPY INITRD, COPY CMDLINE, DONE')
	verified = [l for l in dm.split('\n') if 'VERIFY_SIG PE' in l and ': verified (0)' in l]
	check(len(verified) == 3, f'kernel side: each of the 3 PEs passed VERIFY_SIG (found {len(verified)})')
	want = (f'decomposed: kernel {vmlinuz}, initrd {initrd}, cmdline {cmdline} bytes, 1 layer(s), 7 commands, '
		'sig_mode 1, 3 PE(s) verified')
	check(want in dm, f'kernel side: {want!r}')
	sd = blk.get('sig-refused-dmesg', ('', None))[0]
	check('Authenticode digest mismatch' in sd and ': refused (-129)' in sd,
	      'tampered UKI: VERIFY_SIG refused it (digest mismatch, -EKEYREJECTED)')
	check(any('IMA_CHECK' in l and ': verified (0)' in l for l in sd.split('\n')),
	      'IMA mode: the unsigned addon a passed IMA_CHECK with its security.ima (IMA v2 signature)')
	check(sd.count(': refused (-61)') == 2 and 'layer 1 .bpf.1: 2 commands, 2 PE(s) verified, no DONE' in sd,
	      'IMA mode: VERIFY_SIG refused both unsigned addons (-ENODATA); b, without .ima, ended the run')
	check(', DONE' not in sd and 'decomposed:' not in sd, 'refused PEs: no layer reported DONE, nothing decomposed')
	for z in ('gzip', 'zstd'):
		dz = blk.get(f'zboot-{z}-dmesg', ('', None))[0]
		check(f'-> {vmlinuz} bytes' in dz and 'layer 2 .bpf.1: 2 commands, 0 PE(s) verified, DONE' in dz,
		      f'zboot-{z}: .bpf.nested DECOMPRESSed .linux back to the {vmlinuz}-byte bzImage')
		check(f'decomposed: kernel {vmlinuz},' in dz and '2 layer(s)' in dz, f'zboot-{z}: two layers, kernel {vmlinuz} bytes')
	tampered = ' '.join(blk.get('tampered-container', ('', None))[0].split()) + \
		' '.join(blk.get('tampered-container-stderr', ('', None))[0].split())
	check('not a parser container' in tampered, 'tampered container: the kernel side took it for no container')
	for name in ('zboot-gzip-dmesg', 'zboot-zstd-dmesg', 'sig-refused-dmesg', 'stage-dmesg'):
		for line in blk.get(name, ('', None))[0].split('\n'):
			if 'kexecd_ref:' in line:
				print(f'info {name}: {line.strip()}')
	for name in ('tampered-container', 'unsigned-container', 'oversize-uki', 'linux-addon', 'tampered-uki',
		     'unsigned-addon'):
		text = ' '.join((blk.get(name, ('', None))[0] + ' ' + blk.get(name + '-stderr', ('', None))[0]).split())
		print(f'info {name}: {text[:400]}')
	if 'status' in blk:
		u = lambda name: sha256(os.path.join(ukis, name))
		check_status(blk['status'][0], {
			'uki': u('e2e-uki.signed.efi'),
			'a.addon': u('a.addon.signed.efi'),
			'b.addon': u('b.addon.signed.efi'),
			'parser container': u('parsers/good.elf'),
		}, scheme='bpf')
		st = json.loads(blk['status'][0] or '{}')
		cov = [v for k, v in walk(st) if k == 'covered_by_kernel_signature_check']
		check(bool(cov) and cov[0].startswith('parser container and each PE'),
		      f'status: the record says the kernel checked each PE (found {cov[:1]})')


def check_plain_status(text, ukis):
	"""kind kernel, and the SHA-256 of the kernel, each initrd and the composed initrd: a.cpio.gz
	zero-padded to 4 bytes, then b.cpio (as the stub pads, issue 9)."""
	plain = lambda name: os.path.join(ukis, 'plain', name)
	with open(plain('a.cpio.gz'), 'rb') as f:
		a = f.read()
	with open(plain('b.cpio'), 'rb') as f:
		b = f.read()
	check_status(text, {
		'kernel image': sha256(plain('vmlinuz')),
		'initrd a': sha256(plain('a.cpio.gz')),
		'initrd b': sha256(plain('b.cpio')),
	})
	with tempfile.NamedTemporaryFile() as composed:
		composed.write(a + b'\0' * (-len(a) % 4) + b + b'\0' * (-len(b) % 4))
		composed.flush()
		check_initrd_record(text, composed.name, plain(''), 'plain kernel status (a padded, b)')
	try:
		kinds = [v for k, v in walk(json.loads(text)) if k == 'kind']
	except ValueError:
		kinds = []
	check('kernel' in kinds, f'status says kind kernel (found {kinds})')


def main():
	p = argparse.ArgumentParser()
	p.add_argument('--mode', required=True, choices=sorted(EXPECTED))
	p.add_argument('--log', required=True)
	p.add_argument('--ukis', required=True, help='make-e2e-ukis.sh output directory')
	a = p.parse_args()
	exp = EXPECTED[a.mode]

	with open(a.log, 'rb') as f:
		text = f.read().decode('utf-8', 'replace')
	# The BIOS clears the screen with escape sequences that end up in front of the first line.
	text = re.sub(r'\x1b(\[[0-9;?]*[A-Za-z]|c)', '', text)
	lines = [l.rstrip('\r') for l in text.split('\n')]
	# Under systemd (system-*), the scenario's output reaches the console through journald, which
	# prefixes "[  12.345678] bash[123]: "; a login prompt may stand in front of the first one.
	lines = [re.sub(r'^.*?\[\s*\d+\.\d+\] [^\s\[]+\[\d+\]: ', '', l) for l in lines]

	fails = [l for l in lines if l.startswith('E2E-FAIL')]
	check(not fails, 'first stage reported no failure' + (f': {fails}' if fails else ''))
	passes = {l.split()[1] for l in lines if l.startswith('E2E-PASS ') and len(l.split()) > 1}
	for name in exp['passes']:
		check(name in passes, f'first stage passed {name}')

	markers = [l for l in lines if l.startswith('KEXECD-E2E-SECOND-STAGE ')]
	check(len(markers) == 1, f'second kernel printed its marker once (found {len(markers)})')
	if markers:
		m = re.fullmatch(r'KEXECD-E2E-SECOND-STAGE cmdline=(.*) files=(\S*) order=(\S*)', markers[0])
		check(m is not None, f'marker line is well formed: {markers[0]!r}')
		if m:
			cmdline, files, order = m.group(1).strip(), m.group(2), m.group(3)
			if 'cmdline_prefix' in exp:
				prefix = re.match(exp['cmdline_prefix'], cmdline)
				check(prefix is not None, f'second kernel /proc/cmdline starts with {exp["cmdline_prefix"]!r} (got {cmdline!r})')
				if prefix:
					cmdline = cmdline[prefix.end():]
			check(cmdline == exp['cmdline'], f'second kernel /proc/cmdline == {exp["cmdline"]!r} (got {cmdline!r})')
			check(files == exp['files'], f'second stage sees files {exp["files"]} (got {files})')
			check(order == exp['order'], f'initrds unpacked in order, last = {exp["order"]} (got {order})')

	blk = blocks(lines)
	samples = {}
	for l in lines:
		t = re.fullmatch(r'E2E-TIMING (\S+) (\d+)', l)
		if t:
			samples.setdefault(t.group(1), []).append(int(t.group(2)))
	timings = {tool: min(ns) for tool, ns in samples.items()}

	u = lambda name: sha256(os.path.join(a.ukis, name))
	if a.mode in ('kexecd', 'kexecd-negative', 'kexecd-crash', 'kexecd-plain', 'bpf-reference') or \
			a.mode.startswith(('system-', 'arm64-')):
		check('status' in blk, 'status --json was printed')
	if a.mode == 'kexecd-crash' and 'status' in blk:
		# The crash slot has the UKI and both addons; the reboot slot was unstaged.
		try:
			status = json.loads(blk['status'][0])
		except ValueError:
			status = {}
		crash = status.get('crash', {})
		check(status.get('state') == 'idle', f'reboot slot idle after its unstage (got {status.get("state")!r})')
		check(crash.get('state') == 'staged', f'crash slot staged (got {crash.get("state")!r})')
		staged = crash.get('staged', {})
		check(staged.get('slot') == 'crash' and staged.get('flags', 0) & 0x2,
		      f'crash record has slot crash and KEXEC_FILE_ON_CRASH (0x2) (got {staged.get("slot")!r}, {staged.get("flags")!r})')
		check(staged.get('uki', {}).get('sha256') == u('e2e-uki.efi'), 'crash record has the UKI digest')
		check(staged.get('kernel', {}).get('sha256') == u('parts/vmlinuz'), 'crash record has the composed kernel digest')
		check_initrd_record(staged, os.path.join(a.ukis, 'parts/initrd.cpio'), a.ukis, 'crash record')
	if (a.mode == 'kexecd' or a.mode.startswith('system-')) and 'status' in blk:
		# Inputs, and the composed parts byte for byte: kernel = .linux, initrd = UKI's .initrd
		# followed by b's (exactly what kexec-tools is given in its run).
		check_status(blk['status'][0], {
			'uki': u('e2e-uki.efi'),
			'a.addon': u('a.addon.efi'),
			'b.addon': u('b.addon.efi'),
			'composed kernel': u('parts/vmlinuz'),
		})
		check_initrd_record(blk['status'][0], os.path.join(a.ukis, 'parts/initrd.cpio'), a.ukis, 'status')
	if a.mode.startswith('system-') and 'status' in blk:
		# kexecd probes logind once (RebootWithFlags 0x06 fails without side effects, with a
		# message that tells 252/253 from 254+) and shows what it found.
		try:
			status = json.loads(blk['status'][0])
		except ValueError:
			status = {}
		want_soft = a.mode != 'system-252'
		kexec = [v for k, v in walk(status) if k == 'kexec' and isinstance(v, bool)]
		soft = [v for k, v in walk(status) if k == 'soft_reboot' and isinstance(v, bool)]
		check(kexec[:1] == [True], f'status says logind can kexec (found {kexec})')
		check(soft[:1] == [want_soft], f'status says soft-reboot is {"" if want_soft else "not "}supported (found {soft})')
	if a.mode == 'kexecd-negative' and 'status' in blk:
		check_status(blk['status'][0], {
			'uki2': u('e2e-uki2.efi'),
		}, absent_sha={
			'replaced uki': u('e2e-uki.efi'),
			'replaced b.addon': u('b.addon.efi'),
		})
		check_initrd_record(blk['status'][0], os.path.join(a.ukis, 'uki2-initrd.cpio'), a.ukis, 'status of uki2')
	if a.mode == 'arm64-uki' and 'x86-uki' in blk:
		print('info the x86 UKI was refused with: ' + ' '.join(blk['x86-uki'][0].split())[:300])
	if a.mode == 'kexecd-negative' and 'enforce-tampered' in blk:
		print('info tampered stage said: ' + ' '.join(blk['enforce-tampered'][0].split())[:300])

	if a.mode in ('arm64-uki', 'arm64-zboot-gzip', 'arm64-zboot-zstd') and 'status' in blk:
		# The composed kernel is the Image byte for byte (a zboot's payload unpacked by kexecd);
		# the initrd the odd one zero-padded to 4 bytes, the stub's os-release, b's.
		check_status(blk['status'][0], {
			'uki': u(exp['uki']),
			'a.addon': u('a.addon.efi'),
			'b.addon': u('b.addon.efi'),
			'composed kernel (the Image)': u('parts/vmlinuz'),
		})
		check_initrd_record(blk['status'][0], os.path.join(a.ukis, 'parts/initrd.cpio'), a.ukis, 'status')
		try:
			zboot = [v.get('zboot') for k, v in walk(json.loads(blk['status'][0]))
				 if k == 'kernel' and isinstance(v, dict) and 'zboot' in v]
		except ValueError:
			zboot = []
		want = a.mode != 'arm64-uki'
		check(zboot[:1] == [want], f'status says the .linux was {"" if want else "not "}a zboot (found {zboot})')
	if a.mode in ('kexecd-plain', 'arm64-plain') and 'status' in blk:
		check_plain_status(blk['status'][0], a.ukis)
	if a.mode == 'bpf-reference':
		check_bpf_reference(blk, a.ukis)

	if 'progress' in blk:
		print_progress(blk['progress'][0])
	for tool, ns in sorted(samples.items()):
		runs = ', '.join(f'{x / 1e6:.1f}' for x in ns)
		print(f'timing {tool}: staging took {min(ns) / 1e6:.1f} ms in the guest (TCG; fastest of [{runs}] ms)')
	if 'kexecd' in timings and 'kexec-tools' in timings and timings['kexec-tools'] > 0:
		print(f'timing ratio kexecd/kexec-tools = {timings["kexecd"] / timings["kexec-tools"]:.2f} '
		      '(kexecd: UKI + 2 addons over D-Bus, sealed, parsed, composed; kexec-tools: ready-made parts)')

	if errors:
		print(f'{len(errors)} check(s) failed')
		return 1
	return 0


if __name__ == '__main__':
	sys.exit(main())
