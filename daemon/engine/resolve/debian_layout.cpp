// SPDX-License-Identifier: LGPL-2.1-or-later
#include "debian_layout.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "esp_fs.h"
#include "fd.h"
#include "file_util.h"
#include "kernel_image.h"
#include "text.h"

namespace kexecd {

namespace {

/* The kernel's COMMAND_LINE_SIZE is at most 4096 on every architecture. */
constexpr size_t kMaxProcCmdline = 4096;

/* Whether rel resolves, inside root, to a regular file; its link target
 * (when it is a link) for the title. */
bool resolvesInRoot(int rootFd, const std::string &rel, std::string *target)
{
	struct open_how how = {};
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, rootFd, rel.c_str(), &how, sizeof(how))));
	struct stat st;
	if (!fd.valid() || ::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	char buf[256];
	const ssize_t n = ::readlinkat(rootFd, rel.c_str(), buf, sizeof(buf) - 1);
	if (target)
		*target = n > 0 ? displayText(std::string_view(buf, static_cast<size_t>(n))) : "";
	return true;
}

} // namespace

std::optional<UkiEntry> debianLayoutEntry(const DiscoveryPaths &paths, std::vector<std::string> *notes)
{
	std::string root = paths.debianRoot;
	while (root.size() > 1 && root.back() == '/')
		root.pop_back();
	UniqueFd rootFd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!rootFd.valid()) {
		detail::note(notes, fmt::format("Debian layout: '{}' cannot be opened", root));
		return std::nullopt;
	}
	const std::string prefix = root == "/" ? "" : root;
	for (const char *dir : { "", "boot/" }) {
		std::string target;
		if (!resolvesInRoot(rootFd.get(), std::string(dir) + "vmlinuz", &target))
			continue;
		UkiEntry e;
		e.type = e.source = "debian";
		e.kind = "kernel";
		e.root = root;
		e.id = e.idWithoutProfile = fmt::format("/{}vmlinuz", dir);
		e.linux = e.path = prefix + e.id;
		if (resolvesInRoot(rootFd.get(), std::string(dir) + "initrd.img", nullptr))
			e.initrds.push_back(fmt::format("{}/{}initrd.img", prefix, dir));
		const std::string base = target.substr(target.rfind('/') + 1);
		e.version = base.starts_with("vmlinuz-") ? base.substr(8) : "";
		e.title = target.empty() ? e.id : fmt::format("{} -> {}", e.id, target);
		auto cmdline = detail::readSmallFile(paths.procCmdline, kMaxProcCmdline + 1);
		if (!cmdline)
			e.problem = fmt::format("Debian layout: '{}' cannot be read for the command line",
						paths.procCmdline);
		else
			e.options = reusableCmdline(*cmdline);
		return e;
	}
	detail::note(notes, fmt::format("Debian layout: no '{0}/vmlinuz' or '{0}/boot/vmlinuz'", prefix));
	return std::nullopt;
}

std::string debianLayoutWhy(const UkiEntry &entry)
{
	return fmt::format("no Boot Loader Spec entry; DebianLayout=yes: {}{} with the running system's "
			   "command line, as Debian's kexec-load",
			   entry.id, entry.initrds.empty() ? " (no initrd.img link)" : " and its initrd.img");
}

} // namespace kexecd
