/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the BPF parsers' shared parsing core: any input is an
 * image container for the UKI layer (and its PIPELINE_FILL output feeds the
 * zboot layer, as on arm64), and also a raw nested-layer input for the zboot
 * plan. Whatever the bytes, the core must stay inside the buffer (ASan),
 * and a plan it accepts must be one the kernel model accepts too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_model.h"
#include "parse_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a successful load always has all three parts, cmdline NUL-terminated */
static void checkLoaded(const struct km_state *km)
{
	if (!km->kernel.size || !km->initrd.size || !km->cmdline.size ||
	    km->cmdline.data[km->cmdline.size - 1] != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct km_state km;
	struct pc_state *st;
	struct pc_buf img = { data, size };

	/* x86_64 container: one layer; a refusal must not have emitted anything */
	km_init(&km);
	if (km_run(&km, data, size, 0) == 0)
		checkLoaded(&km);
	else if (km.parseError && km.ncommands)
		abort();
	km_free(&km);

	/* signature mode SIG with a kernel that accepts every PE: the same
	 * outcome as NONE, VERIFY_SIGs only in front (nothing after a refusal) */
	{
		struct km_state sig;
		int none, withSig;

		km_init(&km);
		none = km_run(&km, data, size, 0);
		km_init(&sig);
		sig.sigMode = KEXEC_SIG_SIG;
		withSig = km_run(&sig, data, size, 0);
		if (none != withSig || km.kernel.size != sig.kernel.size || km.initrd.size != sig.initrd.size ||
		    km.cmdline.size != sig.cmdline.size)
			abort();
		km_free(&km);
		km_free(&sig);
	}

	/* arm64 container: the zboot layer runs on the first layer's output */
	km_init(&km);
	if (km_run(&km, data, size, 1) == 0)
		checkLoaded(&km);
	km_free(&km);

	st = malloc(sizeof(*st));
	if (!st)
		return 0;
	if (pc_zboot_plan(&img, st) == 0) {
		km_init(&km);
		/* the plan ends in DONE whatever the model thinks of the payload */
		if (st->ncmd == 0 || st->cmd[st->ncmd - 1].cmd != KEXEC_BPF_CMD_DONE)
			abort();
		(void)km_replay(&km, &img, st);
		km_free(&km);
	}
	free(st);
	return 0;
}
