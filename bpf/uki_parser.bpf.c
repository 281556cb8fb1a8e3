// SPDX-License-Identifier: GPL-2.0-only
/*
 * First-layer parser: image container (UKI + addons, optional .select) ->
 * COPY KERNEL (PIPELINE_FILL), COPY INITRD, COPY CMDLINE, DONE.
 * All byte-level rules live in parse_core.h (shared with the host tests).
 */
#include "parser_common.bpf.h"

KEXECD_PARSER_PROGRAM(kexecd_uki_parser, pc_uki_plan)
