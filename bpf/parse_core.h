/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Byte-level parsing core shared by the BPF parsers and the host.
 *
 * The same code runs in the kernel (clang -target bpf, inside the sleepable
 * fentry program) and on the host (gcc/g++/clang, unit tests and fuzzer), so
 * what the tests prove about malformed input holds for what the kernel runs.
 * Constraints that follow from the BPF side:
 *   - no libc: only <linux/types.h>; memcpy is __builtin_memcpy on the host and
 *     bpf_probe_read_kernel() in BPF, both behind pc_read()/pc_copy(), which
 *     bounds-check every access against the buffer size first;
 *   - every loop has a constant trip bound (the verifier must see it end);
 *   - no large stack objects: all state lives in struct pc_state, which the
 *     BPF program keeps in .bss and the host allocates;
 *   - nothing is emitted until the whole plan is built, so a malformed image
 *     produces no command at all (never a partial load, never CMD_DONE).
 *
 * Rules (also in bpf/README.md, keep both in sync):
 *
 * Image container (parsing_buf[0] of the first layer): ELF64 little endian,
 * ELF header fields sane (e_shentsize 64, e_shstrndx < e_shnum, section header
 * table and .shstrtab inside the buffer, .shstrtab NUL-terminated). Section
 * indices 1..15 are scanned (at most 15 sections besides .shstrtab; more is an
 * error, never silently ignored). Each section name is read as 8 bytes that
 * must lie inside .shstrtab. Accepted names, in this order:
 *   .pe.1 .pe.2 ... .pe.N   the UKI first, then addons in systemd-stub order;
 *                           numbered 1..N without gaps, non-empty, < 4 GiB
 *   .ima                    optional, directly after a .pe.N; ignored here
 *                           (signature mode NONE), accepted for the writer
 *   .select                 optional, at most once, after the last .pe.N:
 *                           the requested profile index of the UKI as 1-3
 *                           ASCII decimal digits, optionally followed by one
 *                           NUL or '\n'. Absent = no profile selected: only
 *                           the UKI's base sections are used.
 * Any other name is an error.
 *
 * PE (each .pe.N): "MZ", e_lfanew, "PE\0\0", COFF header, section table after
 * the optional header; NumberOfSections 1..32 (more is an error: a section
 * past the scan window would be silently missed; the drafts' parser scans
 * 16, ours 32 because a stub plus a multi-profile UKI needs more). Section data =
 * [PointerToRawData, + min(VirtualSize, SizeOfRawData)) (SizeOfRawData alone
 * when VirtualSize is 0). Every section's raw data [PointerToRawData,
 * + SizeOfRawData) must lie inside the PE, and sections with raw data must be
 * in ascending file order without overlap. Names (exact 8 bytes):
 * .linux .initrd .cmdline .ucode .profile; others are ignored.
 *
 * Profiles (UKI only): sections before the first .profile are the base;
 * the sections after the k-th .profile (0-based) up to the next .profile are
 * profile k. With .select = k the profile's .linux/.initrd/.cmdline/.ucode
 * replace the base's of the same name; k must be < number of profiles (k = 0
 * on a UKI without profiles means the base). A name twice in the same scope
 * is an error. An addon with .profile is an error.
 *
 * Composition (same as the classic scheme, DESIGN.md section 3):
 *   kernel  = the UKI's resolved .linux (required, non-empty). An addon with
 *             .linux is refused.
 *   initrd  = .ucode of every PE in reverse container order (last addon
 *             first, the UKI last), then the UKI's .initrd, then the addons'
 *             .initrd in container order; plain concatenation, no padding.
 *             Must be non-empty (the kernel side requires an initrd).
 *   cmdline = the UKI's resolved .cmdline, then each addon's .cmdline; each
 *             part is cut at its first NUL and stripped of leading and
 *             trailing whitespace (space, \t, \n, \r); empty parts are skipped; the
 *             rest are joined with one space and a NUL is appended. At most
 *             PC_CMDLINE_MAX bytes including the NUL.
 * Commands: COPY KERNEL (PIPELINE_FILL, so a nested zboot parser gets the
 * .linux), COPY INITRD, COPY CMDLINE, DONE.
 *
 * zboot layer (parsing_buf[0] of the nested layer = the UKI's .linux): if it
 * starts with "MZ" and "zimg" at offset 4, DECOMPRESS KERNEL with the bytes
 * [payload offset, + payload size) from the zboot header, then DONE. Anything
 * else is passed through unchanged: DONE only (x86 bzImage, plain arm64 Image).
 */

#include "kexec_types.h"

#ifdef __bpf__
#define PC_INLINE static __always_inline
/* keep a bounds check on this very register (clang may otherwise fold it
 * into a form the verifier cannot follow) */
#define PC_BARRIER_VAR(v) asm volatile("" : "+r"(v))
#else
#define PC_INLINE static inline
#define PC_BARRIER_VAR(v) ((void)0)
#endif

/*
 * Bounded loops whose body is a step function `int fn(__u32 i, type *ctx)`
 * returning 1 to stop. In BPF they run through bpf_loop(), so the verifier
 * checks each body once instead of unrolling every iteration of every
 * nesting level (the unrolled parser exceeded the 1M-instruction budget on a
 * 6.18 verifier); on the host they are plain for loops.
 */
#ifdef __bpf__
#define PC_LOOP_CB(fn, type)                                  \
	static long fn##_cb(__u32 i, void *ctx)               \
	{                                                     \
		return fn(i, (type *)ctx);                    \
	}
#define PC_LOOP(n, fn, ctx) bpf_loop((n), fn##_cb, (ctx), 0)
#else
#define PC_LOOP_CB(fn, type)
#define PC_LOOP(n, fn, ctx)                                   \
	do {                                                  \
		for (__u32 i_ = 0; i_ < (__u32)(n); i_++)      \
			if (fn(i_, (ctx)))                    \
				break;                        \
	} while (0)
#endif

/* Limits. PC_PAYLOAD_MAX bounds one command's payload; the BPF record is
 * header + 2 * PC_PAYLOAD_MAX so that "offset < max && length <= max" (two
 * checks against constants, which the verifier can follow) keeps every copy
 * inside the record. */
#define PC_SCAN_MAX 16 /* container section indices 1..15 */
#define PC_MAX_PES 15
#define PC_PE_SCAN_MAX 32
#define PC_MAX_PARTS 31 /* struct pc_cmd = 512 bytes: power-of-two stride for the verifier */
#define PC_MAX_CMDS 4
#define PC_CMDLINE_MAX 4096
#define PC_CHUNK 32
#ifndef PC_PAYLOAD_MAX
#define PC_PAYLOAD_MAX ((__u64)128 * 1024 * 1024 - 4096)
#endif
#define PC_REC_SIZE (KEXEC_CMD_HDR_SIZE + 2 * PC_PAYLOAD_MAX)

enum pc_error {
	PC_OK = 0,
	PC_E_SHORT = 1,      /* buffer smaller than a header */
	PC_E_BOUNDS,         /* an offset/size points outside its buffer */
	PC_E_MAGIC,          /* not an ELF64 LE container */
	PC_E_ELF,            /* insane ELF header / section table */
	PC_E_SECTION,        /* unknown, misplaced or misnumbered container section */
	PC_E_TOO_MANY,       /* too many container or PE sections */
	PC_E_NO_PE,          /* container holds no .pe.N */
	PC_E_PE,             /* bad DOS/PE/COFF header */
	PC_E_PE_SECTION,     /* PE section data outside the PE */
	PC_E_DUPLICATE,      /* same section name twice in one scope */
	PC_E_NO_KERNEL,      /* UKI without (non-empty) .linux */
	PC_E_ADDON_LINUX,    /* addon carries .linux */
	PC_E_PROFILE,        /* profile index out of range, addon with .profile */
	PC_E_SELECT,         /* malformed .select */
	PC_E_NO_INITRD,      /* composed initrd empty (kernel side requires one) */
	PC_E_TOO_BIG,        /* payload over PC_PAYLOAD_MAX / cmdline over PC_CMDLINE_MAX */
	PC_E_CMDLINE,        /* .cmdline longer than PC_CMDLINE_MAX without NUL */
	PC_E_FAULT,          /* bpf_probe_read_kernel failed */
	PC_E_ZBOOT,          /* zboot header points outside the image */
	PC_E_INTERNAL,       /* plan inconsistent (bug) */
	PC_E_KERNEL,         /* the kernel refused a command (BPF side only) */
};

enum pc_kind {
	PC_K_LINUX = 0,
	PC_K_INITRD = 1,
	PC_K_CMDLINE = 2,
	PC_K_UCODE = 3,
	PC_NKIND = 4,
};

struct pc_buf {
	const __u8 *base;
	__u64 size;
};

struct pc_ext {
	__u64 off; /* absolute offset in the image buffer */
	__u32 len;
	__u32 present;
};

struct pc_part {
	__u64 src; /* absolute offset in the image buffer (data parts) */
	__u32 len;
	__u8 isFill; /* 1: len (<= 4) copies of fill instead of data */
	__u8 fill;
	__u16 pad;
};

struct pc_cmd {
	__u16 cmd;
	__u8 subcmd;
	__u8 pipeline;
	__u32 nparts;
	__u64 total;
	struct pc_part part[PC_MAX_PARTS];
};

struct pc_pe {
	__u64 off;
	__u64 size;
	struct pc_ext ext[PC_NKIND];
};

struct pc_state {
	__u32 npe;
	__s32 select; /* -1: no .select */
	__u32 nprofiles; /* of the UKI */
	__u32 ncmd;
	struct pc_pe pe[PC_MAX_PES];
	struct pc_ext slot[2][PC_NKIND]; /* scratch: base, selected profile */
	/* per-PE scan state; kept here rather than in the loop's stack context
	 * because the verifier tracks map values imprecisely, so the section
	 * loop's states converge instead of one per counter value */
	__u64 scanPrevEnd;
	__u32 scanNprof;
	__s32 scanScope;
	struct pc_cmd cmd[PC_MAX_CMDS];
};

/* 8-byte section names as little-endian u64, compared in one go */
#define PC_N8(a, b, c, d, e, f, g, h)                                      \
	((__u64)(__u8)(a) | (__u64)(__u8)(b) << 8 | (__u64)(__u8)(c) << 16 | \
	 (__u64)(__u8)(d) << 24 | (__u64)(__u8)(e) << 32 |                   \
	 (__u64)(__u8)(f) << 40 | (__u64)(__u8)(g) << 48 |                   \
	 (__u64)(__u8)(h) << 56)
#define PC_NAME_LINUX PC_N8('.', 'l', 'i', 'n', 'u', 'x', 0, 0)
#define PC_NAME_INITRD PC_N8('.', 'i', 'n', 'i', 't', 'r', 'd', 0)
#define PC_NAME_CMDLINE PC_N8('.', 'c', 'm', 'd', 'l', 'i', 'n', 'e')
#define PC_NAME_UCODE PC_N8('.', 'u', 'c', 'o', 'd', 'e', 0, 0)
#define PC_NAME_PROFILE PC_N8('.', 'p', 'r', 'o', 'f', 'i', 'l', 'e')
#define PC_NAME_SELECT PC_N8('.', 's', 'e', 'l', 'e', 'c', 't', 0)
#define PC_PREFIX_PE PC_N8('.', 'p', 'e', '.', 0, 0, 0, 0)
#define PC_NAME_IMA PC_N8('.', 'i', 'm', 'a', 0, 0, 0, 0)
#define PC_MASK4 ((__u64)0xffffffff)
#define PC_MASK5 ((__u64)0xffffffffff)

PC_INLINE __u16 pc_le16(const __u8 *p)
{
	return (__u16)(p[0] | (__u16)p[1] << 8);
}

PC_INLINE __u32 pc_le32(const __u8 *p)
{
	return (__u32)p[0] | (__u32)p[1] << 8 | (__u32)p[2] << 16 | (__u32)p[3] << 24;
}

PC_INLINE __u64 pc_le64(const __u8 *p)
{
	return (__u64)pc_le32(p) | (__u64)pc_le32(p + 4) << 32;
}

/* The one place that touches image bytes: bounds first, then copy. */
PC_INLINE int pc_read(const struct pc_buf *b, __u64 off, void *dst, __u64 len)
{
	if (off > b->size || len > b->size - off)
		return -PC_E_BOUNDS;
#ifdef __bpf__
	if (bpf_probe_read_kernel(dst, len, b->base + off))
		return -PC_E_FAULT;
#else
	if (len)
		__builtin_memcpy(dst, b->base + off, len);
#endif
	return 0;
}

PC_INLINE int pc_add_part(struct pc_cmd *c, __u64 src, __u32 len, __u64 limit)
{
	__u64 n = c->nparts;

	if (len == 0)
		return 0;
	PC_BARRIER_VAR(n);
	if (n >= PC_MAX_PARTS)
		return -PC_E_TOO_MANY;
	if (c->total > limit || (__u64)len > limit - c->total)
		return -PC_E_TOO_BIG;
	c->part[n].src = src;
	c->part[n].len = len;
	c->part[n].isFill = 0;
	c->part[n].fill = 0;
	c->part[n].pad = 0;
	c->nparts = (__u32)n + 1;
	c->total += len;
	return 0;
}

PC_INLINE int pc_add_fill(struct pc_cmd *c, __u8 fill, __u64 limit)
{
	__u64 n = c->nparts;

	PC_BARRIER_VAR(n);
	if (n >= PC_MAX_PARTS)
		return -PC_E_TOO_MANY;
	if (c->total >= limit)
		return -PC_E_TOO_BIG;
	c->part[n].src = 0;
	c->part[n].len = 1;
	c->part[n].isFill = 1;
	c->part[n].fill = fill;
	c->part[n].pad = 0;
	c->nparts = (__u32)n + 1;
	c->total += 1;
	return 0;
}

/* idx is a constant at every call site: a variable index into cmd[] (528-byte
 * elements before padding) defeated the verifier's bounds tracking. */
PC_INLINE struct pc_cmd *pc_new_cmd(struct pc_state *st, __u32 idx, __u16 cmd, __u8 subcmd,
				    __u8 pipeline)
{
	struct pc_cmd *c;

	if (idx >= PC_MAX_CMDS)
		return 0;
	c = &st->cmd[idx];
	c->cmd = cmd;
	c->subcmd = subcmd;
	c->pipeline = pipeline;
	c->nparts = 0;
	c->total = 0;
	st->ncmd = idx + 1;
	return c;
}

/* Only counters: every pe[] entry below npe is fully written before use
 * (a full clear compiles to memset, which BPF does not have). */
PC_INLINE void pc_reset(struct pc_state *st)
{
	st->npe = 0;
	st->select = -1;
	st->nprofiles = 0;
	st->ncmd = 0;
}

/* ".pe.N" -> N (1..99), 0 if the name is not of that form */
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
			st->npe = n + 1;
			lastWasPe = 1;
		} else if ((n8 & PC_MASK5) == PC_NAME_IMA) {
			if (!lastWasPe)
				return -PC_E_SECTION;
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
	__u64 off;
	__u32 len;
	__u32 start;
	__u32 end;
	__u32 seen;
	__u32 nul;
	__s32 err;
};

/* One PC_CHUNK slice of a .cmdline; returns 1 to stop. Kept as its own step
 * so the BPF build can drive it with bpf_loop(): unrolled into the program,
 * 4096 byte-wise branches exceed the verifier's jump-history limit. */
PC_INLINE int pc_trim_chunk(__u32 c, struct pc_trim_ctx *t)
{
	__u8 chunk[PC_CHUNK];
	__u64 n; /* 64-bit: a u32 length reaches the helper with stale upper bits */
	__u32 coff, k;

	if (c >= PC_CMDLINE_MAX / PC_CHUNK)
		return 1;
	coff = c * PC_CHUNK;
	if (coff >= t->len)
		return 1;
	n = (__u64)t->len - coff;
	if (n > PC_CHUNK)
		n = PC_CHUNK;
	PC_BARRIER_VAR(n);
	if (n > PC_CHUNK)
		return 1;
	if (pc_read(t->img, t->off + coff, chunk, n)) {
		t->err = -PC_E_BOUNDS;
		return 1;
	}
	for (k = 0; k < PC_CHUNK; k++) {
		if (k >= n)
			break;
		if (chunk[k] == 0) {
			t->nul = 1;
			return 1;
		}
		if (!pc_is_space(chunk[k])) {
			if (!t->seen)
				t->start = coff + k;
			t->seen = 1;
			t->end = coff + k + 1;
		}
	}
	return 0;
}

PC_LOOP_CB(pc_trim_chunk, struct pc_trim_ctx)

/* Cut at the first NUL, drop leading and trailing whitespace. */
PC_INLINE int pc_trim_cmdline(const struct pc_buf *img, struct pc_ext *e)
{
	struct pc_trim_ctx t;

	if (!e->present)
		return 0;
	t.img = img;
	t.off = e->off;
	t.len = e->len;
	t.start = 0;
	t.end = 0;
	t.seen = 0;
	t.nul = 0;
	t.err = 0;
	PC_LOOP(PC_CMDLINE_MAX / PC_CHUNK, pc_trim_chunk, &t);
	if (t.err)
		return t.err;
	if (!t.nul && e->len > PC_CMDLINE_MAX)
		return -PC_E_CMDLINE;
	if (t.end < t.start)
		return -PC_E_INTERNAL;
	e->off += t.start;
	e->len = t.end - t.start;
	return 0;
}

struct pc_pe_ctx {
	const struct pc_buf *img;
	struct pc_state *st;
	__u64 base, size, tab;
	__u32 idx, nsec;
	__s32 err;
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
	if (pc_read(x->img, x->base + x->tab + (__u64)j * 40, sh, 40)) {
		x->err = -PC_E_PE;
		return 1;
	}
	n8 = pc_le64(sh);
	rsz = pc_le32(sh + 16);
	rptr = pc_le32(sh + 20);
	/* every section's raw data inside the PE, in table order, no
	 * overlaps (the engine's PE reader refuses the same files) */
	if (rsz) {
		if (rptr > x->size || rsz > x->size - rptr || rptr < x->st->scanPrevEnd) {
			x->err = -PC_E_PE_SECTION;
			return 1;
		}
		x->st->scanPrevEnd = (__u64)rptr + rsz;
	}
	if (n8 == PC_NAME_PROFILE) {
		if (x->idx != 0) {
			x->err = -PC_E_PROFILE;
			return 1;
		}
		x->st->scanScope = (__s32)x->st->scanNprof;
		x->st->scanNprof++;
		return 0;
	}
	kind = pc_kind_of(n8);
	if (kind < 0)
		return 0;
	vsz = pc_le32(sh + 8);
	len = (vsz != 0 && vsz < rsz) ? vsz : rsz;
	if (rptr > x->size || len > x->size - rptr) {
		x->err = -PC_E_PE_SECTION;
		return 1;
	}
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
	if (slot->present) {
		x->err = -PC_E_DUPLICATE;
		return 1;
	}
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
	x.err = 0;
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

	PC_LOOP(PC_PE_SCAN_MAX, pc_pe_section, &x);
	if (x.err)
		return x.err;

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
	return pc_trim_cmdline(img, &pe->ext[PC_K_CMDLINE]);
}

struct pc_compose_ctx {
	struct pc_state *st;
	struct pc_cmd *initrd;
	struct pc_cmd *cmdline;
	__u32 npe;
	__u32 any;
	__s32 err;
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
	if (err) {
		x->err = err;
		return 1;
	}
	return 0;
}

PC_LOOP_CB(pc_compose_step, struct pc_compose_ctx)

struct pc_addon_ctx {
	struct pc_state *st;
	__u32 npe;
	__s32 err;
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
	if (x->st->pe[i].ext[PC_K_LINUX].present) {
		x->err = -PC_E_ADDON_LINUX;
		return 1;
	}
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
	a.err = 0;
	PC_LOOP(PC_MAX_PES, pc_check_addon, &a);
	if (a.err)
		return a.err;

	c = pc_new_cmd(st, 0, KEXEC_BPF_CMD_COPY, KEXEC_BPF_SUBCMD_KERNEL, KEXEC_BPF_PIPELINE_FILL);
	if (!c)
		return -PC_E_INTERNAL;
	err = pc_add_part(c, uki->ext[PC_K_LINUX].off, uki->ext[PC_K_LINUX].len, PC_PAYLOAD_MAX);
	if (err)
		return err;
	x.st = st;
	x.npe = npe;
	x.any = 0;
	x.err = 0;
	x.initrd = pc_new_cmd(st, 1, KEXEC_BPF_CMD_COPY, KEXEC_BPF_SUBCMD_INITRD,
			      KEXEC_BPF_PIPELINE_INVALID);
	x.cmdline = pc_new_cmd(st, 2, KEXEC_BPF_CMD_COPY, KEXEC_BPF_SUBCMD_CMDLINE,
			       KEXEC_BPF_PIPELINE_INVALID);
	if (!x.initrd || !x.cmdline)
		return -PC_E_INTERNAL;
	PC_LOOP(3 * PC_MAX_PES, pc_compose_step, &x);
	if (x.err)
		return x.err;
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
	__s32 err;
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
	if (err) {
		x->err = err;
		return 1;
	}
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
	x.err = 0;
	PC_LOOP(PC_MAX_PES, pc_plan_pe, &x);
	if (x.err)
		return x.err;
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
		c = pc_new_cmd(st, 0, KEXEC_BPF_CMD_DECOMPRESS, KEXEC_BPF_SUBCMD_KERNEL,
			       KEXEC_BPF_PIPELINE_INVALID);
		if (!c)
			return -PC_E_INTERNAL;
		err = pc_add_part(c, off, (__u32)size, PC_PAYLOAD_MAX);
		if (err) {
			st->ncmd = 0;
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

struct pc_emit_ctx {
	const struct pc_buf *img;
	const struct pc_cmd *c;
	__u8 *rec;
	__u64 off;
	__s32 err;
};

/* One part of a command; returns 1 to stop. Driven by bpf_loop() in BPF for
 * the same reason as pc_trim_chunk(): 31 unrolled parts, each a fill or a
 * copy at a growing offset, blew the verifier's 1M-instruction budget. */
PC_INLINE int pc_emit_part(__u32 n, struct pc_emit_ctx *e)
{
	__u64 i = n;
	const struct pc_part *p;
	__u64 off = e->off;
	__u64 len;

	if (i >= e->c->nparts)
		return 1;
	PC_BARRIER_VAR(i);
	if (i >= PC_MAX_PARTS)
		return 1;
	p = &e->c->part[i];
	len = p->len;
	/* two checks against constants keep every write inside the record */
	if (off >= PC_PAYLOAD_MAX || len > PC_PAYLOAD_MAX) {
		e->err = -PC_E_TOO_BIG;
		return 1;
	}
	if (p->isFill) {
		if (len != 1) {
			e->err = -PC_E_INTERNAL;
			return 1;
		}
		e->rec[KEXEC_CMD_HDR_SIZE + off] = p->fill;
	} else if (pc_read(e->img, p->src, e->rec + KEXEC_CMD_HDR_SIZE + off, len)) {
		e->err = -PC_E_BOUNDS;
		return 1;
	}
	e->off = off + len;
	return 0;
}

PC_LOOP_CB(pc_emit_part, struct pc_emit_ctx)

/*
 * Serialise one planned command into rec: 10-byte header, then the parts.
 * rec must hold PC_REC_SIZE bytes (KEXEC_CMD_HDR_SIZE + 2 * PC_PAYLOAD_MAX);
 * the host tests may pass less only when every part offset and length stay
 * below PC_PAYLOAD_MAX and the record holds header + total. Returns the
 * bytes written or -error.
 */
PC_INLINE long pc_emit(const struct pc_buf *img, const struct pc_cmd *c, __u8 *rec)
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
	e.c = c;
	e.rec = rec;
	e.off = 0;
	e.err = 0;
	PC_LOOP(PC_MAX_PARTS, pc_emit_part, &e);
	if (e.err)
		return e.err;
	if (e.off != c->total)
		return -PC_E_INTERNAL;
	return (long)(KEXEC_CMD_HDR_SIZE + e.off);
}

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
	}
	return "unknown error";
}
#endif

KEXEC_STATIC_ASSERT(sizeof(struct pc_cmd) == 512, "pc_cmd stride must stay a power of two");
