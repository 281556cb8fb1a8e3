// SPDX-License-Identifier: LGPL-2.1-or-later
// What systemd-stub and bootctl find on the boot partitions beside the
// UKIs (esp_files.h): the XBOOTLDR partition, addons, and the
// credentials and extension images the stub packs into cpio archives.
#include "esp_files.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <utility>

#include "esp_fs.h"
#include "file_util.h"

namespace kexecd {

using namespace detail;

namespace {

/* ID_PART_ENTRY_TYPE of the block device holding path, from the udev
 * database (what blkid told udev); "" when unknown. */
std::string partitionType(const DiscoveryPaths &paths, const std::string &path)
{
	struct stat st;
	if (::stat(path.c_str(), &st) != 0 || paths.udevDataDir.empty())
		return {};
	const std::string db = paths.udevDataDir + "/b" + std::to_string(major(st.st_dev)) + ":" +
			       std::to_string(minor(st.st_dev));
	const auto text = readSmallFile(db, 256 * 1024);
	if (!text)
		return {};
	static constexpr std::string_view key = "E:ID_PART_ENTRY_TYPE=";
	for (size_t pos = 0; pos < text->size();) {
		const size_t nl = std::min(text->find('\n', pos), text->size());
		const std::string_view line(text->data() + pos, nl - pos);
		if (line.substr(0, key.size()) == key)
			return asciiLowerString(line.substr(key.size()));
		pos = nl + 1;
	}
	return {};
}

/* The partition (ESP or XBOOTLDR root) the UKI at ukiPath lies on: the
 * stub loads addons and sidecars from its own volume. */
std::string partitionRootOf(const DiscoveryPaths &paths, const std::string &ukiPath)
{
	auto esp = findEsp(paths);
	const std::string espRoot = esp ? *esp : std::string();
	const std::string xbootldr = findXbootldr(paths, espRoot);
	if (!xbootldr.empty() && ukiPath.rfind(xbootldr + "/", 0) == 0)
		return xbootldr;
	return espRoot;
}

/* Names in dir the stub picks up for (suffix, exclude), sorted by strcmp. */
std::vector<std::string> pickedUp(const std::string &dir, std::string_view suffix, std::string_view exclude,
				  std::vector<std::string> *notes)
{
	auto names = listDirectory(dir, Want::Files, notes);
	if (!names) {
		note(notes, names.error().message + ", ignoring");
		return {};
	}
	std::vector<std::string> out;
	for (auto &name : *names)
		if (stubPicksUp(name, suffix, exclude))
			out.push_back(std::move(name));
	std::sort(out.begin(), out.end());
	return out;
}

} // namespace

Result<std::string> findEsp(const DiscoveryPaths &paths)
{
	if (!paths.esp.empty()) {
		if (!isDirectory(paths.esp))
			return makeError(Code::Unsupported, "configured ESP '" + paths.esp + "' is not a directory");
		return paths.esp;
	}
	std::string looked;
	for (const auto &candidate : paths.espCandidates) {
		if (isDirectory(candidate + "/EFI") || isDirectory(candidate + "/loader"))
			return candidate;
		looked += (looked.empty() ? "" : ", ") + candidate;
	}
	return makeError(Code::Unsupported, "no ESP found (looked in " + looked + ")");
}

std::string findXbootldr(const DiscoveryPaths &paths, const std::string &esp)
{
	if (!paths.xbootldr.empty())
		return paths.xbootldr;
	for (const std::string &candidate : paths.xbootldrCandidates) {
		if (!isDirectory(candidate) || (!esp.empty() && sameFile(candidate, esp)))
			continue;
		/* bootctl: a mount point of its own with the XBOOTLDR type. */
		if (!isMountPoint(candidate))
			continue;
		const std::string type = partitionType(paths, candidate);
		if (type == kXbootldrTypeGuid)
			return candidate;
		if (type.empty() && (isDirectory(candidate + "/EFI/Linux") || isDirectory(candidate + "/loader/entries")))
			return candidate;
	}
	return {};
}

std::string extraDirFor(const std::string &ukiPath)
{
	const size_t slash = ukiPath.rfind('/');
	const std::string dir = slash == std::string::npos ? std::string() : ukiPath.substr(0, slash + 1);
	const std::string name = slash == std::string::npos ? ukiPath : ukiPath.substr(slash + 1);
	return dir + parseTriesCounter(name, ".efi").id + ".extra.d";
}

std::vector<std::string> findAddons(const DiscoveryPaths &paths, const std::string &ukiPath,
				    std::vector<std::string> *notes)
{
	std::vector<std::string> dirs;
	if (const std::string root = partitionRootOf(paths, ukiPath); !root.empty())
		dirs.push_back(root + "/loader/addons");
	dirs.push_back(extraDirFor(ukiPath));

	std::vector<std::string> addons;
	for (const auto &dir : dirs)
		for (const auto &name : pickedUp(dir, ".addon.efi", "", notes)) {
			if (addons.size() == kMaxAddons) {
				note(notes, "more than " + std::to_string(kMaxAddons) + " addons, ignoring '" +
						    dir + "/" + name + "'");
				continue;
			}
			addons.push_back(dir + "/" + name);
		}
	return addons;
}

SidecarFiles readSidecars(const DiscoveryPaths &paths, const std::string &ukiPath,
			  std::vector<std::string> *notes)
{
	const std::string root = partitionRootOf(paths, ukiPath);
	const std::string extra = extraDirFor(ukiPath);
	SidecarFiles out;
	size_t total = 0;
	auto read = [&](const std::string &dir, std::string_view suffix, std::string_view exclude,
			std::vector<CpioFile> &into) {
		for (const auto &name : pickedUp(dir, suffix, exclude, notes)) {
			const std::string path = dir + "/" + name;
			auto data = readSmallFile(path, kMaxSidecarFile);
			if (!data || total + data->size() > kMaxSidecarTotal) {
				note(notes, "'" + path + "' is unreadable or too large, ignoring");
				continue;
			}
			total += data->size();
			into.push_back({ name, std::vector<uint8_t>(data->begin(), data->end()) });
		}
	};
	read(extra, ".cred", "", out.credentials);
	if (!root.empty())
		read(root + "/loader/credentials", ".cred", "", out.globalCredentials);
	/* *.raw for compatibility, less *.confext.raw (stub.c). */
	read(extra, ".raw", ".confext.raw", out.sysext);
	if (!root.empty())
		read(root + "/loader/extensions", ".raw", ".confext.raw", out.globalSysext);
	read(extra, ".confext.raw", "", out.confext);
	if (!root.empty())
		read(root + "/loader/extensions", ".confext.raw", "", out.globalConfext);
	return out;
}

} // namespace kexecd
