// SPDX-License-Identifier: GPL-2.0-only
/*
 * Verifier probe: the parsers' exact core and serialisation path, as
 * SEC("syscall") programs so any kernel with BPF can verify them without the
 * kexec series (no anchor, no kfuncs: bpf_buffer_parser is replaced by a
 * no-op). Same code, same bounds; only the ring buffer is smaller.
 */
#include "parser_common.bpf.h"

__u64 probe_base;
__u64 probe_size;

static __always_inline int probe_send(const struct pc_buf *img)
{
	__u8 *rec;
	__u32 i;

	rec = bpf_ringbuf_reserve(&ringbuf_1, PC_REC_SIZE, 0);
	if (!rec)
		return 0;
	for (i = 0; i < PC_MAX_CMDS; i++) {
		long n;

		if (i >= kexecd_state.ncmd)
			break;
		n = pc_emit(img, &kexecd_state.cmd[i], rec);
		if (n < 0)
			break;
		kexecd_parser_runs += (__u32)n;
	}
	bpf_ringbuf_discard(rec, 0);
	return 0;
}

SEC("syscall")
int probe_uki(void *ctx)
{
	struct pc_buf img = { (const __u8 *)probe_base, probe_size };

	(void)ctx;
	if (pc_uki_plan(&img, &kexecd_state))
		return 0;
	return probe_send(&img);
}

SEC("syscall")
int probe_zboot(void *ctx)
{
	struct pc_buf img = { (const __u8 *)probe_base, probe_size };

	(void)ctx;
	if (pc_zboot_plan(&img, &kexecd_state))
		return 0;
	return probe_send(&img);
}
