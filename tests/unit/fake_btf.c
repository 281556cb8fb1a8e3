// SPDX-License-Identifier: LGPL-2.1-or-later
// Compiled with clang -g into an object whose .BTF section stands in for
// the vmlinux BTF of a kernel with the kexec BPF parser series, so the
// probe's BTF walk is tested on real BTF without such a kernel. One source,
// one object per generation (KERNEL-ABI.md §6, §10), chosen with -D:
//   (none)          post-v7 (L8b): parsing_buf[16] pointers, sig_mode
//   FAKE_NEWEST     newest BPF side (EC): scalar parsing_buf, sig_enforced
//   FAKE_WRONG_TYPE the post-v7 names with a parsing_buf of another type
//   FAKE_V7         v6/v7: kernel only, no parsing_buf

enum kexec_sig_enforced { KEXEC_SIG_NONE, KEXEC_SIG_SIG, KEXEC_SIG_IMA };
typedef char *bufptr;

struct kexec_context {
	_Bool kdump;
	_Bool parsed;
#if defined(FAKE_NEWEST)
	enum kexec_sig_enforced sig_enforced;
	char *parsing_buf;
	unsigned long parsing_buf_sz;
#elif defined(FAKE_WRONG_TYPE)
	enum kexec_sig_enforced sig_mode;
	unsigned long parsing_buf[16];
	unsigned long parsing_buf_sz[16];
#elif !defined(FAKE_V7)
	enum kexec_sig_enforced sig_mode;
	bufptr parsing_buf[16]; /* through a typedef: the probe must peel it */
	unsigned long parsing_buf_sz[16];
#endif
	char *kernel;
	unsigned long kernel_sz;
};

__attribute__((noinline)) int kexec_image_parser_anchor(struct kexec_context *context,
							 unsigned long parser_id)
{
	return context->parsed + (int)parser_id;
}
