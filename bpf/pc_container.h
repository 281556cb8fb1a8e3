/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Parsing core, part 2: the image container (ELF sections .pe.N, .ima,
 * .select). Rules in parse_core.h.
 */

#include "pc_base.h"

PC_INLINE __u32 pc_pe_number(const __u8 *name)
{
	__u32 v = 0, i;

	for (i = 4; i < 8; i++) {
		__u8 ch = name[i];

		if (ch == 0)
			break;
		if (ch < '0' || ch > '9' || i > 5)
			return 0;
		v = v * 10 + (ch - '0');
	}
	if (i == 4 || (name[4] == '0'))
		return 0;
	return v;
}

PC_INLINE int pc_parse_select(const struct pc_buf *img, __u64 off, __u64 size, __s32 *out)
{
	__u8 d[4] = { 0, 0, 0, 0 };
	__u32 i, v = 0, digits = 0, end = 0;

	if (size == 0 || size > 4)
		return -PC_E_SELECT;
	PC_BARRIER_VAR(size);
	if (size > 4)
		return -PC_E_SELECT;
	if (pc_read(img, off, d, size))
		return -PC_E_SELECT;
	for (i = 0; i < 4; i++) {
		if (i >= size)
			break;
		if (end)
			return -PC_E_SELECT; /* something after the terminator */
		if (d[i] >= '0' && d[i] <= '9') {
			if (digits >= 3)
				return -PC_E_SELECT;
			v = v * 10 + (d[i] - '0');
			digits++;
		} else if ((d[i] == 0 || d[i] == '\n') && digits) {
			end = 1;
		} else {
			return -PC_E_SELECT;
		}
	}
	if (!digits)
		return -PC_E_SELECT;
	*out = (__s32)v;
	return 0;
}

struct pc_walk_ctx {
	const struct pc_buf *img;
	struct pc_state *st;
	__u64 shoff, stroff, strsz;
	__u32 shnum, shstrndx;
};

/* One container section (index i + 1); returns 1 to stop. A bpf_loop()
 * step with its one piece of running state (the previous section was a
 * .pe.N) in struct pc_state, for the reason given there: unrolled, the
 * walk ended in a handful of states, and the verifier checked every PE
 * after it once per state. */
PC_INLINE int pc_walk_section(__u32 n, struct pc_walk_ctx *x)
{
	__u8 sh[64];
	__u8 name[8];
	__u64 i = (__u64)n + 1, nameOff, off, size, n8;
	const struct pc_buf *img = x->img;
	struct pc_state *st = x->st;
	int err;

	if (i >= PC_SCAN_MAX || i >= x->shnum)
		return 1;
	if (i == x->shstrndx)
		return 0;
	if (pc_read(img, x->shoff + i * 64, sh, 64))
		return pc_step_fail(x->st, -PC_E_ELF);
	nameOff = pc_le32(sh);
	if (nameOff > x->strsz || 8 > x->strsz - nameOff || pc_read(img, x->stroff + nameOff, name, 8))
		return pc_step_fail(x->st, -PC_E_SECTION);
	n8 = pc_le64(name);
	off = pc_le64(sh + 24);
	size = pc_le64(sh + 32);
	if (off > img->size || size > img->size - off)
		return pc_step_fail(x->st, -PC_E_BOUNDS);

	if ((n8 & PC_MASK4) == PC_PREFIX_PE) {
		__u64 k = st->npe; /* 64-bit: see pc_trim_byte() */

		err = 0;
		if (st->select >= 0)
			err = -PC_E_SECTION; /* .select must come last */
		else if (k >= PC_MAX_PES)
			err = -PC_E_TOO_MANY;
		else if (pc_pe_number(name) != k + 1)
			err = -PC_E_SECTION;
		else if (size == 0)
			err = -PC_E_BOUNDS;
		else if (size > 0xffffffffULL)
			err = -PC_E_TOO_BIG;
		if (err)
			return pc_step_fail(x->st, err);
		PC_BARRIER_VAR(k);
		if (k >= PC_MAX_PES)
			return pc_step_fail(x->st, -PC_E_INTERNAL);
		st->pe[k].off = off;
		st->pe[k].size = size;
		st->pe[k].imaOff = 0;
		st->pe[k].imaLen = 0;
		st->npe = (__u32)k + 1;
		st->walkLastWasPe = 1;
	} else if ((n8 & PC_MASK5) == PC_NAME_IMA) {
		__u64 k = st->npe; /* 64-bit: see pc_trim_byte() */

		if (!st->walkLastWasPe)
			return pc_step_fail(x->st, -PC_E_SECTION);
		PC_BARRIER_VAR(k);
		if (k == 0 || k > PC_MAX_PES)
			return pc_step_fail(x->st, -PC_E_INTERNAL);
		/* the file's security.ima, for IMA_CHECK (MK: <= 1024 bytes) */
		if (size == 0 || size > PC_IMA_MAX)
			return pc_step_fail(x->st, -PC_E_SECTION);
		st->pe[k - 1].imaOff = off;
		st->pe[k - 1].imaLen = (__u32)size;
		st->walkLastWasPe = 0;
	} else if (n8 == PC_NAME_SELECT) {
		__s32 v = -1;

		if (st->select >= 0 || st->npe == 0)
			return pc_step_fail(x->st, -PC_E_SECTION);
		err = pc_parse_select(img, off, size, &v);
		if (err)
			return pc_step_fail(x->st, err);
		st->select = v;
		st->walkLastWasPe = 0;
	} else 
		return pc_step_fail(x->st, -PC_E_SECTION);
	return 0;
}

PC_LOOP_CB(pc_walk_section, struct pc_walk_ctx)

PC_INLINE int pc_walk_container(const struct pc_buf *img, struct pc_state *st)
{
	__u8 sh[64]; /* the ELF header first, then .shstrtab's header */
	__u8 last;
	struct pc_walk_ctx x;

	if (img->size < 64)
		return -PC_E_SHORT;
	if (pc_read(img, 0, sh, 64))
		return -PC_E_SHORT;
	if (sh[0] != 0x7f || sh[1] != 'E' || sh[2] != 'L' || sh[3] != 'F')
		return -PC_E_MAGIC;
	if (sh[4] != 2 /* ELFCLASS64 */ || sh[5] != 1 /* ELFDATA2LSB */)
		return -PC_E_MAGIC;
	x.img = img;
	x.st = st;
	x.shoff = pc_le64(sh + 40);
	x.shnum = pc_le16(sh + 60);
	x.shstrndx = pc_le16(sh + 62);
	if (pc_le16(sh + 58) != 64 || x.shnum < 2 || x.shstrndx == 0 || x.shstrndx >= x.shnum)
		return -PC_E_ELF;
	if (x.shoff > img->size || (__u64)x.shnum * 64 > img->size - x.shoff)
		return -PC_E_ELF;
	/* a section index past the scan window would be invisible: refuse */
	if (x.shnum > PC_SCAN_MAX + 1 || (x.shnum == PC_SCAN_MAX + 1 && x.shstrndx != PC_SCAN_MAX))
		return -PC_E_TOO_MANY;

	if (pc_read(img, x.shoff + (__u64)x.shstrndx * 64, sh, 64))
		return -PC_E_ELF;
	x.stroff = pc_le64(sh + 24);
	x.strsz = pc_le64(sh + 32);
	if (x.strsz == 0 || x.stroff > img->size || x.strsz > img->size - x.stroff)
		return -PC_E_ELF;
	if (pc_read(img, x.stroff + x.strsz - 1, &last, 1) || last != 0)
		return -PC_E_ELF;

	st->walkLastWasPe = 0;
	st->stepErr = 0;
	PC_LOOP(PC_SCAN_MAX - 1, pc_walk_section, &x);
	if (st->stepErr)
		return st->stepErr;
	if (st->npe == 0)
		return -PC_E_NO_PE;
	return 0;
}
