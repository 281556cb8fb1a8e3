// SPDX-License-Identifier: LGPL-2.1-or-later
#include "verdict.h"

#include <ctime>
#include <optional>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "authenticode.h"
#include "revocation.h"

namespace kexecd {

namespace {

using detail::hexString;
using detail::nameToString;

std::string isoDate(time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[32];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

std::string asn1Hex(const ASN1_STRING *s)
{
	if (!s)
		return {};
	return hexString(std::span(ASN1_STRING_get0_data(s), static_cast<size_t>(ASN1_STRING_length(s))));
}

/* The kernel's key lookup (pkcs7_validate_trust_one): walking up from the
 * signer through the certificates the message carries, a certificate whose
 * key id (subjectKeyIdentifier, else serial) is in the keyring is trusted,
 * and so is one whose authorityKeyIdentifier names a key in the keyring. */
std::optional<std::string> kernelKeyringMatch(const PeSignature &sig, const KernelKeyrings &rings)
{
	auto lookup = [&](const std::string &id) -> const KernelKey * {
		if (id.empty())
			return nullptr;
		for (const KernelKey &k : rings.keys)
			if (k.keyId == id || k.keyId == "00" + id)
				return &k;
		return nullptr;
	};
	X509 *cur = sig.signer;
	for (int depth = 0; cur && depth < 8; depth++) {
		std::string skid = asn1Hex(X509_get0_subject_key_id(cur));
		std::string serial = asn1Hex(X509_get0_serialNumber(cur));
		if (const KernelKey *k = lookup(skid.empty() ? serial : skid))
			return k->keyring + ": " + k->name;
		if (const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(cur))
			if (const KernelKey *k = lookup(asn1Hex(akid)))
				return k->keyring + ": " + k->name + " (issuer of '" +
				       nameToString(X509_get_subject_name(cur)) + "')";
		X509 *next = nullptr;
		for (int i = 0; sig.certs && i < sk_X509_num(sig.certs); i++) {
			X509 *c = sk_X509_value(sig.certs, i);
			if (c != cur && X509_cmp(c, cur) != 0 && X509_check_issued(c, cur) == X509_V_OK)
				next = c;
		}
		cur = next;
	}
	return std::nullopt;
}

std::optional<std::string> revokedBy(const PeSignature &sig, const TrustSources &s)
{
	if (auto r = signatureRevocation(sig, s.dbx, "dbx"))
		return r;
	return signatureRevocation(sig, s.mokx, "MokListXRT");
}

VerdictReport fromSignature(const PeSignature &sig, Verdict v, std::string reason)
{
	VerdictReport r;
	r.verdict = v;
	r.signer = sig.signerName;
	r.reason = std::move(reason);
	r.signature = static_cast<int>(sig.index);
	return r;
}

} // namespace

nlohmann::json verdictJson(const VerdictReport &r)
{
	nlohmann::json j = { { "verdict", verdictName(r.verdict) }, { "signer", r.signer }, { "reason", r.reason } };
	if (!r.anchor.empty())
		j["anchor"] = r.anchor;
	if (r.signature >= 0)
		j["signature_index"] = r.signature;
	return j;
}

Result<VerdictReport> firmwareVerdict(const PeFile &pe, const TrustSources &s)
{
	auto sigs = readPeSignatures(pe);
	if (!sigs)
		return sigs.takeError();
	return firmwareVerdict(pe, *sigs, s);
}

Result<VerdictReport> firmwareVerdict(const PeFile &pe, const PeSignatures &signatures, const TrustSources &s)
{
	VerdictReport report;
	const PeSignatures *sigs = &signatures;
	/* An intact SHA-256 signature already proved the image digest; hash
	 * the image again only when none did (a UKI is tens of MiB). */
	Result<std::vector<uint8_t>> digest = makeError(Code::Internal, "no digest");
	for (const PeSignature &sig : sigs->entries)
		if (sig.intact && EVP_MD_get_type(sig.md) == NID_sha256) {
			digest = sig.signedDigest;
			break;
		}
	if (!digest)
		digest = authenticodeDigest(pe, EVP_sha256());
	if (!digest) {
		report.verdict = Verdict::BadSignature;
		report.reason = "image digest: " + digest.error().message;
		return report;
	}

	/* shim's check_denylist() comes first: a revoked hash or signer wins
	 * over every allowing signature. */
	for (const auto &[list, name] : { std::pair{ &s.dbx, "dbx" }, std::pair{ &s.mokx, "MokListXRT" } }) {
		if (list->hasImageHash(*digest)) {
			report.verdict = Verdict::Revoked;
			report.reason = std::string("image SHA-256 ") + hexString(*digest) + " is listed in " + name;
			return report;
		}
	}
	for (const PeSignature &sig : sigs->entries) {
		if (!sig.intact)
			continue;
		if (auto why = revokedBy(sig, s))
			return fromSignature(sig, Verdict::Revoked, *why);
	}
	if (s.sbatLevel) {
		if (auto why = sbatRevocation(pe, *s.sbatLevel)) {
			report.verdict = Verdict::Revoked;
			report.reason = *why;
			return report;
		}
	}

	/* check_allowlist(): an image hash in db or MokList, or any intact
	 * signature chaining to db, MokList (or kexecd's trust.d). */
	if (!s.ignoreDb && s.db.hasImageHash(*digest)) {
		report.verdict = Verdict::Trusted;
		report.reason = "image SHA-256 is listed in db";
		return report;
	}
	if (s.mok.hasImageHash(*digest)) {
		report.verdict = Verdict::Trusted;
		report.reason = "image SHA-256 is listed in MokListRT";
		return report;
	}
	std::optional<VerdictReport> untrusted, bad;
	for (const PeSignature &sig : sigs->entries) {
		if (!sig.intact) {
			if (!bad)
				bad = fromSignature(sig, Verdict::BadSignature, sig.problem);
			continue;
		}
		for (const auto &[store, name] : { std::pair{ &s.dbStore, "db" }, std::pair{ &s.mokStore, "MokListRT" },
						   std::pair{ &s.trustDir, "trust.d" } }) {
			if (store->size() == 0)
				continue;
			ChainCheck c = checkChain(sig.signer, sig.certs, store->store());
			if (c.trusted) {
				VerdictReport r = fromSignature(sig, Verdict::Trusted,
								std::string("signature chains to a certificate in ") + name);
				r.anchor = std::string(name) + ": " + c.anchor;
				return r;
			}
		}
		if (!untrusted)
			untrusted = fromSignature(sig, Verdict::UntrustedSigner,
						  "no signature chains to db, MokListRT or trust.d");
	}
	/* As the plain trust-store check: a damaged signature says more than
	 * an unknown signer. */
	if (bad)
		return *bad;
	if (untrusted)
		return *untrusted;
	if (!sigs->hasTable) {
		report.verdict = Verdict::Unsigned;
		report.reason = "no certificate table";
		return report;
	}
	report.verdict = Verdict::BadSignature;
	report.reason = sigs->tableProblem.empty() ? "no PKCS#7 signature in the certificate table" : sigs->tableProblem;
	return report;
}

Result<VerdictReport> kernelVerdict(const PeFile &pe, const TrustSources &s)
{
	auto sigs = readPeSignatures(pe);
	if (!sigs)
		return sigs.takeError();
	return kernelVerdict(*sigs, s);
}

VerdictReport kernelVerdict(const PeSignatures &signatures, const TrustSources &s)
{
	VerdictReport report;
	const PeSignatures *sigs = &signatures;
	if (!sigs->hasTable) {
		report.verdict = Verdict::Unsigned;
		report.reason = "no certificate table (the kernel: \"Unsigned PE binary\", ENODATA)";
		return report;
	}
	/* pefile_strip_sig_wrapper() reads the first WIN_CERTIFICATE only. */
	if (sigs->firstIsOther || sigs->entries.empty() || sigs->entries.front().index != 0) {
		report.verdict = Verdict::BadSignature;
		report.reason = sigs->tableProblem.empty() ? "the first certificate entry is not a PKCS#7 SignedData"
							   : sigs->tableProblem;
		return report;
	}
	const PeSignature &sig = sigs->entries.front();
	if (!sig.intact)
		return fromSignature(sig, Verdict::BadSignature,
				     "first signature: " + sig.problem +
					     (sigs->entries.size() > 1 ? " (the kernel never reads the others)" : ""));

	/* pkcs7_note_signed_info() / pkcs7_sig_note_set_of_authattrs(). */
	if (!sig.signedAttributes)
		return fromSignature(sig, Verdict::BadSignature,
				     "first signature has no authenticated attributes with contentType and messageDigest "
				     "(the kernel: \"Authenticode requires AuthAttrs\", EBADMSG)");

	/* pkcs7_verify_one(): the signing time, when signed, must lie inside
	 * the signer's validity; the system clock is never consulted. */
	if (sig.signingTime) {
		auto from = detail::asn1TimeToUnix(X509_get0_notBefore(sig.signer));
		auto to = detail::asn1TimeToUnix(X509_get0_notAfter(sig.signer));
		if (!from || !to || *sig.signingTime < *from || *sig.signingTime > *to)
			return fromSignature(sig, Verdict::BadSignature,
					     "signed at " + isoDate(*sig.signingTime) +
						     ", outside the signer certificate's validity (" +
						     (from ? isoDate(*from) : "?") + " to " + (to ? isoDate(*to) : "?") +
						     "): the kernel refuses it (EKEYREJECTED)");
	}

	/* x509 "tbs:" blacklist and the revocation keyring (dbx and MokListXRT
	 * certificates). Image hashes in dbx are IMA's business, not kexec's. */
	if (auto why = revokedBy(sig, s))
		return fromSignature(sig, Verdict::Revoked, *why);

	if (auto key = kernelKeyringMatch(sig, s.kernelKeys)) {
		VerdictReport r = fromSignature(sig, Verdict::Trusted, "first signature chains to a key in the kernel's "
								     "builtin/secondary/machine keyrings");
		r.anchor = *key;
		return r;
	}
	/* On ENOKEY the kernel retries with the platform keyring. */
	for (const auto &[store, name] : { std::pair{ &s.dbStore, "platform keyring (db)" },
					   std::pair{ &s.mokStore, "platform keyring (MokListRT)" } }) {
		if (store->size() == 0)
			continue;
		ChainCheck c = checkChain(sig.signer, sig.certs, store->store());
		if (c.trusted) {
			VerdictReport r = fromSignature(sig, Verdict::Trusted, std::string("first signature chains to the ") + name);
			r.anchor = std::string(name) + ": " + c.anchor;
			return r;
		}
	}
	if (!s.kernelKeys.known)
		return fromSignature(sig, Verdict::Unknown,
				     "not in db or MokListRT, and the kernel's builtin/secondary keyrings are unknown (" +
					     s.kernelKeys.note + ")");
	return fromSignature(sig, Verdict::UntrustedSigner,
			     "first signature chains to no key of the builtin, secondary, machine or platform keyrings "
			     "(the kernel: ENOKEY)");
}

namespace {

/* A verdict of bytes that may not be a PE: notPe with the parser's
 * reason when they are not, else verdict(pe). */
template<typename Fn>
Result<VerdictReport> verdictForBytes(std::span<const uint8_t> bytes, const std::string &name, Verdict notPe,
				      const char *why, Fn verdict, const FileHashers *hashers = nullptr)
{
	auto pe = PeFile::parse(bytes, name);
	if (pe && hashers)
		hashers->lendAuthenticode(*pe);
	if (!pe) {
		VerdictReport r;
		r.verdict = notPe;
		r.reason = why + pe.error().message;
		return r;
	}
	return verdict(*pe);
}

} // namespace

Result<VerdictReport> kernelVerdictForBytes(std::span<const uint8_t> bytes, const std::string &name,
					    const TrustSources &sources, const FileHashers *hashers)
{
	return verdictForBytes(bytes, name, Verdict::BadSignature, "not a PE image the kernel can verify: ",
			       [&](const PeFile &pe) { return kernelVerdict(pe, sources); }, hashers);
}

Result<VerdictReport> firmwareVerdictForBytes(std::span<const uint8_t> bytes, const std::string &name,
					      const TrustSources &sources)
{
	/* A bare Image has no envelope for shim to check: nothing vouches for it. */
	return verdictForBytes(bytes, name, Verdict::Unsigned, "no PE envelope, nothing for the firmware to verify: ",
			       [&](const PeFile &pe) { return firmwareVerdict(pe, sources); });
}

Result<std::pair<VerdictReport, VerdictReport>> firmwareAndKernelVerdictsForBytes(std::span<const uint8_t> bytes,
										  const std::string &name,
										  const TrustSources &sources)
{
	if (auto pe = PeFile::parse(bytes, name))
		if (auto sigs = readPeSignatures(*pe)) {
			auto fw = firmwareVerdict(*pe, *sigs, sources);
			if (!fw)
				return fw.takeError();
			return std::pair{ std::move(*fw), kernelVerdict(*sigs, sources) };
		}
	/* No PE, or no signatures to read: each verdict says so its own way. */
	auto fw = firmwareVerdictForBytes(bytes, name, sources);
	if (!fw)
		return fw.takeError();
	auto k = kernelVerdictForBytes(bytes, name, sources);
	if (!k)
		return k.takeError();
	return std::pair{ std::move(*fw), std::move(*k) };
}

} // namespace kexecd
