#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""kexecctl's help, kexecctl(1) and the README agree on every option (issue 28).

From the kexecctl under test: `kexecctl --help` and each verb's `--help`, the
verb's own options and the global ones (which every verb's help must list).
Then kexecctl(1): every option it names exists, each verb's SYNOPSIS lists
exactly that verb's options, GLOBAL OPTIONS exactly the global ones. Then the
README: every option on a line or in a code span that runs kexecctl exists
for that verb. And the one meaning that was once wrong (issue 28 item 3):
--cmdline-extra appends, --cmdline-replace replaces, in all three.

usage: check-kexecctl-docs.py KEXECCTL MAN_PAGE README
"""

import re
import subprocess
import sys

# Options of other programs the man page and README name (kured, kexec-tools,
# the scripts), never kexecctl's.
FOREIGN = {'--reboot-command', '--keep', '--suite', '--benchmark'}

failures = []


def fail(message):
	failures.append(message)
	print(f'FAIL {message}')


def ok(message):
	print(f'ok   {message}')


def help_text(kexecctl, *args):
	proc = subprocess.run([kexecctl, *args, '--help'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
			      text=True, timeout=30)
	if proc.returncode != 0:
		fail(f'`kexecctl {" ".join(args)} --help` exited {proc.returncode}: {proc.stderr}')
	return proc.stdout


def parse_help(text):
	"""(own options, global options, verbs) of one --help."""
	own, glob, verbs = set(), set(), []
	section = None
	for line in text.splitlines():
		if re.match(r'^\S.*:$', line):
			section = line[:-1]
			continue
		# A CLI11 option group (reboot's modes): the verb's own options.
		if line.startswith('[Option Group:'):
			section = 'Options'
			continue
		if not line.startswith('  '):
			continue
		name = re.split(r'\s{2,}', line.strip())[0]
		if section == 'Subcommands':
			verbs.append(name)
			continue
		if not name.startswith('-'):
			continue
		opts = set(re.findall(r'--[a-z][a-z-]*', name))
		if section == 'Global options':
			glob |= opts
		elif section == 'Options':
			own |= opts
	return own, glob, verbs


def man_sections(text):
	sections, name = {}, None
	for line in text.splitlines():
		m = re.match(r'^# (.+)$', line)
		if m:
			name = m.group(1)
			sections[name] = []
		elif name:
			sections[name].append(line)
	return {k: '\n'.join(v) for k, v in sections.items()}


def man_options(text):
	return set(re.findall(r'\*(--[a-z][a-z-]*)\*', text))


def entry(text, option):
	"""The man page's paragraph for an option: its *--option* line and the
	indented lines after it."""
	lines = text.splitlines()
	for i, line in enumerate(lines):
		if re.match(r'^\s*\*' + re.escape(option) + r'\*', line):
			indent = len(line) - len(line.lstrip('\t'))
			body = [line]
			for more in lines[i + 1:]:
				if more.strip() and len(more) - len(more.lstrip('\t')) <= indent:
					break
				body.append(more)
			return '\n'.join(body)
	return ''


def main():
	kexecctl, man_path, readme_path = sys.argv[1:4]
	main_own, main_glob, verbs = parse_help(help_text(kexecctl))
	if not verbs:
		fail('`kexecctl --help` lists no verbs')
	if not main_glob:
		fail('`kexecctl --help` has no "Global options" section')
	own = {}
	for verb in verbs:
		o, g, _ = parse_help(help_text(kexecctl, verb))
		own[verb] = o - {'--help'}
		if g != main_glob:
			fail(f'`kexecctl {verb} --help` lists the global options {sorted(g)}, not {sorted(main_glob)}')
		else:
			ok(f'`kexecctl {verb} --help` lists the global options')
	glob = main_glob | main_own
	known = glob.union(*own.values())

	with open(man_path) as f:
		man = f.read()
	sections = man_sections(man)

	# Every option anywhere in the man page is kexecctl's, and every one of
	# kexecctl's is in the man page.
	named = man_options(man) - FOREIGN
	for opt in sorted(named - known):
		fail(f'kexecctl(1) names {opt}, which kexecctl does not have')
	for opt in sorted(known - named):
		fail(f'kexecctl(1) does not document {opt}')
	if named == known:
		ok(f'kexecctl(1) and the help name the same {len(known)} options')

	# SYNOPSIS: per verb, exactly its options.
	synopsis = {}
	for block in re.split(r'\n\s*\n', sections.get('SYNOPSIS', '')):
		m = re.search(r'\*kexecctl\* \[_GLOBAL OPTIONS_\] \[?\*([a-z-]+)\*', block)
		if m:
			synopsis.setdefault(m.group(1), set()).update(man_options(block))
	for verb in verbs:
		if verb not in synopsis:
			fail(f'kexecctl(1) SYNOPSIS has no line for {verb}')
		elif synopsis[verb] != own[verb]:
			fail(f'kexecctl(1) SYNOPSIS of {verb}: {sorted(synopsis[verb])}, the help: {sorted(own[verb])}')
		else:
			ok(f'kexecctl(1) SYNOPSIS of {verb} lists its {len(own[verb])} options')

	# GLOBAL OPTIONS: exactly the global ones, each an entry of its own.
	global_section = sections.get('GLOBAL OPTIONS', '')
	entries = set()
	for line in global_section.splitlines():
		if line.startswith('*-'):
			entries |= set(re.findall(r'--[a-z][a-z-]*', line))
	if entries != glob:
		fail(f'kexecctl(1) GLOBAL OPTIONS: {sorted(entries)}, the help: {sorted(glob)}')
	else:
		ok(f'kexecctl(1) GLOBAL OPTIONS documents the {len(glob)} global options')

	# The README: options where kexecctl runs are kexecctl's, for that verb.
	with open(readme_path) as f:
		readme = f.read()
	spans = re.findall(r'`([^`\n]+)`', readme)
	in_code = False
	for line in readme.splitlines():
		if line.startswith('```'):
			in_code = not in_code
		elif in_code:
			spans.append(line.split('#')[0])
	checked = 0
	for span in spans:
		for m in re.finditer(r'\bkexecctl((?:\s+\S+)*)', span):
			words = m.group(1).split()
			verb = next((w for w in words if w in own), None)
			allowed = glob | (own[verb] if verb else set())
			for opt in re.findall(r'(?<![\w-])--[a-z][a-z-]*', m.group(1)):
				checked += 1
				if opt not in allowed:
					fail(f'README runs `kexecctl {m.group(1).strip()}`: {opt} is no option of '
					     f'{"kexecctl " + verb if verb else "kexecctl"}')
	ok(f'README: {checked} kexecctl options checked')

	# What the two command line options do, said the same way in all three.
	# Only the words that describe: not option names (*--append*, `--append`),
	# the first clause of the man page's entry.
	stage_help = help_text(kexecctl, 'stage')
	for opt, word in (('--cmdline-extra', 'append'), ('--cmdline-replace', 'replace')):
		line = next((l for l in stage_help.splitlines() if l.strip().startswith(opt + ' ')), '')
		described = re.split(r'\s{2,}', line.strip(), maxsplit=1)[-1]
		good = True
		if word not in described.lower():
			good = fail(f'`kexecctl stage --help` does not say {opt} does "{word}": {line.strip()}') or False
		body = entry(man, opt).split('\n', 1)[-1]
		first = re.split(r'[.;]', re.sub(r'\*[^*]*\*', '', body), maxsplit=1)[0]
		if word not in first.lower():
			good = fail(f'kexecctl(1) does not say {opt} does "{word}": {first.strip()}') or False
		sentences = [re.sub(r'`[^`]*`', '', s) for s in re.split(r'(?<=[.;])\s', readme) if opt in s]
		if not any(word in s.lower() for s in sentences):
			good = fail(f'the README does not say {opt} does "{word}"') or False
		if good:
			ok(f'help, kexecctl(1) and README: {opt} does "{word}"')

	if failures:
		print(f'{len(failures)} disagreements', file=sys.stderr)
		return 1
	return 0


if __name__ == '__main__':
	sys.exit(main())
