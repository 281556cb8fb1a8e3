// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * --kernel=bpf-reference: the real kernel, with kexecd's reference kernel
 * side of the BPF parser series (tests/kernel/kexecd_ref.ko) standing in for
 * the part of kexec_file_load() an unpatched kernel lacks. The stager runs
 * its BPF path unchanged up to the syscall: the same two fds (signed parser
 * container, image container) and the same empty cmdline arrive here. The
 * module decomposes them exactly where a patched kernel would, with the
 * real parsers in the kernel's verifier; the parts it hands back are loaded
 * with a classic kexec_file_load(), as the patched kernel's own segment
 * loading would after decompose_kexec_image().
 */
#include "kernel.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/btf.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "fd.h"
#include "file_util.h"
#include "kexecd_ref_uapi.h"
#include "scheme.h"

namespace kexecd {

namespace {

const char *statusName(uint32_t status)
{
	switch (status) {
	case KEXECD_REF_OK: return "ok";
	case KEXECD_REF_NOT_CONTAINER: return "not a parser container (layout or signature)";
	case KEXECD_REF_UNSIGNED: return "unsigned parser container while signatures are enforced";
	case KEXECD_REF_NO_PARSER: return "no parser of a layer reported DONE";
	case KEXECD_REF_INCOMPLETE: return "parsed, but kernel, initrd or cmdline missing";
	case KEXECD_REF_OUTPUT: return "handing the parts back failed";
	case KEXECD_REF_PE_SIGNATURE: return "the kernel side refused a PE's signature (VERIFY_SIG, IMA_CHECK)";
	}
	return "unknown";
}

Result<UniqueFd> makeMemfd(const char *name)
{
	UniqueFd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
	if (!fd.valid())
		return makeError(Code::Io, fmt::format("memfd_create: {}", std::strerror(errno)), errno);
	return fd;
}

class BpfReferenceKernel : public KexecKernel
{
public:
	explicit BpfReferenceKernel(SystemPaths paths)
		: paths_(paths), real_(makeSyscallKernel(std::move(paths)))
	{
	}

	Result<KernelSupport> probe() override
	{
		auto s = real_->probe();
		if (!s)
			return s;
		/* The series' types live in the module's split BTF. */
		const std::string base = paths_.sysRoot + "/kernel/btf/vmlinux";
		const std::string mod = paths_.sysRoot + "/kernel/btf/kexecd_ref";
		struct btf *vmlinux = btf__parse(base.c_str(), nullptr);
		struct btf *btf = vmlinux ? btf__parse_split(mod.c_str(), vmlinux) : nullptr;
		KernelSupport r = *s;
		r.bpfParser = false;
		r.generation.clear();
		if (!btf) {
			r.detail = fmt::format("reference kernel side: no BTF at {} (kexecd_ref.ko not loaded)", mod);
		} else {
			probeParserBtf(btf, r);
			r.detail = "reference kernel side kexecd_ref.ko: " + r.detail;
			/* What the module puts into kexec_context.sig_mode. */
			if (auto v = detail::readSmallFile(paths_.sysRoot + "/module/kexecd_ref/parameters/sig_mode", 32))
				r.sigMode = sigModeName(std::strtol(v->c_str(), nullptr, 10));
		}
		btf__free(btf);
		btf__free(vmlinux);
		return r;
	}

	Result<void> load(const LoadRequest &request) override
	{
		/* The classic scheme never reaches the module. */
		if (!request.cmdlineEmpty)
			return real_->load(request);

		UniqueFd dev(::open(KEXECD_REF_DEVICE, O_RDWR | O_CLOEXEC));
		if (!dev.valid())
			return makeError(Code::KernelRefused,
					 fmt::format("{}: {} (is kexecd_ref.ko loaded?)", KEXECD_REF_DEVICE,
						     std::strerror(errno)), errno);
		auto kernel = makeMemfd("kexecd-ref-kernel");
		auto initrd = makeMemfd("kexecd-ref-initrd");
		auto cmdline = makeMemfd("kexecd-ref-cmdline");
		if (!kernel || !initrd || !cmdline)
			return makeError(Code::Io, "memfd_create for the reference kernel side's parts failed");

		struct kexecd_ref_load req = {};
		req.parser_fd = request.kernelFd;
		req.image_fd = request.initrdFd;
		req.kernel_fd = kernel->get();
		req.initrd_fd = initrd->get();
		req.cmdline_fd = cmdline->get();
		req.flags = static_cast<__u32>(kexecFileFlags(request));
		if (::ioctl(dev.get(), KEXECD_REF_LOAD, &req) < 0) {
			const int e = errno;
			/* As decompose_kexec_image() returning -EINVAL: the
			 * patched kernel goes on with the classic path over the
			 * same two fds, and that is the error the caller sees. */
			if (req.status == KEXECD_REF_NOT_CONTAINER) {
				auto classic = real_->load(request);
				if (classic)
					return classic;
				Error err = classic.takeError();
				err.message = fmt::format("reference kernel side: {}; the classic path then: {}",
							  statusName(req.status), err.message);
				return err;
			}
			return makeError(req.status == KEXECD_REF_PE_SIGNATURE ? Code::SignatureRejected
										: Code::KernelRefused,
					 fmt::format("kexec_file_load (reference kernel side): {}: {} ({})",
						     statusName(req.status), std::strerror(e), kexecErrnoHint(e)),
					 e);
		}

		std::string line(req.cmdline_size, '\0');
		if (req.cmdline_size == 0 ||
		    ::pread(cmdline->get(), line.data(), line.size(), 0) != static_cast<ssize_t>(line.size()))
			return makeError(Code::KernelRefused, "reference kernel side handed back no cmdline", EINVAL);
		/* The kernel side adds the NUL; LoadRequest wants the text. */
		line.resize(::strnlen(line.c_str(), line.size()));

		LoadRequest parts;
		parts.kernelFd = kernel->get();
		parts.initrdFd = initrd->get();
		parts.cmdline = line;
		parts.flags = kexecFileFlags(request);
		return real_->load(parts);
	}

	Result<void> unload(Slot slot) override { return real_->unload(slot); }
	Result<bool> loaded(Slot slot) override { return real_->loaded(slot); }
	Result<void> rebootKexec() override { return real_->rebootKexec(); }

private:
	SystemPaths paths_;
	std::unique_ptr<KexecKernel> real_;
};

} // namespace

std::unique_ptr<KexecKernel> makeBpfReferenceKernel(SystemPaths paths)
{
	return std::make_unique<BpfReferenceKernel>(std::move(paths));
}

} // namespace kexecd
