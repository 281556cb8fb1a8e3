// SPDX-License-Identifier: GPL-2.0-only
/*
 * Nested-layer parser (arm64/riscv/loongarch): the UKI's .linux, queued by
 * the first layer with PIPELINE_FILL. A zboot PE -> DECOMPRESS KERNEL, DONE;
 * anything else -> DONE (the kernel COPY of layer one stands).
 */
#include "parser_common.bpf.h"

SEC("fentry.s/kexec_image_parser_anchor")
int kexecd_zboot_parser(unsigned long long *ctx)
{
	struct kexec_context *context = (struct kexec_context *)ctx[0];
	unsigned long parserId = (unsigned long)ctx[1];
	struct bpf_parser_context *pctx;
	struct pc_buf img;
	int ret;

	pctx = bpf_get_parser_context(parserId);
	if (!pctx)
		return 0;
	ret = kexecd_read_layer_input(context, &img);
	if (!ret)
		ret = pc_zboot_plan(&img, &kexecd_state);
	if (!ret)
		ret = kexecd_send_plan(&img, &kexecd_state, pctx);
	bpf_put_parser_context(pctx);
	return 0;
}
