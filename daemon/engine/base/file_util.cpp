// SPDX-License-Identifier: LGPL-2.1-or-later
#include "file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "fd.h"

namespace kexecd::detail {

std::optional<std::string> readSmallFile(const std::string &path, size_t max)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (fd.get() < 0)
		return std::nullopt;
	std::string data;
	char buf[4096];
	for (;;) {
		const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return std::nullopt;
		}
		if (n == 0)
			break;
		if (data.size() + static_cast<size_t>(n) > max)
			return std::nullopt;
		data.append(buf, static_cast<size_t>(n));
	}
	return data;
}

} // namespace kexecd::detail
