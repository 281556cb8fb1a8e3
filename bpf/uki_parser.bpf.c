// SPDX-License-Identifier: GPL-2.0-only
/*
 * First-layer parser: image container (UKI + addons, optional .select) ->
 * COPY KERNEL (PIPELINE_FILL), COPY INITRD, COPY CMDLINE, DONE.
 * All byte-level rules live in parse_core.h (shared with the host tests).
 */
#include "parser_common.bpf.h"

SEC("fentry.s/kexec_image_parser_anchor")
int kexecd_uki_parser(unsigned long long *ctx)
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
		ret = pc_uki_plan(&img, &kexecd_state);
	if (!ret)
		ret = kexecd_send_plan(&img, &kexecd_state, pctx);
	bpf_put_parser_context(pctx);
	return 0;
}
