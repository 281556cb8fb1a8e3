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
