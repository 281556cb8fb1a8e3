// SPDX-License-Identifier: LGPL-2.1-or-later
#include "revocation.h"

#include <charconv>

#include <openssl/x509.h>

#include "trust.h"

namespace kexecd {

namespace {

std::string_view trim(std::string_view s)
{
	while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
		s.remove_prefix(1);
	while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
		s.remove_suffix(1);
	return s;
}

} // namespace

Result<std::vector<SbatEntry>> parseSbat(std::string_view csv)
{
	if (size_t nul = csv.find('\0'); nul != std::string_view::npos)
		csv = csv.substr(0, nul);
	std::vector<SbatEntry> out;
	size_t lineNo = 0;
	while (!csv.empty()) {
		size_t nl = csv.find('\n');
		std::string_view line = csv.substr(0, nl);
		csv = nl == std::string_view::npos ? std::string_view() : csv.substr(nl + 1);
		lineNo++;
		line = trim(line);
		if (line.empty())
			continue;
		size_t c1 = line.find(',');
		if (c1 == std::string_view::npos || c1 == 0)
			return makeError(Code::InvalidImage, "SBAT line " + std::to_string(lineNo) + " has no generation");
		std::string_view gen = line.substr(c1 + 1);
		gen = trim(gen.substr(0, gen.find(',')));
		SbatEntry e;
		e.component = std::string(trim(line.substr(0, c1)));
		auto [p, ec] = std::from_chars(gen.data(), gen.data() + gen.size(), e.generation);
		if (ec != std::errc() || p != gen.data() + gen.size() || gen.empty())
			return makeError(Code::InvalidImage, "SBAT line " + std::to_string(lineNo) +
							     ": generation '" + std::string(gen) + "' is not a number");
		out.push_back(std::move(e));
	}
	return out;
}

Result<SbatLevel> parseSbatLevel(std::string_view csv, const std::string &origin)
{
	SbatLevel level;
	level.origin = origin;
	auto entries = parseSbat(csv);
	if (!entries)
		return makeError(Code::InvalidArgument, "'" + origin + "': " + entries.error().message);
	level.entries = std::move(*entries);
	std::string_view first = csv.substr(0, csv.find_first_of("\n\0", 0, 2));
	level.text = std::string(trim(first));
	return level;
}

std::optional<std::string> sbatRevocation(const PeFile &pe, const SbatLevel &level)
{
	const PeSection *s = pe.section(".sbat");
	if (!s)
		return std::nullopt;
	auto entries = parseSbat(std::string_view(reinterpret_cast<const char *>(s->data.data()), s->data.size()));
	if (!entries)
		return "SBAT: malformed .sbat section (" + entries.error().message + ")";
	for (const SbatEntry &want : level.entries) {
		for (const SbatEntry &have : *entries) {
			if (have.component == want.component && have.generation < want.generation)
				return "SBAT: " + have.component + " generation " + std::to_string(have.generation) +
				       " is revoked by " + level.origin + " (needs " + std::to_string(want.generation) +
				       ", " + level.text + ")";
		}
	}
	return std::nullopt;
}

std::optional<std::string> signatureRevocation(const PeSignature &sig, const SignatureDatabase &list,
					       const std::string &name)
{
	if (!sig.signer)
		return std::nullopt;

	std::vector<X509 *> certs{ sig.signer };
	for (int i = 0; sig.certs && i < sk_X509_num(sig.certs); i++)
		certs.push_back(sk_X509_value(sig.certs, i));
	for (X509 *c : certs) {
		if (list.findCert(c))
			return "certificate '" + detail::nameToString(X509_get_subject_name(c)) + "' is listed in " + name;
		if (auto tbs = detail::tbsSha256(c); !tbs.empty() && list.hasCertHash(tbs))
			return "certificate '" + detail::nameToString(X509_get_subject_name(c)) +
			       "' is revoked by TBS hash in " + name;
	}
	if (list.certs.empty())
		return std::nullopt;

	TrustStore store;
	for (const SignatureDatabase::Cert &c : list.certs)
		if (!store.addCertificate(c.cert.get(), c.origin))
			return std::nullopt;
	ChainCheck chain = checkChain(sig.signer, sig.certs, store.store());
	if (chain.trusted)
		return "signer chains to '" + chain.anchor + "', which is listed in " + name;
	return std::nullopt;
}

} // namespace kexecd
