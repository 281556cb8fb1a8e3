// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 6 ("load"): the only door to the running kernel. The real
// implementation is the only code making kexec/reboot syscalls; the
// recording fake writes what it was handed into a directory so tests and
// benchmarks can assert the exact bytes without root.

#include <cstdint>
#include <memory>
#include <string>

#include "result.h"

struct btf;

namespace kexecd {

/* kexec_file_load flags (uapi linux/kexec.h). */
constexpr unsigned long kKexecFileUnload = 0x1;
constexpr unsigned long kKexecFileOnCrash = 0x2;
constexpr unsigned long kKexecFileNoInitramfs = 0x4;

/* The kernel's two kexec images: the one reboot(LINUX_REBOOT_CMD_KEXEC)
 * starts, and the crash kernel (KEXEC_FILE_ON_CRASH) a panic starts in
 * the memory crashkernel= reserved. Each loads and unloads alone. */
enum class Slot { Reboot, Crash };

const char *slotName(Slot slot);

struct KernelSupport {
	bool kexecFile = false;      // kexec_file_load exists (not ENOSYS)
	bool loaded = false;         // /sys/kernel/kexec_loaded
	bool loadDisabled = false;   // /proc/sys/kernel/kexec_load_disabled
	std::string lockdown;        // none|integrity|confidentiality ("" unknown)
	bool secureBoot = false;     // SecureBoot EFI variable
	bool bpfParser = false;      // BTF has kexec_image_parser_anchor + kexec_context
	std::string generation;      // "", "v6-v7", "post-v7", "newest" (KERNEL-ABI.md §6)
	std::string detail;          // why bpfParser is false/true, for status
	std::string sigField;        // kexec_context's signature-mode member: "sig_mode" (post-v7), "sig_enforced" (newest) or ""
	/* What that member asks of the parsers on this kernel: "none", "sig"
	 * (VERIFY_SIG per PE), "ima" (VERIFY_SIG, else IMA_CHECK), or "" when
	 * userspace cannot see it (no kernel of the series exposes it; the
	 * reference kernel side does, as a module parameter). */
	std::string sigMode;
	uint64_t crashSize = 0;      // /sys/kernel/kexec_crash_size: bytes crashkernel= reserved
	bool crashLoaded = false;    // /sys/kernel/kexec_crash_loaded
	/* uname's machine of the running kernel ("x86_64", "aarch64"): which
	 * image formats its kexec_file_load takes (checkKernelMachine); ""
	 * unknown, nothing is checked (the recording kernel unless told). */
	std::string machine;
};

struct LoadRequest {
	int kernelFd = -1;     // classic: the kernel; BPF: the parser container
	int initrdFd = -1;     // classic: the initrd or -1; BPF: the image container
	std::string cmdline;   // without the trailing NUL; the kernel gets it with NUL (or "" and length 0 for BPF)
	bool cmdlineEmpty = false; // pass cmdline_len 0 (BPF scheme)
	Slot slot = Slot::Reboot;
	unsigned long flags = 0; // KEXEC_FILE_* other than ON_CRASH, which slot sets
};

/* The flags kexec_file_load() gets for request: its flags and its slot's. */
unsigned long kexecFileFlags(const LoadRequest &request);

class KexecKernel
{
public:
	virtual ~KexecKernel() = default;

	virtual Result<KernelSupport> probe() = 0;
	virtual Result<void> load(const LoadRequest &request) = 0;
	/* Each touches its slot only. */
	virtual Result<void> unload(Slot slot) = 0;
	virtual Result<bool> loaded(Slot slot) = 0;
	/* reboot(LINUX_REBOOT_CMD_KEXEC): does not return on success. */
	virtual Result<void> rebootKexec() = 0;
};

/* Paths of the real kernel's interfaces, each overridable for tests
 * (KEXECD_SYSFS_ROOT prefixes /sys and /proc reads). */
struct SystemPaths {
	std::string sysRoot = "/sys";
	std::string procRoot = "/proc";
};

std::unique_ptr<KexecKernel> makeSyscallKernel(SystemPaths paths);

/* The reference kernel side (tests/kernel/kexecd_ref.ko) in front of the
 * real syscalls: a BPF-scheme load goes through the module's decomposition,
 * whose parts are then loaded with a classic kexec_file_load. */
std::unique_ptr<KexecKernel> makeBpfReferenceKernel(SystemPaths paths);

/* Fill bpfParser, generation, sigField and detail from a BTF that may hold
 * the series' types (KERNEL-ABI.md §6, §10): names and member types. */
void probeParserBtf(const struct btf *btf, KernelSupport &support);
/* The same from a BTF file (e.g. /sys/kernel/btf/vmlinux). */
void probeBtf(const std::string &path, KernelSupport &support);

/* Records into dir: kernel.bin, initrd.bin (absent when none),
 * cmdline.bin (exact bytes incl. NUL), flags, loaded ("1"/"0"), and
 * calls.log (one line per call); the crash slot's files have the prefix
 * "crash-" (crash-kernel.bin, crash-loaded, ...). Behaviour knobs read from dir at each
 * call: support.json (KernelSupport overrides, e.g. {"bpf_parser":true} or
 * {"crash_size":268435456}; crash_size is 0 unless set, as without
 * crashkernel=),
 * fail-load (errno number as text: loads fail with it), fail-load-once
 * (the same for the next load only), delay-ms (each load sleeps),
 * load-noop (loads return 0 and load nothing, as a draft BPF kernel),
 * fail-reboot (errno number as text: rebootKexec() fails with it). */
std::unique_ptr<KexecKernel> makeRecordingKernel(std::string dir);

/* fstat()s what it is handed and keeps nothing: benchmarks. */
std::unique_ptr<KexecKernel> makeNullKernel();

/* Parse --kernel=real | bpf-reference | fake:DIR | null. */
Result<std::unique_ptr<KexecKernel>> makeKernel(const std::string &spec, SystemPaths paths);

/* Map a kexec_file_load errno to a message a human can act on. */
std::string kexecErrnoHint(int errnum);

} // namespace kexecd
