// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// OpenSSL ownership and error helpers shared by trust.cpp and modsig.cpp.

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace kexecd::detail {

/* unique_ptr deleter calling an OpenSSL *_free function. */
template<auto fn>
struct OsslDeleter {
	template<class T>
	void operator()(T *p) const { fn(p); }
};

using BioPtr = std::unique_ptr<BIO, OsslDeleter<BIO_free>>;
using X509Ptr = std::unique_ptr<X509, OsslDeleter<X509_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OsslDeleter<X509_STORE_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OsslDeleter<EVP_MD_CTX_free>>;

/* Drain OpenSSL's per-thread error queue into one line, so a message says
 * what OpenSSL objected to and no stale error leaks into the next call. */
std::string opensslErrors();

} // namespace kexecd::detail
