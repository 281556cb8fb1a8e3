// SPDX-License-Identifier: LGPL-2.1-or-later
#include "kexec_record.h"

#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include "efi_vars.h"
#include "file_util.h"
#include "record.h"
#include "state_file.h"

namespace kexecd {

namespace {

/* Limits on what a record may carry: it sits in a root-only directory,
 * but a corrupt one must still not make the daemon hold megabytes. */
constexpr size_t kMaxField = 4096;

Result<std::string> field(const nlohmann::json &j, const char *name, bool required = true)
{
	auto it = j.find(name);
	if (it == j.end() || it->is_null()) {
		if (required)
			return makeError(Code::InvalidArgument, fmt::format("'{}' is missing", name));
		return std::string();
	}
	if (!it->is_string() || it->get_ref<const std::string &>().size() > kMaxField)
		return makeError(Code::InvalidArgument, fmt::format("'{}' is not a string of at most {} bytes", name,
								     kMaxField));
	return it->get<std::string>();
}

std::string collapseSpaces(const std::string &s)
{
	std::string out;
	for (char c : s) {
		if (c == ' ' || c == '\t' || c == '\n') {
			if (!out.empty() && out.back() != ' ')
				out += ' ';
		} else {
			out += c;
		}
	}
	while (!out.empty() && out.back() == ' ')
		out.pop_back();
	return out;
}

} // namespace

nlohmann::json KexecRecord::toJson() const
{
	return {
		{ "format", kKexecRecordFormat },
		{ "boot_id", bootId },
		{ "entry", entry },
		{ "file", file },
		{ "counted_from", countedFrom },
		{ "kernel_sha256", kernelSha256 },
		{ "cmdline", cmdline },
		{ "time", time },
		{ "firmware_boot", firmwareBoot },
		{ "loader_variables", loader.toJson() },
	};
}

Result<KexecRecord> KexecRecord::fromJson(const nlohmann::json &j)
{
	if (!j.is_object())
		return makeError(Code::InvalidArgument, "not a JSON object");
	auto format = field(j, "format");
	if (!format || *format != kKexecRecordFormat)
		return makeError(Code::InvalidArgument, fmt::format("not a kexecd kexec record (format '{}', expected '{}')",
								     format ? *format : "", kKexecRecordFormat));
	KexecRecord r;
	struct {
		const char *name;
		std::string *target;
		bool required;
	} fields[] = {
		{ "boot_id", &r.bootId, true },          { "entry", &r.entry, false },
		{ "file", &r.file, false },              { "counted_from", &r.countedFrom, false },
		{ "kernel_sha256", &r.kernelSha256, true }, { "cmdline", &r.cmdline, false },
		{ "time", &r.time, false },              { "firmware_boot", &r.firmwareBoot, false },
	};
	for (const auto &f : fields) {
		auto v = field(j, f.name, f.required);
		if (!v)
			return v.takeError();
		*f.target = std::move(*v);
	}
	if (r.bootId.empty())
		return makeError(Code::InvalidArgument, "'boot_id' is empty");
	auto it = j.find("loader_variables");
	if (it == j.end())
		return makeError(Code::InvalidArgument, "'loader_variables' is missing");
	auto snapshot = LoaderSnapshot::fromJson(*it);
	if (!snapshot)
		return snapshot.takeError();
	r.loader = std::move(*snapshot);
	return r;
}

nlohmann::json BootOrigin::toJson() const
{
	return {
		{ "format", kBootOriginFormat },
		{ "via", via == BootVia::Kexec ? "kexec" : "firmware" },
		{ "boot_id", bootId },
		{ "entry", entry },
		{ "file", file },
		{ "counted", counted },
		{ "kernel_sha256", kernelSha256 },
		{ "since", since },
		{ "firmware_boot", firmwareBoot },
		{ "why", why },
	};
}

Result<BootOrigin> BootOrigin::fromJson(const nlohmann::json &j)
{
	if (!j.is_object())
		return makeError(Code::InvalidArgument, "not a JSON object");
	auto format = field(j, "format");
	if (!format || *format != kBootOriginFormat)
		return makeError(Code::InvalidArgument, "not a kexecd boot origin");
	BootOrigin o;
	auto via = field(j, "via");
	if (!via || (*via != "kexec" && *via != "firmware"))
		return makeError(Code::InvalidArgument, "'via' is neither kexec nor firmware");
	o.via = *via == "kexec" ? BootVia::Kexec : BootVia::Firmware;
	struct {
		const char *name;
		std::string *target;
	} fields[] = { { "boot_id", &o.bootId }, { "entry", &o.entry }, { "file", &o.file },
		       { "kernel_sha256", &o.kernelSha256 }, { "since", &o.since },
		       { "firmware_boot", &o.firmwareBoot }, { "why", &o.why } };
	for (const auto &f : fields) {
		auto v = field(j, f.name, false);
		if (!v)
			return v.takeError();
		*f.target = std::move(*v);
	}
	auto counted = j.find("counted");
	o.counted = counted != j.end() && counted->is_boolean() && counted->get<bool>();
	return o;
}

std::string BootOrigin::summary() const
{
	if (via == BootVia::Kexec)
		return fmt::format("kexec by kexecd into '{}' at {}; the EFI loader variables, firmware times and "
				   "TPM PCRs describe the firmware boot of {}",
				   entry.empty() ? std::string("a kernel staged from a file") : entry, since,
				   firmwareBoot.empty() ? std::string("an unknown date") : firmwareBoot);
	return entry.empty() ? std::string("firmware") : fmt::format("firmware, entry '{}'", entry);
}

BootOrigin decideBootOrigin(const Result<std::optional<KexecRecord>> &record, const CurrentBoot &now)
{
	BootOrigin o;
	o.bootId = now.bootId;
	o.firmwareBoot = now.bootTime;
	o.entry = now.entrySelected.value_or("");
	if (!record) {
		o.why = "the record of the last kexec cannot be used (" + record.error().message +
			"); taking this boot for a firmware boot";
		return o;
	}
	if (!*record) {
		o.why = "no kexec by kexecd is on record";
		return o;
	}
	const KexecRecord &r = **record;
	if (r.bootId == now.bootId) {
		/* Written by this boot for a kexec still to come. */
		o.why = "the record on file is this boot's own, for a kexec still to come";
		return o;
	}
	if (!(r.loader == now.loader)) {
		o.why = "the EFI loader variables changed since the last kexec by kexecd: a firmware boot came between";
		return o;
	}
	/* Without any loader variable, nothing tells a firmware boot apart but
	 * what the kernel got: the command line kexecd composed. */
	if (r.loader.empty() && collapseSpaces(r.cmdline) != collapseSpaces(now.cmdline)) {
		o.why = "no EFI loader variables, and the command line is not the one kexecd booted";
		return o;
	}
	o.via = BootVia::Kexec;
	o.entry = r.entry;
	o.file = r.file;
	o.counted = !r.countedFrom.empty();
	o.kernelSha256 = r.kernelSha256;
	o.since = r.time;
	o.firmwareBoot = r.firmwareBoot;
	o.why = r.loader.empty() ? "recorded by kexecd before the kexec; the command line matches"
				 : "recorded by kexecd before the kexec; the EFI loader variables are still those it saw";
	return o;
}

BootOrigin establishBootOrigin(const std::string &recordPath, const std::string &originPath,
			       const std::string &procRoot, const std::string &efivarsDir)
{
	const CurrentBoot now = readCurrentBoot(procRoot, efivarsDir);
	if (!originPath.empty()) {
		if (auto cached = StateFile(originPath).read(); cached && *cached) {
			auto origin = BootOrigin::fromJson(**cached);
			if (origin && origin->bootId == now.bootId)
				return *origin;
		}
	}
	Result<std::optional<KexecRecord>> record = std::optional<KexecRecord>();
	if (!recordPath.empty()) {
		auto j = StateFile(recordPath).read();
		if (!j)
			record = j.takeError();
		else if (*j) {
			auto r = KexecRecord::fromJson(**j);
			if (r)
				record = std::optional<KexecRecord>(std::move(*r));
			else
				record = makeError(r.error().code, recordPath + ": " + r.error().message);
		}
	}
	BootOrigin origin = decideBootOrigin(record, now);
	/* Best effort: without the cache a restart decides again, the same way
	 * until a new record is written. */
	if (!originPath.empty())
		(void)StateFile(originPath).write(origin.toJson());
	return origin;
}

CurrentBoot readCurrentBoot(const std::string &procRoot, const std::string &efivarsDir)
{
	CurrentBoot f;
	if (auto id = detail::readSmallFile(procRoot + "/sys/kernel/random/boot_id", 128))
		f.bootId = collapseSpaces(*id);
	if (auto cmdline = detail::readSmallFile(procRoot + "/cmdline", 64 * 1024))
		f.cmdline = *cmdline;
	if (auto uptime = detail::readSmallFile(procRoot + "/uptime", 128)) {
		/* "12345.67 ..." seconds since boot. */
		const double up = std::strtod(uptime->c_str(), nullptr);
		const auto start = std::chrono::system_clock::now() -
				   std::chrono::duration_cast<std::chrono::system_clock::duration>(
					   std::chrono::duration<double>(up));
		f.bootTime = isoTime(start);
	}
	f.loader = readLoaderSnapshot(efivarsDir);
	f.entrySelected = readLoaderVariable(efivarsDir, "LoaderEntrySelected");
	return f;
}

} // namespace kexecd
