/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Parsing core, part 4: the plans: composition of UKI + addons into COPY
 * KERNEL/INITRD/CMDLINE + DONE, and the zboot layer. Rules in parse_core.h.
 */

#include "pc_container.h"
#include "pc_pe.h"

struct pc_compose_ctx {
	struct pc_state *st;
	struct pc_cmd *initrd;
	struct pc_cmd *cmdline;
	__u32 npe;
	__u32 any;
};

/* Step s of the composition: phase s / PC_MAX_PES (0: .ucode in reverse
 * container order, 1: .initrd in order, 2: .cmdline in order), PE s % PC_MAX_PES.
 * One flat bpf_loop instead of three nested-in-inline loops. */
PC_INLINE int pc_compose_step(__u32 s, struct pc_compose_ctx *x)
{
	__u32 phase = s / PC_MAX_PES, k = s % PC_MAX_PES;
	__u64 i; /* 64-bit index: see pc_trim_chunk() */
	struct pc_ext *e;
	int err = 0;

	if (phase > 2)
		return 1;
	if (k >= x->npe)
		return 0;
	i = phase == 0 ? (__u64)(x->npe - 1 - k) : (__u64)k;
	PC_BARRIER_VAR(i);
	if (i >= PC_MAX_PES)
		return 1;
	if (phase == 0) {
		e = &x->st->pe[i].ext[PC_K_UCODE];
		if (e->present)
			err = pc_add_part(x->initrd, e->off, e->len, PC_PAYLOAD_MAX);
	} else if (phase == 1) {
		e = &x->st->pe[i].ext[PC_K_INITRD];
		if (e->present)
			err = pc_add_part(x->initrd, e->off, e->len, PC_PAYLOAD_MAX);
	} else {
		e = &x->st->pe[i].ext[PC_K_CMDLINE];
		if (!e->present || e->len == 0)
			return 0;
		if (x->any)
			err = pc_add_fill(x->cmdline, ' ', PC_CMDLINE_MAX - 1);
		if (!err)
			err = pc_add_part(x->cmdline, e->off, e->len, PC_CMDLINE_MAX - 1);
		x->any = 1;
	}
	if (err)
		return pc_step_fail(x->st, err);
	return 0;
}

PC_LOOP_CB(pc_compose_step, struct pc_compose_ctx)

struct pc_addon_ctx {
	struct pc_state *st;
	__u32 npe;
};

PC_INLINE int pc_check_addon(__u32 n, struct pc_addon_ctx *x)
{
	__u64 i = n;

	if (i == 0)
		return 0;
	if (i >= x->npe)
		return 1;
	PC_BARRIER_VAR(i);
	if (i >= PC_MAX_PES)
		return 1;
	if (x->st->pe[i].ext[PC_K_LINUX].present)
		return pc_step_fail(x->st, -PC_E_ADDON_LINUX);
	return 0;
}

PC_LOOP_CB(pc_check_addon, struct pc_addon_ctx)

PC_INLINE int pc_compose(struct pc_state *st)
{
	struct pc_compose_ctx x;
	struct pc_addon_ctx a;
	struct pc_cmd *c;
	struct pc_pe *uki = &st->pe[0];
	__u32 npe = st->npe;
	int err;

	if (npe == 0 || npe > PC_MAX_PES)
		return -PC_E_NO_PE;
	if (!uki->ext[PC_K_LINUX].present || uki->ext[PC_K_LINUX].len == 0)
		return -PC_E_NO_KERNEL;
	a.st = st;
	a.npe = npe;
	st->stepErr = 0;
	PC_LOOP(PC_MAX_PES, pc_check_addon, &a);
	if (st->stepErr)
		return st->stepErr;

	c = pc_new_cmd(st, 0, KEXEC_BPF_CMD_COPY, KEXEC_BPF_SUBCMD_KERNEL, KEXEC_BPF_PIPELINE_FILL);
	if (!c)
		return -PC_E_INTERNAL;
	err = pc_add_part(c, uki->ext[PC_K_LINUX].off, uki->ext[PC_K_LINUX].len, PC_PAYLOAD_MAX);
	if (err)
		return err;
	x.st = st;
	x.npe = npe;
	x.any = 0;
	x.initrd = pc_new_cmd(st, 1, KEXEC_BPF_CMD_COPY, KEXEC_BPF_SUBCMD_INITRD,
			      KEXEC_BPF_PIPELINE_INVALID);
	x.cmdline = pc_new_cmd(st, 2, KEXEC_BPF_CMD_COPY, KEXEC_BPF_SUBCMD_CMDLINE,
			       KEXEC_BPF_PIPELINE_INVALID);
	if (!x.initrd || !x.cmdline)
		return -PC_E_INTERNAL;
	st->stepErr = 0;
	PC_LOOP(3 * PC_MAX_PES, pc_compose_step, &x);
	if (st->stepErr)
		return st->stepErr;
	if (x.initrd->total == 0)
		return -PC_E_NO_INITRD;
	err = pc_add_fill(x.cmdline, 0, PC_CMDLINE_MAX);
	if (err)
		return err;

	if (!pc_new_cmd(st, 3, KEXEC_BPF_CMD_DONE, KEXEC_BPF_SUBCMD_INVALID, KEXEC_BPF_PIPELINE_INVALID))
		return -PC_E_INTERNAL;
	return 0;
}

struct pc_plan_ctx {
	const struct pc_buf *img;
	struct pc_state *st;
};

/* One PE of the container: sections, profile, cmdline trim. */
PC_INLINE int pc_plan_pe(__u32 i, struct pc_plan_ctx *x)
{
	int err;

	if (i >= x->st->npe)
		return 1;
	PC_BARRIER_VAR(i);
	if (i >= PC_MAX_PES)
		return 1;
	err = pc_parse_pe(x->img, x->st, i);
	if (err)
		return pc_step_fail(x->st, err);
	return 0;
}

PC_LOOP_CB(pc_plan_pe, struct pc_plan_ctx)

/* First layer: image container -> COPY KERNEL/INITRD/CMDLINE, DONE. */
PC_INLINE int pc_uki_plan(const struct pc_buf *img, struct pc_state *st)
{
	struct pc_plan_ctx x;
	int err;

	pc_reset(st);
	err = pc_walk_container(img, st);
	if (err)
		return err;
	x.img = img;
	x.st = st;
	st->stepErr = 0;
	PC_LOOP(PC_MAX_PES, pc_plan_pe, &x);
	if (st->stepErr)
		return st->stepErr;
	err = pc_compose(st);
	if (err)
		st->ncmd = 0; /* emit nothing on error */
	return err;
}

/* Nested layer: zboot PE -> DECOMPRESS KERNEL, DONE; anything else -> DONE. */
PC_INLINE int pc_zboot_plan(const struct pc_buf *img, struct pc_state *st)
{
	__u8 h[64];
	__u64 off, size;
	struct pc_cmd *c;
	int err;

	pc_reset(st);
	if (img->size >= 64 && pc_read(img, 0, h, 64) == 0 && h[0] == 'M' && h[1] == 'Z' &&
	    h[4] == 'z' && h[5] == 'i' && h[6] == 'm' && h[7] == 'g') {
		off = pc_le32(h + 8);
		size = pc_le32(h + 12);
		if (size == 0 || off > img->size || size > img->size - off)
			return -PC_E_ZBOOT;
		/* the zboot PE itself is what a signature mode checks (ZB) */
		st->pe[0].off = 0;
		st->pe[0].size = img->size;
		st->pe[0].imaOff = 0;
		st->pe[0].imaLen = 0;
		st->npe = 1;
		c = pc_new_cmd(st, 0, KEXEC_BPF_CMD_DECOMPRESS, KEXEC_BPF_SUBCMD_KERNEL,
			       KEXEC_BPF_PIPELINE_INVALID);
		if (!c)
			return -PC_E_INTERNAL;
		err = pc_add_part(c, off, (__u32)size, PC_PAYLOAD_MAX);
		if (err) {
			st->ncmd = 0;
			st->npe = 0;
			return err;
		}
		if (!pc_new_cmd(st, 1, KEXEC_BPF_CMD_DONE, KEXEC_BPF_SUBCMD_INVALID,
				KEXEC_BPF_PIPELINE_INVALID))
			return -PC_E_INTERNAL;
		return 0;
	}
	if (!pc_new_cmd(st, 0, KEXEC_BPF_CMD_DONE, KEXEC_BPF_SUBCMD_INVALID, KEXEC_BPF_PIPELINE_INVALID))
		return -PC_E_INTERNAL;
	return 0;
}
