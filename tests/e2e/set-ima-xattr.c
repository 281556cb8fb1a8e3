// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * set-ima-xattr FILE BLOB: set FILE's security.ima to BLOB's bytes. The e2e first stage has no
 * setfattr (busybox lacks it, cpio carries no xattrs); run-e2e.sh links this statically.
 */
#include <stdio.h>
#include <sys/xattr.h>

int main(int argc, char **argv)
{
	unsigned char buf[1024];
	size_t n;
	FILE *f;

	if (argc != 3 || !(f = fopen(argv[2], "rb"))) {
		fprintf(stderr, "usage: set-ima-xattr FILE BLOB\n");
		return 2;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (setxattr(argv[1], "security.ima", buf, n, 0)) {
		perror("setxattr security.ima");
		return 1;
	}
	return 0;
}
