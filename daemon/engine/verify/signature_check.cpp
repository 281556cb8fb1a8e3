// SPDX-License-Identifier: LGPL-2.1-or-later
#include "signature_check.h"

#include <future>

#include "digest.h"
#include "modsig.h"
#include "verdict.h"

namespace kexecd {

namespace {

bool kernelRefuses(Verdict v)
{
	/* Unknown is left to the kernel: refusing it would block every image
	 * whenever /proc/keys hides the builtin keyring. */
	return v != Verdict::Trusted && v != Verdict::Unknown;
}

std::string refusalText(const std::string &object, const char *which, const VerdictReport &r)
{
	return "'" + object + "': " + which + " verdict " + verdictName(r.verdict) + " (" + r.reason + ")";
}

/* The kernel checks the parser container's appended signature against the
 * secondary keyring, then the platform keyring (db, MokListRT). kexecd
 * cannot read keys out of the kernel, so trust.d stands in for a key the
 * administrator enrolled there (MOK or the machine keyring). */
VerdictReport parserVerdict(std::span<const uint8_t> bytes, const TrustSources &s)
{
	VerdictReport r;
	TrustStore store;
	for (const TrustStore *part : { &s.dbStore, &s.mokStore, &s.trustDir }) {
		X509_STORE *x = part->store();
		if (!x)
			continue;
		STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(x);
		for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
			if (X509 *c = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i)))
				(void)store.addCertificate(c, "trust");
	}
	auto payload = verifyModuleSignature(bytes, store.store());
	if (payload) {
		r.verdict = Verdict::Trusted;
		r.reason = "module signature verifies against db, MokListRT or trust.d";
		return r;
	}
	if (payload.error().code == Code::InvalidImage) {
		r.verdict = Verdict::Unsigned;
		r.reason = payload.error().message;
		return r;
	}
	r.verdict = s.kernelKeys.known ? Verdict::UntrustedSigner : Verdict::Unknown;
	r.reason = payload.error().message +
		   (s.kernelKeys.known ? "" : "; the kernel's secondary keyring may still hold the key");
	return r;
}

std::string bpfPeNote(const std::string &sigMode)
{
	if (sigMode == "sig" || sigMode == "ima")
		return "BPF scheme: the kernel asks for sig_mode=" + sigMode +
		       ", so the parser sends this PE as VERIFY_SIG before any COPY";
	if (sigMode == "none")
		return "BPF scheme: the kernel asks for no PE check (sig_mode=none); it verifies the parser "
		       "container only";
	return "BPF scheme: the parser sends this PE as VERIFY_SIG only if the kernel's context asks "
	       "(sig_mode), which this kernel does not show";
}

} // namespace

Result<SignatureCheck> checkSignatures(const SignatureInputs &in, const TrustSources &sources,
				       const SignatureEnforcement &enforce)
{
	SignatureCheck out;
	auto refuse = [&](std::string text) {
		if (!out.refusal)
			out.refusal = makeError(Code::SignatureRejected, std::move(text));
	};

	std::vector<const UkiImage *> images{ in.uki };
	images.insert(images.end(), in.addons.begin(), in.addons.end());
	for (size_t i = 0; i < images.size(); i++) {
		const UkiImage &img = *images[i];
		nlohmann::json o;
		o["object"] = i == 0 ? "uki" : "addon";
		o["path"] = img.origin();
		auto sigs = readPeSignatures(img.pe());
		if (!sigs)
			return sigs.takeError();
		auto fw = firmwareVerdict(img.pe(), *sigs, sources);
		if (!fw)
			return fw.takeError();
		o["firmware"] = verdictJson(*fw);
		nlohmann::json compat = { { "verdict", verdictName(fw->verdict) }, { "signer", fw->signer },
					  { "detail", fw->reason } };
		if (i == 0)
			out.ukiFirmware = compat;
		else
			out.addonFirmware.push_back(compat);
		if (enforce.firmware && fw->verdict != Verdict::Trusted)
			refuse(refusalText(img.origin(), "firmware", *fw));

		if (in.bpfScheme) {
			/* Our parsers send this PE as VERIFY_SIG only when the
			 * kernel's context asks (sig_mode); with "none" the kernel
			 * never sees its signature, so its verdict predicts nothing. */
			VerdictReport k = kernelVerdict(*sigs, sources);
			o["kernel"] = verdictJson(k);
			o["kernel_note"] = bpfPeNote(in.kernelSigMode);
			if (enforce.kernel && in.kernelSigMode != "none" && kernelRefuses(k.verdict))
				refuse(refusalText(img.origin(), "kernel", k));
		} else {
			o["kernel"] = nullptr;
			o["kernel_note"] = i == 0 ? "classic scheme: the kernel verifies the .linux handed to it, not this envelope"
						  : "classic scheme: the kernel never sees addons";
		}
		out.objects.push_back(std::move(o));
	}

	if (!in.bpfScheme) {
		nlohmann::json o;
		o["object"] = "kernel";
		o["path"] = in.uki->origin() + ":.linux";
		/* The record's digest on another core while the verdict hashes
		 * the same bytes its own way (issue 16), unless both were
		 * computed while the kernel was copied. */
		const FileHashers *hashers = in.kernelHashers;
		auto digest = std::async(hashers ? std::launch::deferred : std::launch::async,
					 [bytes = in.kernel, hashers] {
						 return hashers ? hashers->sha256Hex() : sha256Hex(bytes);
					 });
		o["zboot"] = in.kernelWasZboot;
		o["firmware"] = nullptr;
		auto k = kernelVerdictForBytes(in.kernel, o["path"].get<std::string>(), sources, hashers);
		o["sha256"] = digest.get();
		if (!k)
			return k.takeError();
		if (in.kernelWasZboot)
			k->reason += " (the payload of the zboot .linux, as handed to the kernel)";
		o["kernel"] = verdictJson(*k);
		if (enforce.kernel && kernelRefuses(k->verdict))
			refuse(refusalText(o["path"].get<std::string>(), "kernel", *k));
		out.objects.push_back(std::move(o));
	} else {
		nlohmann::json o;
		o["object"] = "parser";
		o["path"] = in.parserPath;
		o["sha256"] = sha256Hex(in.parserContainer);
		o["firmware"] = nullptr;
		VerdictReport k = parserVerdict(in.parserContainer, sources);
		o["kernel"] = verdictJson(k);
		if (enforce.kernel && kernelRefuses(k.verdict))
			refuse(refusalText(in.parserPath, "kernel", k));
		out.objects.push_back(std::move(o));
	}
	return out;
}

namespace {

Result<SignatureCheck> refusalAsError(Result<SignatureCheck> check)
{
	if (!check)
		return check.takeError();
	if (check->refusal)
		return makeError(Code::SignatureRejected, check->refusal->message + "; policy 'enforce' refuses it");
	return check;
}

} // namespace

Result<SignatureCheck> enforceSignatures(const SignatureInputs &in, const TrustSources &sources,
					 const SignatureEnforcement &enforce)
{
	return refusalAsError(checkSignatures(in, sources, enforce));
}

Result<SignatureCheck> enforceKernelSignatures(const KernelSignatureInputs &in, const TrustSources &sources,
					       const SignatureEnforcement &enforce)
{
	SignatureCheck out;
	nlohmann::json o;
	o["object"] = "kernel";
	o["path"] = in.origin;
	auto digest = std::async(std::launch::async, [bytes = in.kernel] { return sha256Hex(bytes); });
	o["zboot"] = in.kernelWasZboot;
	/* The image handed over as it is: its signatures are read, and it is
	 * hashed, once for both verdicts. */
	std::optional<VerdictReport> sameKernel;
	Result<VerdictReport> fw = makeError(Code::Internal, "no firmware verdict");
	if (!in.kernelWasZboot && in.file.data() == in.kernel.data() && in.file.size() == in.kernel.size()) {
		auto both = firmwareAndKernelVerdictsForBytes(in.file, in.origin, sources);
		if (!both)
			return both.takeError();
		fw = std::move(both->first);
		sameKernel = std::move(both->second);
	} else {
		fw = firmwareVerdictForBytes(in.file, in.origin, sources);
	}
	o["sha256"] = digest.get();
	if (!fw)
		return fw.takeError();
	o["firmware"] = verdictJson(*fw);
	out.ukiFirmware = { { "verdict", verdictName(fw->verdict) }, { "signer", fw->signer },
			    { "detail", fw->reason } };
	if (enforce.firmware && fw->verdict != Verdict::Trusted)
		out.refusal = makeError(Code::SignatureRejected, refusalText(in.origin, "firmware", *fw));
	auto k = sameKernel ? Result<VerdictReport>(std::move(*sameKernel))
			    : kernelVerdictForBytes(in.kernel, in.origin, sources);
	if (!k)
		return k.takeError();
	if (in.kernelWasZboot)
		k->reason += " (the payload of the zboot image, as handed to the kernel)";
	o["kernel"] = verdictJson(*k);
	if (enforce.kernel && kernelRefuses(k->verdict) && !out.refusal)
		out.refusal = makeError(Code::SignatureRejected, refusalText(in.origin, "kernel", *k));
	out.objects.push_back(std::move(o));
	return refusalAsError(std::move(out));
}

void recordSignatures(nlohmann::json &record, const SignatureCheck &check, const TrustSources &sources)
{
	record[record.contains("image") ? "image" : "uki"]["signature"] = check.ukiFirmware;
	for (size_t i = 0; i < check.addonFirmware.size() && i < record["addons"].size(); i++)
		record["addons"][i]["signature"] = check.addonFirmware[i];
	record["signatures"] = { { "objects", check.objects }, { "sources", sources.describe() },
				 { "kernel_enforces", check.kernelEnforces } };
	if (!check.kernelEnforces)
		record["signatures"]["kernel_enforces_note"] =
			"the running kernel does not enforce kexec signatures (no Secure Boot, no lockdown): "
			"it loads the kernel whatever its verdict, so 'enforce' acts on the firmware verdict only";
}

} // namespace kexecd
