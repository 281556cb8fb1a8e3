// SPDX-License-Identifier: LGPL-2.1-or-later
#include "openssl_util.h"

#include <openssl/err.h>

namespace kexecd::detail {

std::string opensslErrors()
{
	std::string out;
	unsigned long e;
	while ((e = ERR_get_error()) != 0) {
		char buf[256];
		ERR_error_string_n(e, buf, sizeof(buf));
		if (!out.empty())
			out += "; ";
		out += buf;
	}
	return out.empty() ? std::string("unknown OpenSSL error") : out;
}

} // namespace kexecd::detail
