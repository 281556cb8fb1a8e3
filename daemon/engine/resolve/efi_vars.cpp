// SPDX-License-Identifier: LGPL-2.1-or-later
#include "efi_vars.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

#include "fd.h"
#include "file_util.h"

namespace kexecd {

namespace {

/* 4 attribute bytes and 1 KiB UTF-16 characters: far beyond any entry id. */
constexpr size_t kMaxVariableSize = 4 + 2 * 1024;

std::string variablePath(const std::string &efivarsDir, const std::string &name)
{
	return efivarsDir + "/" + name + "-" + kLoaderVendorGuid;
}

/* Decode efivarfs UTF-16LE up to the first NUL into UTF-8. */
std::optional<std::string> utf16leToUtf8(const uint8_t *p, size_t n)
{
	std::string out;
	for (size_t i = 0; i + 1 < n; i += 2) {
		uint32_t c = p[i] | (p[i + 1] << 8);
		if (c == 0)
			break;
		if (c >= 0xd800 && c <= 0xdbff) {
			if (i + 3 >= n)
				return std::nullopt;
			const uint32_t lo = p[i + 2] | (p[i + 3] << 8);
			if (lo < 0xdc00 || lo > 0xdfff)
				return std::nullopt;
			c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
			i += 2;
		} else if (c >= 0xdc00 && c <= 0xdfff) {
			return std::nullopt;
		}
		if (c < 0x80) {
			out += static_cast<char>(c);
		} else if (c < 0x800) {
			out += static_cast<char>(0xc0 | (c >> 6));
			out += static_cast<char>(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out += static_cast<char>(0xe0 | (c >> 12));
			out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
			out += static_cast<char>(0x80 | (c & 0x3f));
		} else {
			out += static_cast<char>(0xf0 | (c >> 18));
			out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
			out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
			out += static_cast<char>(0x80 | (c & 0x3f));
		}
	}
	if (out.empty())
		return std::nullopt;
	return out;
}

} // namespace

std::optional<std::string> readLoaderVariable(const std::string &efivarsDir, const std::string &name)
{
	auto data = detail::readSmallFile(variablePath(efivarsDir, name), kMaxVariableSize);
	if (!data)
		return std::nullopt;
	return decodeLoaderVariable({ reinterpret_cast<const uint8_t *>(data->data()), data->size() });
}

std::optional<std::string> decodeLoaderVariable(std::span<const uint8_t> data)
{
	if (data.size() < 4 + 2)
		return std::nullopt;
	return utf16leToUtf8(data.data() + 4, data.size() - 4);
}

Result<void> removeLoaderVariable(const std::string &efivarsDir, const std::string &name)
{
	const std::string path = variablePath(efivarsDir, name);
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW));
	if (!fd.valid()) {
		if (errno == ENOENT)
			return {};
		return makeError(Code::Io, "cannot open '" + path + "': " + std::strerror(errno), errno);
	}
	/* Not every file system has the flag (tests use a plain directory). */
	int flags = 0;
	if (::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL)) {
		flags &= ~FS_IMMUTABLE_FL;
		if (::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags) != 0)
			return makeError(Code::Io, "cannot clear the immutable flag of '" + path +
							   "': " + std::strerror(errno), errno);
	}
	if (::unlink(path.c_str()) != 0 && errno != ENOENT)
		return makeError(Code::Io, "cannot remove '" + path + "': " + std::strerror(errno), errno);
	return {};
}

} // namespace kexecd
