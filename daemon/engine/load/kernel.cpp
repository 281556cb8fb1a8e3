// SPDX-License-Identifier: LGPL-2.1-or-later
#include "kernel.h"

#include <linux/reboot.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/btf.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "file_util.h"

namespace kexecd {

namespace {

/* sysfs/efivarfs attributes are tiny; "" when absent or unreadable. */
std::string readAttribute(const std::string &path)
{
	return detail::readSmallFile(path, 64 * 1024).value_or("");
}

uint64_t readNumber(const std::string &path)
{
	const std::string s = readAttribute(path);
	char *end = nullptr;
	errno = 0;
	const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
	return errno || end == s.c_str() ? 0 : v;
}

bool readFlag(const std::string &path)
{
	const std::string s = readAttribute(path);
	return !s.empty() && s[0] == '1';
}

/* "none [integrity] confidentiality" -> "integrity". */
std::string parseLockdown(const std::string &text)
{
	const size_t open = text.find('[');
	const size_t close = text.find(']', open);
	if (open == std::string::npos || close == std::string::npos)
		return {};
	return text.substr(open + 1, close - open - 1);
}

bool readSecureBoot(const std::string &sysRoot)
{
	/* efivarfs: 4 bytes of attributes, then the one-byte value. */
	const std::string v = readAttribute(sysRoot +
		"/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c");
	return v.size() >= 5 && v[4] == 1;
}

/* A member's type with typedefs and qualifiers peeled off. */
const struct btf_type *memberType(const struct btf *btf, const struct btf_member *m)
{
	const int id = btf__resolve_type(btf, m->type);
	return id < 0 ? nullptr : btf__type_by_id(btf, static_cast<__u32>(id));
}

bool isPointer(const struct btf_type *t)
{
	return t && btf_is_ptr(t);
}

bool isPointerArray(const struct btf *btf, const struct btf_type *t)
{
	if (!t || !btf_is_array(t))
		return false;
	const int elem = btf__resolve_type(btf, btf_array(t)->type);
	return elem >= 0 && isPointer(btf__type_by_id(btf, static_cast<__u32>(elem)));
}

bool isLongArray(const struct btf *btf, const struct btf_type *t)
{
	if (!t || !btf_is_array(t))
		return false;
	const int elem = btf__resolve_type(btf, btf_array(t)->type);
	const struct btf_type *e = elem < 0 ? nullptr : btf__type_by_id(btf, static_cast<__u32>(elem));
	return e && btf_is_int(e) && e->size == 8;
}

} // namespace

/*
 * KERNEL-ABI.md §6 and §10: the generations are told apart by the
 * members of struct kexec_context, and by their types, not just names:
 * post-v7 (L8b) has parsing_buf[16] (pointers) + parsing_buf_sz[16] and
 * sig_mode; the newest BPF side (EC) reads a scalar parsing_buf and a
 * field sig_enforced; v6/v7 has neither, only kernel. Our parsers index
 * parsing_buf[0] through CO-RE, which only the array generation satisfies.
 */
void probeParserBtf(const struct btf *btf, KernelSupport &support)
{
	const bool anchor = btf__find_by_name_kind(btf, "kexec_image_parser_anchor", BTF_KIND_FUNC) > 0;
	const int ctxId = btf__find_by_name_kind(btf, "kexec_context", BTF_KIND_STRUCT);
	if (!anchor || ctxId <= 0) {
		support.detail = "kernel BTF has no kexec_image_parser_anchor/kexec_context: "
				 "kernel lacks the kexec BPF parser series";
		return;
	}
	const struct btf_type *t = btf__type_by_id(btf, static_cast<__u32>(ctxId));
	const struct btf_type *parsingBuf = nullptr, *parsingBufSz = nullptr;
	bool sigEnforced = false, sigMode = false, kernel = false;
	const struct btf_member *m = btf_members(t);
	for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
		const char *name = btf__name_by_offset(btf, m->name_off);
		if (!name)
			continue;
		const std::string_view n(name);
		if (n == "parsing_buf")
			parsingBuf = memberType(btf, m);
		else if (n == "parsing_buf_sz")
			parsingBufSz = memberType(btf, m);
		sigEnforced |= n == "sig_enforced";
		sigMode |= n == "sig_mode";
		kernel |= n == "kernel";
	}
	if (parsingBuf && isPointerArray(btf, parsingBuf) && isLongArray(btf, parsingBufSz)) {
		support.generation = "post-v7";
		support.bpfParser = true;
		support.sigField = sigMode ? "sig_mode" : sigEnforced ? "sig_enforced" : "";
		support.detail = fmt::format("kernel BTF has kexec_image_parser_anchor, kexec_context ({}: "
					     "parsing_buf[] array)", support.generation);
	} else if (parsingBuf && isPointer(parsingBuf)) {
		support.generation = "newest";
		support.sigField = sigEnforced ? "sig_enforced" : "";
		support.detail = "kernel has the newest parser generation (scalar parsing_buf, sig_enforced), "
				 "which kexecd's parsers (built for the post-v7 parsing_buf[] array) do not target";
	} else if (parsingBuf) {
		support.generation = "unknown";
		support.detail = "kernel's kexec_context.parsing_buf has a type kexecd does not know "
				 "(neither the post-v7 array of pointers nor the newest scalar)";
	} else if (kernel) {
		support.generation = "v6-v7";
		support.detail = fmt::format("kernel has the {} parser generation (PE with .bpf section), "
					     "which kexecd does not target", support.generation);
	} else {
		support.generation = "unknown";
		support.detail = "kernel's kexec_context has neither parsing_buf nor kernel: unknown generation";
	}
}

void probeBtf(const std::string &path, KernelSupport &support)
{
	struct btf *btf = btf__parse(path.c_str(), nullptr);
	if (!btf) {
		support.detail = fmt::format("no kernel BTF at {}: cannot use BPF parsers", path);
		return;
	}
	probeParserBtf(btf, support);
	btf__free(btf);
}

namespace {

class SyscallKernel : public KexecKernel
{
public:
	explicit SyscallKernel(SystemPaths paths) : paths_(std::move(paths)) {}

	Result<KernelSupport> probe() override
	{
		KernelSupport s;
		/* Invalid flags: EINVAL proves the syscall exists without
		 * touching what is loaded; EPERM means it exists but we may not. */
		errno = 0;
		long r = ::syscall(SYS_kexec_file_load, -1, -1, 0UL, nullptr, ~0UL);
		s.kexecFile = !(r < 0 && errno == ENOSYS);
		s.loaded = readFlag(paths_.sysRoot + "/kernel/kexec_loaded");
		s.crashLoaded = readFlag(paths_.sysRoot + "/kernel/kexec_crash_loaded");
		s.crashSize = readNumber(paths_.sysRoot + "/kernel/kexec_crash_size");
		s.loadDisabled = readFlag(paths_.procRoot + "/sys/kernel/kexec_load_disabled");
		s.lockdown = parseLockdown(readAttribute(paths_.sysRoot + "/kernel/security/lockdown"));
		s.secureBoot = readSecureBoot(paths_.sysRoot);
		probeBtf(paths_.sysRoot + "/kernel/btf/vmlinux", s);
		if (struct utsname u; ::uname(&u) == 0)
			s.machine = u.machine;
		return s;
	}

	Result<void> load(const LoadRequest &request) override
	{
		/* The kernel wants the NUL counted in cmdline_len. */
		const unsigned long len = request.cmdlineEmpty ? 0 : request.cmdline.size() + 1;
		const char *cmdline = request.cmdlineEmpty ? "" : request.cmdline.c_str();
		if (::syscall(SYS_kexec_file_load, request.kernelFd, request.initrdFd, len, cmdline,
			      kexecFileFlags(request)) < 0) {
			const int e = errno;
			return makeError(Code::KernelRefused,
					 fmt::format("kexec_file_load: {} ({})", std::strerror(e), kexecErrnoHint(e)), e);
		}
		return {};
	}

	Result<void> unload(Slot slot) override
	{
		const unsigned long flags = kKexecFileUnload | (slot == Slot::Crash ? kKexecFileOnCrash : 0);
		if (::syscall(SYS_kexec_file_load, -1, -1, 0UL, nullptr, flags) < 0) {
			const int e = errno;
			return makeError(Code::KernelRefused,
					 fmt::format("unloading the staged {} kernel: {}", slotName(slot),
						     std::strerror(e)), e);
		}
		return {};
	}

	Result<bool> loaded(Slot slot) override
	{
		return readFlag(paths_.sysRoot +
				(slot == Slot::Crash ? "/kernel/kexec_crash_loaded" : "/kernel/kexec_loaded"));
	}

	Result<void> rebootKexec() override
	{
		::sync();
		if (::reboot(LINUX_REBOOT_CMD_KEXEC) < 0) {
			const int e = errno;
			return makeError(Code::KernelRefused, fmt::format("reboot(KEXEC): {}", std::strerror(e)), e);
		}
		return {};
	}

private:
	SystemPaths paths_;
};

} // namespace

const char *slotName(Slot slot)
{
	return slot == Slot::Crash ? "crash" : "reboot";
}

unsigned long kexecFileFlags(const LoadRequest &request)
{
	return request.flags | (request.slot == Slot::Crash ? kKexecFileOnCrash : 0);
}

std::string kexecErrnoHint(int errnum)
{
	switch (errnum) {
	case EPERM:
		return "kexec needs CAP_SYS_BOOT, or kexec_load_disabled is set";
	case EKEYREJECTED:
	case ENOKEY:
	case EBADMSG:
	case ELIBBAD:
	case ENOPKG:
	case EMSGSIZE:
		return "the kernel rejected the image signature; check the signing key is in the "
		       "kernel's trusted or platform keyring (see the kernel log)";
	case ENOEXEC:
		return "the kernel did not recognise the image format; on a kernel without the BPF "
		       "parser series this is what a parser container gets (see the kernel log)";
	case EINVAL:
		return "the kernel rejected the arguments or image (see the kernel log)";
	case EBUSY:
		return "another kexec load is in progress";
	case ENOMEM:
		return "not enough memory to stage the kernel";
	case EACCES:
		return "an IMA/LSM policy denied reading the image";
	default:
		return "see the kernel log";
	}
}

std::unique_ptr<KexecKernel> makeSyscallKernel(SystemPaths paths)
{
	return std::make_unique<SyscallKernel>(std::move(paths));
}

Result<std::unique_ptr<KexecKernel>> makeKernel(const std::string &spec, SystemPaths paths)
{
	if (spec == "real")
		return makeSyscallKernel(std::move(paths));
	if (spec == "bpf-reference")
		return makeBpfReferenceKernel(std::move(paths));
	if (spec.rfind("fake:", 0) == 0 && spec.size() > 5)
		return makeRecordingKernel(spec.substr(5));
	if (spec == "null")
		return makeNullKernel();
	return makeError(Code::InvalidArgument,
			 fmt::format("unknown kernel '{}': use 'real', 'bpf-reference', 'fake:DIR' or 'null'", spec));
}

} // namespace kexecd
