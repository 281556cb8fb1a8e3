// SPDX-License-Identifier: LGPL-2.1-or-later
#include "efi_sigdb.h"

#include <algorithm>
#include <cstring>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "file_util.h"
#include "le.h"

namespace kexecd {

namespace {

constexpr size_t kEslHeader = 28;
constexpr size_t kEfiGuid = 16;
constexpr size_t kMaxEfiVariable = 16 << 20;

/* GUIDs as stored (first three fields little-endian). */
constexpr uint8_t kEfiCertX509Guid[kEfiGuid] = { // a5c059a1-94e4-4aa7-87b5-ab155c2bf072
	0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
	0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72,
};
constexpr uint8_t kEfiCertSha256Guid[kEfiGuid] = { // c1c41626-504c-4092-aca9-41f936934328
	0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
	0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28,
};
constexpr uint8_t kEfiCertX509Sha256Guid[kEfiGuid] = { // 3bd2a492-96c0-4079-b420-fcf98ef103ed
	0x92, 0xa4, 0xd2, 0x3b, 0xc0, 0x96, 0x79, 0x40,
	0xb4, 0x20, 0xfc, 0xf9, 0x8e, 0xf1, 0x03, 0xed,
};

using detail::le32;

bool sameGuid(std::span<const uint8_t> a, const uint8_t (&b)[kEfiGuid])
{
	return std::equal(a.begin(), a.end(), std::begin(b));
}

bool contains(const std::vector<Sha256> &list, std::span<const uint8_t> h)
{
	if (h.size() != 32)
		return false;
	return std::any_of(list.begin(), list.end(),
			   [&](const Sha256 &e) { return std::equal(e.begin(), e.end(), h.begin()); });
}

} // namespace

Result<void> SignatureDatabase::addLists(std::span<const uint8_t> esl, const std::string &origin)
{
	std::vector<Cert> newCerts;
	std::vector<Sha256> newImage, newCert;
	unsigned ignored = 0;
	size_t off = 0;
	while (off < esl.size()) {
		std::string where = "'" + origin + "': signature list at offset " + std::to_string(off);
		if (esl.size() - off < kEslHeader)
			return makeError(Code::InvalidArgument, where + " truncated");

		std::span<const uint8_t> type = esl.subspan(off, kEfiGuid);
		uint32_t listSize = le32(esl, off + 16);
		uint32_t headerSize = le32(esl, off + 20);
		uint32_t sigSize = le32(esl, off + 24);

		if (listSize < kEslHeader || listSize > esl.size() - off)
			return makeError(Code::InvalidArgument, where + " has a bad size");
		if (headerSize > listSize - kEslHeader)
			return makeError(Code::InvalidArgument, where + " has a bad header size");
		size_t bodySize = listSize - kEslHeader - headerSize;
		if (sigSize < kEfiGuid || bodySize % sigSize != 0)
			return makeError(Code::InvalidArgument, where + " has a bad signature size");

		const size_t body = off + kEslHeader + headerSize;
		const bool x509 = sameGuid(type, kEfiCertX509Guid);
		const bool sha256 = sameGuid(type, kEfiCertSha256Guid);
		const bool x509Sha256 = sameGuid(type, kEfiCertX509Sha256Guid);
		/* X509_SHA256 entries carry a 16-byte revocation time after the hash. */
		if ((sha256 && sigSize != kEfiGuid + 32) || (x509Sha256 && sigSize != kEfiGuid + 48))
			return makeError(Code::InvalidArgument, where + " has a bad entry size for its type");
		for (size_t s = 0; s < bodySize; s += sigSize) {
			/* Each EFI_SIGNATURE_DATA: owner GUID, then the data. */
			std::span<const uint8_t> data = esl.subspan(body + s + kEfiGuid, sigSize - kEfiGuid);
			if (x509) {
				const uint8_t *p = data.data();
				ERR_clear_error();
				detail::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(data.size())));
				if (!cert)
					return makeError(Code::InvalidArgument,
							 where + ": bad X.509 entry: " + detail::opensslErrors());
				newCerts.push_back({ std::move(cert), origin });
			} else if (sha256 || x509Sha256) {
				Sha256 h;
				std::memcpy(h.data(), data.data(), h.size());
				(sha256 ? newImage : newCert).push_back(h);
			} else {
				ignored++;
			}
		}
		off += listSize;
	}
	for (Cert &c : newCerts)
		certs.push_back(std::move(c));
	imageHashes.insert(imageHashes.end(), newImage.begin(), newImage.end());
	certHashes.insert(certHashes.end(), newCert.begin(), newCert.end());
	ignoredEntries += ignored;
	present = true;
	return {};
}

Result<void> SignatureDatabase::addVariableFile(const std::string &path)
{
	auto data = detail::readSmallFile(path, kMaxEfiVariable);
	if (!data)
		return makeError(Code::Io, "'" + path + "': cannot be read");
	/* efivarfs prefixes the value with its 4-byte attributes. */
	if (data->size() < 4)
		return makeError(Code::InvalidArgument, "'" + path + "': too short for an EFI variable");
	std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t *>(data->data()), data->size());
	return addLists(bytes.subspan(4), path);
}

bool SignatureDatabase::hasImageHash(std::span<const uint8_t> sha256) const
{
	return contains(imageHashes, sha256);
}

bool SignatureDatabase::hasCertHash(std::span<const uint8_t> sha256) const
{
	return contains(certHashes, sha256);
}

const SignatureDatabase::Cert *SignatureDatabase::findCert(X509 *cert) const
{
	for (const Cert &c : certs)
		if (X509_cmp(c.cert.get(), cert) == 0)
			return &c;
	return nullptr;
}

} // namespace kexecd
