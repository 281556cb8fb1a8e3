// SPDX-License-Identifier: LGPL-2.1-or-later
#include "firmware_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "digest.h"
#include "efi_vars.h"
#include "fd.h"
#include "file_util.h"

namespace kexecd {

namespace {

constexpr uint32_t kEfiVariableNonVolatile = 0x1;
constexpr uint32_t kEfiVariableBootserviceAccess = 0x2;
constexpr uint32_t kEfiVariableRuntimeAccess = 0x4;

std::optional<std::string> readRaw(const std::string &dir, const std::string &name, const char *guid)
{
	return detail::readSmallFile(dir + "/" + name + "-" + guid, kMaxSnapshotVariableSize);
}

uint64_t littleEndian(const std::string &data, size_t off, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && off + i < data.size(); i++)
		v |= uint64_t{ static_cast<uint8_t>(data[off + i]) } << (8 * i);
	return v;
}

} // namespace

nlohmann::json LoaderSnapshot::toJson() const
{
	nlohmann::json j = nlohmann::json::object();
	for (const auto &[name, digest] : digests)
		j[name] = digest;
	return j;
}

Result<LoaderSnapshot> LoaderSnapshot::fromJson(const nlohmann::json &j)
{
	if (!j.is_object() || j.size() > kMaxSnapshotVariables)
		return makeError(Code::InvalidArgument, "the loader snapshot is not an object of at most " +
								std::to_string(kMaxSnapshotVariables) + " variables");
	LoaderSnapshot s;
	for (const auto &[name, digest] : j.items()) {
		if (!digest.is_string() || digest.get<std::string>().size() != 64)
			return makeError(Code::InvalidArgument, "the loader snapshot's '" + name + "' is not a SHA-256");
		s.digests[name] = digest.get<std::string>();
	}
	return s;
}

LoaderSnapshot readLoaderSnapshot(const std::string &efivarsDir)
{
	LoaderSnapshot s;
	DIR *d = ::opendir(efivarsDir.c_str());
	if (!d)
		return s;
	const std::string suffix = std::string("-") + kLoaderVendorGuid;
	size_t seen = 0;
	while (struct dirent *de = ::readdir(d)) {
		/* A firmware with thousands of variables is not ours to list. */
		if (++seen > 4096)
			break;
		const std::string file = de->d_name;
		if (file.size() <= suffix.size() || file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0)
			continue;
		const std::string name = file.substr(0, file.size() - suffix.size());
		auto data = readRaw(efivarsDir, name, kLoaderVendorGuid);
		if (!data || data->size() < 4)
			continue;
		if (littleEndian(*data, 0, 4) & kEfiVariableNonVolatile)
			continue;
		if (s.digests.size() >= kMaxSnapshotVariables)
			break;
		s.digests[name] = sha256Hex({ reinterpret_cast<const uint8_t *>(data->data()), data->size() });
	}
	::closedir(d);
	return s;
}

FirmwareRequests readFirmwareRequests(const std::string &efivarsDir,
				      const std::optional<std::string> &entryDefaultAtStaging)
{
	FirmwareRequests r;
	if (auto os = readRaw(efivarsDir, "OsIndications", kEfiGlobalGuid); os && os->size() >= 12) {
		const uint64_t bits = littleEndian(*os, 4, 8);
		if (bits & kOsIndicationsBootToFwUi)
			r.reasons.push_back("OsIndications asks for the firmware setup (systemctl reboot --firmware-setup)");
		if (bits & kOsIndicationsFileCapsuleDelivery)
			r.reasons.push_back("OsIndications asks the firmware to apply a capsule update from the ESP");
	}
	if (auto next = readRaw(efivarsDir, "BootNext", kEfiGlobalGuid); next && next->size() >= 6)
		r.reasons.push_back(fmt::format("BootNext asks the firmware to start Boot{:04X} once",
						littleEndian(*next, 4, 2)));
	if (auto oneShot = readLoaderVariable(efivarsDir, "LoaderEntryOneShot"))
		r.reasons.push_back("LoaderEntryOneShot asks systemd-boot for the entry '" + *oneShot +
				    "' once (systemctl reboot --boot-loader-entry=)");
	if (readLoaderVariable(efivarsDir, "LoaderConfigTimeoutOneShot"))
		r.reasons.push_back("LoaderConfigTimeoutOneShot asks systemd-boot to show its menu once "
				    "(systemctl reboot --boot-loader-menu=)");
	const auto entryDefault = readLoaderVariable(efivarsDir, "LoaderEntryDefault");
	if (entryDefault != entryDefaultAtStaging)
		r.reasons.push_back(fmt::format("LoaderEntryDefault changed since staging ('{}' -> '{}')",
						entryDefaultAtStaging.value_or(""), entryDefault.value_or("")));
	return r;
}

Result<void> writeLoaderNvVariable(const std::string &efivarsDir, const std::string &name, const std::string &value)
{
	std::string data;
	const uint32_t attrs = kEfiVariableNonVolatile | kEfiVariableBootserviceAccess | kEfiVariableRuntimeAccess;
	for (int i = 0; i < 4; i++)
		data += static_cast<char>((attrs >> (8 * i)) & 0xff);
	for (unsigned char c : value) {
		/* Entry ids are ASCII (systemd-boot lower-cases them as such). */
		if (c >= 0x80 || c == 0)
			return makeError(Code::InvalidArgument, "'" + value + "' is not an ASCII entry id");
		data += static_cast<char>(c);
		data += '\0';
	}
	data += std::string(2, '\0');
	const std::string path = efivarsDir + "/" + name + "-" + kLoaderVendorGuid;
	/* efivarfs marks existing variables immutable; the flag goes first. */
	UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644));
	if (!fd.valid())
		return makeError(Code::Io, fmt::format("cannot open '{}': {}", path, strerror(errno)), errno);
	int flags = 0;
	if (::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL)) {
		flags &= ~FS_IMMUTABLE_FL;
		(void)::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags);
		fd = UniqueFd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
		if (!fd.valid())
			return makeError(Code::Io, fmt::format("cannot open '{}': {}", path, strerror(errno)), errno);
	}
	/* efivarfs takes the whole variable in one write(). */
	const ssize_t n = ::write(fd.get(), data.data(), data.size());
	if (n != static_cast<ssize_t>(data.size()))
		return makeError(Code::Io, fmt::format("cannot write '{}': {}", path, n < 0 ? strerror(errno) : "short write"),
				 errno);
	/* A plain file in tests keeps a longer old value's tail otherwise;
	 * efivarfs cannot truncate and needs no truncation. */
	(void)::ftruncate(fd.get(), static_cast<off_t>(data.size()));
	return {};
}

} // namespace kexecd
