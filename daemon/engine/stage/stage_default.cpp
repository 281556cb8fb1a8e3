// SPDX-License-Identifier: LGPL-2.1-or-later
// StageDefault: what systemd-boot would boot, found by discovery and
// opened beneath the boot partitions, then staged like any request.

#include "stage_default.h"

#include "stager.h"

#include <fmt/format.h>

#include "boot_files.h"
#include "compose.h"
#include "discovery.h"
#include "efi_vars.h"
#include "esp_files.h"
#include "esp_fs.h"
#include "text.h"

namespace kexecd {

namespace {

/* Discovery reads only beneath the configured roots, never through a
 * symlink, and never blocks on something that is not a regular file. */
Result<InputFile> openForStaging(const std::string &path, const DiscoveryPaths &paths)
{
	std::vector<std::string> roots;
	if (auto esp = findEsp(paths))
		roots.push_back(*esp);
	if (!paths.xbootldr.empty())
		roots.push_back(paths.xbootldr);
	roots.push_back(paths.modulesDir);
	for (std::string root : roots) {
		while (root.size() > 1 && root.back() == '/')
			root.pop_back();
		if (path.size() > root.size() + 1 && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/')
			return openBeneath(root, path, Symlinks::Refuse);
	}
	return makeError(Code::InvalidArgument,
			 fmt::format("'{}' is not beneath the configured ESP, XBOOTLDR or modules directory", path));
}

} // namespace

/* Discovered addons go first, as systemd-stub loads them before any
 * explicitly given ones. */
Result<void> addDiscoveredAddons(StageRequest &request, const DiscoveryPaths &paths,
				 std::vector<std::string> *notes)
{
	std::vector<InputFile> addons;
	for (const std::string &path : findAddons(paths, request.uki.origin, notes)) {
		auto f = openForStaging(path, paths);
		if (!f)
			return f.takeError();
		addons.push_back(std::move(*f));
	}
	for (InputFile &explicitAddon : request.addons)
		addons.push_back(std::move(explicitAddon));
	request.addons = std::move(addons);
	return {};
}

nlohmann::json discoveryRecord(const StageRequest &request)
{
	nlohmann::json j = { { "id", request.discoveredId }, { "why", request.discoveredWhy } };
	if (!request.discoveredType.empty())
		j["type"] = request.discoveredType;
	if (!request.discoveredEntry.empty())
		j["entry_file"] = request.discoveredEntry;
	/* Said, not dropped silently, as for a UKI's .dtb (devicetreeNote()). */
	if (!request.discoveredDevicetree.empty())
		j["devicetree"] = request.discoveredDevicetree +
				  " (not applied: kexec_file_load takes no devicetree; the running one stays)";
	return j;
}

Result<nlohmann::json> Stager::stageDefault(StageRequest request, const ProgressFn &progress)
{
	if (request.uki.fd.valid() || !request.addons.empty() || request.kernel.fd.valid())
		return makeError(Code::InvalidArgument, "StageDefault takes no files: discovery picks them");
	std::string why, rule;
	auto entry = defaultUki(config_.discovery, &why, &rule);
	auto refuse = [this](Error e) {
		e.message = displayText(e.message);
		setState(state(), std::nullopt, e.message);
		return e;
	};
	if (!entry)
		return refuse(entry.takeError());
	if (entry->type == "type2" || entry->type == "modules") {
		auto uki = openForStaging(entry->path, config_.discovery);
		if (!uki)
			return uki.takeError();
		request.uki = std::move(*uki);
	} else {
		auto files = openEntryFiles(*entry);
		if (!files)
			return refuse(files.takeError());
		if (entry->isKernel()) {
			request.kind = InputKind::Kernel;
			request.kernel = std::move(files->image);
			request.initrds = std::move(files->initrds);
			/* A plain kernel has no loader's options to replace; what
			 * is appended goes after the entry's own. */
			request.cmdline = appendCmdline(entry->options, request.cmdlineAppend);
			request.cmdlineAppend.clear();
			request.cmdlineSource = entry->type == "debian" ? "debian-layout" : "entry";
		} else {
			/* systemd-boot hands a Type #1 entry's options to its UKI
			 * as the loader's options. */
			request.uki = std::move(files->image);
			if (request.cmdlineExtra.empty())
				request.cmdlineExtra = entry->options;
		}
	}
	request.discoveredId = entry->id;
	request.discoveredWhy = why;
	request.discoveredType = entry->type;
	request.discoveredEntry = entry->entryFile;
	request.discoveredDevicetree = entry->devicetree;
	if (!entry->isKernel()) {
		request.discoverAddons = true;
		/* The entry names its profile, as systemd-boot passes "@N". */
		if (request.profile.empty() && entry->profile >= 0)
			request.profile = "@" + std::to_string(entry->profile);
		request.sidecars = readSidecars(config_.discovery, entry->path);
	}
	const auto oneShot = readLoaderVariable(config_.discovery.efivarsDir, "LoaderEntryOneShot");
	auto result = stage(std::move(request), progress);
	/* Consumed as systemd-boot consumes it: once it picked the entry
	 * that is now staged (README "Where kexecd differs"). */
	if (result && rule == "LoaderEntryOneShot" && oneShot ==
	    readLoaderVariable(config_.discovery.efivarsDir, "LoaderEntryOneShot"))
		(void)removeLoaderVariable(config_.discovery.efivarsDir, "LoaderEntryOneShot");
	return result;
}

} // namespace kexecd
