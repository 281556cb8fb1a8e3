// SPDX-License-Identifier: LGPL-2.1-or-later
#include "scheme.h"

#include <sys/stat.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "compose.h"
#include "modsig.h"
#include "parse_core.h"
#include "record.h"
#include "stage_input.h"
#include "text.h"
#include "trust.h"

namespace kexecd {

const char *schemeName(Scheme scheme)
{
	switch (scheme) {
	case Scheme::Auto: return "auto";
	case Scheme::Bpf: return "bpf";
	case Scheme::Classic: return "classic";
	}
	return "auto";
}

Result<Scheme> parseScheme(std::string_view text)
{
	if (text == "auto") return Scheme::Auto;
	if (text == "bpf") return Scheme::Bpf;
	if (text == "classic") return Scheme::Classic;
	return makeError(Code::InvalidArgument, fmt::format("unknown scheme '{}' (auto, bpf, classic)", text));
}

const char *policyName(SignaturePolicy policy)
{
	switch (policy) {
	case SignaturePolicy::Auto: return "auto";
	case SignaturePolicy::Enforce: return "enforce";
	case SignaturePolicy::Warn: return "warn";
	}
	return "auto";
}

Result<SignaturePolicy> parsePolicy(std::string_view text)
{
	if (text == "auto") return SignaturePolicy::Auto;
	if (text == "enforce") return SignaturePolicy::Enforce;
	if (text == "warn") return SignaturePolicy::Warn;
	return makeError(Code::InvalidArgument,
			 fmt::format("unknown signature policy '{}' (auto, enforce, warn)", text));
}


std::string sigModeName(long value)
{
	switch (value) {
	case KEXEC_SIG_NONE: return "none";
	case KEXEC_SIG_SIG: return "sig";
	case KEXEC_SIG_IMA: return "ima";
	}
	return "";
}

std::string bpfKernelCoverage(const std::string &sigMode)
{
	if (sigMode == "sig" || sigMode == "ima")
		return fmt::format("parser container and each PE: the kernel's context asks for sig_mode={}, so the "
				   "parsers send the UKI and every addon as VERIFY_SIG{} before any COPY; the initrd "
				   "and cmdline are cut from those PEs by the signed parser",
				   sigMode, sigMode == "ima" ? " (refused: IMA_CHECK with its .ima)" : "");
	if (sigMode == "none")
		return "parser container only: the kernel's context asks for no PE check (sig_mode=none), so the "
		       "parsers send no VERIFY_SIG; the UKI, addons, initrd and cmdline are checked by kexecd's "
		       "userspace pre-check, not by the kernel";
	return "parser container; each PE only if the kernel's context asks (sig_mode SIG or IMA: the parsers "
	       "then send VERIFY_SIG per PE), which this kernel does not show userspace; until then the UKI, "
	       "addons, initrd and cmdline count as checked by kexecd's userspace pre-check only";
}

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

Result<ParserContainer> openParserContainer(const std::string &path, uint64_t maxSize,
					    const TrustStore &store, SignaturePolicy policy)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
	if (!fd.valid())
		return makeError(Code::Unsupported,
				 fmt::format("parser container '{}': {}", path, std::strerror(errno)), errno);
	auto memfd = SealedMemfd::copyFrom(fd.get(), path, maxSize);
	if (!memfd)
		return memfd.takeError();
	ParserContainer pc;
	pc.info = partJson(memfd->bytes());
	pc.info["path"] = path;
	auto payload = verifyModuleSignature(memfd->bytes(), store.store());
	if (!payload) {
		if (policy == SignaturePolicy::Enforce || payload.error().code == Code::InvalidImage)
			return makeError(payload.error().code,
					 fmt::format("parser container '{}': {}", path, payload.error().message));
		pc.info["signature"] = { { "verdict", "untrusted-signer" }, { "detail", payload.error().message } };
	} else {
		pc.info["signature"] = { { "verdict", "trusted" }, { "detail", "" } };
	}
	pc.memfd = std::move(*memfd);
	return pc;
}

} // namespace kexecd
