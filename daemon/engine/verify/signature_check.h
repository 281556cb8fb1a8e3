// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Which objects are signature-checked for a staging, by whom, and what
// each would decide (verdict.h):
//
//   object          firmware verdict (shim)   kernel verdict (kexec_file_load)
//   uki             yes                       BPF scheme, when the kernel asks (VERIFY_SIG per PE)
//   addon N         yes                       BPF scheme
//   kernel          -                         classic: the .linux handed as kernel fd
//   parser          -                         BPF scheme: the container's module signature
//
// The stager calls this once the load is composed (it needs the exact bytes
// handed to the kernel) and before loading; a refusal is Code::SignatureRejected.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "result.h"
#include "stream_digest.h"
#include "trust_sources.h"
#include "uki.h"

namespace kexecd {

struct SignatureInputs {
	const UkiImage *uki = nullptr;
	std::vector<const UkiImage *> addons;
	bool bpfScheme = false;
	/* classic: the kernel fd's bytes (the profile's .linux, decompressed
	 * when it was a zboot image). */
	std::span<const uint8_t> kernel;
	bool kernelWasZboot = false;
	/* BPF scheme: the parser container (payload + appended signature). */
	std::span<const uint8_t> parserContainer;
	std::string parserPath;
	/* BPF scheme: what kexec_context.sig_mode asks (KernelSupport::sigMode). */
	std::string kernelSigMode;
	/* classic: the kernel's digests, computed while it was copied
	 * (placed_file.h); null: computed here. */
	const FileHashers *kernelHashers = nullptr;
};

struct SignatureEnforcement {
	bool kernel = false;   // refuse what the kernel verdict refuses
	bool firmware = false; // also refuse what the firmware verdict refuses
};

struct SignatureCheck {
	nlohmann::json objects = nlohmann::json::array(); // one entry per object, see above
	nlohmann::json ukiFirmware;                       // the UKI's firmware verdict
	std::vector<nlohmann::json> addonFirmware;        // each addon's, in order
	std::optional<Error> refusal;                     // set when enforcement refuses
	/* Whether the running kernel enforces kexec signatures (Secure Boot,
	 * lockdown): only then does 'enforce' act on the kernel verdict. */
	bool kernelEnforces = false;

	/* The SHA-256 of the kernel handed over, taken beside its verdict
	 * ("" for the BPF scheme): the record's digest of it. */
	std::string kernelSha256() const
	{
		for (const nlohmann::json &o : objects)
			if (o.value("object", "") == "kernel")
				return o.value("sha256", "");
		return {};
	}
};

/* Fails only for internal errors; a refusal is reported in .refusal so
 * that the caller can still show every verdict. */
Result<SignatureCheck> checkSignatures(const SignatureInputs &in, const TrustSources &sources,
				       const SignatureEnforcement &enforce);

/* The same, with a refusal as the error (Code::SignatureRejected), for the
 * stager's verify step. */
Result<SignatureCheck> enforceSignatures(const SignatureInputs &in, const TrustSources &sources,
					 const SignatureEnforcement &enforce);

/* A plain kernel image (kernel_image.h): the firmware verdict of the file
 * as given (what shim would say of an EFI stub or zboot kernel; a file
 * without a PE envelope is unsigned) and the kernel verdict of the bytes
 * kexec_file_load gets. Initrds and the command line carry no signature:
 * nothing checks them, and the record says so. */
struct KernelSignatureInputs {
	std::string origin;
	std::span<const uint8_t> file;
	std::span<const uint8_t> kernel;
	bool kernelWasZboot = false;
};

Result<SignatureCheck> enforceKernelSignatures(const KernelSignatureInputs &in, const TrustSources &sources,
					       const SignatureEnforcement &enforce);

/* Into a staged record or an inspect document: the UKI's (or the plain
 * kernel's "image") and addons' "signature" (their firmware verdict, the key older clients read) and
 * "signatures" (every object with both verdicts, and the sources). */
void recordSignatures(nlohmann::json &record, const SignatureCheck &check, const TrustSources &sources);

} // namespace kexecd
