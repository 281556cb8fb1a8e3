// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stager.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "compose.h"
#include "config.h"
#include "digest.h"
#include "elf_container.h"
#include "file_util.h"
#include "memfd.h"
#include "modsig.h"
#include "parse_core.h"
#include "signature_check.h"
#include "trust.h"
#include "trust_sources.h"
#include "uki.h"

namespace kexecd {

/* ---- names ---------------------------------------------------------- */

const char *schemeName(Scheme scheme)
{
	switch (scheme) {
	case Scheme::Auto: return "auto";
	case Scheme::Bpf: return "bpf";
	case Scheme::Classic: return "classic";
	}
	return "auto";
}

Result<Scheme> parseScheme(std::string_view text)
{
	if (text == "auto") return Scheme::Auto;
	if (text == "bpf") return Scheme::Bpf;
	if (text == "classic") return Scheme::Classic;
	return makeError(Code::InvalidArgument, fmt::format("unknown scheme '{}' (auto, bpf, classic)", text));
}

const char *policyName(SignaturePolicy policy)
{
	switch (policy) {
	case SignaturePolicy::Auto: return "auto";
	case SignaturePolicy::Enforce: return "enforce";
	case SignaturePolicy::Warn: return "warn";
	}
	return "auto";
}

Result<SignaturePolicy> parsePolicy(std::string_view text)
{
	if (text == "auto") return SignaturePolicy::Auto;
	if (text == "enforce") return SignaturePolicy::Enforce;
	if (text == "warn") return SignaturePolicy::Warn;
	return makeError(Code::InvalidArgument,
			 fmt::format("unknown signature policy '{}' (auto, enforce, warn)", text));
}

const char *stateName(StageState state)
{
	switch (state) {
	case StageState::Idle: return "idle";
	case StageState::Staging: return "staging";
	case StageState::Staged: return "staged";
	case StageState::Foreign: return "foreign";
	case StageState::Failed: return "failed";
	case StageState::Rebooting: return "rebooting";
	}
	return "idle";
}

namespace {

constexpr const char *kFirmwareDb = "db-d719b2cb-3d3a-4596-a3bc-dad00e67656f";

/* ---- reading and parsing -------------------------------------------- */

struct LoadedFile {
	SealedMemfd memfd;
	std::string origin;
	std::vector<uint8_t> ima; // security.ima of the original file
};

/* Everything parsed from one request. UkiImages borrow the memfds'
 * mappings, which stay put when LoadedFile objects move. */
struct ParsedInput {
	std::vector<LoadedFile> files; // [0] = UKI, then addons
	std::optional<UkiImage> uki;
	std::vector<UkiImage> addons;
	const UkiProfile *profile = nullptr;

	std::vector<const UkiImage *> addonPointers() const
	{
		std::vector<const UkiImage *> out;
		for (const UkiImage &a : addons)
			out.push_back(&a);
		return out;
	}
};

std::vector<uint8_t> readImaXattr(int fd)
{
	/* IMA signatures are small; the draft builder caps them at 1 KiB. */
	std::vector<uint8_t> buf(1024);
	ssize_t n = ::fgetxattr(fd, "security.ima", buf.data(), buf.size());
	if (n <= 0)
		return {};
	buf.resize(static_cast<size_t>(n));
	return buf;
}

Result<LoadedFile> readOnce(InputFile &input, const Limits &limits)
{
	LoadedFile f;
	f.origin = input.origin.empty() ? fmt::format("fd {}", input.fd.get()) : input.origin;
	f.ima = readImaXattr(input.fd.get());
	auto memfd = SealedMemfd::copyFrom(input.fd.get(), f.origin, limits.pe.maxFileSize);
	if (!memfd)
		return memfd.takeError();
	f.memfd = std::move(*memfd);
	return f;
}

Result<ParsedInput> readAndParse(InputFile &uki, std::vector<InputFile> &addons,
				 const std::string &profile, const Limits &limits, const ProgressFn &progress)
{
	if (addons.size() > limits.maxAddons)
		return makeError(Code::InvalidArgument,
				 fmt::format("{} addons is more than the limit of {}", addons.size(), limits.maxAddons));
	if (profile.size() > limits.maxProfileName)
		return makeError(Code::InvalidArgument, "profile selector is too long");

	ParsedInput in;
	uint64_t total = 0;
	const size_t count = addons.size() + 1;
	for (size_t i = 0; i < count; i++) {
		auto f = readOnce(i == 0 ? uki : addons[i - 1], limits);
		if (!f)
			return f.takeError();
		total += f->memfd.size();
		if (total > limits.maxTotalInput)
			return makeError(Code::InvalidArgument,
					 fmt::format("inputs add up to more than the limit of {} bytes", limits.maxTotalInput));
		in.files.push_back(std::move(*f));
		if (progress)
			progress("read", 0.3 * double(i + 1) / double(count));
	}

	for (size_t i = 0; i < in.files.size(); i++) {
		const LoadedFile &f = in.files[i];
		auto pe = PeFile::parse(f.memfd.bytes(), f.origin, limits.pe);
		if (!pe)
			return pe.takeError();
		auto img = UkiImage::fromPe(std::move(*pe), f.origin, i == 0 ? ImageRole::Uki : ImageRole::Addon);
		if (!img)
			return img.takeError();
		if (i == 0)
			in.uki.emplace(std::move(*img));
		else {
			KEXECD_TRY(checkAddonFits(*in.uki, *img));
			in.addons.push_back(std::move(*img));
		}
	}
	auto p = in.uki->findProfile(profile);
	if (!p)
		return p.takeError();
	in.profile = *p;
	if (progress)
		progress("parse", 0.4);
	return in;
}

/* ---- verification ---------------------------------------------------- */

Result<TrustStore> loadTrust(const EngineConfig &config)
{
	auto store = TrustStore::loadDirectory(config.trustDir);
	if (!store)
		return store.takeError();
	if (config.useFirmwareDb) {
		const std::string db = config.efivarsDir + "/" + kFirmwareDb;
		/* An odd or absent db must not block staging: the kernel
		 * checks against its platform keyring anyway. */
		if (std::filesystem::exists(db))
			(void)store->addEfiVariableFile(db);
	}
	return store;
}

SignaturePolicy effectivePolicy(SignaturePolicy policy, const KernelSupport &support)
{
	if (policy != SignaturePolicy::Auto)
		return policy;
	const bool locked = !support.lockdown.empty() && support.lockdown != "none";
	return support.secureBoot || locked ? SignaturePolicy::Enforce : SignaturePolicy::Warn;
}

TrustSourcePaths trustSourcePaths(const EngineConfig &config)
{
	TrustSourcePaths p;
	p.trustDir = config.trustDir;
	p.efivarsDir = config.efivarsDir;
	p.mokVariablesDir = config.mokVariablesDir;
	p.procKeys = config.procKeys;
	p.useFirmwareDb = config.useFirmwareDb;
	return p;
}

/* Both verdicts for what is about to be loaded (signature_check.h). */
Result<SignatureCheck> verifyComposed(const ParsedInput &in, const TrustSources &sources, SignaturePolicy policy,
				      const EngineConfig &config, std::span<const uint8_t> kernel, bool zboot,
				      std::span<const uint8_t> parser)
{
	const bool enforce = policy == SignaturePolicy::Enforce;
	return enforceSignatures({ &*in.uki, in.addonPointers(), !parser.empty(), kernel, zboot, parser, config.parserPath },
				 sources, { enforce, enforce && config.enforceFirmwareVerdict });
}

nlohmann::json partJson(std::span<const uint8_t> bytes)
{
	return { { "size", bytes.size() }, { "sha256", sha256Hex(bytes) } };
}

/* What a UKI says it is: the same keys in inspect and in the record. */
void addUkiIdentity(nlohmann::json &j, const UkiImage &uki)
{
	j["uname"] = uki.uname();
	j["os_release"] = { { "id", uki.osRelease().id },
			    { "version_id", uki.osRelease().versionId },
			    { "pretty_name", uki.osRelease().prettyName } };
}

nlohmann::json profileJson(const UkiProfile *p)
{
	if (!p)
		return nullptr;
	return { { "index", p->index }, { "id", p->id }, { "title", p->title } };
}

nlohmann::json containerJson(const SealedMemfd &container)
{
	nlohmann::json j = partJson(container.bytes());
	j["sections"] = nlohmann::json::array();
	if (auto view = readElfContainer(container.bytes()))
		for (const auto &[name, data] : view->sections) {
			nlohmann::json s = partJson(data);
			s["name"] = name;
			j["sections"].push_back(s);
		}
	return j;
}

/* BPF scheme preconditions, checked against the limits our parser
 * (bpf/parse_core.h) is built with, so the caller gets a named error
 * instead of an opaque EINVAL from the kernel. */
Result<void> checkBpfLimits(const ParsedInput &in)
{
	const UkiImage &uki = *in.uki;
	for (size_t i = 0; i < in.files.size(); i++) {
		const PeFile &pe = i == 0 ? uki.pe() : in.addons[i - 1].pe();
		if (pe.sections().size() > PC_PE_SCAN_MAX)
			return makeError(Code::InvalidImage,
					 fmt::format("'{}' has {} sections; the BPF parser reads at most {}",
						     in.files[i].origin, pe.sections().size(), PC_PE_SCAN_MAX));
	}
	if (in.files.size() > PC_MAX_PES)
		return makeError(Code::InvalidArgument,
				 fmt::format("{} images; the BPF parser takes at most {}", in.files.size(), PC_MAX_PES));

	const SectionSet resolved = uki.resolve(in.profile);
	const auto addons = in.addonPointers();
	const auto kernel = resolved.find(".linux");
	if (kernel != resolved.end() && kernel->second.size() > PC_PAYLOAD_MAX)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': .linux is {} bytes; the BPF parser's limit is {}", uki.origin(),
					     kernel->second.size(), PC_PAYLOAD_MAX));
	const auto parts = initrdParts(resolved, addons);
	uint64_t initrdSize = 0;
	for (const auto &part : parts)
		initrdSize += part.size();
	if (parts.empty())
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': the BPF parser scheme needs an initrd (the kernel requires "
					     "kernel, initrd and cmdline)", uki.origin()));
	if (parts.size() > PC_MAX_PARTS || initrdSize > PC_PAYLOAD_MAX)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': the composed initrd ({} parts, {} bytes) exceeds the BPF parser's "
					     "limits ({} parts, {} bytes)", uki.origin(), parts.size(), initrdSize,
					     PC_MAX_PARTS, PC_PAYLOAD_MAX));
	const std::string cmdline = composeCmdline(resolved, addons, "");
	if (cmdline.empty())
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': the BPF parser scheme needs a command line", uki.origin()));
	if (cmdline.size() + 1 > PC_CMDLINE_MAX)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': the composed command line exceeds the BPF parser's {} bytes",
					     uki.origin(), PC_CMDLINE_MAX));
	return {};
}

std::string isoTime(std::chrono::system_clock::time_point t)
{
	return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

Result<void> writeFileAtomically(const std::string &path, const std::string &data)
{
	const std::filesystem::path p(path);
	std::error_code ec;
	if (p.has_parent_path())
		std::filesystem::create_directories(p.parent_path(), ec);
	const std::string tmp = path + ".tmp";
	int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return makeError(Code::Io, fmt::format("'{}': {}", tmp, std::strerror(errno)), errno);
	const char *d = data.data();
	size_t left = data.size();
	while (left > 0) {
		ssize_t n = ::write(fd, d, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			const int e = errno;
			::close(fd);
			return makeError(Code::Io, fmt::format("'{}': {}", tmp, std::strerror(e)), e);
		}
		d += n;
		left -= static_cast<size_t>(n);
	}
	/* fsync before rename: after a crash the file is old or new, never empty. */
	if (::fsync(fd) < 0 || ::close(fd) < 0)
		return makeError(Code::Io, fmt::format("'{}': {}", tmp, std::strerror(errno)), errno);
	if (::rename(tmp.c_str(), path.c_str()) < 0)
		return makeError(Code::Io, fmt::format("'{}': {}", path, std::strerror(errno)), errno);
	return {};
}

/* Our own records are a few KiB; anything near this is not ours. */
constexpr size_t kMaxStateFile = 16 << 20;

struct ParserContainer {
	SealedMemfd memfd;
	nlohmann::json info;
};

Result<ParserContainer> openParserContainer(const EngineConfig &config, const TrustStore &store,
					    SignaturePolicy policy)
{
	UniqueFd fd(::open(config.parserPath.c_str(), O_RDONLY | O_CLOEXEC));
	if (!fd.valid())
		return makeError(Code::Unsupported,
				 fmt::format("parser container '{}': {}", config.parserPath, std::strerror(errno)), errno);
	auto memfd = SealedMemfd::copyFrom(fd.get(), config.parserPath, config.limits.pe.maxFileSize);
	if (!memfd)
		return memfd.takeError();
	ParserContainer pc;
	pc.info = partJson(memfd->bytes());
	pc.info["path"] = config.parserPath;
	auto payload = verifyModuleSignature(memfd->bytes(), store.store());
	if (!payload) {
		if (policy == SignaturePolicy::Enforce || payload.error().code == Code::InvalidImage)
			return makeError(payload.error().code,
					 fmt::format("parser container '{}': {}", config.parserPath, payload.error().message));
		pc.info["signature"] = { { "verdict", "untrusted-signer" }, { "detail", payload.error().message } };
	} else {
		pc.info["signature"] = { { "verdict", "trusted" }, { "detail", "" } };
	}
	pc.memfd = std::move(*memfd);
	return pc;
}

} // namespace

/* ---- inspect (local, read-only) -------------------------------------- */

Result<nlohmann::json> inspectImage(InputFile uki, std::vector<InputFile> addons, const std::string &profile,
				    const EngineConfig &config, bool showContainer)
{
	auto in = readAndParse(uki, addons, profile, config.limits, {});
	if (!in)
		return in.takeError();
	nlohmann::json j;
	auto describe = [&](const UkiImage &img, const LoadedFile &f) {
		nlohmann::json d = partJson(f.memfd.bytes());
		d["path"] = f.origin;
		d["machine"] = machineName(img.pe().machine());
		d["sections"] = nlohmann::json::array();
		for (const PeSection &s : img.pe().sections())
			d["sections"].push_back({ { "name", s.name }, { "size", s.data.size() },
						  { "offset", s.pointerToRawData } });
		return d;
	};
	j["uki"] = describe(*in->uki, in->files[0]);
	addUkiIdentity(j["uki"], *in->uki);
	j["uki"]["profiles"] = nlohmann::json::array();
	for (const UkiProfile &p : in->uki->profiles())
		j["uki"]["profiles"].push_back(profileJson(&p));
	j["profile"] = profileJson(in->profile);
	j["addons"] = nlohmann::json::array();
	for (size_t i = 0; i < in->addons.size(); i++)
		j["addons"].push_back(describe(in->addons[i], in->files[i + 1]));

	const auto addonPtrs = in->addonPointers();
	ClassicOptions opts;
	opts.profile = in->profile;
	opts.maxCmdline = config.limits.maxCmdline;
	auto parts = composeClassic(*in->uki, addonPtrs, opts);
	if (!parts)
		return parts.takeError();
	j["classic"] = { { "kernel", partJson(parts->kernel.bytes()) },
			 { "initrd", parts->initrd ? partJson(parts->initrd->bytes()) : nlohmann::json(nullptr) },
			 { "cmdline", parts->cmdline },
			 { "kernel_was_zboot", parts->kernelWasZboot } };
	/* inspect shows the classic scheme's objects and never refuses. */
	auto sources = loadTrustSources(trustSourcePaths(config));
	if (!sources)
		return sources.takeError();
	auto signatures = verifyComposed(*in, *sources, SignaturePolicy::Warn, config, parts->kernel.bytes(),
					 parts->kernelWasZboot, {});
	if (!signatures)
		return signatures.takeError();
	recordSignatures(j, *signatures, *sources);
	if (showContainer) {
		std::vector<ContainerEntry> entries;
		for (const LoadedFile &f : in->files)
			entries.push_back({ f.memfd.bytes(), f.ima });
		auto container = composeImageContainer(entries, in->profile ? std::optional(in->profile->index)
									    : std::nullopt);
		if (!container)
			return container.takeError();
		j["container"] = containerJson(*container);
		auto limits = checkBpfLimits(*in);
		j["container"]["bpf_ready"] = limits.ok();
		if (!limits)
			j["container"]["bpf_problem"] = limits.error().message;
	}
	return j;
}

/* ---- Stager ---------------------------------------------------------- */

Stager::Stager(KexecKernel &kernel, EngineConfig config) : kernel_(kernel), config_(std::move(config))
{
}

void Stager::setChangeCallback(std::function<void()> callback)
{
	std::lock_guard lock(mutex_);
	changed_ = std::move(callback);
}

void Stager::setState(StageState state, std::optional<nlohmann::json> staged,
		      std::optional<std::string> lastError)
{
	std::function<void()> notify;
	{
		std::lock_guard lock(mutex_);
		state_ = state;
		if (staged)
			staged_ = std::move(*staged);
		if (lastError)
			lastError_ = std::move(*lastError);
		notify = changed_;
	}
	if (notify)
		notify();
}

StageState Stager::state() const
{
	std::lock_guard lock(mutex_);
	return state_;
}

nlohmann::json Stager::staged() const
{
	std::lock_guard lock(mutex_);
	return staged_;
}

nlohmann::json Stager::kernelSupport() const
{
	std::lock_guard lock(mutex_);
	return { { "kexec_file", support_.kexecFile },
		 { "bpf_parser", support_.bpfParser },
		 { "generation", support_.generation },
		 { "lockdown", support_.lockdown },
		 { "secure_boot", support_.secureBoot },
		 { "load_disabled", support_.loadDisabled },
		 { "detail", support_.detail } };
}

std::string Stager::lastError() const
{
	std::lock_guard lock(mutex_);
	return lastError_;
}

Result<void> Stager::start()
{
	auto support = kernel_.probe();
	if (!support)
		return support.takeError();
	{
		std::lock_guard lock(mutex_);
		support_ = *support;
	}
	auto loaded = kernel_.loaded();
	if (!loaded)
		return loaded.takeError();

	const std::string pending = config_.statePath + ".pending";
	const bool interrupted = std::filesystem::exists(pending);
	std::error_code ec;
	std::filesystem::remove(pending, ec);

	nlohmann::json record = nlohmann::json::object();
	const std::string text = detail::readSmallFile(config_.statePath, kMaxStateFile).value_or("");
	if (!text.empty()) {
		record = nlohmann::json::parse(text, nullptr, false);
		if (record.is_discarded() || !record.is_object())
			record = nlohmann::json::object();
	}

	if (!*loaded) {
		/* Whatever we recorded is gone (reboot, someone unloaded it). */
		std::filesystem::remove(config_.statePath, ec);
		setState(StageState::Idle, nlohmann::json::object());
	} else if (interrupted || record.empty()) {
		/* A kernel is loaded that we cannot vouch for: staged by another
		 * tool, or our staging was cut short between load and record. */
		setState(StageState::Foreign, nlohmann::json::object(),
			 interrupted ? std::string("staging was interrupted; the loaded kernel is unknown") : "");
	} else {
		setState(StageState::Staged, record);
	}
	return {};
}

Result<nlohmann::json> Stager::stage(StageRequest request, const ProgressFn &progress)
{
	if (busy_.exchange(true))
		return makeError(Code::Busy, "another staging operation is in progress");
	const StageState before = state();
	setState(StageState::Staging);

	auto result = stageLocked(std::move(request), progress);

	if (!result) {
		/* Nothing we did changed the kernel: report what was there. */
		setState(before == StageState::Staging ? StageState::Idle : before, std::nullopt,
			 result.error().message);
	} else {
		setState(StageState::Staged, *result, "");
	}
	busy_ = false;
	return result;
}

namespace {

Result<InputFile> openForStaging(const std::string &path)
{
	/* O_NOFOLLOW-free on purpose: ESP entries may be symlinks the admin
	 * made; the file is read once into a sealed copy either way. */
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (!fd.valid())
		return makeError(Code::Io, fmt::format("'{}': {}", path, std::strerror(errno)), errno);
	return InputFile{ std::move(fd), path };
}

/* Discovered addons go first, as systemd-stub loads them before any
 * explicitly given ones. */
Result<void> addDiscoveredAddons(StageRequest &request, const DiscoveryPaths &paths,
				 std::vector<std::string> *notes)
{
	std::vector<InputFile> addons;
	for (const std::string &path : findAddons(paths, request.uki.origin, notes)) {
		auto f = openForStaging(path);
		if (!f)
			return f.takeError();
		addons.push_back(std::move(*f));
	}
	for (InputFile &explicitAddon : request.addons)
		addons.push_back(std::move(explicitAddon));
	request.addons = std::move(addons);
	return {};
}

} // namespace

Result<nlohmann::json> Stager::stageDefault(StageRequest request, const ProgressFn &progress)
{
	if (request.uki.fd.valid() || !request.addons.empty())
		return makeError(Code::InvalidArgument, "StageDefault takes no files: discovery picks them");
	std::string why;
	auto entry = defaultUki(config_.discovery, &why);
	if (!entry) {
		Error e = entry.takeError();
		setState(state(), std::nullopt, e.message);
		return e;
	}
	auto uki = openForStaging(entry->path);
	if (!uki)
		return uki.takeError();
	request.uki = std::move(*uki);
	request.discoverAddons = true;
	request.discoveredId = entry->id;
	request.discoveredWhy = why;
	return stage(std::move(request), progress);
}

Result<nlohmann::json> Stager::stageLocked(StageRequest request, const ProgressFn &progress)
{
	const auto startTime = std::chrono::steady_clock::now();
	const Limits &limits = config_.limits;
	if (request.cmdlineExtra.size() > limits.maxCmdlineExtra)
		return makeError(Code::InvalidArgument,
				 fmt::format("cmdline_extra is {} bytes, more than the limit of {}",
					     request.cmdlineExtra.size(), limits.maxCmdlineExtra));

	auto support = kernel_.probe();
	if (!support)
		return support.takeError();
	{
		std::lock_guard lock(mutex_);
		support_ = *support;
	}
	if (support->loadDisabled)
		return makeError(Code::Unsupported, "kexec is disabled on this system (kernel.kexec_load_disabled = 1)");
	if (!support->kexecFile)
		return makeError(Code::Unsupported, "the running kernel has no kexec_file_load");
	if (!request.cmdlineExtra.empty() && support->secureBoot)
		return makeError(Code::InvalidArgument,
				 "cmdline_extra is refused while Secure Boot is on (as systemd-stub does)");

	std::vector<std::string> discoveryNotes;
	if (request.discoverAddons) {
		if (request.uki.origin.empty() || request.uki.origin.front() != '/')
			return makeError(Code::InvalidArgument, "addon discovery needs the UKI's absolute path");
		KEXECD_TRY(addDiscoveredAddons(request, config_.discovery, &discoveryNotes));
	}

	auto in = readAndParse(request.uki, request.addons, request.profile, limits, progress);
	if (!in)
		return in.takeError();

	const SignaturePolicy policy = effectivePolicy(request.policy.value_or(config_.policy), *support);
	auto store = loadTrust(config_);
	if (!store)
		return store.takeError();
	auto sources = loadTrustSources(trustSourcePaths(config_));
	if (!sources)
		return sources.takeError();
	if (progress)
		progress("verify", 0.55);

	/* Scheme choice (DESIGN.md §3). */
	const Scheme requested = request.scheme.value_or(config_.scheme);
	Scheme scheme = requested;
	std::string reason;
	if (requested == Scheme::Bpf && !support->bpfParser)
		return makeError(Code::Unsupported,
				 fmt::format("scheme 'bpf' requested but {}", support->detail));
	if (requested == Scheme::Auto) {
		scheme = support->bpfParser ? Scheme::Bpf : Scheme::Classic;
		reason = support->bpfParser ? "auto: kernel has the BPF parser series"
					    : "auto: kernel has no BPF parser (" + support->detail + ")";
	} else {
		reason = fmt::format("requested '{}'", schemeName(requested));
	}

	const auto addonPtrs = in->addonPointers();
	const SectionSet resolved = in->uki->resolve(in->profile);
	const std::string cmdline = composeCmdline(resolved, addonPtrs, request.cmdlineExtra);

	nlohmann::json record;
	record["uki"] = partJson(in->files[0].memfd.bytes());
	record["uki"]["path"] = in->files[0].origin;
	addUkiIdentity(record["uki"], *in->uki);
	record["profile"] = profileJson(in->profile);
	record["addons"] = nlohmann::json::array();
	for (size_t i = 1; i < in->files.size(); i++) {
		nlohmann::json a = partJson(in->files[i].memfd.bytes());
		a["path"] = in->files[i].origin;
		record["addons"].push_back(a);
	}
	record["signature_policy"] = policyName(policy);
	record["cmdline"] = cmdline;
	if (!request.discoveredId.empty())
		record["discovery"] = { { "id", request.discoveredId }, { "why", request.discoveredWhy } };
	if (!discoveryNotes.empty())
		record["discovery_notes"] = discoveryNotes;

	LoadRequest load;
	std::optional<ClassicParts> classic;
	std::optional<SealedMemfd> container;
	std::optional<ParserContainer> parser;

	auto composeClassicLoad = [&]() -> Result<void> {
		ClassicOptions opts;
		opts.profile = in->profile;
		opts.cmdlineExtra = request.cmdlineExtra;
		opts.maxCmdline = limits.maxCmdline;
		auto parts = composeClassic(*in->uki, addonPtrs, opts);
		if (!parts)
			return parts.takeError();
		classic = std::move(*parts);
		load = {};
		load.kernelFd = classic->kernel.fd();
		load.initrdFd = classic->initrd ? classic->initrd->fd() : -1;
		load.cmdline = classic->cmdline;
		load.flags = classic->initrd ? 0 : kKexecFileNoInitramfs;
		return {};
	};

	if (scheme == Scheme::Bpf) {
		KEXECD_TRY(checkBpfLimits(*in));
		if (!request.cmdlineExtra.empty())
			return makeError(Code::InvalidArgument,
					 "cmdline_extra cannot be used with the BPF scheme: the kernel composes the "
					 "command line from signed sections only");
		auto pc = openParserContainer(config_, *store, policy);
		if (!pc)
			return pc.takeError();
		parser = std::move(*pc);
		std::vector<ContainerEntry> entries;
		for (const LoadedFile &f : in->files)
			entries.push_back({ f.memfd.bytes(), f.ima });
		auto c = composeImageContainer(entries, in->profile ? std::optional(in->profile->index) : std::nullopt);
		if (!c)
			return c.takeError();
		container = std::move(*c);
		load.kernelFd = parser->memfd.fd();
		load.initrdFd = container->fd();
		load.cmdlineEmpty = true;
		load.flags = 0;
	} else {
		KEXECD_TRY(composeClassicLoad());
	}
	auto signatures = scheme == Scheme::Bpf
		? verifyComposed(*in, *sources, policy, config_, {}, false, parser->memfd.bytes())
		: verifyComposed(*in, *sources, policy, config_, classic->kernel.bytes(), classic->kernelWasZboot, {});
	if (!signatures)
		return signatures.takeError();
	recordSignatures(record, *signatures, *sources);
	if (progress)
		progress("compose", 0.75);

	auto describeParts = [&](nlohmann::json &r) {
		r["scheme"] = schemeName(scheme);
		r["scheme_reason"] = reason;
		if (scheme == Scheme::Bpf) {
			r["parser"] = parser->info;
			r["container"] = containerJson(*container);
			r["kernel"] = nullptr;
			r["initrd"] = nullptr;
			r["covered_by_kernel_signature_check"] = "uki, addons (the kernel's parser verifies each PE)";
		} else {
			r["kernel"] = partJson(classic->kernel.bytes());
			r["kernel"]["zboot"] = classic->kernelWasZboot;
			r["initrd"] = classic->initrd ? partJson(classic->initrd->bytes()) : nlohmann::json(nullptr);
			r["covered_by_kernel_signature_check"] =
				"kernel only: initrd and cmdline are checked by kexecd's userspace pre-check, not by the kernel";
		}
		r["flags"] = load.flags;
	};
	describeParts(record);

	/* Intent first: if we die between load and record, the next start
	 * knows the loaded kernel is not the one staged.json describes. */
	const std::string pending = config_.statePath + ".pending";
	KEXECD_TRY(writeFileAtomically(pending, record.dump()));
	auto removePending = [&pending] {
		std::error_code ec;
		std::filesystem::remove(pending, ec);
	};

	/* No unload first: the kernel swaps images only after the new one is
	 * fully loaded, so a refused load keeps the previous kernel staged. */
	auto loaded = kernel_.load(load);
	if (!loaded && scheme == Scheme::Bpf && requested == Scheme::Auto && config_.allowSchemeFallback &&
	    (loaded.error().errnum == ENOEXEC || loaded.error().errnum == EINVAL)) {
		const std::string bpfError = loaded.error().message;
		auto composed = composeClassicLoad();
		if (!composed) {
			removePending();
			return composed.takeError();
		}
		auto classicSignatures = verifyComposed(*in, *sources, policy, config_, classic->kernel.bytes(),
							classic->kernelWasZboot, {});
		if (!classicSignatures) {
			removePending();
			return classicSignatures.takeError();
		}
		recordSignatures(record, *classicSignatures, *sources);
		scheme = Scheme::Classic;
		reason = "auto: the kernel refused the BPF parser container (" + bpfError +
			 "); fell back to classic as configured";
		describeParts(record);
		record.erase("parser");
		record.erase("container");
		loaded = kernel_.load(load);
	}
	if (!loaded) {
		removePending();
		Error e = loaded.takeError();
		if (scheme == Scheme::Bpf && (e.errnum == ENOEXEC || e.errnum == EINVAL))
			e.message += "; the kernel claimed BPF parser support but refused the parser "
				     "container (bad signature or layout looks the same): read the kernel log";
		return e;
	}
	if (progress)
		progress("load", 0.9);
	if (auto k = kernel_.loaded(); k && !*k) {
		removePending();
		return makeError(Code::KernelRefused,
				 "kexec_file_load succeeded but /sys/kernel/kexec_loaded is still 0");
	}

	const auto now = std::chrono::system_clock::now();
	record["staged_at"] = isoTime(now);
	record["staged_at_usec"] =
		std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
	record["duration_usec"] = std::chrono::duration_cast<std::chrono::microseconds>(
					  std::chrono::steady_clock::now() - startTime).count();
	record["version"] = KEXECD_VERSION;
	auto written = writeFileAtomically(config_.statePath, record.dump(2));
	removePending();
	if (!written)
		return makeError(written.error().code,
				 "the kernel is staged but the state file could not be written: " +
					 written.error().message, written.error().errnum);
	if (progress)
		progress("record", 1.0);
	return record;
}

Result<void> Stager::unstage()
{
	if (busy_.exchange(true))
		return makeError(Code::Busy, "a staging operation is in progress");
	auto loaded = kernel_.loaded();
	Result<void> r;
	if (loaded && !*loaded && state() != StageState::Staged)
		r = makeError(Code::NotStaged, "no kernel is staged");
	else
		r = kernel_.unload();
	if (r) {
		std::error_code ec;
		std::filesystem::remove(config_.statePath, ec);
		setState(StageState::Idle, nlohmann::json::object(), "");
	} else if (r.error().code != Code::NotStaged) {
		setState(state(), std::nullopt, r.error().message);
	}
	busy_ = false;
	return r;
}

Result<void> Stager::checkRebootable()
{
	const StageState s = state();
	if (s != StageState::Staged && s != StageState::Foreign)
		return makeError(Code::NotStaged, "no kernel is staged");
	auto loaded = kernel_.loaded();
	if (!loaded)
		return loaded.takeError();
	if (!*loaded) {
		setState(StageState::Idle, nlohmann::json::object(),
			 "the staged kernel is gone (kexec_loaded is 0)");
		return makeError(Code::NotStaged, "the staged kernel is gone: /sys/kernel/kexec_loaded is 0");
	}
	return {};
}

Result<void> Stager::setRebooting()
{
	setState(StageState::Rebooting);
	return {};
}

} // namespace kexecd
