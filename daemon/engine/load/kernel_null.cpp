// SPDX-License-Identifier: LGPL-2.1-or-later
// The null kernel (--kernel=null): takes what a load hands it, fstat()s
// each fd and forgets it. For benchmarks, which must measure kexecd, not a
// fake that writes every byte to files. It claims both schemes and 512 MiB
// of crash memory, so a benchmark can ask for either scheme and slot.
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
		s.crashSize = uint64_t{ 512 } << 20;
		s.loaded = loaded_[0];
		s.crashLoaded = loaded_[1];
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
		loaded_[request.slot == Slot::Crash ? 1 : 0] = true;
		return {};
	}

	Result<void> unload(Slot slot) override
	{
		bool &loaded = loaded_[slot == Slot::Crash ? 1 : 0];
		if (!loaded)
			return makeError(Code::NotStaged, fmt::format("no {} kernel is staged", slotName(slot)));
		loaded = false;
		return {};
	}

	Result<bool> loaded(Slot slot) override { return loaded_[slot == Slot::Crash ? 1 : 0]; }

	Result<void> rebootKexec() override
	{
		return makeError(Code::Unsupported, "the null kernel cannot reboot");
	}

private:
	bool loaded_[2] = { false, false }; // reboot, crash
};

} // namespace

std::unique_ptr<KexecKernel> makeNullKernel()
{
	return std::make_unique<NullKernel>();
}

} // namespace kexecd
