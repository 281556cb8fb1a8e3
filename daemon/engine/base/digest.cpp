// SPDX-License-Identifier: LGPL-2.1-or-later
#include "digest.h"

#include <openssl/evp.h>

#include <fmt/format.h>

namespace kexecd {

std::string sha256Hex(std::span<const uint8_t> data)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
	std::string out;
	out.reserve(len * 2);
	for (unsigned i = 0; i < len; i++)
		out += fmt::format("{:02x}", md[i]);
	return out;
}

} // namespace kexecd
