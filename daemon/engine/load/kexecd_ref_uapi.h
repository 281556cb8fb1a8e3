/* SPDX-License-Identifier: GPL-2.0-only OR LGPL-2.1-or-later */
#pragma once

/*
 * The interface between kexecd_ref.ko (kexecd's reference kernel side of the
 * kexec BPF image-parser series) and kexecd's `--kernel=bpf-reference`
 * backend. The backend hands the module the two fds a patched kernel's
 * kexec_file_load() would get; the module runs the series' decomposition
 * (signature, container validation, in-kernel light skeletons, anchor,
 * commands) and writes the reassembled parts into three files the backend
 * passes, which the backend then loads with a classic kexec_file_load().
 */

#include <linux/ioctl.h>
#include <linux/types.h>

#define KEXECD_REF_DEVICE "/dev/kexecd-ref"

struct kexecd_ref_load {
	__s32 parser_fd;   /* in: kernel_fd of the series: the parser container */
	__s32 image_fd;    /* in: initrd_fd of the series: the image container */
	__s32 kernel_fd;   /* in: writable, empty: receives the kernel */
	__s32 initrd_fd;   /* in: writable, empty: receives the initrd */
	__s32 cmdline_fd;  /* in: writable, empty: receives the cmdline (NUL included) */
	__u32 flags;       /* in: kexec_file_load flags (ON_CRASH sets kdump) */
	__u64 kernel_size; /* out */
	__u64 initrd_size; /* out */
	__u64 cmdline_size; /* out, NUL included */
	__u32 layers;      /* out: layers that reported DONE */
	__u32 commands;    /* out: commands the kernel side accepted */
	__u32 status;      /* out: KEXECD_REF_* below, says where a refusal came from */
	__u32 verified;    /* out: PEs the kernel side verified (VERIFY_SIG or IMA_CHECK) in
			    * the layers that reported DONE; 0 when sig_mode is NONE */
};

enum {
	KEXECD_REF_OK = 0,
	/* The series' validator said "not a parser container" (bad layout or a
	 * signature that does not verify): decompose_kexec_image() returns
	 * -EINVAL and the patched kernel continues on the classic path. */
	KEXECD_REF_NOT_CONTAINER = 1,
	/* Unsigned container while signatures are enforced: -EKEYREJECTED. */
	KEXECD_REF_UNSIGNED = 2,
	/* Every .bpf.N of a layer failed to load or ended without DONE. */
	KEXECD_REF_NO_PARSER = 3,
	/* Parsed, but kernel, initrd or cmdline is missing: -EINVAL. */
	KEXECD_REF_INCOMPLETE = 4,
	/* Copying the parts out failed. */
	KEXECD_REF_OUTPUT = 5,
	/* A layer failed after the kernel side refused a PE's VERIFY_SIG (and
	 * IMA_CHECK): unsigned, tampered or signed by a key it does not hold. */
	KEXECD_REF_PE_SIGNATURE = 6,
};

#define KEXECD_REF_LOAD _IOWR('K', 0x12, struct kexecd_ref_load)
