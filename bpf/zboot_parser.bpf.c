// SPDX-License-Identifier: GPL-2.0-only
/*
 * Nested-layer parser (arm64/riscv/loongarch): the UKI's .linux, queued by
 * the first layer with PIPELINE_FILL. A zboot PE -> DECOMPRESS KERNEL, DONE;
 * anything else -> DONE (the kernel COPY of layer one stands).
 */
#include "parser_common.bpf.h"

KEXECD_PARSER_PROGRAM(kexecd_zboot_parser, pc_zboot_plan)
