// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stage_request.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "adaptor_util.h"
#include "errors.h"

namespace kexecd {

namespace {

/* The daemon reads what the caller could open, nothing else: a regular
 * file, opened for reading, within the size limit. */
UniqueFd takeInputFd(sdbus::UnixFd &fd, const std::string &what, uint64_t maxSize)
{
	UniqueFd owned(fd.release());
	struct stat st;
	if (fstat(owned.get(), &st) < 0)
		throw toDbusError(makeError(Code::Io, fmt::format("{}: fstat failed", what), errno));
	if (!S_ISREG(st.st_mode))
		throw invalid(fmt::format("{} is not a regular file", what));
	int flags = fcntl(owned.get(), F_GETFL);
	if (flags < 0 || (flags & O_PATH) ||
	    ((flags & O_ACCMODE) != O_RDONLY && (flags & O_ACCMODE) != O_RDWR))
		throw invalid(fmt::format("{} is not open for reading", what));
	if (static_cast<uint64_t>(st.st_size) > maxSize)
		throw invalid(fmt::format("{} is {} bytes, larger than the limit of {} bytes", what,
					  st.st_size, maxSize));
	return owned;
}

/* The first file of a Stage or StageKernel call, labelled by pathOption
 * (else unnamed); label names it in messages. */
InputFile takeFirst(sdbus::UnixFd &fd, const VariantMap &options, const char *pathOption, const char *unnamed,
		    const char *label, uint64_t maxSize)
{
	InputFile f;
	const std::string path = labelOption(options, pathOption);
	f.origin = path.empty() ? unnamed : path;
	f.fd = takeInputFd(fd, fmt::format("{} '{}'", label, f.origin), maxSize);
	return f;
}

/* The files after the first, labelled by the option pathsOption (one
 * label per fd, or none: "<what>N"). */
std::vector<InputFile> takeRest(std::vector<sdbus::UnixFd> &fds, const VariantMap &options,
				const char *pathsOption, const char *what, uint64_t maxSize)
{
	auto paths = option<std::vector<std::string>>(options, pathsOption).value_or(std::vector<std::string>{});
	if (!paths.empty() && paths.size() != fds.size())
		throw invalid(fmt::format("{} has {} entries for {} {}s", pathsOption, paths.size(), fds.size(), what));
	for (const auto &p : paths)
		checkLabel(pathsOption, p);
	std::vector<InputFile> files;
	for (size_t i = 0; i < fds.size(); i++) {
		InputFile f;
		f.origin = paths.empty() ? fmt::format("{}{}", what, i) : paths[i];
		f.fd = takeInputFd(fds[i], fmt::format("{} '{}'", what, f.origin), maxSize);
		files.push_back(std::move(f));
	}
	return files;
}

/* What every staging call shares: profile, command line, scheme, policy,
 * slot and interactivity. */
BusStageRequest common(const VariantMap &options, const Limits &limits)
{
	BusStageRequest b;
	b.request = std::make_shared<StageRequest>();
	StageRequest &request = *b.request;
	request.profile = stringOption(options, "profile", limits.maxProfileName);
	checkLabel("profile", request.profile);
	request.cmdlineExtra = stringOption(options, "cmdline_extra", limits.maxCmdlineExtra);
	checkLabel("cmdline_extra", request.cmdlineExtra);
	request.cmdlineAppend = stringOption(options, "cmdline_append", limits.maxCmdlineExtra);
	checkLabel("cmdline_append", request.cmdlineAppend);
	if (auto s = option<std::string>(options, "scheme")) {
		auto scheme = parseScheme(*s);
		if (!scheme)
			throw toDbusError(scheme.error());
		request.scheme = *scheme;
	}
	if (auto p = option<std::string>(options, "signature_policy")) {
		auto policy = parsePolicy(*p);
		if (!policy)
			throw toDbusError(policy.error());
		request.policy = *policy;
	}
	b.slot = crashOption(options) ? Slot::Crash : Slot::Reboot;
	b.interactive = interactiveOption(options);
	return b;
}

} // namespace

BusStageRequest stageRequest(sdbus::UnixFd &uki, std::vector<sdbus::UnixFd> &addons, const VariantMap &options,
			     const Limits &limits)
{
	checkKnownOptions(options, { "profile", "cmdline_extra", "cmdline_append", "scheme", "signature_policy",
				     "interactive", "uki_path", "addon_paths", "addon_discovery", "crash" });
	if (addons.size() > limits.maxAddons)
		throw invalid(fmt::format("{} addons given, the limit is {}", addons.size(), limits.maxAddons));
	/* The daemon opens no path a caller names: kexecctl finds the addons
	 * systemd-stub would load and passes them as fds. */
	if (option<bool>(options, "addon_discovery").value_or(false))
		throw invalid("addon_discovery is not available for Stage: kexecd opens no path a "
			      "caller names; pass the addons as file descriptors (kexecctl stage does "
			      "this for UKIs on the ESP), or use StageDefault");
	BusStageRequest b = common(options, limits);
	b.request->uki = takeFirst(uki, options, "uki_path", "uki", "UKI", limits.pe.maxFileSize);
	b.request->addons = takeRest(addons, options, "addon_paths", "addon", limits.pe.maxFileSize);
	/* The call message keeps its fds until the reply: two each. */
	b.fds = 2 * (addons.size() + 1);
	return b;
}

BusStageRequest stageKernelRequest(sdbus::UnixFd &kernel, std::vector<sdbus::UnixFd> &initrds,
				   std::string cmdline, const VariantMap &options, const Limits &limits)
{
	checkKnownOptions(options, { "scheme", "signature_policy", "interactive", "kernel_path", "initrd_paths",
				     "cmdline_source", "crash" });
	if (initrds.size() > limits.maxInitrds)
		throw invalid(fmt::format("{} initrds given, the limit is {}", initrds.size(), limits.maxInitrds));
	if (cmdline.size() > limits.maxCmdline)
		throw invalid(fmt::format("the command line is {} bytes, the limit is {}", cmdline.size(),
					  limits.maxCmdline));
	checkLabel("cmdline", cmdline);
	BusStageRequest b = common(options, limits);
	StageRequest &request = *b.request;
	request.kind = InputKind::Kernel;
	request.cmdline = std::move(cmdline);
	request.cmdlineSource = labelOption(options, "cmdline_source");
	if (!request.cmdlineSource.empty() && request.cmdlineSource != "append" && request.cmdlineSource != "reuse")
		throw invalid("cmdline_source must be 'append' or 'reuse'");
	request.kernel = takeFirst(kernel, options, "kernel_path", "kernel", "kernel", limits.pe.maxFileSize);
	request.initrds = takeRest(initrds, options, "initrd_paths", "initrd", limits.pe.maxFileSize);
	b.fds = 2 * (initrds.size() + 1);
	return b;
}

BusStageRequest stageDefaultRequest(const VariantMap &options, const Limits &limits)
{
	checkKnownOptions(options, { "profile", "cmdline_extra", "cmdline_append", "scheme", "signature_policy",
				     "interactive", "addon_discovery", "crash" });
	BusStageRequest b = common(options, limits);
	if (!option<bool>(options, "addon_discovery").value_or(true))
		throw toDbusError(Code::Unsupported, "StageDefault always adds the addons systemd-stub would load; "
						     "use Stage for a UKI without them");
	b.discover = true;
	return b;
}

RebootRequest rebootRequest(const VariantMap &options, RebootMode fallback, bool allowForce)
{
	if (allowForce)
		checkKnownOptions(options, { "interactive", "force", "mode", "require_staged", "ignore_inhibitors",
					     "ignore_tpm" });
	else
		checkKnownOptions(options, { "interactive", "mode", "require_staged", "ignore_inhibitors", "ignore_tpm" });
	RebootRequest r;
	r.mode = fallback;
	if (auto m = option<std::string>(options, "mode")) {
		auto mode = parseRebootMode(*m);
		if (!mode)
			throw toDbusError(mode.error());
		r.mode = *mode;
	}
	r.requireStaged = option<bool>(options, "require_staged").value_or(false);
	r.ignoreInhibitors = option<bool>(options, "ignore_inhibitors").value_or(false);
	r.ignoreTpm = option<bool>(options, "ignore_tpm").value_or(false);
	r.interactive = interactiveOption(options);
	r.force = allowForce && option<bool>(options, "force").value_or(false);
	if (r.force && r.mode != RebootMode::Kexec)
		throw invalid("force=true only applies to mode 'kexec'");
	return r;
}

} // namespace kexecd
