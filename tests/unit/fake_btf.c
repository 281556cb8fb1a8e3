// SPDX-License-Identifier: LGPL-2.1-or-later
// Compiled with clang -g into an object whose .BTF section stands in for
// the vmlinux BTF of a kernel with the post-v7 kexec BPF parser series, so
// the probe's BTF walk is tested on real BTF without such a kernel.

struct kexec_context {
	_Bool kdump;
	_Bool parsed;
	int sig_mode;
	char *parsing_buf[16];
	unsigned long parsing_buf_sz[16];
	char *kernel;
	unsigned long kernel_sz;
};

__attribute__((noinline)) int kexec_image_parser_anchor(struct kexec_context *context,
							 unsigned long parser_id)
{
	return context->parsed + (int)parser_id;
}
