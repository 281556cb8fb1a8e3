// SPDX-License-Identifier: GPL-2.0-only
/*
 * kexecd_ref: kexecd's reference kernel side of the kexec BPF image-parser
 * series (Pingfan Liu, post-v7 "parser container" generation), as an
 * out-of-tree module for an unpatched 6.12 kernel. The PE signature checks
 * (VERIFY_SIG, IMA_CHECK) are in kexecd_ref_pesig.c. See README.md beside this
 * file for where it models the series and where it deliberately differs.
 *
 * What the series does inside kexec_file_load(kernel_fd, initrd_fd, ...)
 * (decompose_kexec_image, kexec_bpf_loader.c L8b) this module does inside an
 * ioctl on /dev/kexecd-ref, with the same two fds: read both files, check
 * the parser container's appended signature, validate its sections, and for
 * each layer load every .bpf.N as an in-kernel light skeleton (kern_sys_bpf),
 * attach it as fentry.s to kexec_image_parser_anchor, call the anchor,
 * detach, until one parser sends DONE; then .bpf.nested runs over what the
 * layer queued with PIPELINE_FILL. The parts are written to files the caller
 * passes, which it loads with the classic kexec_file_load().
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>
#include <linux/elf.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kernel_read_file.h>
#include <linux/kexec.h>
#include <linux/key.h>
#include <linux/kref.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/module_signature.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/verification.h>
#include <linux/vmalloc.h>
#include <linux/zlib.h>
#include <linux/unaligned.h>
#include <linux/zstd.h>
#include <crypto/sha2.h>
#include <keys/asymmetric-type.h>

#include "skel_internal.h"
#include "kexecd_ref_pesig.h"
#include "kexecd_ref_uapi.h"

/* ------------------------------------------------------------------------
 * The series' types (L8b), with the post-v7 field names and types. The BPF
 * parsers read them through CO-RE against this module's BTF.
 */

enum kexec_sig_enforced {
	KEXEC_SIG_NONE = 0,
	KEXEC_SIG_SIG = 1,
	KEXEC_SIG_IMA = 2,
};

#define KEXEC_BPF_MAX_BUFS 16

struct kexec_context {
	bool kdump;
	bool parsed;
	enum kexec_sig_enforced sig_mode;
	char *parsing_buf[KEXEC_BPF_MAX_BUFS];
	unsigned long parsing_buf_sz[KEXEC_BPF_MAX_BUFS];
	char *next_parsing_buf[KEXEC_BPF_MAX_BUFS];
	unsigned long next_parsing_buf_sz[KEXEC_BPF_MAX_BUFS];
	char *kernel;
	unsigned long kernel_sz;
	char *initrd;
	unsigned long initrd_sz;
	char *cmdline;
	unsigned long cmdline_sz;
};

/* BP8: one per anchor call; buf is the cmpxchg "lock" against re-entry. */
struct bpf_parser_context {
	struct kref ref;
	unsigned long id;
	struct kexec_context *kctx;
	void *buf;
	unsigned int commands;
	unsigned int verified; /* PEs that passed VERIFY_SIG or IMA_CHECK in this run */
	unsigned int sig_refused; /* VERIFY_SIG / IMA_CHECK refusals in this run */
	u8 *refused_pe; /* the last PE VERIFY_SIG refused: what an IMA_CHECK vouches for */
	size_t refused_pe_len;
};

struct cmd_hdr {
	u16 cmd;
	u8 subcmd;
	u8 pipeline_flag;
	u32 payload_len;
	u16 num_chunks;
} __packed;

/* IMA_CHECK: used by the newest tools (EC), value never published; the next
 * free one, as bpf/kexec_types.h assumes. */
enum { KEXEC_BPF_CMD_INVALID, KEXEC_BPF_CMD_DONE, KEXEC_BPF_CMD_DECOMPRESS, KEXEC_BPF_CMD_COPY,
       KEXEC_BPF_CMD_VERIFY_SIG, KEXEC_BPF_CMD_IMA_CHECK };
enum { KEXEC_BPF_SUBCMD_INVALID, KEXEC_BPF_SUBCMD_KERNEL, KEXEC_BPF_SUBCMD_INITRD,
       KEXEC_BPF_SUBCMD_CMDLINE };
enum { KEXEC_BPF_PIPELINE_INVALID, KEXEC_BPF_PIPELINE_FILL };

#define MAX_PARSERS 8            /* .bpf.1 .. .bpf.8 */
#define MAX_NESTED_DEPTH 4       /* L8a/L8b process_bpf_parsers_container */
#define DECOMPRESS_CAP (512UL << 20) /* lib/post_decompress.c */
#define PARSER_FILE_MAX (64 << 20)

static bool sig_enforce;
module_param(sig_enforce, bool, 0644);
MODULE_PARM_DESC(sig_enforce, "stands in for get_kexec_sig_enforced(): refuse unsigned parser containers");
static int sig_mode;
module_param(sig_mode, int, 0644);
MODULE_PARM_DESC(sig_mode, "kexec_context.sig_mode handed to the parsers (0 NONE, 1 SIG: VERIFY_SIG per PE, "
			   "2 IMA: VERIFY_SIG, else IMA_CHECK)");
static char *cert;
module_param(cert, charp, 0444);
MODULE_PARM_DESC(cert, "DER X.509 certificates (comma-separated paths) loaded into the module's keyring at init");

static struct key *ref_keyring;
static DEFINE_MUTEX(load_lock);
static DEFINE_MUTEX(ctx_lock);
static struct bpf_parser_context *current_pctx; /* the one in flight (load_lock held) */
static unsigned long next_parser_id = 1;

/* ------------------------------------------------------------------------
 * The anchor and the kfuncs.
 */

__bpf_kfunc_start_defs();

/* The parsers attach here as fentry.s; the call is the whole point. */
__bpf_kfunc int kexec_image_parser_anchor(struct kexec_context *context, unsigned long parser_id)
{
	barrier_data(context);
	return 0;
}

__bpf_kfunc struct bpf_parser_context *bpf_get_parser_context(unsigned long id)
{
	struct bpf_parser_context *p = NULL;

	mutex_lock(&ctx_lock);
	if (current_pctx && current_pctx->id == id) {
		p = current_pctx;
		kref_get(&p->ref);
	}
	mutex_unlock(&ctx_lock);
	return p;
}

static void pctx_release(struct kref *ref)
{
	struct bpf_parser_context *p = container_of(ref, struct bpf_parser_context, ref);

	kvfree(p->refused_pe);
	kfree(p);
}

__bpf_kfunc void bpf_put_parser_context(struct bpf_parser_context *ctx)
{
	kref_put(&ctx->ref, pctx_release);
}

static int kexec_buff_parser(struct bpf_parser_context *pctx, const u8 *buf, size_t len);

/*
 * BP8: copy the record (the verifier only proved one byte of buf: the
 * series declares no __sz), refuse a second call while one is in flight,
 * hand the copy to the command handler, free it.
 */
__bpf_kfunc int bpf_buffer_parser(char *buf, int buf_sz, struct bpf_parser_context *ctx)
{
	void *copy;
	int ret;

	if (!buf || buf_sz <= 0 || !ctx)
		return -EINVAL;
	copy = kvmalloc(buf_sz, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	if (copy_from_kernel_nofault(copy, buf, buf_sz)) {
		kvfree(copy);
		return -EFAULT;
	}
	if (cmpxchg(&ctx->buf, NULL, copy) != NULL) {
		kvfree(copy);
		return -EBUSY;
	}
	ret = kexec_buff_parser(ctx, copy, buf_sz);
	WRITE_ONCE(ctx->buf, NULL);
	kvfree(copy);
	return ret;
}

__bpf_kfunc_end_defs();

BTF_KFUNCS_START(kexecd_ref_kfunc_ids)
BTF_ID_FLAGS(func, bpf_get_parser_context, KF_ACQUIRE | KF_RET_NULL)
BTF_ID_FLAGS(func, bpf_put_parser_context, KF_RELEASE)
BTF_ID_FLAGS(func, bpf_buffer_parser, KF_SLEEPABLE)
BTF_KFUNCS_END(kexecd_ref_kfunc_ids)

static const struct btf_kfunc_id_set kexecd_ref_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &kexecd_ref_kfunc_ids,
};

/* 6.12 lets fentry.s attach to a function in an fmodret set with KF_SLEEPABLE. */
BTF_KFUNCS_START(kexecd_ref_anchor_ids)
BTF_ID_FLAGS(func, kexec_image_parser_anchor, KF_SLEEPABLE)
BTF_KFUNCS_END(kexecd_ref_anchor_ids)

static const struct btf_kfunc_id_set kexecd_ref_anchor_set = {
	.owner = THIS_MODULE,
	.set = &kexecd_ref_anchor_ids,
};

/* ------------------------------------------------------------------------
 * Commands (L8b kexec_buff_parser, draft bugs fixed: COPY and DONE return 0).
 */

static int set_buf(char **dst, unsigned long *dst_sz, const u8 *src, size_t len)
{
	char *n = kvmalloc(len ? len : 1, GFP_KERNEL);

	if (!n)
		return -ENOMEM;
	memcpy(n, src, len);
	kvfree(*dst);
	*dst = n;
	*dst_sz = len;
	return 0;
}

static int queue_next(struct kexec_context *k, const u8 *src, size_t len)
{
	int i;

	for (i = 0; i < KEXEC_BPF_MAX_BUFS; i++)
		if (!k->next_parsing_buf[i])
			return set_buf(&k->next_parsing_buf[i], &k->next_parsing_buf_sz[i], src, len);
	return -ENOMEM;
}

/* gzip (RFC 1952) header -> offset of the deflate stream, or 0. */
static size_t gzip_header(const u8 *p, size_t n)
{
	size_t off = 10;
	u8 flg;

	if (n < 18 || p[0] != 0x1f || p[1] != 0x8b || p[2] != 8)
		return 0;
	flg = p[3];
	if (flg & 4) { /* FEXTRA */
		if (off + 2 > n)
			return 0;
		off += 2 + (p[off] | p[off + 1] << 8);
	}
	if (flg & 8) /* FNAME */
		while (off < n && p[off++])
			;
	if (flg & 16) /* FCOMMENT */
		while (off < n && p[off++])
			;
	if (flg & 2) /* FHCRC */
		off += 2;
	return off < n ? off : 0;
}

/* One-shot raw inflate into out[cap]; -ENOSPC when cap is too small. */
static int inflate_to(const u8 *in, size_t n, u8 *out, size_t cap, size_t *used)
{
	struct z_stream_s zs = {};
	int ret;

	zs.workspace = vmalloc(zlib_inflate_workspacesize());
	if (!zs.workspace)
		return -ENOMEM;
	if (zlib_inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
		vfree(zs.workspace);
		return -EINVAL;
	}
	zs.next_in = in;
	zs.avail_in = n;
	zs.next_out = out;
	zs.avail_out = cap;
	ret = zlib_inflate(&zs, Z_FINISH);
	*used = zs.total_out;
	zlib_inflateEnd(&zs);
	vfree(zs.workspace);
	if (ret == Z_STREAM_END)
		return 0;
	return zs.avail_out == 0 ? -ENOSPC : -EINVAL;
}

static int unzstd_to(const u8 *in, size_t n, u8 *out, size_t cap, size_t *used)
{
	size_t wsz = zstd_dctx_workspace_bound();
	void *ws = vmalloc(wsz);
	zstd_dctx *dctx;
	size_t r;

	if (!ws)
		return -ENOMEM;
	dctx = zstd_init_dctx(ws, wsz);
	if (!dctx) {
		vfree(ws);
		return -EINVAL;
	}
	r = zstd_decompress_dctx(dctx, out, cap, in, n);
	vfree(ws);
	if (zstd_is_error(r))
		return zstd_get_error_code(r) == ZSTD_error_dstSize_tooSmall ? -ENOSPC : -EINVAL;
	*used = r;
	return 0;
}

/*
 * DECOMPRESS: the decompressor is picked by payload magic (PD). The
 * kernel's lib/decompress_* are not exported to modules; zlib_inflate and
 * zstd_decompress_dctx (lib/zlib_inflate, lib/zstd) are, so the gzip header
 * is parsed here and the output grows by doubling up to PD's 512 MiB cap.
 */
static int decompress(const u8 *in, size_t n, char **out, unsigned long *out_sz)
{
	size_t cap = max_t(size_t, n * 4, 1 << 20), used = 0, hdr = 0;
	bool gzip = false;
	int ret;

	if (n >= 4 && get_unaligned_le32(in) == 0xfd2fb528)
		gzip = false;
	else if ((hdr = gzip_header(in, n)))
		gzip = true;
	else
		return -EINVAL;
	for (;;) {
		u8 *buf = vmalloc(cap);

		if (!buf)
			return -ENOMEM;
		ret = gzip ? inflate_to(in + hdr, n - hdr, buf, cap, &used) : unzstd_to(in, n, buf, cap, &used);
		if (!ret) {
			kvfree(*out);
			*out = buf;
			*out_sz = used;
			return 0;
		}
		vfree(buf);
		if (ret != -ENOSPC || cap >= DECOMPRESS_CAP)
			return ret == -ENOSPC ? -EFBIG : ret;
		cap = min_t(size_t, cap * 2, DECOMPRESS_CAP);
	}
}

/*
 * VERIFY_SIG: the payload is one whole PE (EC); IMA_CHECK: the .ima blob of
 * the PE that VERIFY_SIG just refused (the only binding a blob-only command
 * allows). Each passed PE counts; see kexecd_ref_pesig.c for the checks.
 */
static int check_pe_signature(struct bpf_parser_context *pctx, u16 cmd, const u8 *payload, u32 plen)
{
	u8 sum[SHA256_DIGEST_SIZE];
	int ret;

	if (!plen)
		return -EINVAL;
	if (cmd == KEXEC_BPF_CMD_VERIFY_SIG) {
		sha256(payload, plen, sum);
		ret = ref_verify_pe(payload, plen, ref_keyring);
		pr_info("VERIFY_SIG PE %u bytes sha256 %*phN: %s (%d)\n", plen, 8, sum,
			ret ? "refused" : "verified", ret);
		kvfree(pctx->refused_pe);
		pctx->refused_pe = NULL;
		if (ret) {
			pctx->sig_refused++;
			/* kept for an IMA_CHECK; the run fails anyway without one */
			pctx->refused_pe = kvmemdup(payload, plen, GFP_KERNEL);
			pctx->refused_pe_len = plen;
			return ret;
		}
	} else {
		if (!pctx->refused_pe)
			return -EINVAL; /* vouches for no PE */
		ret = ref_ima_check(payload, plen, pctx->refused_pe, pctx->refused_pe_len, ref_keyring);
		pr_info("IMA_CHECK %u-byte blob for PE %zu bytes: %s (%d)\n", plen, pctx->refused_pe_len,
			ret ? "refused" : "verified", ret);
		kvfree(pctx->refused_pe);
		pctx->refused_pe = NULL;
		if (ret) {
			pctx->sig_refused++;
			return ret;
		}
	}
	pctx->verified++;
	return 0;
}

static int kexec_buff_parser(struct bpf_parser_context *pctx, const u8 *buf, size_t len)
{
	struct kexec_context *k = pctx->kctx;
	const struct cmd_hdr *h = (const void *)buf;
	const u8 *payload = buf + sizeof(*h);
	u32 plen;
	int ret;

	if (len < sizeof(*h))
		return -EINVAL;
	plen = le32_to_cpu(h->payload_len);
	if (plen > len - sizeof(*h))
		return -EINVAL;
	/* num_chunks is documented as 0 for this generation (the newest
	 * tools' chunk table is not modelled). */
	if (le16_to_cpu(h->num_chunks))
		return -EINVAL;
	/* Under a signature mode the parts must come from PEs this kernel
	 * side checked: a parser that ignores sig_mode loads nothing. */
	if ((le16_to_cpu(h->cmd) == KEXEC_BPF_CMD_COPY || le16_to_cpu(h->cmd) == KEXEC_BPF_CMD_DECOMPRESS) &&
	    k->sig_mode != KEXEC_SIG_NONE && !pctx->verified) {
		pr_info("sig_mode %d: command %u before any PE passed VERIFY_SIG/IMA_CHECK\n", k->sig_mode,
			le16_to_cpu(h->cmd));
		return -EKEYREJECTED;
	}

	switch (le16_to_cpu(h->cmd)) {
	case KEXEC_BPF_CMD_VERIFY_SIG:
	case KEXEC_BPF_CMD_IMA_CHECK:
		ret = check_pe_signature(pctx, le16_to_cpu(h->cmd), payload, plen);
		break;
	case KEXEC_BPF_CMD_DONE:
		k->parsed = true;
		ret = 0;
		break;
	case KEXEC_BPF_CMD_DECOMPRESS:
		if (h->subcmd != KEXEC_BPF_SUBCMD_KERNEL)
			return -EINVAL;
		ret = decompress(payload, plen, &k->kernel, &k->kernel_sz);
		if (!ret && h->pipeline_flag == KEXEC_BPF_PIPELINE_FILL)
			ret = queue_next(k, k->kernel, k->kernel_sz);
		if (!ret)
			pr_info("DECOMPRESS KERNEL: %u -> %lu bytes\n", plen, k->kernel_sz);
		break;
	case KEXEC_BPF_CMD_COPY:
		switch (h->subcmd) {
		case KEXEC_BPF_SUBCMD_KERNEL:
			ret = plen ? set_buf(&k->kernel, &k->kernel_sz, payload, plen) : -EINVAL;
			break;
		case KEXEC_BPF_SUBCMD_INITRD:
			ret = plen ? set_buf(&k->initrd, &k->initrd_sz, payload, plen) : 0;
			break;
		case KEXEC_BPF_SUBCMD_CMDLINE:
			ret = plen ? set_buf(&k->cmdline, &k->cmdline_sz, payload, plen) : -EINVAL;
			break;
		default:
			return -EINVAL;
		}
		if (!ret && plen && h->pipeline_flag == KEXEC_BPF_PIPELINE_FILL)
			ret = queue_next(k, payload, plen);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (!ret)
		pctx->commands++;
	return ret;
}

/* ------------------------------------------------------------------------
 * Parser container: signature (L8b verify_elf_sig) and layout
 * (validate_elf_bpf_sections, get_symbol_from_elf).
 */

enum sig_result { SIG_OK, SIG_NONE, SIG_BAD };

static enum sig_result check_signature(const u8 *buf, size_t *len)
{
	const size_t marker = sizeof(MODULE_SIG_STRING) - 1;
	const struct module_signature *ms;
	size_t n = *len, sig_len;
	int ret;

	if (n < marker || memcmp(buf + n - marker, MODULE_SIG_STRING, marker))
		return SIG_NONE;
	n -= marker;
	if (n < sizeof(*ms))
		return SIG_BAD;
	ms = (const void *)(buf + n - sizeof(*ms));
	n -= sizeof(*ms);
	sig_len = be32_to_cpu(ms->sig_len);
	if (ms->id_type != PKEY_ID_PKCS7 || !sig_len || sig_len > n)
		return SIG_BAD;
	n -= sig_len;
	ret = verify_pkcs7_signature(buf, n, buf + n, sig_len, ref_keyring, VERIFYING_MODULE_SIGNATURE,
				     NULL, NULL);
	if (ret) {
		pr_info("parser container signature: %d\n", ret);
		return SIG_BAD;
	}
	*len = n;
	return SIG_OK;
}

struct blob {
	const u8 *data;
	size_t size;
};

struct container {
	struct blob parser[MAX_PARSERS];
	int nparsers;
	struct blob nested;
};

static const Elf64_Shdr *elf_sections(const u8 *buf, size_t len, const char **strtab, size_t *strsz,
				      unsigned int *nsec)
{
	const Elf64_Ehdr *eh = (const void *)buf;
	const Elf64_Shdr *sh, *str;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return NULL;
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || !eh->e_shnum || eh->e_shstrndx == 0 ||
	    eh->e_shstrndx >= eh->e_shnum || eh->e_shoff > len ||
	    (u64)eh->e_shnum * sizeof(Elf64_Shdr) > len - eh->e_shoff)
		return NULL;
	sh = (const void *)(buf + eh->e_shoff);
	str = &sh[eh->e_shstrndx];
	if (str->sh_offset > len || str->sh_size > len - str->sh_offset || !str->sh_size ||
	    buf[str->sh_offset + str->sh_size - 1] != 0)
		return NULL;
	*strtab = (const char *)buf + str->sh_offset;
	*strsz = str->sh_size;
	*nsec = eh->e_shnum;
	return sh;
}

static int validate_container(const u8 *buf, size_t len, struct container *c)
{
	const char *strtab;
	size_t strsz;
	unsigned int nsec, i;
	const Elf64_Shdr *sh = elf_sections(buf, len, &strtab, &strsz, &nsec);
	const Elf64_Ehdr *eh = (const void *)buf;

	if (!sh)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	for (i = 1; i < nsec; i++) {
		const char *name;

		if (i == eh->e_shstrndx)
			continue;
		if (sh[i].sh_name >= strsz || sh[i].sh_offset > len || sh[i].sh_size > len - sh[i].sh_offset)
			return -EINVAL;
		name = strtab + sh[i].sh_name;
		if (!strcmp(name, ".bpf.nested")) {
			if (c->nested.data)
				return -EINVAL;
			c->nested.data = buf + sh[i].sh_offset;
			c->nested.size = sh[i].sh_size;
		} else if (strlen(name) == 6 && !strncmp(name, ".bpf.", 5) && name[5] == '1' + c->nparsers &&
			   c->nparsers < MAX_PARSERS) {
			/* .bpf.1 .. .bpf.8 in order: no gaps, no duplicates */
			c->parser[c->nparsers].data = buf + sh[i].sh_offset;
			c->parser[c->nparsers].size = sh[i].sh_size;
			c->nparsers++;
		} else {
			return -EINVAL;
		}
	}
	return c->nparsers ? 0 : -EINVAL;
}

/* opts_data / opts_insn of a .bpf.N object, without the trailing NUL. */
static int find_symbol(const struct blob *obj, const char *want, struct blob *out)
{
	const char *shstr;
	size_t shstrsz;
	unsigned int nsec, i;
	const Elf64_Shdr *sh = elf_sections(obj->data, obj->size, &shstr, &shstrsz, &nsec);

	if (!sh)
		return -EINVAL;
	for (i = 1; i < nsec; i++) {
		const Elf64_Shdr *symsh = &sh[i], *strsh;
		const Elf64_Sym *sym;
		size_t nsym, j;

		if (symsh->sh_type != SHT_SYMTAB)
			continue;
		if (symsh->sh_link >= nsec || symsh->sh_offset > obj->size ||
		    symsh->sh_size > obj->size - symsh->sh_offset)
			return -EINVAL;
		strsh = &sh[symsh->sh_link];
		if (strsh->sh_offset > obj->size || strsh->sh_size > obj->size - strsh->sh_offset)
			return -EINVAL;
		sym = (const void *)(obj->data + symsh->sh_offset);
		nsym = symsh->sh_size / sizeof(*sym);
		for (j = 1; j < nsym; j++) {
			const Elf64_Shdr *dsh;

			if (sym[j].st_name >= strsh->sh_size ||
			    strnlen((const char *)obj->data + strsh->sh_offset + sym[j].st_name,
				    strsh->sh_size - sym[j].st_name) == strsh->sh_size - sym[j].st_name ||
			    strcmp((const char *)obj->data + strsh->sh_offset + sym[j].st_name, want))
				continue;
			if (!sym[j].st_shndx || sym[j].st_shndx >= nsec || sym[j].st_size < 2)
				return -EINVAL;
			dsh = &sh[sym[j].st_shndx];
			if (dsh->sh_type == SHT_NOBITS || dsh->sh_offset > obj->size ||
			    dsh->sh_size > obj->size - dsh->sh_offset || sym[j].st_value > dsh->sh_size ||
			    sym[j].st_size > dsh->sh_size - sym[j].st_value)
				return -EINVAL;
			out->data = obj->data + dsh->sh_offset + sym[j].st_value;
			out->size = sym[j].st_size - 1;
			return 0;
		}
	}
	return -ENOENT;
}

/* ------------------------------------------------------------------------
 * One parser: light skeleton in the kernel, attach, anchor, detach.
 */

/* The series' fixed fd table (SK): maps ringbuf_1..4, .rodata, .data,
 * .rodata.str1.1, .bss, one program; ctx.sz = 0x9c. */
struct parser_skel {
	struct bpf_loader_ctx ctx;
	struct bpf_map_desc maps[8];
	struct bpf_prog_desc progs[1];
	int link_fd;
};

static int run_parser(const struct blob *obj, struct kexec_context *k, int layer, int index,
		      struct kexecd_ref_load *req)
{
	struct blob data, insn;
	struct parser_skel *skel;
	struct bpf_load_and_run_opts opts = {};
	struct bpf_parser_context *pctx;
	ktime_t t0, t1;
	int ret, i;

	ret = find_symbol(obj, "opts_data", &data);
	if (!ret)
		ret = find_symbol(obj, "opts_insn", &insn);
	if (ret) {
		pr_info("layer %d .bpf.%d: no opts_data/opts_insn (%d)\n", layer, index, ret);
		return ret;
	}
	skel = skel_alloc(sizeof(*skel));
	if (!skel)
		return -ENOMEM;
	skel->ctx.sz = offsetof(struct parser_skel, link_fd);
	opts.ctx = &skel->ctx;
	opts.data = data.data;
	opts.data_sz = data.size;
	opts.insns = insn.data;
	opts.insns_sz = insn.size;
	t0 = ktime_get();
	ret = bpf_load_and_run(&opts);
	if (ret < 0) {
		pr_info("layer %d .bpf.%d: %s (%d)\n", layer, index, opts.errstr, ret);
		goto out;
	}
	ret = skel_raw_tracepoint_open(NULL, skel->progs[0].prog_fd);
	if (ret < 0) {
		pr_info("layer %d .bpf.%d: attach to kexec_image_parser_anchor: %d\n", layer, index, ret);
		goto out;
	}
	skel->link_fd = ret;

	pctx = kzalloc(sizeof(*pctx), GFP_KERNEL);
	if (!pctx) {
		ret = -ENOMEM;
		goto out;
	}
	kref_init(&pctx->ref);
	pctx->kctx = k;
	mutex_lock(&ctx_lock);
	pctx->id = next_parser_id++;
	current_pctx = pctx;
	mutex_unlock(&ctx_lock);

	k->parsed = false;
	t1 = ktime_get();
	kexec_image_parser_anchor(k, pctx->id);

	mutex_lock(&ctx_lock);
	current_pctx = NULL;
	mutex_unlock(&ctx_lock);
	req->commands += pctx->commands;
	if (k->parsed)
		req->verified += pctx->verified;
	else if (pctx->sig_refused)
		req->status = KEXECD_REF_PE_SIGNATURE;
	/* Where a BPF staging's time goes: loading (the verifier) vs parsing. */
	pr_info("layer %d .bpf.%d: %u commands, %u PE(s) verified, %s (load, verify, attach %lld ms; anchor %lld ms)\n",
		layer, index, pctx->commands, pctx->verified, k->parsed ? "DONE" : "no DONE",
		ktime_ms_delta(t1, t0), ktime_ms_delta(ktime_get(), t1));
	kref_put(&pctx->ref, pctx_release);
	ret = k->parsed ? 0 : -EINVAL;
out:
	/* detach, then the program and maps (ours: the fds are in the
	 * calling task's table, as with the series' in-kernel skeleton) */
	if (skel->link_fd > 0)
		close_fd(skel->link_fd);
	if (skel->progs[0].prog_fd > 0)
		close_fd(skel->progs[0].prog_fd);
	for (i = 0; i < ARRAY_SIZE(skel->maps); i++)
		if (skel->maps[i].map_fd > 0)
			close_fd(skel->maps[i].map_fd);
	skel_free(skel);
	return ret;
}

static void free_bufs(char **bufs, unsigned long *sizes)
{
	int i;

	for (i = 0; i < KEXEC_BPF_MAX_BUFS; i++) {
		kvfree(bufs[i]);
		bufs[i] = NULL;
		sizes[i] = 0;
	}
}

static void free_outputs(struct kexec_context *k)
{
	kvfree(k->kernel);
	kvfree(k->initrd);
	kvfree(k->cmdline);
	k->kernel = k->initrd = k->cmdline = NULL;
	k->kernel_sz = k->initrd_sz = k->cmdline_sz = 0;
}

/*
 * One parser container = one layer; .bpf.nested (itself a signed
 * container) is the next layer over the buffers this one queued.
 */
static int process_container(const u8 *buf, size_t len, struct kexec_context *k, int depth,
			     struct kexecd_ref_load *req)
{
	struct container c;
	enum sig_result sig;
	int ret = -EINVAL, i;

	if (depth >= MAX_NESTED_DEPTH) {
		pr_info("nested containers deeper than %d\n", MAX_NESTED_DEPTH);
		req->status = KEXECD_REF_NOT_CONTAINER;
		return -EINVAL;
	}
	sig = check_signature(buf, &len);
	if (sig == SIG_BAD) {
		req->status = KEXECD_REF_NOT_CONTAINER;
		return -EINVAL;
	}
	if (sig == SIG_NONE && sig_enforce) {
		pr_info("layer %d: unsigned parser container, signatures enforced\n", depth + 1);
		req->status = KEXECD_REF_UNSIGNED;
		return -EKEYREJECTED;
	}
	if (validate_container(buf, len, &c)) {
		pr_info("layer %d: not a parser container\n", depth + 1);
		req->status = KEXECD_REF_NOT_CONTAINER;
		return -EINVAL;
	}
	for (i = 0; i < c.nparsers; i++) {
		/* A failed alternative leaves nothing behind for the next
		 * one; a nested layer starts from the outer layer's parts. */
		if (depth == 0)
			free_outputs(k);
		free_bufs(k->next_parsing_buf, k->next_parsing_buf_sz);
		ret = run_parser(&c.parser[i], k, depth + 1, i + 1, req);
		if (!ret) {
			req->status = KEXECD_REF_OK; /* an earlier alternative's refusal is moot */
			break;
		}
	}
	if (ret) {
		/* a PE the kernel side refused says more than "no parser" */
		if (req->status != KEXECD_REF_PE_SIGNATURE)
			req->status = KEXECD_REF_NO_PARSER;
		return req->status == KEXECD_REF_PE_SIGNATURE ? -EKEYREJECTED : ret;
	}
	req->layers++;
	if (!c.nested.data || !k->next_parsing_buf[0])
		return 0;
	/* The queued buffers become the next layer's input. */
	if (depth > 0)
		free_bufs(k->parsing_buf, k->parsing_buf_sz);
	memcpy(k->parsing_buf, k->next_parsing_buf, sizeof(k->parsing_buf));
	memcpy(k->parsing_buf_sz, k->next_parsing_buf_sz, sizeof(k->parsing_buf_sz));
	memset(k->next_parsing_buf, 0, sizeof(k->next_parsing_buf));
	memset(k->next_parsing_buf_sz, 0, sizeof(k->next_parsing_buf_sz));
	/* Same context: the nested layer's commands replace what this
	 * layer produced (DECOMPRESS KERNEL), the rest stands. */
	return process_container(c.nested.data, c.nested.size, k, depth + 1, req);
}

static int write_part(int fd, const char *data, size_t len)
{
	struct file *f = fget(fd);
	loff_t pos = 0;
	int ret = 0;

	if (!f)
		return -EBADF;
	if (!(f->f_mode & FMODE_WRITE)) {
		fput(f);
		return -EBADF;
	}
	while (len) {
		ssize_t n = kernel_write(f, data, min_t(size_t, len, SZ_64M), &pos);

		if (n <= 0) {
			ret = n ? n : -EIO;
			break;
		}
		data += n;
		len -= n;
	}
	fput(f);
	return ret;
}

static long do_load(struct kexecd_ref_load *req)
{
	struct kexec_context *k;
	void *parser = NULL, *image = NULL;
	size_t parser_len = 0, image_len = 0;
	ssize_t r;
	long ret;

	k = kzalloc(sizeof(*k), GFP_KERNEL);
	if (!k)
		return -ENOMEM;
	req->layers = req->commands = req->status = req->verified = 0;
	/* As kimage_file_prepare_segments: kernel_fd as the kexec image,
	 * initrd_fd whole, up to 4 GiB. L8b reads it as READING_UNKNOWN, but
	 * 6.12's IPE WARNs on that id ("no rule setup for kernel_read_file
	 * enum 0"), so it is read as the initramfs it replaces. */
	r = kernel_read_file_from_fd(req->parser_fd, 0, &parser, PARSER_FILE_MAX, NULL, READING_KEXEC_IMAGE);
	if (r < 0) {
		ret = r;
		goto out;
	}
	parser_len = r;
	r = kernel_read_file_from_fd(req->image_fd, 0, &image, min_t(u64, SZ_4G - 1, SSIZE_MAX), NULL,
				     READING_KEXEC_INITRAMFS);
	if (r < 0) {
		ret = r;
		goto out;
	}
	image_len = r;
	k->kdump = req->flags & KEXEC_FILE_ON_CRASH;
	k->sig_mode = sig_mode;
	k->parsing_buf[0] = image;
	k->parsing_buf_sz[0] = image_len;

	ret = process_container(parser, parser_len, k, 0, req);
	if (ret)
		goto out;
	if (!k->parsed || !k->kernel || !k->initrd || !k->cmdline) {
		pr_info("parsed=%d kernel=%lu initrd=%lu cmdline=%lu: incomplete\n", k->parsed, k->kernel_sz,
			k->initrd_sz, k->cmdline_sz);
		req->status = KEXECD_REF_INCOMPLETE;
		ret = -EINVAL;
		goto out;
	}
	if (k->cmdline[k->cmdline_sz - 1]) {
		char *c = kvmalloc(k->cmdline_sz + 1, GFP_KERNEL);

		if (!c) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(c, k->cmdline, k->cmdline_sz);
		c[k->cmdline_sz] = 0;
		kvfree(k->cmdline);
		k->cmdline = c;
		k->cmdline_sz++;
	}
	ret = write_part(req->kernel_fd, k->kernel, k->kernel_sz);
	if (!ret)
		ret = write_part(req->initrd_fd, k->initrd, k->initrd_sz);
	if (!ret)
		ret = write_part(req->cmdline_fd, k->cmdline, k->cmdline_sz);
	if (ret) {
		req->status = KEXECD_REF_OUTPUT;
		goto out;
	}
	req->kernel_size = k->kernel_sz;
	req->initrd_size = k->initrd_sz;
	req->cmdline_size = k->cmdline_sz;
	pr_info("decomposed: kernel %lu, initrd %lu, cmdline %lu bytes, %u layer(s), %u commands, sig_mode %d, "
		"%u PE(s) verified\n", k->kernel_sz, k->initrd_sz, k->cmdline_sz, req->layers, req->commands,
		k->sig_mode, req->verified);
out:
	/* parsing_buf[0] of layer one is the image; nested layers' inputs
	 * were freed as they were replaced. */
	if (k->parsing_buf[0] != image)
		free_bufs(k->parsing_buf, k->parsing_buf_sz);
	free_bufs(k->next_parsing_buf, k->next_parsing_buf_sz);
	free_outputs(k);
	vfree(image);
	vfree(parser);
	kfree(k);
	return ret;
}

static long ref_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kexecd_ref_load req;
	long ret;

	if (cmd != KEXECD_REF_LOAD)
		return -ENOTTY;
	if (!capable(CAP_SYS_BOOT))
		return -EPERM;
	if (copy_from_user(&req, (void __user *)arg, sizeof(req)))
		return -EFAULT;
	/* the kexec lock of the series: one load at a time */
	if (!mutex_trylock(&load_lock))
		return -EBUSY;
	ret = do_load(&req);
	mutex_unlock(&load_lock);
	if (copy_to_user((void __user *)arg, &req, sizeof(req)))
		return -EFAULT;
	return ret;
}

static const struct file_operations ref_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = ref_ioctl,
	.compat_ioctl = ref_ioctl,
};

static struct miscdevice ref_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kexecd-ref",
	.fops = &ref_fops,
	.mode = 0600,
};

static int add_cert(const char *path)
{
	void *data = NULL;
	key_ref_t kr;
	ssize_t n;

	n = kernel_read_file_from_path(path, 0, &data, 1 << 20, NULL, READING_X509_CERTIFICATE);
	if (n < 0)
		return n;
	kr = key_create_or_update(make_key_ref(ref_keyring, 1), "asymmetric", NULL, data, n,
				  (KEY_POS_ALL & ~KEY_POS_SETATTR) | KEY_USR_VIEW | KEY_USR_READ,
				  KEY_ALLOC_NOT_IN_QUOTA | KEY_ALLOC_BYPASS_RESTRICTION);
	vfree(data);
	if (IS_ERR(kr))
		return PTR_ERR(kr);
	pr_info("loaded certificate '%s'\n", key_ref_to_ptr(kr)->description);
	key_ref_put(kr);
	return 0;
}

/* Stands in for the secondary/platform keyrings: only the test's certs
 * (cert=a.der,b.der: the parser container's signer, the PEs' signer). */
static int load_cert(void)
{
	char *list, *cur, *path;
	int ret = 0;

	ref_keyring = keyring_alloc(".kexecd_ref", GLOBAL_ROOT_UID, GLOBAL_ROOT_GID, current_cred(),
				    (KEY_POS_ALL & ~KEY_POS_SETATTR) | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH,
				    KEY_ALLOC_NOT_IN_QUOTA, NULL, NULL);
	if (IS_ERR(ref_keyring))
		return PTR_ERR(ref_keyring);
	if (!cert || !*cert)
		return 0;
	list = kstrdup(cert, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	cur = list;
	while (!ret && (path = strsep(&cur, ",")))
		if (*path)
			ret = add_cert(path);
	kfree(list);
	return ret;
}

static int __init kexecd_ref_init(void)
{
	int ret;

	ret = load_cert();
	if (ret) {
		pr_err("certificate '%s': %d\n", cert, ret);
		goto fail;
	}
	ret = register_btf_kfunc_id_set(BPF_PROG_TYPE_TRACING, &kexecd_ref_kfunc_set);
	if (!ret)
		ret = register_btf_fmodret_id_set(&kexecd_ref_anchor_set);
	if (ret) {
		pr_err("registering the kfuncs and the anchor: %d\n", ret);
		goto fail;
	}
	ret = misc_register(&ref_dev);
	if (ret)
		goto fail;
	pr_info("ready: sig_enforce=%d sig_mode=%d\n", sig_enforce, sig_mode);
	return 0;
fail:
	if (!IS_ERR_OR_NULL(ref_keyring))
		key_put(ref_keyring);
	return ret;
}

static void __exit kexecd_ref_exit(void)
{
	misc_deregister(&ref_dev);
	key_put(ref_keyring);
}

module_init(kexecd_ref_init);
module_exit(kexecd_ref_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kexecd's reference kernel side of the kexec BPF image-parser series");
MODULE_IMPORT_NS(BPF_INTERNAL);
