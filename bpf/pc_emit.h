/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Parsing core, part 5: serialising the plan into post-v7 command records,
 * and the names of the errors. Rules in parse_core.h.
 */

#include "pc_base.h"

struct pc_emit_ctx {
	const struct pc_buf *img;
	struct pc_state *st;
	const struct pc_cmd *c;
	__u8 *rec;
};

/* One part of a command; returns 1 to stop. Driven by bpf_loop() in BPF for
 * the same reason as pc_trim_chunk(): 31 unrolled parts, each a fill or a
 * copy at a growing offset, blew the verifier's 1M-instruction budget. */
PC_INLINE int pc_emit_part(__u32 n, struct pc_emit_ctx *e)
{
	__u64 i = n;
	const struct pc_part *p;
	__u64 off = e->st->emitOff;
	__u64 len;

	if (i >= e->c->nparts)
		return 1;
	PC_BARRIER_VAR(i);
	if (i >= PC_MAX_PARTS)
		return 1;
	p = &e->c->part[i];
	len = p->len;
	/* two checks against constants keep every write inside the record */
	if (off >= PC_PAYLOAD_MAX || len > PC_PAYLOAD_MAX)
		return pc_step_fail(e->st, -PC_E_TOO_BIG);
	if (p->isFill) {
		if (len != 1)
			return pc_step_fail(e->st, -PC_E_INTERNAL);
		e->rec[KEXEC_CMD_HDR_SIZE + off] = p->fill;
	} else if (pc_read(e->img, p->src, e->rec + KEXEC_CMD_HDR_SIZE + off, len)) {
		return pc_step_fail(e->st, -PC_E_BOUNDS);
	}
	e->st->emitOff = off + len;
	return 0;
}

PC_LOOP_CB(pc_emit_part, struct pc_emit_ctx)

/*
 * Serialise one planned command into rec: 10-byte header, then the parts.
 * rec must hold PC_REC_SIZE bytes (KEXEC_CMD_HDR_SIZE + 2 * PC_PAYLOAD_MAX);
 * the host tests may pass less only when every part offset and length stay
 * below PC_PAYLOAD_MAX and the record holds header + total. c is one of
 * st->cmd; the running write offset lives in st (on the stack it cost the
 * verifier a state per offset range: 63K instructions per command on
 * 6.18). Returns the bytes written or -error.
 */
PC_INLINE long pc_emit(const struct pc_buf *img, struct pc_state *st, const struct pc_cmd *c, __u8 *rec)
{
	struct pc_emit_ctx e;

	rec[0] = (__u8)(c->cmd & 0xff);
	rec[1] = (__u8)(c->cmd >> 8);
	rec[2] = c->subcmd;
	rec[3] = c->pipeline;
	rec[4] = (__u8)(c->total & 0xff);
	rec[5] = (__u8)((c->total >> 8) & 0xff);
	rec[6] = (__u8)((c->total >> 16) & 0xff);
	rec[7] = (__u8)((c->total >> 24) & 0xff);
	rec[8] = 0;
	rec[9] = 0;
	e.img = img;
	e.st = st;
	e.c = c;
	e.rec = rec;
	st->emitOff = 0;
	st->stepErr = 0;
	PC_LOOP(PC_MAX_PARTS, pc_emit_part, &e);
	if (st->stepErr)
		return st->stepErr;
	if (st->emitOff != c->total || c->total > PC_PAYLOAD_MAX)
		return -PC_E_INTERNAL;
	return (long)(KEXEC_CMD_HDR_SIZE + c->total);
}

/*
 * A signature command for one PE of the plan (newest tools, EC
 * process_pe_section): VERIFY_SIG carries the whole PE as it sits in the
 * container, IMA_CHECK the .ima blob that followed it. Post-v7 header,
 * num_chunks 0 (the newest tools' chunk table is not this generation's).
 * Returns the record's length or -error.
 */
PC_INLINE long pc_emit_sig(const struct pc_buf *img, const struct pc_pe *pe, __u16 cmd, __u8 *rec)
{
	__u64 off = pe->off, len = pe->size;

	if (cmd == KEXEC_BPF_CMD_IMA_CHECK) {
		off = pe->imaOff;
		len = pe->imaLen;
	}
	if (len == 0 || len > PC_PAYLOAD_MAX)
		return -PC_E_TOO_BIG;
	PC_BARRIER_VAR(len);
	if (len > PC_PAYLOAD_MAX)
		return -PC_E_TOO_BIG;
	rec[0] = (__u8)(cmd & 0xff);
	rec[1] = (__u8)(cmd >> 8);
	rec[2] = KEXEC_BPF_SUBCMD_INVALID;
	rec[3] = KEXEC_BPF_PIPELINE_INVALID;
	rec[4] = (__u8)(len & 0xff);
	rec[5] = (__u8)((len >> 8) & 0xff);
	rec[6] = (__u8)((len >> 16) & 0xff);
	rec[7] = (__u8)((len >> 24) & 0xff);
	rec[8] = 0;
	rec[9] = 0;
	if (pc_read(img, off, rec + KEXEC_CMD_HDR_SIZE, len))
		return -PC_E_BOUNDS;
	return (long)(KEXEC_CMD_HDR_SIZE + len);
}

/*
 * Sending a plan: the same code for the BPF program and the host model.
 * The includer defines PC_SINK (the kernel's handle) and PC_SEND(sink, rec,
 * n) (one bpf_buffer_parser() call: < 0 = refused) before including this.
 */
#ifdef PC_SEND
/*
 * Signature checks the kernel's context asks for (sig_mode, EC's
 * sig_enforced), for every PE of the plan in container order, all before
 * the first COPY (ours concatenate several PEs' sections, so "before the
 * PE's COPY" means before any COPY):
 *   NONE  nothing;
 *   SIG   VERIFY_SIG must pass;
 *   IMA   VERIFY_SIG; if the kernel refuses it, IMA_CHECK with the PE's
 *         .ima blob must pass (no .ima: refused);
 *   other refused (EC: -EINVAL).
 * A refusal ends the run before any COPY, so nothing is loaded.
 */
PC_INLINE int pc_send_sig(const struct pc_buf *img, const struct pc_state *st, __u32 mode, __u8 *rec,
			  PC_SINK *sink)
{
	__u32 i;

	if (mode == KEXEC_SIG_NONE)
		return 0;
	if (mode != KEXEC_SIG_SIG && mode != KEXEC_SIG_IMA)
		return -PC_E_SIG_MODE;
	for (i = 0; i < PC_MAX_PES; i++) {
		const struct pc_pe *pe;
		long n;

		if (i >= st->npe)
			break;
		pe = &st->pe[i];
		n = pc_emit_sig(img, pe, KEXEC_BPF_CMD_VERIFY_SIG, rec);
		if (n < 0)
			return (int)n;
		if (PC_SEND(sink, rec, n) >= 0)
			continue;
		if (mode != KEXEC_SIG_IMA || pe->imaLen == 0)
			return -PC_E_SIGNATURE;
		n = pc_emit_sig(img, pe, KEXEC_BPF_CMD_IMA_CHECK, rec);
		if (n < 0)
			return (int)n;
		if (PC_SEND(sink, rec, n) < 0)
			return -PC_E_SIGNATURE;
	}
	return 0;
}

/* Everything a successful plan asks of the kernel: the signature checks,
 * then each planned command; stops at the first refusal. */
PC_INLINE int pc_send_plan(const struct pc_buf *img, struct pc_state *st, __u32 mode, __u8 *rec,
			   PC_SINK *sink)
{
	__u32 i;
	int err = pc_send_sig(img, st, mode, rec, sink);

	if (err)
		return err;
	for (i = 0; i < PC_MAX_CMDS; i++) {
		long n;

		if (i >= st->ncmd)
			break;
		n = pc_emit(img, st, &st->cmd[i], rec);
		if (n < KEXEC_CMD_HDR_SIZE || n > (long)PC_REC_SIZE)
			return n < 0 ? (int)n : -PC_E_INTERNAL;
		if (PC_SEND(sink, rec, n) < 0)
			return -PC_E_KERNEL;
	}
	return 0;
}
#endif /* PC_SEND */

#ifndef __bpf__
PC_INLINE const char *pc_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case PC_OK: return "success";
	case PC_E_SHORT: return "buffer too short";
	case PC_E_BOUNDS: return "offset or size outside the buffer";
	case PC_E_MAGIC: return "not an ELF64 little-endian container";
	case PC_E_ELF: return "malformed ELF header or section table";
	case PC_E_SECTION: return "unknown, misplaced or misnumbered container section";
	case PC_E_TOO_MANY: return "too many sections";
	case PC_E_NO_PE: return "container holds no PE";
	case PC_E_PE: return "malformed PE header";
	case PC_E_PE_SECTION: return "PE section outside the image";
	case PC_E_DUPLICATE: return "duplicate PE section";
	case PC_E_NO_KERNEL: return "UKI has no .linux";
	case PC_E_ADDON_LINUX: return "addon carries .linux";
	case PC_E_PROFILE: return "profile not available";
	case PC_E_SELECT: return "malformed .select";
	case PC_E_NO_INITRD: return "no initrd (the kernel side requires one)";
	case PC_E_TOO_BIG: return "payload too big";
	case PC_E_CMDLINE: return "command line too long";
	case PC_E_FAULT: return "read fault";
	case PC_E_ZBOOT: return "malformed zboot header";
	case PC_E_INTERNAL: return "internal error";
	case PC_E_KERNEL: return "kernel refused a command";
	case PC_E_SIG_MODE: return "unknown signature mode in the kernel's context";
	case PC_E_SIGNATURE: return "the kernel refused a PE's signature (VERIFY_SIG, IMA_CHECK)";
	}
	return "unknown error";
}
#endif
