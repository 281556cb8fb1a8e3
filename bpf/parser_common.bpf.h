/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What both parsers share with the kernel's generated light skeleton
 * (kernel/kexec_bpf/kexec_pe_parser_bpf.lskel.h, template.c): the kernel
 * loads every parser through one fixed fd table, so each parser object must
 * have exactly these maps (ringbuf_1..4), all four data sections (.rodata,
 * .data, .rodata.str1.1, .bss) and exactly one program.
 */

#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

struct bpf_parser_context;
extern struct bpf_parser_context *bpf_get_parser_context(unsigned long id) __ksym;
extern void bpf_put_parser_context(struct bpf_parser_context *ctx) __ksym;
extern int bpf_buffer_parser(char *buf, int buf_sz, struct bpf_parser_context *ctx) __ksym;

/* how parse_core.h's pc_send_plan() reaches the kernel (the verifier
 * probe in tests/unit/bpf replaces it) */
#ifndef PC_SEND
#define PC_SINK struct bpf_parser_context
#define PC_SEND(sink, rec, n) bpf_buffer_parser((char *)(rec), (int)(n), (sink))
#endif

#include "parse_core.h"

/* Ring buffer sizes must be page multiples and powers of two (the drafts'
 * 1-byte rings 2..4 would be refused by the map code). 64 KiB is a page
 * multiple on 4K, 16K and 64K-page kernels alike: the kernel loads the
 * sizes baked into the loader blob, and an arm64 kernel with 64K pages
 * refuses a 4 KiB ring. ringbuf_1 holds the one scratch record every
 * command is built in. */
#ifndef RINGBUF_1_SIZE
#define RINGBUF_1_SIZE (256 * 1024 * 1024)
#endif
#define RINGBUF_SMALL_SIZE (64 * 1024)

_Static_assert(PC_REC_SIZE + 8 <= RINGBUF_1_SIZE, "command record must fit ringbuf_1");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_1_SIZE);
} ringbuf_1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_SMALL_SIZE);
} ringbuf_2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_SMALL_SIZE);
} ringbuf_3 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_SMALL_SIZE);
} ringbuf_4 SEC(".maps");

/* Force the data sections the skeleton expects to exist. */
const volatile __u32 kexecd_parser_abi = 1;                     /* .rodata */
__u32 kexecd_parser_runs = 1;                                    /* .data */
const char kexecd_parser_tag[] SEC(".rodata.str1.1") = "kexecd"; /* .rodata.str1.1 */
struct pc_state kexecd_state;                                    /* .bss */

/*
 * Send the plan (signature checks when the context asks, then every planned
 * command). One ring-buffer record is reserved for the whole run (size must
 * be a constant for the verifier) and discarded at the end: nothing is ever
 * submitted to user space.
 */
static __always_inline int kexecd_send_plan(const struct pc_buf *img, struct pc_state *st, __u32 sigMode,
					   PC_SINK *pctx)
{
	__u8 *rec;
	int ret;

	rec = bpf_ringbuf_reserve(&ringbuf_1, PC_REC_SIZE, 0);
	if (!rec)
		return -PC_E_TOO_BIG;
	ret = pc_send_plan(img, st, sigMode, rec, pctx);
	bpf_ringbuf_discard(rec, 0);
	return ret;
}

/* kexec_context.sig_mode (post-v7); a kernel without the field asks for
 * nothing (CO-RE: the read is dropped when the field does not exist). */
static __always_inline __u32 kexecd_sig_mode(struct kexec_context *context)
{
	if (bpf_core_field_exists(context->sig_mode))
		return (__u32)context->sig_mode;
	return KEXEC_SIG_NONE;
}

static __always_inline int kexecd_read_layer_input(struct kexec_context *context, struct pc_buf *img)
{
	img->base = (const __u8 *)context->parsing_buf[0];
	img->size = context->parsing_buf_sz[0];
	return img->base && img->size ? 0 : -PC_E_SHORT;
}

/*
 * The whole program of one parser layer: each .bpf.N object must hold
 * exactly one program (the kernel's fixed skeleton), so the two parsers
 * differ only in their name and in the plan function of parse_core.h.
 */
#define KEXECD_PARSER_PROGRAM(name, plan)                                        \
	SEC("fentry.s/kexec_image_parser_anchor")                                 \
	int name(unsigned long long *ctx)                                         \
	{                                                                         \
		struct kexec_context *context = (struct kexec_context *)ctx[0];   \
		unsigned long parserId = (unsigned long)ctx[1];                   \
		struct bpf_parser_context *pctx;                                  \
		struct pc_buf img;                                                \
		int ret;                                                          \
                                                                                  \
		pctx = bpf_get_parser_context(parserId);                          \
		if (!pctx)                                                        \
			return 0;                                                 \
		ret = kexecd_read_layer_input(context, &img);                     \
		if (!ret)                                                         \
			ret = plan(&img, &kexecd_state);                          \
		if (!ret)                                                         \
			ret = kexecd_send_plan(&img, &kexecd_state,               \
					       kexecd_sig_mode(context), pctx);   \
		bpf_put_parser_context(pctx);                                     \
		return 0;                                                         \
	}

char LICENSE[] SEC("license") = "GPL";
