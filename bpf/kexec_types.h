/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Kernel-internal types of the kexec BPF image-parser series (Pingfan Liu,
 * post-v7 "parser container" generation, pfliu/linux kexec_bpf_loader.c L8b).
 *
 * None of this is in a uapi header and Debian's kernel BTF does not have it,
 * so we cannot generate a vmlinux.h. preserve_access_index makes every field
 * access a CO-RE relocation: libbpf (the light-skeleton loader in the kernel)
 * resolves the real offsets against the running kernel's BTF, so only the
 * field *names* and *types* below have to match, not the layout. Fields we do
 * not read are left out on purpose: a missing field would only fail the load
 * if we touched it.
 */

#include <linux/types.h>

#ifdef __cplusplus
#define KEXEC_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define KEXEC_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* enum kexec_sig_enforced in L8b (the newest BPF side names the field
 * sig_enforced): what the kernel asks the parser to have checked per PE. */
enum kexec_sig_enforced {
	KEXEC_SIG_NONE = 0,
	KEXEC_SIG_SIG = 1,
	KEXEC_SIG_IMA = 2,
};

#ifdef __bpf__
#include <stdbool.h>

#define KEXEC_BPF_MAX_BUFS 16

struct kexec_context {
	bool kdump;
	bool parsed;
	/* read only when the kernel's BTF has it (bpf_core_field_exists) */
	enum kexec_sig_enforced sig_mode;
	/* layer input: parsing_buf[0] is the image container (first layer) or
	 * the first PIPELINE_FILL payload of the previous layer (nested layer) */
	char *parsing_buf[KEXEC_BPF_MAX_BUFS];
	unsigned long parsing_buf_sz[KEXEC_BPF_MAX_BUFS];
} __attribute__((preserve_access_index));

/* Opaque to BPF: only ever passed back to the kfuncs. */
struct bpf_parser_context;
#endif /* __bpf__ */

/* Post-v7 command header, 10 bytes packed little-endian (L8a/L8b). */
struct kexec_cmd_hdr {
	__u16 cmd;
	__u8 subcmd;
	__u8 pipeline_flag;
	__u32 payload_len; /* bytes after this header */
	__u16 num_chunks; /* documented as 0 */
} __attribute__((packed));

KEXEC_STATIC_ASSERT(sizeof(struct kexec_cmd_hdr) == 10, "post-v7 header is 10 bytes");

enum {
	KEXEC_BPF_CMD_INVALID = 0,
	KEXEC_BPF_CMD_DONE = 1,
	KEXEC_BPF_CMD_DECOMPRESS = 2,
	KEXEC_BPF_CMD_COPY = 3,
	KEXEC_BPF_CMD_VERIFY_SIG = 4,
	/* Used by the newest tools (EC), value not found in any kernel: the
	 * next free one, as kexecd_ref.ko assumes too. */
	KEXEC_BPF_CMD_IMA_CHECK = 5,
};

enum {
	KEXEC_BPF_SUBCMD_INVALID = 0,
	KEXEC_BPF_SUBCMD_KERNEL = 1,
	KEXEC_BPF_SUBCMD_INITRD = 2,
	KEXEC_BPF_SUBCMD_CMDLINE = 3,
};

enum {
	KEXEC_BPF_PIPELINE_INVALID = 0,
	KEXEC_BPF_PIPELINE_FILL = 1,
};

#define KEXEC_CMD_HDR_SIZE 10
