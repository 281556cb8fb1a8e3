// SPDX-License-Identifier: GPL-2.0-only
/*
 * kexecd_ref: the handlers behind VERIFY_SIG and IMA_CHECK (the newest tools
 * of the series send them; no kernel version of the series has a handler).
 *
 * VERIFY_SIG = what kexec_kernel_verify_pe_sig() -> verify_pefile_signature()
 * does for a bzImage, which is not exported to modules: parse the PE
 * (pefile_parse_binary), strip the WIN_CERTIFICATE wrapper
 * (pefile_strip_sig_wrapper), verify the PKCS#7 with the exported
 * verify_pkcs7_signature() (usage VERIFYING_KEXEC_PE_SIGNATURE, so it must be
 * Authenticode: content type msIndirectData, authenticated attributes
 * checked against the content), read the digest out of the
 * SpcIndirectDataContent (mscode_parse), and compare it with the image's
 * Authenticode digest computed here (pefile_digest_pe). Only SHA-256.
 *
 * IMA_CHECK = the file's security.ima as a signature over the PE that the
 * preceding VERIFY_SIG refused: an IMA v2 digital signature (evmctl
 * ima_sign: type 3, version 2) over the PE's SHA-256, checked with the
 * exported find_asymmetric_key() + verify_signature() against the same
 * keyring (asymmetric_verify() of security/integrity is not exported).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/key.h>
#include <linux/pe.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/unaligned.h>
#include <linux/verification.h>
#include <crypto/hash_info.h>
#include <crypto/public_key.h>
#include <crypto/sha2.h>
#include <keys/asymmetric-type.h>

#include "kexecd_ref_pesig.h"

struct pe_layout {
	u32 header_size;
	u32 csum_off;    /* image checksum, left out of the digest */
	u32 certdir_off; /* certificate-table directory entry, left out */
	u32 certs_size;  /* the certificate table, left out at the end */
	u32 sig_off, sig_len;
	unsigned int nsec;
	const struct section_header *secs;
	u8 digest[SHA256_DIGEST_SIZE]; /* from the SpcIndirectDataContent */
	bool have_digest;
};

/* pefile_parse_binary() */
static int pe_parse(const u8 *pe, size_t len, struct pe_layout *l)
{
	const struct mz_hdr *mz = (const void *)pe;
	const struct pe_hdr *ph;
	const struct data_directory *dd;
	size_t cur, osz, csum, hsz, dirs;
	u32 ndirs;
	u16 magic;

	if (len < sizeof(*mz) || mz->magic != MZ_MAGIC)
		return -ELIBBAD;
	if (mz->peaddr > len || sizeof(*ph) > len - mz->peaddr)
		return -ELIBBAD;
	ph = (const void *)(pe + mz->peaddr);
	if (ph->magic != PE_MAGIC)
		return -ELIBBAD;
	cur = mz->peaddr + sizeof(*ph);
	if (cur + 2 > len)
		return -ELIBBAD;
	/* PE32 and PE32+ differ in the offsets, not in what is read */
	magic = get_unaligned_le16(pe + cur);
	if (magic == PE_OPT_MAGIC_PE32PLUS) {
		osz = sizeof(struct pe32plus_opt_hdr);
		csum = offsetof(struct pe32plus_opt_hdr, csum);
		hsz = offsetof(struct pe32plus_opt_hdr, header_size);
		dirs = offsetof(struct pe32plus_opt_hdr, data_dirs);
	} else if (magic == PE_OPT_MAGIC_PE32) {
		osz = sizeof(struct pe32_opt_hdr);
		csum = offsetof(struct pe32_opt_hdr, csum);
		hsz = offsetof(struct pe32_opt_hdr, header_size);
		dirs = offsetof(struct pe32_opt_hdr, data_dirs);
	} else {
		return -ELIBBAD;
	}
	if (osz > len - cur)
		return -ELIBBAD;
	l->csum_off = cur + csum;
	l->header_size = get_unaligned_le32(pe + cur + hsz);
	ndirs = get_unaligned_le32(pe + cur + dirs);
	cur += osz;
	if (cur >= l->header_size || l->header_size >= len)
		return -ELIBBAD;
	/* the certificate table is directory entry 4 */
	if (ndirs <= 4 || ndirs > (l->header_size - cur) / sizeof(struct data_dirent))
		return -ELIBBAD;
	dd = (const void *)(pe + cur);
	cur += ndirs * sizeof(struct data_dirent);
	l->certdir_off = (const u8 *)&dd->certs - pe;
	l->certs_size = dd->certs.size;
	if (!dd->certs.virtual_address || !dd->certs.size)
		return -ENODATA; /* unsigned */
	if (dd->certs.virtual_address < l->header_size || dd->certs.virtual_address > len ||
	    dd->certs.size > len - dd->certs.virtual_address)
		return -ELIBBAD;
	l->sig_off = dd->certs.virtual_address;
	l->sig_len = dd->certs.size;
	l->nsec = ph->sections;
	if (l->nsec > (l->header_size - cur) / sizeof(struct section_header))
		return -ELIBBAD;
	l->secs = (const void *)(pe + cur);
	return 0;
}

/* pefile_strip_sig_wrapper(): the PKCS#7 inside the first WIN_CERTIFICATE */
static int pe_strip_wrapper(const u8 *pe, struct pe_layout *l)
{
	struct win_certificate w;
	const u8 *p;
	u32 n;

	if (l->sig_len < sizeof(w))
		return -ELIBBAD;
	memcpy(&w, pe + l->sig_off, sizeof(w));
	if (w.length > l->sig_len || w.length < sizeof(w) + 4)
		return -ELIBBAD;
	if (w.revision != WIN_CERT_REVISION_2_0 || w.cert_type != WIN_CERT_TYPE_PKCS_SIGNED_DATA)
		return -EOPNOTSUPP;
	l->sig_off += sizeof(w);
	l->sig_len = w.length - sizeof(w);
	/* the wrapper's length may include padding: take the DER length */
	p = pe + l->sig_off;
	if (p[0] != 0x30)
		return -ELIBBAD;
	if (p[1] < 0x80)
		n = p[1] + 2;
	else if (p[1] == 0x81)
		n = p[2] + 3;
	else if (p[1] == 0x82)
		n = (p[2] << 8 | p[3]) + 4;
	else
		return -EMSGSIZE;
	if (n > l->sig_len)
		return -ELIBBAD;
	l->sig_len = n;
	return 0;
}

/* One DER element at *p: its tag, value and length; *p moves past it. */
static int der_next(const u8 **p, const u8 *end, u8 *tag, const u8 **val, size_t *vlen)
{
	const u8 *q = *p;
	size_t n, i, k;

	if (end - q < 2)
		return -EBADMSG;
	*tag = q[0];
	n = q[1];
	q += 2;
	if (n & 0x80) {
		k = n & 0x7f;
		if (k == 0 || k > 4 || end - q < (ptrdiff_t)k)
			return -EBADMSG;
		for (n = 0, i = 0; i < k; i++)
			n = n << 8 | q[i];
		q += k;
	}
	if ((size_t)(end - q) < n)
		return -EBADMSG;
	*val = q;
	*vlen = n;
	*p = q + n;
	return 0;
}

static const u8 oid_spc_pe_image_data[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0f };
static const u8 oid_sha256[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };

/*
 * mscode_parse(): SpcIndirectDataContent ::= SEQUENCE {
 *   data SEQUENCE { type OID (SPC_PE_IMAGE_DATA), value ANY },
 *   messageDigest SEQUENCE { SEQUENCE { algorithm OID, params }, digest OCTET STRING } }
 * Called by verify_pkcs7_signature() only after the signature and the
 * chain to the keyring verified.
 */
static int mscode_view(void *ctx, const void *data, size_t len, size_t hdrlen)
{
	struct pe_layout *l = ctx;
	const u8 *p = (const u8 *)data - hdrlen, *end = (const u8 *)data + len;
	const u8 *v, *w, *a, *x;
	size_t vlen, wlen, alen, xlen;
	u8 tag;

	if (der_next(&p, end, &tag, &v, &vlen) || tag != 0x30)
		return -EBADMSG;
	end = v + vlen;
	/* data: the content type must say "PE image" */
	if (der_next(&v, end, &tag, &w, &wlen) || tag != 0x30)
		return -EBADMSG;
	if (der_next(&w, w + wlen, &tag, &x, &xlen) || tag != 0x06 || xlen != sizeof(oid_spc_pe_image_data) ||
	    memcmp(x, oid_spc_pe_image_data, xlen))
		return -EBADMSG;
	/* messageDigest */
	if (der_next(&v, end, &tag, &w, &wlen) || tag != 0x30)
		return -EBADMSG;
	x = w + wlen;
	if (der_next(&w, x, &tag, &a, &alen) || tag != 0x30)
		return -EBADMSG;
	if (der_next(&a, a + alen, &tag, &v, &vlen) || tag != 0x06)
		return -EBADMSG;
	if (vlen != sizeof(oid_sha256) || memcmp(v, oid_sha256, vlen)) {
		pr_info("VERIFY_SIG: only SHA-256 Authenticode digests are supported\n");
		return -ENOPKG;
	}
	if (der_next(&w, x, &tag, &v, &vlen) || tag != 0x04 || vlen != SHA256_DIGEST_SIZE)
		return -EBADMSG;
	memcpy(l->digest, v, SHA256_DIGEST_SIZE);
	l->have_digest = true;
	return 0;
}

static void sha256_span(struct sha256_state *s, const u8 *p, size_t n)
{
	while (n) {
		unsigned int k = min_t(size_t, n, SZ_1G);

		sha256_update(s, p, k);
		p += k;
		n -= k;
	}
}

/* pefile_digest_pe(): headers without checksum and certificate directory
 * entry, sections in file order, then what follows them up to the
 * certificate table. */
static int pe_digest(const u8 *pe, size_t len, const struct pe_layout *l, u8 *out)
{
	struct sha256_state s;
	unsigned int *order, i, j;
	size_t hashed;

	order = kcalloc(max(l->nsec, 1U), sizeof(*order), GFP_KERNEL);
	if (!order)
		return -ENOMEM;
	for (i = 0; i < l->nsec; i++) { /* insertion sort by PointerToRawData */
		for (j = i; j > 0; j--) {
			const struct section_header *a = &l->secs[order[j - 1]], *b = &l->secs[i];

			if (a->data_addr < b->data_addr ||
			    (a->data_addr == b->data_addr && a->virtual_address <= b->virtual_address))
				break;
			order[j] = order[j - 1];
		}
		order[j] = i;
	}
	sha256_init(&s);
	sha256_span(&s, pe, l->csum_off);
	sha256_span(&s, pe + l->csum_off + 4, l->certdir_off - (l->csum_off + 4));
	sha256_span(&s, pe + l->certdir_off + 8, l->header_size - (l->certdir_off + 8));
	hashed = l->header_size;
	for (i = 0; i < l->nsec; i++) {
		const struct section_header *h = &l->secs[order[i]];

		if (!h->raw_data_size)
			continue;
		if (h->data_addr > len || h->raw_data_size > len - h->data_addr) {
			kfree(order);
			return -ELIBBAD;
		}
		sha256_span(&s, pe + h->data_addr, h->raw_data_size);
		hashed += h->raw_data_size;
	}
	kfree(order);
	if (len > hashed) {
		if (len - hashed < l->certs_size)
			return -ELIBBAD;
		sha256_span(&s, pe + hashed, len - hashed - l->certs_size);
	}
	sha256_final(&s, out);
	return 0;
}

int ref_verify_pe(const u8 *pe, size_t len, struct key *keyring)
{
	struct pe_layout l = {};
	u8 digest[SHA256_DIGEST_SIZE];
	int ret;

	ret = pe_parse(pe, len, &l);
	if (!ret)
		ret = pe_strip_wrapper(pe, &l);
	if (!ret)
		ret = verify_pkcs7_signature(NULL, 0, pe + l.sig_off, l.sig_len, keyring,
					     VERIFYING_KEXEC_PE_SIGNATURE, mscode_view, &l);
	if (!ret && !l.have_digest)
		ret = -EBADMSG;
	if (!ret)
		ret = pe_digest(pe, len, &l, digest);
	if (!ret && memcmp(digest, l.digest, SHA256_DIGEST_SIZE)) {
		pr_info("VERIFY_SIG: Authenticode digest mismatch (image %*phN, signed %*phN)\n", 8, digest, 8,
			l.digest);
		ret = -EKEYREJECTED;
	}
	return ret;
}

/* struct signature_v2_hdr of security/integrity/integrity.h */
struct ima_sig_v2 {
	u8 type; /* EVM_IMA_XATTR_DIGSIG = 3 */
	u8 version; /* 2 */
	u8 hash_algo;
	__be32 keyid;
	__be16 sig_size;
	u8 sig[];
} __packed;

int ref_ima_check(const u8 *blob, size_t len, const u8 *pe, size_t pe_len, struct key *keyring)
{
	const struct ima_sig_v2 *h = (const void *)blob;
	struct public_key_signature pks = {};
	struct asymmetric_key_id *id;
	u8 digest[SHA256_DIGEST_SIZE];
	struct sha256_state s;
	struct key *key;
	char keyid[4];
	int ret;

	if (len < sizeof(*h))
		return -EBADMSG;
	if (h->type != 3 || h->version != 2) {
		/* a bare digest (type 4) says nothing about who made the file */
		pr_info("IMA_CHECK: security.ima type %u version %u is not a v2 signature\n", h->type,
			h->version);
		return -EKEYREJECTED;
	}
	if (h->hash_algo != HASH_ALGO_SHA256)
		return -ENOPKG;
	if (be16_to_cpu(h->sig_size) != len - sizeof(*h))
		return -EBADMSG;
	put_unaligned_be32(be32_to_cpu(h->keyid), keyid);
	id = asymmetric_key_generate_id(keyid, sizeof(keyid), NULL, 0);
	if (IS_ERR(id))
		return PTR_ERR(id);
	/* as request_asymmetric_key(): the keyid is the tail of the key's SKID */
	key = find_asymmetric_key(keyring, NULL, id, NULL, true);
	kfree(id);
	if (IS_ERR(key)) {
		pr_info("IMA_CHECK: no key %08x in the keyring\n", be32_to_cpu(h->keyid));
		return -ENOKEY;
	}
	sha256_init(&s);
	sha256_span(&s, pe, pe_len);
	sha256_final(&s, digest);
	pks.pkey_algo = "rsa";
	pks.encoding = "pkcs1";
	pks.hash_algo = hash_algo_name[h->hash_algo];
	pks.digest = digest;
	pks.digest_size = sizeof(digest);
	pks.s = (u8 *)h->sig;
	pks.s_size = len - sizeof(*h);
	ret = verify_signature(key, &pks);
	key_put(key);
	return ret;
}
