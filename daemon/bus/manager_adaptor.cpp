// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager_adaptor.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cmath>
#include <initializer_list>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "config.h"
#include "adaptor_util.h"
#include "errors.h"
#include "event_loop.h"
#include "log.h"
#include "logind.h"
#include "polkit.h"
#include "text.h"

namespace kexecd {

namespace {

constexpr const char *kInterface = org::kexecd1::Manager_adaptor::INTERFACE_NAME;
/* The daemon reads what the caller could open, nothing else: a regular
 * file, opened for reading, within the size limit. */
UniqueFd checkInputFd(UniqueFd owned, const std::string &what, uint64_t maxSize)
{
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

UniqueFd takeInputFd(sdbus::UnixFd &fd, const std::string &what, uint64_t maxSize)
{
	return checkInputFd(UniqueFd(fd.release()), what, maxSize);
}

/* The files after the first of a Stage or StageKernel call, labelled by
 * the option pathsOption (one label per fd, or none: "<what>N"). */
std::vector<InputFile> takeInputFds(std::vector<sdbus::UnixFd> &fds, const VariantMap &options,
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

} // namespace

ManagerAdaptor::ManagerAdaptor(sdbus::IConnection &connection, EventLoop &loop, Stager &stager,
			       Stager &crash, KexecKernel &kernel, Authorizer &authorizer, Logind &logind,
			       const Limits &limits, RebootSettings reboot)
	: AdaptorInterfaces(connection, kObjectPath), loop_(loop), stager_(stager), crash_(crash),
	  kernel_(kernel), authorizer_(authorizer), logind_(logind), limits_(limits),
	  reboot_(std::move(reboot))
{
	stager_.setChangeCallback([this] { engineChanged(); });
	crash_.setChangeCallback([this] { engineChanged(); });
	/* A caller that leaves while polkit decides must not leave its fds
	 * behind: the bus driver tells us when a unique name goes away. */
	busWatch_ = sdbus::createProxy(connection, "org.freedesktop.DBus", "/org/freedesktop/DBus");
	busWatch_->uponSignal("NameOwnerChanged")
		.onInterface("org.freedesktop.DBus")
		.call([this](const std::string &name, const std::string &, const std::string &newOwner) {
			if (newOwner.empty() && !name.empty() && name.front() == ':')
				callerVanished(name);
		});
	busWatch_->finishRegistration();
	/* A shutdown logind started and then cancelled (or that failed)
	 * leaves the staged kernel staged. */
	logind_.onPrepareForShutdown([this](bool active) {
		if (active || stager_.state() != StageState::Rebooting)
			return;
		loop_.cancel(rebootTimer_);
		rebootTimer_ = 0;
		log::info("systemd-logind reports the shutdown cancelled or failed; still staged");
		stager_.rebootAborted("systemd-logind reports the shutdown cancelled or failed");
	});
	/* Once, without side effects; status shows the answer. */
	logind_.capabilities([](const LogindCapabilities &) {});
	scheduleRecheck();
	/* Which kernel this boot runs, once: reading the booted UKI is file
	 * I/O, so it happens on the worker, before any staging. */
	worker_.submit([this, paths = reboot_.discovery, limits = limits_] {
		auto booted = std::make_shared<BootedKernel>(findBootedKernel(paths, limits));
		loop_.post([this, booted] {
			log::info("Booted kernel: {}", booted->sha256.empty() ? booted->why
									       : booted->sha256 + ", " + booted->why);
			booted_ = std::move(*booted);
			updateRebootRequired();
		});
	});
	registerAdaptor();
	emitChanges(); // records the initial values; nobody listens yet
	updateRebootRequired();
}

ManagerAdaptor::~ManagerAdaptor()
{
	unregisterAdaptor();
	stager_.setChangeCallback({});
	crash_.setChangeCallback({});
	/* worker_ (the last member) finishes a staging in flight when it is
	 * destroyed; its posted reply is dropped with the loop. */
}

std::string ManagerAdaptor::sender()
{
	const sdbus::Message *message = getObject().getCurrentlyProcessedMessage();
	if (!message)
		throw toDbusError(Code::Internal, "no current message");
	return message->getSender();
}

void ManagerAdaptor::Stage(sdbus::Result<VariantMap> &&result, sdbus::UnixFd uki,
			   std::vector<sdbus::UnixFd> addons, VariantMap options)
{
	/* sdbus-c++ 1.2 keeps async callbacks in std::function, which needs
	 * copyable captures; the move-only Result is shared between them. */
	auto reply = std::make_shared<sdbus::Result<VariantMap>>(std::move(result));
	guarded(reply, "Stage", [&] {
		checkKnownOptions(options, { "profile", "cmdline_extra", "scheme", "signature_policy",
					     "interactive", "uki_path", "addon_paths", "addon_discovery", "crash" });
		if (addons.size() > limits_.maxAddons)
			throw invalid(fmt::format("{} addons given, the limit is {}", addons.size(),
						  limits_.maxAddons));
		/* The daemon opens no path a caller names: kexecctl finds the
		 * addons systemd-stub would load and passes them as fds. */
		if (option<bool>(options, "addon_discovery").value_or(false))
			throw invalid("addon_discovery is not available for Stage: kexecd opens no path a "
				      "caller names; pass the addons as file descriptors (kexecctl stage does "
				      "this for UKIs on the ESP), or use StageDefault");
		auto request = std::make_shared<StageRequest>();
		fillCommonOptions(*request, options);
		std::string ukiPath = labelOption(options, "uki_path");
		const uint64_t maxSize = limits_.pe.maxFileSize;
		request->uki.origin = ukiPath.empty() ? "uki" : ukiPath;
		request->uki.fd = takeInputFd(uki, fmt::format("UKI '{}'", request->uki.origin), maxSize);
		request->addons = takeInputFds(addons, options, "addon_paths", "addon", maxSize);
		/* The call message keeps its fds until the reply: two each. */
		queueStaging(reply, request, false, crashOption(options),
			     2 * (addons.size() + 1), interactiveOption(options));
	});
}

void ManagerAdaptor::StageKernel(sdbus::Result<VariantMap> &&result, sdbus::UnixFd kernel,
				 std::vector<sdbus::UnixFd> initrds, std::string cmdline, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<VariantMap>>(std::move(result));
	guarded(reply, "StageKernel", [&] {
		checkKnownOptions(options, { "scheme", "signature_policy", "interactive", "kernel_path",
					     "initrd_paths", "cmdline_source", "crash" });
		if (initrds.size() > limits_.maxInitrds)
			throw invalid(fmt::format("{} initrds given, the limit is {}", initrds.size(),
						  limits_.maxInitrds));
		if (cmdline.size() > limits_.maxCmdline)
			throw invalid(fmt::format("the command line is {} bytes, the limit is {}", cmdline.size(),
						  limits_.maxCmdline));
		checkLabel("cmdline", cmdline);
		auto request = std::make_shared<StageRequest>();
		request->kind = InputKind::Kernel;
		fillCommonOptions(*request, options);
		request->cmdline = std::move(cmdline);
		request->cmdlineSource = labelOption(options, "cmdline_source");
		if (!request->cmdlineSource.empty() && request->cmdlineSource != "append" &&
		    request->cmdlineSource != "reuse")
			throw invalid("cmdline_source must be 'append' or 'reuse'");
		const std::string kernelPath = labelOption(options, "kernel_path");
		const uint64_t maxSize = limits_.pe.maxFileSize;
		request->kernel.origin = kernelPath.empty() ? "kernel" : kernelPath;
		request->kernel.fd = takeInputFd(kernel, fmt::format("kernel '{}'", request->kernel.origin), maxSize);
		request->initrds = takeInputFds(initrds, options, "initrd_paths", "initrd", maxSize);
		queueStaging(reply, request, false, crashOption(options),
			     2 * (initrds.size() + 1), interactiveOption(options));
	});
}

void ManagerAdaptor::fillCommonOptions(StageRequest &request, const VariantMap &options)
{
	request.profile = stringOption(options, "profile", limits_.maxProfileName);
	checkLabel("profile", request.profile);
	request.cmdlineExtra = stringOption(options, "cmdline_extra", limits_.maxCmdlineExtra);
	checkLabel("cmdline_extra", request.cmdlineExtra);
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
}

void ManagerAdaptor::queueStaging(StageReply reply, std::shared_ptr<StageRequest> request,
				  bool discover, bool crash, size_t fds, bool interactive)
{
	const std::string caller = sender();
	if (auto r = budget_.admit(caller, fds); !r)
		throw toDbusError(r.error());
	const uint64_t id = nextId_++;
	pending_.emplace(id, PendingStage{ caller, reply, std::move(request), discover, crash, fds });
	/* Only the id travels: if the caller leaves before polkit answers,
	 * the request and its fds are gone and the answer finds nothing. */
	authorizer_.authorize(caller, "org.kexecd1.stage", interactive,
			      [this, id](Result<void> allowed) { authorized(id, std::move(allowed)); });
}

void ManagerAdaptor::authorized(uint64_t id, Result<void> allowed)
{
	auto it = pending_.find(id);
	if (it == pending_.end())
		return; // the caller left the bus; nothing to answer
	PendingStage &p = it->second;
	budget_.release(p.sender, p.fds);
	p.fds = 0;
	const char *what = p.discover ? "StageDefault" : "Stage";
	bool started = false;
	guarded(p.reply, what, [&] {
		if (!allowed)
			throw toDbusError(allowed.error());
		/* The engine serializes too (Code::Busy); answering here keeps
		 * the worker's queue at one staging. */
		if (staging_)
			throw toDbusError(Code::Busy, "Another staging operation is running");
		if (stager_.state() == StageState::Rebooting)
			throw toDbusError(Code::Busy, "A reboot into the staged kernel is in progress");
		staging_ = true;
		started = true;
	});
	if (!started) {
		pending_.erase(it);
		return;
	}
	lastPhase_.clear();
	lastFraction_ = -1;
	std::shared_ptr<StageRequest> request = std::move(p.request);
	const bool discover = p.discover;
	Stager &target = slotStager(p.crash);
	const char *slot = slotName(target.slot());
	if (discover)
		log::info({ { "KEXECD_SLOT", slot } }, "Staging the default boot entry ({} slot)", slot);
	else if (request->kind == InputKind::Kernel)
		log::info({ { "KEXECD_PATH", request->kernel.origin }, { "KEXECD_SLOT", slot } },
			  "Staging kernel '{}' with {} initrd(s) ({} slot)", request->kernel.origin,
			  request->initrds.size(), slot);
	else
		log::info({ { "KEXECD_PATH", request->uki.origin }, { "KEXECD_SLOT", slot } },
			  "Staging '{}' with {} addon(s) ({} slot)", request->uki.origin,
			  request->addons.size(), slot);

	/* Discovery and opening the files happen on the worker too: the
	 * loop thread does no file I/O. The job holds no sdbus object. */
	worker_.submit([this, &target, id, request, discover] {
		auto progressFn = [this](std::string_view phase, double fraction) {
			progress(phase, fraction);
		};
		Result<nlohmann::json> result = makeError(Code::Internal, "staging did not run");
		try {
			result = discover ? target.stageDefault(std::move(*request), progressFn)
					  : target.stage(std::move(*request), progressFn);
		} catch (const std::exception &e) {
			result = makeError(Code::Internal, std::string("staging failed: ") + e.what());
		}
		auto shared = std::make_shared<Result<nlohmann::json>>(std::move(result));
		loop_.post([this, id, shared] { finishStaging(id, std::move(*shared)); });
		/* Tests hold the worker here: the loop must not depend on it. */
		stager_.hook("posted");
	});
}

void ManagerAdaptor::finishStaging(uint64_t id, Result<nlohmann::json> result)
{
	staging_ = false;
	/* Publish the new State/Staged before the caller gets its reply. */
	emitChanges();
	if (!result) {
		const Error &error = result.error();
		log::error({ { "ERRNO", std::to_string(error.errnum) } }, "Staging failed: {}: {}",
			   codeName(error.code), error.message);
	} else {
		log::info("Staged: {}", jsonText(*result));
	}
	auto it = pending_.find(id);
	if (it == pending_.end())
		return;
	StageReply reply = std::move(it->second.reply);
	const char *what = it->second.discover ? "StageDefault" : "Stage";
	pending_.erase(it);
	guarded(reply, what, [&] {
		if (!result)
			throw toDbusError(result.error());
		reply->returnResults(jsonToVariantMap(*result));
	});
}

void ManagerAdaptor::callerVanished(const std::string &name)
{
	for (auto it = pending_.begin(); it != pending_.end();) {
		PendingStage &p = it->second;
		/* A request on the worker runs to its end (never half a load);
		 * one still waiting for polkit is dropped with its fds. */
		if (p.sender == name && p.request) {
			budget_.release(p.sender, p.fds);
			log::info("Caller {} left the bus; dropping its pending request", name);
			it = pending_.erase(it);
		} else {
			++it;
		}
	}
}

void ManagerAdaptor::progress(std::string_view phase, double fraction)
{
	/* Worker thread. The engine may report often; a client bar needs
	 * at most every percent. */
	if (phase == lastPhase_ && std::fabs(fraction - lastFraction_) < 0.01 && fraction < 1.0)
		return;
	lastPhase_ = std::string(phase);
	lastFraction_ = fraction;
	loop_.post([this, phase = std::string(phase), fraction] {
		try {
			emitProgress(phase, fraction);
		} catch (const sdbus::Error &e) {
			log::warning("Cannot emit Progress: {}, ignoring", e.getMessage());
		}
	});
}

void ManagerAdaptor::engineChanged()
{
	/* Any thread, possibly with the engine's lock held: only post. */
	if (changePending_.exchange(true))
		return;
	loop_.post([this] {
		changePending_ = false;
		emitChanges();
	});
}

void ManagerAdaptor::emitChanges()
{
	std::map<std::string, std::string> now = {
		{ "State", stateName(stager_.state()) },
		{ "Staged", jsonText(stager_.staged()) },
		{ "KernelSupport", jsonText(stager_.kernelSupport()) },
		{ "LastError", stager_.lastError() },
		{ "CrashState", stateName(crash_.state()) },
		{ "CrashStaged", jsonText(crash_.staged()) },
	};
	std::vector<std::string> changed;
	for (const auto &[name, value] : now) {
		auto it = published_.find(name);
		if (it == published_.end() || it->second != value)
			changed.push_back(name);
	}
	bool initial = published_.empty();
	published_ = std::move(now);
	if (!changed.empty() && !initial)
		updateRebootRequired();
	if (changed.empty() || initial)
		return;
	try {
		getObject().emitPropertiesChangedSignal(kInterface, changed);
	} catch (const sdbus::Error &e) {
		log::warning("Cannot emit PropertiesChanged: {}, ignoring", e.getMessage());
	}
}

void ManagerAdaptor::StageDefault(sdbus::Result<VariantMap> &&result, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<VariantMap>>(std::move(result));
	guarded(reply, "StageDefault", [&] {
		checkKnownOptions(options, { "profile", "cmdline_extra", "scheme", "signature_policy",
					     "interactive", "addon_discovery", "crash" });
		auto request = std::make_shared<StageRequest>();
		fillCommonOptions(*request, options);
		if (!option<bool>(options, "addon_discovery").value_or(true))
			throw toDbusError(Code::Unsupported,
					  "StageDefault always adds the addons systemd-stub would load; "
					  "use Stage for a UKI without them");
		queueStaging(reply, request, true, crashOption(options), 0,
			     interactiveOption(options));
	});
}

void ManagerAdaptor::Unstage(sdbus::Result<> &&result, VariantMap options)
{
	auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
	guarded(reply, "Unstage", [&] {
		checkKnownOptions(options, { "interactive", "crash" });
		Stager &target = slotStager(crashOption(options));
		authorizer_.authorize(sender(), "org.kexecd1.unstage", interactiveOption(options),
				      [this, reply, &target](Result<void> allowed) {
			guarded(reply, "Unstage", [&] {
				if (!allowed)
					throw toDbusError(allowed.error());
				if (staging_)
					throw toDbusError(Code::Busy, "A staging operation is running");
				auto r = target.unstage();
				if (!r)
					throw toDbusError(r.error());
				log::info({ { "KEXECD_SLOT", slotName(target.slot()) } }, "Unstaged ({} slot)",
					  slotName(target.slot()));
				emitChanges();
				reply->returnResults();
			});
		});
	});
}

std::string ManagerAdaptor::Describe()
{
	try {
		(void)refreshSlots();
		const LogindCapabilities &caps = logind_.cachedCapabilities();
		nlohmann::json reboot = {
			{ "probed", caps.probed },
			{ "logind", caps.available },
			{ "kexec", caps.available && caps.kexec },
			{ "soft_reboot", caps.available && caps.softReboot },
			{ "detail", displayText(caps.detail) },
			{ "reboot_required_file", reboot_.requiredFile },
		};
		nlohmann::json doc = {
			{ "reboot", reboot },
			{ "state", stateName(stager_.state()) },
			{ "staged", stager_.staged() },
			{ "kernel_support", stager_.kernelSupport() },
			{ "last_error", stager_.lastError() },
			{ "crash", {
				{ "state", stateName(crash_.state()) },
				{ "staged", crash_.staged() },
				{ "last_error", crash_.lastError() },
			} },
			{ "version", KEXECD_VERSION },
		};
		return jsonText(doc);
	} catch (const std::exception &e) {
		throw toDbusError(Code::Internal, std::string("Describe: ") + e.what());
	}
}

bool ManagerAdaptor::refreshSlots()
{
	const bool reboot = stager_.refresh();
	const bool crash = crash_.refresh();
	return reboot || crash;
}

/* Readers get what the kernel has now; a change is also announced (the
 * engine's callback posts PropertiesChanged). */
std::string ManagerAdaptor::slotState(Stager &slot)
{
	(void)slot.refresh();
	return stateName(slot.state());
}

VariantMap ManagerAdaptor::slotStaged(Stager &slot, const char *property)
{
	try {
		(void)slot.refresh();
		return jsonToVariantMap(slot.staged());
	} catch (const std::exception &e) {
		throw toDbusError(Code::Internal, std::string(property) + ": " + e.what());
	}
}

std::string ManagerAdaptor::CrashState()
{
	return slotState(crash_);
}

VariantMap ManagerAdaptor::CrashStaged()
{
	return slotStaged(crash_, "CrashStaged");
}

std::string ManagerAdaptor::State()
{
	return slotState(stager_);
}

VariantMap ManagerAdaptor::Staged()
{
	return slotStaged(stager_, "Staged");
}

VariantMap ManagerAdaptor::KernelSupport()
{
	try {
		return jsonToVariantMap(stager_.kernelSupport());
	} catch (const std::exception &e) {
		throw toDbusError(Code::Internal, std::string("KernelSupport: ") + e.what());
	}
}

std::string ManagerAdaptor::LastError()
{
	return displayText(stager_.lastError());
}

std::string ManagerAdaptor::Version()
{
	return KEXECD_VERSION;
}

} // namespace kexecd
