// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Load every program of a BPF object into the running kernel's verifier and
 * print how many instructions it processed for each, against an explicit
 * allowance below the verifier's 1M-instruction limit. Used on the host (the
 * bpf_verifier unit test) and inside the pinned Debian kernels that
 * tests/e2e/run-verifier.sh boots, so one rule judges every kernel.
 *
 * usage: verifier-load OBJECT MAX_INSNS
 * exit 0 all accepted within MAX_INSNS, 1 refused or over, 77 not permitted
 * to load BPF programs here, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#define MAX_PROGS 8
#define LOG_SIZE (32u << 20)

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* The verifier's closing "processed N insns" line, or -1. */
static long processed(const char *log)
{
	const char *p = NULL, *q = log;

	while ((q = strstr(q, "processed ")) != NULL)
		p = q++;
	return p ? strtol(p + strlen("processed "), NULL, 10) : -1;
}

int main(int argc, char **argv)
{
	struct bpf_program *prog;
	struct bpf_object *obj;
	char *logs[MAX_PROGS];
	struct utsname u;
	long max, n;
	int nprogs = 0, ret, i, rc = 0;

	if (argc != 3 || (max = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: %s OBJECT MAX_INSNS\n", argv[0]);
		return 2;
	}
	if (geteuid() != 0) {
		printf("verifier: needs root (CAP_BPF + CAP_PERFMON) to load programs: skipped\n");
		return 77;
	}
	uname(&u);
	libbpf_set_print(quiet_libbpf);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "verifier: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (nprogs == MAX_PROGS) {
			fprintf(stderr, "verifier: more than %d programs in %s\n", MAX_PROGS, argv[1]);
			return 1;
		}
		logs[nprogs] = calloc(1, LOG_SIZE);
		if (!logs[nprogs])
			return 1;
		bpf_program__set_log_buf(prog, logs[nprogs], LOG_SIZE);
		bpf_program__set_log_level(prog, 1);
		nprogs++;
	}
	ret = bpf_object__load(obj);
	if (ret == -EPERM) {
		printf("verifier: the kernel refuses BPF program loads here (EPERM): skipped\n");
		rc = 77;
		goto out;
	}
	i = 0;
	bpf_object__for_each_program(prog, obj) {
		const char *log = logs[i++];

		n = processed(log);
		printf("verifier: kernel %s program %s processed %ld insns (allowed %ld, limit 1000000)%s\n",
		       u.release, bpf_program__name(prog), n, max,
		       ret ? " REFUSED" : n > max ? " OVER THE ALLOWANCE" : "");
		if (ret || n < 0 || n > max) {
			size_t len = strlen(log);

			fprintf(stderr, "verifier log tail (%s):\n%s\n", bpf_program__name(prog),
				log + (len > 3000 ? len - 3000 : 0));
			rc = 1;
		}
	}
	if (ret && !rc)
		rc = 1;
out:
	bpf_object__close(obj);
	for (i = 0; i < nprogs; i++)
		free(logs[i]);
	return rc;
}
