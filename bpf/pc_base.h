/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Parsing core, part 1: portability macros (BPF vs host), limits, error codes,
 * the plan's data structures and the bounds-checked byte access everything
 * else goes through. Included by parse_core.h (which holds the rules).
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
#define PC_IMA_MAX 1024 /* security.ima blob (MK reads at most 1024 bytes) */
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
	PC_E_SIG_MODE,       /* kexec_context asks for a signature mode we do not know */
	PC_E_SIGNATURE,      /* the kernel refused a PE's VERIFY_SIG (and IMA_CHECK) */
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
	__u64 imaOff; /* the .ima section right after this .pe.N, if any */
	__u32 imaLen; /* 0: none */
	__u32 pad;
};

struct pc_state {
	__u32 npe;
	__s32 select; /* -1: no .select */
	__u32 nprofiles; /* of the UKI */
	__u32 ncmd;
	struct pc_pe pe[PC_MAX_PES];
	struct pc_ext slot[2][PC_NKIND]; /* scratch: base, selected profile */
	/*
	 * What the bpf_loop() steps carry from one call to the next. It lives
	 * here, in map memory, rather than in the loop's stack context: the
	 * verifier does not track values in map memory, so a loop's states
	 * converge after a step or two. On the stack every distinct value (a
	 * counter, an offset, each error code a step can stop with) was a state
	 * of its own, and the verifier walked the loop again for each.
	 */
	__u64 scanPrevEnd;   /* pc_pe_section(): end of the previous section's data */
	__u32 scanNprof;     /* pc_pe_section(): .profile sections seen */
	__s32 scanScope;     /* pc_pe_section(): -1 base, else the current profile */
	__u64 emitOff;       /* pc_emit_part(): write offset in the payload */
	__u32 walkLastWasPe; /* pc_walk_section(): the previous section was a .pe.N */
	__s32 stepErr;       /* the -PC_E_* that stopped a step loop, or 0 */
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

/* A step that fails stops its loop (returns 1) with the error in map
 * memory, see struct pc_state. */
PC_INLINE int pc_step_fail(struct pc_state *st, int err)
{
	st->stepErr = err;
	return 1;
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


KEXEC_STATIC_ASSERT(sizeof(struct pc_cmd) == 512, "pc_cmd stride must stay a power of two");
