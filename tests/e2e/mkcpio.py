#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write a newc cpio archive of a directory tree, as the kernel's initramfs unpacker reads it.

Written in Python rather than calling cpio(1) so that the archive can hold device nodes
(/dev/console) without running as root, every entry is owned by root, and mtimes are fixed:
the same inputs give the same bytes.

usage: mkcpio.py ROOT OUT [--gzip] [--node PATH:c|b:MAJOR:MINOR[:MODE]]...
"""

import argparse
import gzip
import os
import stat
import sys


def header(ino, mode, nlink, size, rdevmajor, rdevminor, name):
	namez = name.encode() + b'\0'
	fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevmajor, rdevminor, len(namez), 0]
	hdr = b'070701' + b''.join(b'%08X' % f for f in fields)
	data = hdr + namez
	return data + b'\0' * (-len(data) % 4)


def entries(root):
	# Parents before children: the kernel creates each entry as it reads it.
	for dirpath, dirnames, filenames in os.walk(root):
		dirnames.sort()
		rel = os.path.relpath(dirpath, root)
		if rel != '.':
			yield rel
		for name in sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))):
			yield os.path.normpath(os.path.join(rel, name))


def build(root, nodes):
	out = bytearray()
	ino = 1
	for rel in entries(root):
		path = os.path.join(root, rel)
		st = os.lstat(path)
		perm = stat.S_IMODE(st.st_mode)
		if stat.S_ISLNK(st.st_mode):
			body = os.readlink(path).encode()
			out += header(ino, stat.S_IFLNK | 0o777, 1, len(body), 0, 0, rel)
		elif stat.S_ISDIR(st.st_mode):
			body = b''
			out += header(ino, stat.S_IFDIR | perm, 2, 0, 0, 0, rel)
		elif stat.S_ISREG(st.st_mode):
			with open(path, 'rb') as f:
				body = f.read()
			out += header(ino, stat.S_IFREG | perm, 1, len(body), 0, 0, rel)
		else:
			sys.exit(f'mkcpio: unsupported file type: {path}')
		out += body + b'\0' * (-len(body) % 4)
		ino += 1
	for spec in nodes:
		parts = spec.split(':')
		name, kind, major, minor = parts[0], parts[1], int(parts[2]), int(parts[3])
		mode = int(parts[4], 8) if len(parts) > 4 else 0o600
		fmt = stat.S_IFCHR if kind == 'c' else stat.S_IFBLK
		out += header(ino, fmt | mode, 1, 0, major, minor, name.lstrip('/'))
		ino += 1
	out += header(0, 0, 1, 0, 0, 0, 'TRAILER!!!')
	# Pad to 512 like cpio(1): whatever is concatenated after this archive starts 4-byte aligned.
	out += b'\0' * (-len(out) % 512)
	return bytes(out)


def main():
	p = argparse.ArgumentParser()
	p.add_argument('root')
	p.add_argument('out')
	p.add_argument('--gzip', action='store_true')
	p.add_argument('--node', action='append', default=[])
	a = p.parse_args()
	data = build(a.root, a.node)
	if a.gzip:
		data = gzip.compress(data, compresslevel=1, mtime=0)
	with open(a.out, 'wb') as f:
		f.write(data)


if __name__ == '__main__':
	main()
