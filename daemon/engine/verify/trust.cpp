// SPDX-License-Identifier: LGPL-2.1-or-later
#include "trust.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "authenticode.h"
#include "efi_sigdb.h"

namespace kexecd {

namespace {

using detail::BioPtr;
using detail::StoreCtxPtr;
using detail::X509Ptr;
using detail::nameToString;
using detail::opensslErrors;

constexpr size_t kMaxCertificateFile = 1 << 20;
constexpr size_t kMaxEfiVariable = 16 << 20;

Result<std::vector<uint8_t>> readFile(const std::string &path, size_t limit)
{
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return makeError(Code::Io, "'" + path + "': " + strerror(errno), errno);

	std::vector<uint8_t> data;
	uint8_t buf[16384];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			close(fd);
			return makeError(Code::Io, "'" + path + "': " + strerror(err), err);
		}
		if (n == 0)
			break;
		if (data.size() + static_cast<size_t>(n) > limit) {
			close(fd);
			return makeError(Code::InvalidArgument,
					 "'" + path + "': larger than " + std::to_string(limit) + " bytes");
		}
		data.insert(data.end(), buf, buf + n);
	}
	close(fd);
	return data;
}

/* One file or ESL entry may hold several certificates: PEM allows any
 * number of blocks (other block types are skipped), DER a concatenation. */
Result<std::vector<X509Ptr>> parseCertificates(std::span<const uint8_t> data, const std::string &origin)
{
	std::vector<X509Ptr> certs;
	ERR_clear_error();

	if (data.size() > static_cast<size_t>(INT32_MAX))
		return makeError(Code::InvalidArgument, "'" + origin + "': too large");

	std::string_view text(reinterpret_cast<const char *>(data.data()), data.size());
	if (text.find("-----BEGIN") != std::string_view::npos) {
		BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
		if (!bio)
			return makeError(Code::Internal, "out of memory");
		for (;;) {
			X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
			if (!cert)
				break;
			certs.push_back(std::move(cert));
		}
		/* PEM_read_bio_X509 ends every loop with "no start line". */
		unsigned long e = ERR_peek_last_error();
		if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
			return makeError(Code::InvalidArgument,
					 "'" + origin + "': bad PEM certificate: " + opensslErrors());
		ERR_clear_error();
	} else {
		const uint8_t *p = data.data();
		const uint8_t *end = data.data() + data.size();
		while (p < end) {
			X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(end - p)));
			if (!cert)
				return makeError(Code::InvalidArgument,
						 "'" + origin + "': bad DER certificate: " + opensslErrors());
			certs.push_back(std::move(cert));
		}
	}

	if (certs.empty())
		return makeError(Code::InvalidArgument, "'" + origin + "': no certificate found");
	return certs;
}

bool hasCertificateSuffix(std::string_view name)
{
	for (std::string_view suffix : { ".pem", ".crt", ".cer", ".der" }) {
		if (name.size() > suffix.size() &&
		    name.substr(name.size() - suffix.size()) == suffix)
			return true;
	}
	return false;
}

} // namespace

const char *verdictName(Verdict verdict)
{
	switch (verdict) {
	case Verdict::Trusted: return "trusted";
	case Verdict::UntrustedSigner: return "untrusted-signer";
	case Verdict::Unsigned: return "unsigned";
	case Verdict::BadSignature: return "bad-signature";
	case Verdict::Revoked: return "revoked";
	case Verdict::Unknown: return "unknown";
	}
	return "bad-signature";
}

TrustStore::TrustStore()
	: store_(X509_STORE_new())
{
}

TrustStore::~TrustStore()
{
	X509_STORE_free(store_);
}

TrustStore::TrustStore(TrustStore &&other) noexcept
	: store_(std::exchange(other.store_, nullptr)), count_(std::exchange(other.count_, 0))
{
}

TrustStore &TrustStore::operator=(TrustStore &&other) noexcept
{
	if (this != &other) {
		X509_STORE_free(store_);
		store_ = std::exchange(other.store_, nullptr);
		count_ = std::exchange(other.count_, 0);
	}
	return *this;
}

Result<void> TrustStore::addCertificate(X509 *cert, const std::string &origin)
{
	if (!store_)
		return makeError(Code::Internal, "trust store not allocated");
	ERR_clear_error();
	/* Adding a certificate already present is a no-op in OpenSSL 3, so
	 * the count is what the store holds, not how many calls were made. */
	if (X509_STORE_add_cert(store_, cert) != 1)
		return makeError(Code::Internal, "'" + origin + "': " + opensslErrors());
	count_ = static_cast<size_t>(sk_X509_OBJECT_num(X509_STORE_get0_objects(store_)));
	return {};
}

Result<TrustStore> TrustStore::loadDirectory(const std::string &dir)
{
	TrustStore trust;
	if (!trust.store_)
		return makeError(Code::Internal, "out of memory");

	DIR *d = opendir(dir.c_str());
	if (!d) {
		if (errno == ENOENT)
			return trust;
		return makeError(Code::Io, "'" + dir + "': " + strerror(errno), errno);
	}

	std::vector<std::string> names;
	errno = 0;
	while (struct dirent *entry = readdir(d)) {
		std::string_view name(entry->d_name);
		if (name.empty() || name[0] == '.' || !hasCertificateSuffix(name))
			continue;
		names.emplace_back(name);
	}
	int err = errno;
	closedir(d);
	if (err)
		return makeError(Code::Io, "'" + dir + "': " + strerror(err), err);

	/* Sorted so that the first bad file reported is the same every time. */
	std::sort(names.begin(), names.end());
	for (const std::string &name : names) {
		std::string path = dir + "/" + name;
		struct stat st;
		if (stat(path.c_str(), &st) < 0)
			return makeError(Code::Io, "'" + path + "': " + strerror(errno), errno);
		if (!S_ISREG(st.st_mode))
			continue;
		KEXECD_TRY(trust.addCertificateFile(path));
	}
	return trust;
}

Result<void> TrustStore::addCertificateFile(const std::string &path)
{
	auto data = readFile(path, kMaxCertificateFile);
	if (!data)
		return data.takeError();
	auto certs = parseCertificates(*data, path);
	if (!certs)
		return certs.takeError();
	for (const X509Ptr &cert : *certs)
		KEXECD_TRY(addCertificate(cert.get(), path));
	return {};
}

Result<void> TrustStore::addEfiSignatureList(std::span<const uint8_t> esl, const std::string &origin)
{
	/* All or nothing (SignatureDatabase checks the whole value first): a
	 * db that is damaged half-way must not leave the store holding an
	 * arbitrary prefix of it. */
	SignatureDatabase db;
	KEXECD_TRY(db.addLists(esl, origin));
	for (const SignatureDatabase::Cert &c : db.certs)
		KEXECD_TRY(addCertificate(c.cert.get(), origin));
	return {};
}

Result<void> TrustStore::addEfiVariableFile(const std::string &path)
{
	auto data = readFile(path, kMaxEfiVariable);
	if (!data)
		return data.takeError();
	/* efivarfs prefixes the value with its 4-byte attributes. */
	if (data->size() < 4)
		return makeError(Code::InvalidArgument, "'" + path + "': too short for an EFI variable");
	return addEfiSignatureList(std::span<const uint8_t>(*data).subspan(4), path);
}

ChainCheck checkChain(X509 *cert, STACK_OF(X509) *untrusted, X509_STORE *store)
{
	ChainCheck out;
	if (!store || sk_X509_OBJECT_num(X509_STORE_get0_objects(store)) == 0) {
		out.error = "no certificate to chain to";
		return out;
	}
	StoreCtxPtr ctx(X509_STORE_CTX_new());
	if (!ctx || !X509_STORE_CTX_init(ctx.get(), store, cert, untrusted)) {
		out.error = "X509_STORE_CTX: " + opensslErrors();
		return out;
	}
	/* Firmware, shim and the kernel ignore validity periods and key usage,
	 * and trust any listed certificate, not only roots (sbverify does the
	 * same with its verify callback). */
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx.get());
	if (X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN) != 1 ||
	    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_ANY) != 1) {
		out.error = "X509_VERIFY_PARAM: " + opensslErrors();
		return out;
	}
	if (X509_verify_cert(ctx.get()) != 1) {
		out.error = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
		ERR_clear_error();
		return out;
	}
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx.get());
	for (int i = 0; chain && i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		X509_up_ref(c);
		out.chain.emplace_back(c);
	}
	if (!out.chain.empty())
		out.anchor = nameToString(X509_get_subject_name(out.chain.back().get()));
	out.trusted = true;
	return out;
}

Result<SignatureReport> verifyAuthenticode(const PeFile &pe, const TrustStore &store)
{
	SignatureReport report;
	auto sigs = readPeSignatures(pe);
	if (!sigs)
		return sigs.takeError();
	if (!sigs->hasTable) {
		report.verdict = Verdict::Unsigned;
		report.detail = "no certificate table";
		return report;
	}
	report.verdict = Verdict::BadSignature;

	/* Like firmware, one trusted entry is enough; otherwise a broken entry
	 * wins over an unknown signer, because it means the image or its
	 * signature was altered. */
	std::optional<SignatureReport> bad, untrusted;
	for (const PeSignature &sig : sigs->entries) {
		SignatureReport r;
		r.signer = sig.signerName;
		if (!sig.intact) {
			r.verdict = Verdict::BadSignature;
			r.detail = sig.problem;
			if (!bad)
				bad = std::move(r);
			continue;
		}
		if (store.size() == 0) {
			r.verdict = Verdict::UntrustedSigner;
			r.detail = "no trusted chain: trust store is empty";
		} else if (ChainCheck c = checkChain(sig.signer, sig.certs, store.store()); !c.trusted) {
			r.verdict = Verdict::UntrustedSigner;
			r.detail = "no trusted chain: " + c.error;
		} else {
			r.verdict = Verdict::Trusted;
			r.detail = "signed by a trusted certificate";
			return r;
		}
		if (!untrusted)
			untrusted = std::move(r);
	}
	if (!sigs->tableProblem.empty() && !bad) {
		report.detail = sigs->tableProblem;
		return report;
	}
	if (bad)
		return *bad;
	if (untrusted)
		return *untrusted;
	report.detail = sigs->entries.empty() && sigs->otherEntries == 0 ? "no PKCS#7 signature in certificate table"
									  : "no usable signature";
	return report;
}

} // namespace kexecd
