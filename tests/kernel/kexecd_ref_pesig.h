/* SPDX-License-Identifier: GPL-2.0-only */
#pragma once

/* kexecd_ref's VERIFY_SIG and IMA_CHECK handlers (kexecd_ref_pesig.c). */

#include <linux/types.h>

struct key;

/* Authenticode check of one whole PE against keyring: 0 or -errno
 * (-ENODATA: unsigned, -EKEYREJECTED: digest mismatch, ...). */
int ref_verify_pe(const u8 *pe, size_t len, struct key *keyring);

/* security.ima blob as an IMA v2 signature over pe's SHA-256: 0 or -errno. */
int ref_ima_check(const u8 *blob, size_t len, const u8 *pe, size_t pe_len, struct key *keyring);
