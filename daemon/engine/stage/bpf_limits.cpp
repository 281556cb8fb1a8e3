// SPDX-License-Identifier: LGPL-2.1-or-later
#include "bpf_limits.h"

#include <sys/stat.h>

#include <fmt/format.h>

#include "compose.h"
#include "parse_core.h"
#include "text.h"

namespace kexecd {

/* BPF scheme preconditions, checked against the limits our parser
 * (bpf/parse_core.h) is built with, so the caller gets a named error
 * instead of an opaque EINVAL from the kernel. */
namespace {

Result<void> checkBpfPeSize(const std::string &origin, uint64_t size)
{
	if (size <= PC_PAYLOAD_MAX)
		return {};
	return makeError(Code::InvalidImage,
			 fmt::format("'{}' is {} bytes; the BPF parser sends at most {} per PE (VERIFY_SIG)", origin,
				     size, PC_PAYLOAD_MAX));
}

} // namespace

Result<void> checkBpfInputSizes(const InputFile &uki, const std::vector<InputFile> &addons)
{
	auto check = [](const InputFile &f) -> Result<void> {
		struct stat st;
		if (::fstat(f.fd.get(), &st) < 0 || !S_ISREG(st.st_mode))
			return {}; // checked again once read
		return checkBpfPeSize(f.origin.empty() ? fmt::format("fd {}", f.fd.get()) : displayText(f.origin),
				      static_cast<uint64_t>(st.st_size));
	};
	KEXECD_TRY(check(uki));
	for (const InputFile &a : addons)
		KEXECD_TRY(check(a));
	return {};
}

Result<void> checkBpfLimits(const ParsedInput &in)
{
	const UkiImage &uki = *in.uki;
	for (size_t i = 0; i < in.files.size(); i++) {
		const PeFile &pe = i == 0 ? uki.pe() : in.addons[i - 1].pe();
		if (pe.sections().size() > PC_PE_SCAN_MAX)
			return makeError(Code::InvalidImage,
					 fmt::format("'{}' has {} sections; the BPF parser reads at most {}",
						     in.files[i].origin, pe.sections().size(), PC_PE_SCAN_MAX));
	}
	if (in.files.size() > PC_MAX_PES)
		return makeError(Code::InvalidArgument,
				 fmt::format("{} images; the BPF parser takes at most {}", in.files.size(), PC_MAX_PES));

	const SectionSet resolved = uki.resolve(in.profile);
	const auto addons = in.addonPointers();
	const auto kernel = resolved.find(".linux");
	if (kernel != resolved.end() && kernel->second.size() > PC_PAYLOAD_MAX)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': .linux is {} bytes; the BPF parser's limit is {}", uki.origin(),
					     kernel->second.size(), PC_PAYLOAD_MAX));
	/* VERIFY_SIG carries a whole PE in one command (when the kernel asks
	 * for signature checks, which userspace cannot always see): refuse
	 * here what the parser would refuse there. */
	for (size_t i = 0; i < in.files.size(); i++)
		KEXECD_TRY(checkBpfPeSize(in.files[i].origin, in.files[i].size));
	const auto parts = initrdParts(resolved, addons);
	uint64_t initrdSize = 0;
	for (const auto &part : parts)
		initrdSize += part.size();
	if (parts.empty())
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': the BPF parser scheme needs an initrd (the kernel requires "
					     "kernel, initrd and cmdline)", uki.origin()));
	if (parts.size() > PC_MAX_PARTS || initrdSize > PC_PAYLOAD_MAX)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': the composed initrd ({} parts, {} bytes) exceeds the BPF parser's "
					     "limits ({} parts, {} bytes)", uki.origin(), parts.size(), initrdSize,
					     PC_MAX_PARTS, PC_PAYLOAD_MAX));
	const std::string cmdline = composeCmdline(resolved, addons, "");
	if (cmdline.empty())
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': the BPF parser scheme needs a command line", uki.origin()));
	if (cmdline.size() + 1 > PC_CMDLINE_MAX)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': the composed command line exceeds the BPF parser's {} bytes",
					     uki.origin(), PC_CMDLINE_MAX));
	return {};
}

} // namespace kexecd
