// SPDX-License-Identifier: LGPL-2.1-or-later
#include "boot_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace kexecd {

Result<InputFile> openBeneath(const std::string &rootIn, const std::string &path, Symlinks symlinks)
{
	std::string root = rootIn;
	while (root.size() > 1 && root.back() == '/')
		root.pop_back();
	const size_t skip = root == "/" ? 1 : root.size() + 1;
	if (path.size() <= skip || path.compare(0, root.size(), root) != 0 || (root != "/" && path[root.size()] != '/'))
		return makeError(Code::InvalidArgument, fmt::format("'{}' is not beneath '{}'", path, root));
	UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!dir.valid())
		return makeError(Code::Io, fmt::format("'{}': {}", root, std::strerror(errno)), errno);
	struct open_how how = {};
	how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	/* RESOLVE_IN_ROOT for the Debian links: an absolute link target
	 * ("/boot/vmlinuz-…") means root's /boot, as it does for the system
	 * booted from that tree, and ".." still stops at root. */
	how.resolve = RESOLVE_NO_MAGICLINKS |
		      (symlinks == Symlinks::Refuse ? RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS : RESOLVE_IN_ROOT);
	const std::string rel = path.substr(skip);
	UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, dir.get(), rel.c_str(), &how, sizeof(how))));
	if (!fd.valid()) {
		const int err = errno;
		const char *hint = err == ELOOP && symlinks == Symlinks::Refuse ? " (symlinks are not followed here)"
				   : err == EXDEV ? " (it leads out of the partition)"
						  : "";
		return makeError(Code::Io, fmt::format("'{}': {}{}", path, std::strerror(err), hint), err);
	}
	struct stat st;
	if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode))
		return makeError(Code::InvalidImage, fmt::format("'{}' is not a regular file", path));
	return InputFile{ std::move(fd), path };
}

Result<EntryFiles> openEntryFiles(const UkiEntry &entry)
{
	const std::string named = entry.entryFile.empty() ? entry.id : entry.entryFile;
	if (!entry.problem.empty())
		return makeError(Code::InvalidEntry, entry.problem);
	const Symlinks symlinks = entry.type == "debian" ? Symlinks::InRoot : Symlinks::Refuse;
	auto open = [&](const std::string &path, const char *what) -> Result<InputFile> {
		auto f = openBeneath(entry.root, path, symlinks);
		if (!f)
			return makeError(Code::InvalidEntry,
					 fmt::format("'{}': its {} cannot be opened: {}", named, what, f.error().message),
					 f.error().errnum);
		return f;
	};
	EntryFiles files;
	auto image = open(entry.path, entry.isKernel() ? "kernel" : "UKI");
	if (!image)
		return image.takeError();
	files.image = std::move(*image);
	for (const std::string &path : entry.initrds) {
		auto initrd = open(path, "initrd");
		if (!initrd)
			return initrd.takeError();
		files.initrds.push_back(std::move(*initrd));
	}
	return files;
}

} // namespace kexecd
