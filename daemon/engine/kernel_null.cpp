// SPDX-License-Identifier: LGPL-2.1-or-later
// The null kernel (--kernel=null): takes what a load hands it, fstat()s
// each fd and forgets it. For benchmarks, which must measure kexecd, not a
// fake that writes every byte to files. It claims both schemes, so a
// benchmark can ask for either.
#include "kernel.h"

#include <sys/stat.h>

#include <cerrno>

#include <fmt/format.h>

namespace kexecd {

namespace {

class NullKernel final : public KexecKernel
{
public:
	Result<KernelSupport> probe() override
	{
		KernelSupport s;
		s.kexecFile = true;
		s.bpfParser = true;
		s.generation = "post-v7";
		s.lockdown = "none";
		s.detail = "null kernel (--kernel=null): loads are fstat()ed and dropped";
		return s;
	}

	Result<void> load(const LoadRequest &request) override
	{
		for (int fd : { request.kernelFd, request.initrdFd }) {
			struct stat st;
			if (fd >= 0 && fstat(fd, &st) < 0)
				return makeError(Code::KernelRefused, fmt::format("null kernel: fstat({}) failed", fd),
						 errno);
		}
		loaded_ = true;
		return {};
	}

	Result<void> unload() override
	{
		if (!loaded_)
			return makeError(Code::NotStaged, "no kernel is staged");
		loaded_ = false;
		return {};
	}

	Result<bool> loaded() override { return loaded_; }

	Result<void> rebootKexec() override
	{
		return makeError(Code::Unsupported, "the null kernel cannot reboot");
	}

private:
	bool loaded_ = false;
};

} // namespace

std::unique_ptr<KexecKernel> makeNullKernel()
{
	return std::make_unique<NullKernel>();
}

} // namespace kexecd
