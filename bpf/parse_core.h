/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Byte-level parsing core shared by the BPF parsers and the host.
 *
 * The same code runs in the kernel (clang -target bpf, inside the sleepable
 * fentry program) and on the host (gcc/g++/clang, unit tests and fuzzer), so
 * what the tests prove about malformed input holds for what the kernel runs.
 * Constraints that follow from the BPF side:
 *   - no libc: only <linux/types.h>; memcpy is __builtin_memcpy on the host and
 *     bpf_probe_read_kernel() in BPF, both behind pc_read()/pc_copy(), which
 *     bounds-check every access against the buffer size first;
 *   - every loop has a constant trip bound (the verifier must see it end);
 *   - no large stack objects: all state lives in struct pc_state, which the
 *     BPF program keeps in .bss and the host allocates;
 *   - nothing is emitted until the whole plan is built, so a malformed image
 *     produces no command at all (never a partial load, never CMD_DONE).
 *
 * Rules (also in bpf/README.md, keep both in sync):
 *
 * Image container (parsing_buf[0] of the first layer): ELF64 little endian,
 * ELF header fields sane (e_shentsize 64, e_shstrndx < e_shnum, section header
 * table and .shstrtab inside the buffer, .shstrtab NUL-terminated). Section
 * indices 1..15 are scanned (at most 15 sections besides .shstrtab; more is an
 * error, never silently ignored). Each section name is read as 8 bytes that
 * must lie inside .shstrtab. Accepted names, in this order:
 *   .pe.1 .pe.2 ... .pe.N   the UKI first, then addons in systemd-stub order;
 *                           numbered 1..N without gaps, non-empty, < 4 GiB
 *   .ima                    optional, directly after a .pe.N: the file's
 *                           security.ima (1..PC_IMA_MAX bytes), sent as
 *                           IMA_CHECK in signature mode IMA (below)
 *   .select                 optional, at most once, after the last .pe.N:
 *                           the requested profile index of the UKI as 1-3
 *                           ASCII decimal digits, optionally followed by one
 *                           NUL or '\n'. Absent = no profile selected: only
 *                           the UKI's base sections are used.
 * Any other name is an error.
 *
 * PE (each .pe.N): "MZ", e_lfanew, "PE\0\0", COFF header, section table after
 * the optional header; NumberOfSections 1..32 (more is an error: a section
 * past the scan window would be silently missed; the drafts' parser scans
 * 16, ours 32 because a stub plus a multi-profile UKI needs more). Section data =
 * [PointerToRawData, + min(VirtualSize, SizeOfRawData)) (SizeOfRawData alone
 * when VirtualSize is 0). Every section's raw data [PointerToRawData,
 * + SizeOfRawData) must lie inside the PE, and sections with raw data must be
 * in ascending file order without overlap. Names (exact 8 bytes):
 * .linux .initrd .cmdline .ucode .profile; others are ignored.
 *
 * Profiles (UKI only): sections before the first .profile are the base;
 * the sections after the k-th .profile (0-based) up to the next .profile are
 * profile k. With .select = k the profile's .linux/.initrd/.cmdline/.ucode
 * replace the base's of the same name; k must be < number of profiles (k = 0
 * on a UKI without profiles means the base). A name twice in the same scope
 * is an error. An addon with .profile is an error.
 *
 * Composition (same as the classic scheme, DESIGN.md section 3):
 *   kernel  = the UKI's resolved .linux (required, non-empty). An addon with
 *             .linux is refused.
 *   initrd  = .ucode of every PE in reverse container order (last addon
 *             first, the UKI last), then the UKI's .initrd, then the addons'
 *             .initrd in container order; plain concatenation, no padding.
 *             Must be non-empty (the kernel side requires an initrd).
 *   cmdline = the UKI's resolved .cmdline, then each addon's .cmdline; each
 *             part is cut at its first NUL and stripped of leading and
 *             trailing whitespace (space, \t, \n, \r); empty parts are skipped; the
 *             rest are joined with one space and a NUL is appended. At most
 *             PC_CMDLINE_MAX bytes including the NUL.
 * Commands: COPY KERNEL (PIPELINE_FILL, so a nested zboot parser gets the
 * .linux), COPY INITRD, COPY CMDLINE, DONE.
 *
 * Signature checks (kexec_context.sig_mode; the newest tools' sig_enforced,
 * EC process_pe_section), sent after the plan is built and before its first
 * command, for every .pe.N in container order: NONE nothing; SIG VERIFY_SIG
 * with the whole PE, which must pass; IMA VERIFY_SIG, and if the kernel
 * refuses it IMA_CHECK with the PE's .ima, which must pass. Any other mode,
 * and any refusal, ends the run before the first COPY. The zboot layer
 * checks the zboot PE the same way before DECOMPRESS.
 *
 * zboot layer (parsing_buf[0] of the nested layer = the UKI's .linux): if it
 * starts with "MZ" and "zimg" at offset 4, DECOMPRESS KERNEL with the bytes
 * [payload offset, + payload size) from the zboot header, then DONE. Anything
 * else is passed through unchanged: DONE only (x86 bzImage, plain arm64 Image).
 */
/* The code, split by responsibility (each part includes what it needs):
 *   pc_base.h       macros, limits, structs, bounds-checked reads
 *   pc_container.h  the image container walk
 *   pc_pe.h         one PE: section table, profiles, cmdline trim
 *   pc_plan.h       composition and the two layers' plans
 *   pc_emit.h       command records, signature checks, sending a plan */
#include "pc_base.h"
#include "pc_container.h"
#include "pc_pe.h"
#include "pc_plan.h"
#include "pc_emit.h"
