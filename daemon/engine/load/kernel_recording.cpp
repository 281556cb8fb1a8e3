// SPDX-License-Identifier: LGPL-2.1-or-later
// The recording fake kernel: for tests and benchmarks only. It stands in
// for the syscalls, nothing else: the rest of the pipeline runs for real.

#include "kernel.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace kexecd {

namespace {

class RecordingKernel : public KexecKernel
{
public:
	explicit RecordingKernel(std::string dir) : dir_(std::move(dir)) {}

	Result<KernelSupport> probe() override
	{
		log("probe");
		KernelSupport s;
		s.kexecFile = true;
		s.loaded = isLoaded(Slot::Reboot);
		s.crashLoaded = isLoaded(Slot::Crash);
		s.detail = "recording fake kernel";
		const std::string overrides = read("support.json");
		if (!overrides.empty()) {
			auto j = nlohmann::json::parse(overrides, nullptr, false);
			if (j.is_discarded())
				return makeError(Code::Internal, fmt::format("{}/support.json is not JSON", dir_));
			s.bpfParser = j.value("bpf_parser", false);
			s.generation = j.value("generation", s.bpfParser ? "post-v7" : "");
			s.sigMode = j.value("sig_mode", "");
			s.secureBoot = j.value("secure_boot", false);
			s.lockdown = j.value("lockdown", "none");
			s.loadDisabled = j.value("load_disabled", false);
			s.crashSize = j.value("crash_size", uint64_t{ 0 });
			s.machine = j.value("machine", "");
		}
		return s;
	}

	Result<void> load(const LoadRequest &request) override
	{
		log(fmt::format("load flags=0x{:x} cmdline_len={}", kexecFileFlags(request),
				request.cmdlineEmpty ? 0 : request.cmdline.size() + 1));
		/* Lets tests hold a staging in flight (Busy) deterministically. */
		if (const std::string delay = read("delay-ms"); !delay.empty())
			std::this_thread::sleep_for(std::chrono::milliseconds(std::stoul(delay)));
		std::string fail = read("fail-load");
		if (const std::string once = read("fail-load-once"); !once.empty()) {
			::unlink(path("fail-load-once").c_str());
			fail = once;
		}
		if (!fail.empty()) {
			const int e = std::stoi(fail);
			return makeError(Code::KernelRefused,
					 fmt::format("kexec_file_load: {} ({})", std::strerror(e), kexecErrnoHint(e)), e);
		}
		/* A draft kernel of the BPF series returns 0 having loaded nothing. */
		if (!read("load-noop").empty())
			return {};
		const Slot slot = request.slot;
		::unlink(path(slot, "initrd.bin").c_str());
		KEXECD_TRY(copyFd(request.kernelFd, slot, "kernel.bin"));
		if (request.initrdFd >= 0)
			KEXECD_TRY(copyFd(request.initrdFd, slot, "initrd.bin"));
		std::string cmdline = request.cmdlineEmpty ? std::string() : request.cmdline + '\0';
		KEXECD_TRY(write(slot, "cmdline.bin", cmdline));
		KEXECD_TRY(write(slot, "flags", fmt::format("0x{:x}\n", kexecFileFlags(request))));
		return write(slot, "loaded", "1\n");
	}

	Result<void> unload(Slot slot) override
	{
		log(slot == Slot::Crash ? "unload crash" : "unload");
		return write(slot, "loaded", "0\n");
	}

	Result<bool> loaded(Slot slot) override { return isLoaded(slot); }

	Result<void> rebootKexec() override
	{
		log("reboot-kexec");
		if (const std::string fail = read("fail-reboot"); !fail.empty()) {
			const int e = std::stoi(fail);
			return makeError(Code::KernelRefused, "reboot(LINUX_REBOOT_CMD_KEXEC) failed", e);
		}
		return {};
	}

private:
	std::string path(const char *name) const { return dir_ + "/" + name; }
	std::string path(Slot slot, const char *name) const
	{
		return dir_ + (slot == Slot::Crash ? "/crash-" : "/") + name;
	}

	std::string read(const char *name) const
	{
		std::ifstream in(path(name), std::ios::binary);
		std::ostringstream ss;
		ss << in.rdbuf();
		return ss.str();
	}

	bool isLoaded(Slot slot) const
	{
		const std::string s = read(slot == Slot::Crash ? "crash-loaded" : "loaded");
		return !s.empty() && s[0] == '1';
	}

	Result<void> write(Slot slot, const char *name, const std::string &data)
	{
		std::error_code ec;
		std::filesystem::create_directories(dir_, ec);
		const std::string file = path(slot, name);
		std::ofstream out(file, std::ios::binary | std::ios::trunc);
		out << data;
		if (!out)
			return makeError(Code::Io, fmt::format("fake kernel: writing {}", file));
		return {};
	}

	Result<void> copyFd(int fd, Slot slot, const char *name)
	{
		std::string data;
		char buf[1 << 16];
		off_t off = 0;
		for (;;) {
			ssize_t n = ::pread(fd, buf, sizeof(buf), off);
			if (n < 0)
				return makeError(Code::Io, fmt::format("fake kernel: reading fd: {}", std::strerror(errno)), errno);
			if (n == 0)
				break;
			data.append(buf, static_cast<size_t>(n));
			off += n;
		}
		return write(slot, name, data);
	}

	void log(const std::string &line)
	{
		std::error_code ec;
		std::filesystem::create_directories(dir_, ec);
		std::ofstream(path("calls.log"), std::ios::app) << line << '\n';
	}

	std::string dir_;
};

} // namespace

std::unique_ptr<KexecKernel> makeRecordingKernel(std::string dir)
{
	return std::make_unique<RecordingKernel>(std::move(dir));
}

} // namespace kexecd
