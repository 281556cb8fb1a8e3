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

PC_INLINE int pc_walk_container(const struct pc_buf *img, struct pc_state *st)
{
	__u8 sh[64]; /* the ELF header first, then each section header */
	__u8 name[8];
	__u64 shoff, stroff, strsz;
	__u32 shnum, shstrndx, i;
	int lastWasPe = 0, err;

	if (img->size < 64)
		return -PC_E_SHORT;
	if (pc_read(img, 0, sh, 64))
		return -PC_E_SHORT;
	if (sh[0] != 0x7f || sh[1] != 'E' || sh[2] != 'L' || sh[3] != 'F')
		return -PC_E_MAGIC;
	if (sh[4] != 2 /* ELFCLASS64 */ || sh[5] != 1 /* ELFDATA2LSB */)
		return -PC_E_MAGIC;
	shoff = pc_le64(sh + 40);
	shnum = pc_le16(sh + 60);
	shstrndx = pc_le16(sh + 62);
	if (pc_le16(sh + 58) != 64 || shnum < 2 || shstrndx == 0 || shstrndx >= shnum)
		return -PC_E_ELF;
	if (shoff > img->size || (__u64)shnum * 64 > img->size - shoff)
		return -PC_E_ELF;
	/* a section index past the scan window would be invisible: refuse */
	if (shnum > PC_SCAN_MAX + 1 || (shnum == PC_SCAN_MAX + 1 && shstrndx != PC_SCAN_MAX))
		return -PC_E_TOO_MANY;

	if (pc_read(img, shoff + (__u64)shstrndx * 64, sh, 64))
		return -PC_E_ELF;
	stroff = pc_le64(sh + 24);
	strsz = pc_le64(sh + 32);
	if (strsz == 0 || stroff > img->size || strsz > img->size - stroff)
		return -PC_E_ELF;
	if (pc_read(img, stroff + strsz - 1, name, 1) || name[0] != 0)
		return -PC_E_ELF;

	for (i = 1; i < PC_SCAN_MAX; i++) {
		__u64 nameOff, off, size, n8;

		if (i >= shnum)
			break;
		if (i == shstrndx)
			continue;
		if (pc_read(img, shoff + (__u64)i * 64, sh, 64))
			return -PC_E_ELF;
		nameOff = pc_le32(sh);
		if (nameOff > strsz || 8 > strsz - nameOff)
			return -PC_E_SECTION;
		if (pc_read(img, stroff + nameOff, name, 8))
			return -PC_E_SECTION;
		n8 = pc_le64(name);
		off = pc_le64(sh + 24);
		size = pc_le64(sh + 32);
		if (off > img->size || size > img->size - off)
			return -PC_E_BOUNDS;

		if ((n8 & PC_MASK4) == PC_PREFIX_PE) {
			__u32 n = st->npe;

			if (st->select >= 0)
				return -PC_E_SECTION; /* .select must come last */
			if (n >= PC_MAX_PES)
				return -PC_E_TOO_MANY;
			if (pc_pe_number(name) != n + 1)
				return -PC_E_SECTION;
			if (size == 0)
				return -PC_E_BOUNDS;
			if (size > 0xffffffffULL)
				return -PC_E_TOO_BIG;
			st->pe[n].off = off;
			st->pe[n].size = size;
			st->pe[n].imaOff = 0;
			st->pe[n].imaLen = 0;
			st->npe = n + 1;
			lastWasPe = 1;
		} else if ((n8 & PC_MASK5) == PC_NAME_IMA) {
			__u64 n = st->npe; /* 64-bit: see pc_trim_chunk() */

			if (!lastWasPe)
				return -PC_E_SECTION;
			PC_BARRIER_VAR(n);
			if (n == 0 || n > PC_MAX_PES)
				return -PC_E_INTERNAL;
			/* the file's security.ima, for IMA_CHECK (MK: <= 1024 bytes) */
			if (size == 0 || size > PC_IMA_MAX)
				return -PC_E_SECTION;
			st->pe[n - 1].imaOff = off;
			st->pe[n - 1].imaLen = (__u32)size;
			lastWasPe = 0;
		} else if (n8 == PC_NAME_SELECT) {
			__s32 v = -1;

			if (st->select >= 0 || st->npe == 0)
				return -PC_E_SECTION;
			err = pc_parse_select(img, off, size, &v);
			if (err)
				return err;
			st->select = v;
			lastWasPe = 0;
		} else {
			return -PC_E_SECTION;
		}
	}
	if (st->npe == 0)
		return -PC_E_NO_PE;
	return 0;
}
