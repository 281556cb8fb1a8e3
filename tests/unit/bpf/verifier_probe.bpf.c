// SPDX-License-Identifier: GPL-2.0-only
/*
 * Verifier probe: the parsers' exact core and send path, as syscall
 * programs so any kernel with BPF can verify them without the kexec series
 * (no anchor, no kfuncs: bpf_buffer_parser is replaced by a read of a
 * global, so the verifier sees an unknown verdict and walks both the
 * accepted and the refused branch; the signature mode is a global too).
 * Same code, same bounds; only the ring buffer is smaller.
 */
#include <linux/types.h>

__u64 probe_base;
__u64 probe_size;
__u32 probe_sig_mode;
int probe_verdict;

struct probe_sink {
	int unused;
};
#define PC_SINK struct probe_sink
#define PC_SEND(sink, rec, n) ((void)(sink), (void)(rec), (void)(n), probe_verdict)

#include "parser_common.bpf.h"

static __always_inline int probe_send(const struct pc_buf *img)
{
	struct probe_sink sink = { 0 };

	kexecd_parser_runs += (__u32)kexecd_send_plan(img, &kexecd_state, probe_sig_mode, &sink);
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
