/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Parsing core, part 3: one PE (section table, profiles, .cmdline trimming).
 * Rules in parse_core.h.
 */

#include "pc_base.h"

PC_INLINE int pc_kind_of(__u64 n8)
{
	if (n8 == PC_NAME_LINUX)
		return PC_K_LINUX;
	if (n8 == PC_NAME_INITRD)
		return PC_K_INITRD;
	if (n8 == PC_NAME_CMDLINE)
		return PC_K_CMDLINE;
	if (n8 == PC_NAME_UCODE)
		return PC_K_UCODE;
	return -1;
}

PC_INLINE int pc_is_space(__u8 ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

struct pc_trim_ctx {
	const struct pc_buf *img;
	struct pc_state *st;
	__u64 off;
	__u64 len;
	__u64 start;
	__u64 end;
	__u32 seen;
	__u32 nul;
};

/* One byte of a .cmdline; returns 1 to stop. A step of its own so the BPF
 * build drives it with bpf_loop(): the verifier checks this small body
 * once, where a chunk with a per-byte loop inside made it track every
 * combination of first and last non-space position (past 1M instructions
 * on a 6.18 verifier). Reading byte by byte costs at most 4096 small
 * reads per command line at run time. */
PC_INLINE int pc_trim_byte(__u32 i, struct pc_trim_ctx *t)
{
	__u8 ch;
	__u64 k = i;

	if (k >= t->len || k >= PC_CMDLINE_MAX)
		return 1;
	if (pc_read(t->img, t->off + k, &ch, 1))
		return pc_step_fail(t->st, -PC_E_BOUNDS);
	if (ch == 0) {
		t->nul = 1;
		return 1;
	}
	if (!pc_is_space(ch)) {
		if (!t->seen)
			t->start = k;
		t->seen = 1;
		t->end = k + 1;
	}
	return 0;
}

PC_LOOP_CB(pc_trim_byte, struct pc_trim_ctx)

/* Cut at the first NUL, drop leading and trailing whitespace. */
PC_INLINE int pc_trim_cmdline(const struct pc_buf *img, struct pc_state *st, struct pc_ext *e)
{
	struct pc_trim_ctx t;

	if (!e->present)
		return 0;
	t.img = img;
	t.st = st;
	t.off = e->off;
	t.len = e->len;
	t.start = 0;
	t.end = 0;
	t.seen = 0;
	t.nul = 0;
	st->stepErr = 0;
	PC_LOOP(PC_CMDLINE_MAX, pc_trim_byte, &t);
	if (st->stepErr)
		return st->stepErr;
	if (!t.nul && e->len > PC_CMDLINE_MAX)
		return -PC_E_CMDLINE;
	if (t.end < t.start)
		return -PC_E_INTERNAL;
	e->off += t.start;
	e->len = (__u32)(t.end - t.start);
	return 0;
}

struct pc_pe_ctx {
	const struct pc_buf *img;
	struct pc_state *st;
	__u64 base, size, tab;
	__u32 idx, nsec;
};

/* One section header of a PE; returns 1 to stop. */
PC_INLINE int pc_pe_section(__u32 j, struct pc_pe_ctx *x)
{
	__u8 sh[40];
	__u32 vsz, rsz, rptr, len, which;
	__u64 n8;
	int kind;
	struct pc_ext *slot;

	if (j >= x->nsec)
		return 1;
	PC_BARRIER_VAR(j);
	if (j >= PC_PE_SCAN_MAX)
		return 1;
	if (pc_read(x->img, x->base + x->tab + (__u64)j * 40, sh, 40))
		return pc_step_fail(x->st, -PC_E_PE);
	n8 = pc_le64(sh);
	rsz = pc_le32(sh + 16);
	rptr = pc_le32(sh + 20);
	/* every section's raw data inside the PE, in table order, no
	 * overlaps (the engine's PE reader refuses the same files) */
	if (rsz) {
		if (rptr > x->size || rsz > x->size - rptr || rptr < x->st->scanPrevEnd)
			return pc_step_fail(x->st, -PC_E_PE_SECTION);
		x->st->scanPrevEnd = (__u64)rptr + rsz;
	}
	if (n8 == PC_NAME_PROFILE) {
		if (x->idx != 0)
			return pc_step_fail(x->st, -PC_E_PROFILE);
		x->st->scanScope = (__s32)x->st->scanNprof;
		x->st->scanNprof++;
		return 0;
	}
	kind = pc_kind_of(n8);
	if (kind < 0)
		return 0;
	vsz = pc_le32(sh + 8);
	len = (vsz != 0 && vsz < rsz) ? vsz : rsz;
	if (rptr > x->size || len > x->size - rptr)
		return pc_step_fail(x->st, -PC_E_PE_SECTION);
	if (x->st->scanScope < 0)
		which = 0;
	else if (x->st->scanScope == x->st->select)
		which = 1;
	else
		return 0;
	PC_BARRIER_VAR(kind);
	if (kind >= PC_NKIND)
		return 0;
	slot = &x->st->slot[which & 1][kind];
	if (slot->present)
		return pc_step_fail(x->st, -PC_E_DUPLICATE);
	slot->off = x->base + rptr;
	slot->len = len;
	slot->present = 1;
	return 0;
}

PC_LOOP_CB(pc_pe_section, struct pc_pe_ctx)

PC_INLINE int pc_parse_pe(const struct pc_buf *img, struct pc_state *st, __u32 idx)
{
	__u8 dos[4];
	__u8 coff[24];
	__u32 lfanew, k;
	struct pc_pe_ctx x;
	struct pc_pe *pe;

	PC_BARRIER_VAR(idx);
	if (idx >= PC_MAX_PES)
		return -PC_E_INTERNAL;
	pe = &st->pe[idx];
	x.img = img;
	x.st = st;
	x.idx = idx;
	x.base = pe->off;
	x.size = pe->size;
	st->scanPrevEnd = 0;
	st->scanNprof = 0;
	st->scanScope = -1;
	for (k = 0; k < PC_NKIND; k++) {
		st->slot[0][k].present = 0;
		st->slot[1][k].present = 0;
	}

	/* small reads: three nested bpf_loop frames share a 512-byte stack */
	if (x.size < 64 || pc_read(img, x.base, dos, 2))
		return -PC_E_PE;
	if (dos[0] != 'M' || dos[1] != 'Z')
		return -PC_E_PE;
	if (pc_read(img, x.base + 0x3c, dos, 4))
		return -PC_E_PE;
	lfanew = pc_le32(dos);
	if (lfanew > x.size || 24 > x.size - lfanew)
		return -PC_E_PE;
	if (pc_read(img, x.base + lfanew, coff, 24))
		return -PC_E_PE;
	if (coff[0] != 'P' || coff[1] != 'E' || coff[2] != 0 || coff[3] != 0)
		return -PC_E_PE;
	x.nsec = pc_le16(coff + 6);
	if (x.nsec == 0)
		return -PC_E_PE;
	if (x.nsec > PC_PE_SCAN_MAX)
		return -PC_E_TOO_MANY;
	x.tab = (__u64)lfanew + 24 + pc_le16(coff + 20);
	if (x.tab > x.size || (__u64)x.nsec * 40 > x.size - x.tab)
		return -PC_E_PE;

	st->stepErr = 0;
	PC_LOOP(PC_PE_SCAN_MAX, pc_pe_section, &x);
	if (st->stepErr)
		return st->stepErr;

	if (idx == 0) {
		st->nprofiles = st->scanNprof;
		if (st->select >= 0 && (__u32)st->select >= st->scanNprof &&
		    !(st->scanNprof == 0 && st->select == 0))
			return -PC_E_PROFILE;
	}
	for (k = 0; k < PC_NKIND; k++) {
		struct pc_ext *src = st->slot[1][k].present ? &st->slot[1][k] : &st->slot[0][k];

		pe->ext[k].off = src->off;
		pe->ext[k].len = src->len;
		pe->ext[k].present = src->present;
	}
	return pc_trim_cmdline(img, st, &pe->ext[PC_K_CMDLINE]);
}
