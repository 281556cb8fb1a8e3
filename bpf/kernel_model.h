/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Host model of the kernel side of the kexec BPF image-parser series
 * (post-v7, kexec_bpf_loader.c "L8b" in shared/KERNEL-ABI.md section 3), used
 * by the unit tests and the fuzzer to replay a parser's command stream.
 *
 * Modelled: the 10-byte header; DONE sets parsed; COPY replaces
 * kernel/initrd/cmdline (empty kernel or cmdline -> -EINVAL, empty initrd
 * ignored, unknown subcmd -> -EINVAL); DECOMPRESS (subcmd KERNEL only,
 * decompressor chosen by payload magic: gzip or zstd, 512 MiB cap) replaces
 * kernel; PIPELINE_FILL queues the payload (or the decompressed kernel) into
 * the next free next_parsing_buf slot (16, else -ENOMEM); unknown commands
 * -> -EINVAL. Success of a load = parsed && kernel, initrd and cmdline all
 * present (cmdline gets a NUL appended when missing).
 * Signature checks as tests/kernel/kexecd_ref.ko implements them (no kernel
 * of the series has a handler): VERIFY_SIG (payload = one whole PE) and
 * IMA_CHECK (payload = its .ima blob, only right after a refused VERIFY_SIG,
 * whose PE it vouches for) ask the verify callback (NULL accepts); while
 * sigMode is not NONE, COPY and DECOMPRESS are refused (-EKEYREJECTED) until
 * one PE of the layer passed.
 * Deliberately NOT modelled: the draft bugs listed in KERNEL-ABI section 9.
 */

#include <stddef.h>
#include <stdint.h>

#include "parse_core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KM_MAX_NEXT 16
#define KM_LOG_MAX 64
#ifndef KM_DECOMPRESS_CAP
#define KM_DECOMPRESS_CAP ((size_t)512 * 1024 * 1024) /* lib/post_decompress.c */
#endif

struct km_blob {
	uint8_t *data;
	size_t size;
};

struct km_state {
	int parsed;
	struct km_blob kernel;
	struct km_blob initrd;
	struct km_blob cmdline;
	struct km_blob next[KM_MAX_NEXT]; /* next_parsing_buf */
	unsigned int nnext;
	unsigned int ncommands; /* commands accepted so far */
	int parseError; /* km_run: -PC_E_* from the parser core, or 0 */
	int kernelError; /* km_run: -errno from the model, or 0 */
	int lastRefusal; /* -errno of the last refused command, or 0 */
	int sendError; /* km_replay: pc_send_plan()'s -PC_E_*, or 0 */

	/* signature checks (kexec_context.sig_mode, KEXEC_SIG_*) */
	unsigned int sigMode;
	/* VERIFY_SIG / IMA_CHECK verdict, NULL = accept; for IMA_CHECK pe is
	 * the PE of the refused VERIFY_SIG it stands in for. 0 or -errno. */
	int (*verify)(void *arg, uint16_t cmd, const uint8_t *payload, size_t len, const uint8_t *pe,
		      size_t peLen);
	void *verifyArg;
	struct km_blob refusedPe; /* the last refused VERIFY_SIG's PE */
	unsigned int verified; /* PEs that passed in the current layer */
	/* every command received, accepted or not, in order */
	uint16_t log[KM_LOG_MAX];
	unsigned int nlog;
};

void km_init(struct km_state *km);
void km_free(struct km_state *km);

/* One bpf_buffer_parser() call: returns 0 or -errno like the kernel. */
int km_handle(struct km_state *km, const uint8_t *buf, size_t len);

/* Send a plan exactly as the BPF program does (pc_send_plan(): signature
 * checks per km->sigMode, then every planned command) into km_handle().
 * Returns 0, the -errno of the command the kernel refused, or -EFAULT when
 * the parser gave up on its own (sendError says why). */
int km_replay(struct km_state *km, const struct pc_buf *img, struct pc_state *st);

/* The kernel's final check after a layer: 0 or -EINVAL. */
int km_finish(struct km_state *km);

/*
 * Whole flow as the kernel runs a parser container: layer 1 = UKI parser over
 * the image container; if nested is set (arm64/riscv/loongarch containers)
 * and layer 1 queued PIPELINE_FILL buffers, layer 2 = zboot parser over
 * next[0]. Returns 0 on a successful load, else -1 with parseError or
 * kernelError set.
 */
int km_run(struct km_state *km, const uint8_t *image, size_t size, int nested);

#ifdef __cplusplus
}
#endif
