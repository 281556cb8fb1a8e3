// SPDX-License-Identifier: LGPL-2.1-or-later
#include "luks2_tokens.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <libcryptsetup.h>
#include <nlohmann/json.hpp>

#include "fd.h"
#include "text.h"

namespace kexecd {

namespace {

/* libcryptsetup's error lines for the read running on this thread. */
thread_local std::string cryptErrors;

void cryptLog(int level, const char *msg, void *)
{
	if (level != CRYPT_LOG_ERROR || !msg || cryptErrors.size() > 1024)
		return;
	std::string line(msg);
	while (!line.empty() && line.back() == '\n')
		line.pop_back();
	if (!cryptErrors.empty())
		cryptErrors += "; ";
	cryptErrors += displayText(line);
}

/* Once per process: no token plugins (no foreign code dlopen()ed into the
 * daemon), no lock files under /run/cryptsetup (a read-only reader), and
 * libcryptsetup's messages kept off stderr. */
void setUpLibcryptsetup()
{
	static std::once_flag once;
	std::call_once(once, [] {
		crypt_token_external_disable();
		crypt_metadata_locking(nullptr, 0);
		crypt_set_log_callback(nullptr, cryptLog, nullptr);
	});
}

struct CryptDeviceDeleter {
	void operator()(crypt_device *cd) const { crypt_free(cd); }
};

const char *fileTypeName(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISLNK(mode))
		return "a symbolic link";
	return "not a block device or regular file";
}

std::optional<std::vector<unsigned>> pcrArray(const nlohmann::json &v)
{
	if (!v.is_array())
		return std::nullopt;
	std::vector<unsigned> out;
	for (const auto &e : v) {
		if (!e.is_number_unsigned() || e.get<uint64_t>() >= 24)
			return std::nullopt;
		out.push_back(e.get<unsigned>());
	}
	std::sort(out.begin(), out.end());
	out.erase(std::unique(out.begin(), out.end()), out.end());
	return out;
}

std::optional<std::vector<int>> keyslotArray(const nlohmann::json &v)
{
	if (!v.is_array())
		return std::nullopt;
	std::vector<int> out;
	for (const auto &e : v) {
		if (!e.is_string())
			return std::nullopt;
		const std::string &s = e.get_ref<const std::string &>();
		if (s.empty() || s.size() > 3 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
			return std::nullopt;
		out.push_back(std::stoi(s));
	}
	return out;
}

Result<Luks2Facts> readNow(const std::string &root, const std::string &path, const Luks2ReadLimits &limits)
{
	const std::string shown = displayText(path);
	if (path.empty() || path[0] != '/')
		return makeError(Code::InvalidArgument, fmt::format("'{}' is not an absolute path", shown));
	UniqueFd rootFd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (!rootFd.valid())
		return makeError(Code::Io, fmt::format("Cannot open root '{}': {}", displayText(root), std::strerror(errno)),
				 errno);
	/* O_PATH first: a FIFO, a tape or a terminal is never opened for
	 * reading, so opening cannot block or have side effects. */
	open_how how = {};
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	const std::string rel = path.substr(path.find_first_not_of('/') == std::string::npos ? path.size()
											 : path.find_first_not_of('/'));
	UniqueFd pathFd(static_cast<int>(::syscall(SYS_openat2, rootFd.get(), rel.empty() ? "." : rel.c_str(), &how,
						   sizeof(how))));
	if (!pathFd.valid()) {
		const int e = errno;
		return makeError(e == ENOENT ? Code::InvalidArgument : Code::Io,
				 fmt::format("Cannot open '{}': {}", shown, std::strerror(e)), e);
	}
	struct stat st = {};
	if (::fstat(pathFd.get(), &st) < 0)
		return makeError(Code::Io, fmt::format("Cannot stat '{}': {}", shown, std::strerror(errno)), errno);
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
		return makeError(Code::InvalidArgument,
				 fmt::format("'{}' is {}, not a LUKS2 device or image", shown, fileTypeName(st.st_mode)));
	const std::string procPath = "/proc/self/fd/" + std::to_string(pathFd.get());
	UniqueFd fd(::open(procPath.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
	struct stat again = {};
	if (!fd.valid() || ::fstat(fd.get(), &again) < 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino)
		return makeError(Code::Io, fmt::format("Cannot open '{}' read-only: {}", shown, std::strerror(errno)), errno);

	setUpLibcryptsetup();
	cryptErrors.clear();
	crypt_device *raw = nullptr;
	const std::string fdPath = "/proc/self/fd/" + std::to_string(fd.get());
	if (int r = crypt_init(&raw, fdPath.c_str()); r < 0)
		return makeError(Code::Io, fmt::format("libcryptsetup cannot use '{}': {}{}{}", shown, std::strerror(-r),
						       cryptErrors.empty() ? "" : ": ", cryptErrors),
				 -r);
	std::unique_ptr<crypt_device, CryptDeviceDeleter> cd(raw);
	if (int r = crypt_load(cd.get(), CRYPT_LUKS2, nullptr); r < 0)
		return makeError(Code::InvalidImage, fmt::format("'{}' has no LUKS2 header: {}{}{}", shown, std::strerror(-r),
								 cryptErrors.empty() ? "" : ": ", cryptErrors),
				 -r);

	Luks2Facts facts;
	facts.path = path;
	std::set<int> bound;
	const int tokenMax = crypt_token_max(CRYPT_LUKS2);
	for (int t = 0; t < tokenMax; t++) {
		const char *type = nullptr;
		crypt_token_info info = crypt_token_status(cd.get(), t, &type);
		if (info == CRYPT_TOKEN_INACTIVE || info == CRYPT_TOKEN_INVALID)
			continue;
		const std::string typeName = type ? displayText(type) : "?";
		const char *json = nullptr;
		if (crypt_token_json_get(cd.get(), t, &json) < 0 || !json) {
			facts.otherTokens.push_back({ t, typeName });
			continue;
		}
		const size_t len = std::strlen(json);
		/* Any token's keyslots are not a passphrase's (LUKS2 JSON). */
		auto doc = len <= limits.maxTokenJson ? nlohmann::json::parse(json, json + len, nullptr, false)
						      : nlohmann::json();
		if (doc.is_object() && doc.contains("keyslots"))
			if (auto slots = keyslotArray(doc["keyslots"]))
				bound.insert(slots->begin(), slots->end());
		if (type && std::strcmp(type, "systemd-tpm2") == 0) {
			if (len > limits.maxTokenJson) {
				Tpm2Token token;
				token.id = t;
				token.error = fmt::format("token {} is larger than {} bytes", t, limits.maxTokenJson);
				facts.tpm2.push_back(std::move(token));
			} else {
				facts.tpm2.push_back(parseTpm2TokenJson(t, std::string(json, len)));
			}
		} else {
			facts.otherTokens.push_back({ t, typeName });
		}
	}
	const int slotMax = crypt_keyslot_max(CRYPT_LUKS2);
	for (int k = 0; k < slotMax; k++) {
		crypt_keyslot_info info = crypt_keyslot_status(cd.get(), k);
		if (info != CRYPT_SLOT_ACTIVE && info != CRYPT_SLOT_ACTIVE_LAST)
			continue;
		facts.activeKeyslots.push_back(k);
		if (!bound.count(k) && crypt_keyslot_get_priority(cd.get(), k) != CRYPT_SLOT_PRIORITY_IGNORE)
			facts.freeKeyslots.push_back(k);
	}
	return facts;
}

/* Reading threads alive, across every caller (a hung device keeps one). */
std::atomic<unsigned> inFlight { 0 };

/* The caller's wait and the reading thread share this; whichever finishes
 * last frees it. */
struct PendingRead {
	std::mutex lock;
	std::condition_variable done;
	std::optional<Result<Luks2Facts>> result;
};

} // namespace

unsigned luks2ReadsInFlight()
{
	return inFlight.load();
}

Tpm2Token parseTpm2TokenJson(int id, const std::string &json)
{
	Tpm2Token token;
	token.id = id;
	auto doc = nlohmann::json::parse(json, nullptr, false);
	auto fail = [&](std::string why) {
		token.error = fmt::format("systemd-tpm2 token {}: {}", id, why);
		return token;
	};
	if (!doc.is_object())
		return fail("not a JSON object");
	if (!doc.contains("keyslots"))
		return fail("no \"keyslots\"");
	auto slots = keyslotArray(doc["keyslots"]);
	if (!slots)
		return fail("\"keyslots\" is not an array of keyslot numbers");
	token.keyslots = *slots;
	if (!doc.contains("tpm2-blob") || !doc["tpm2-blob"].is_string())
		return fail("no \"tpm2-blob\" string");
	if (!doc.contains("tpm2-pcrs"))
		return fail("no \"tpm2-pcrs\"");
	auto pcrs = pcrArray(doc["tpm2-pcrs"]);
	if (!pcrs)
		return fail("\"tpm2-pcrs\" is not an array of PCR numbers below 24");
	token.pcrs = *pcrs;
	if (doc.contains("tpm2-pcr-bank")) {
		const auto &bank = doc["tpm2-pcr-bank"];
		auto parsed = bank.is_string() ? pcrBankFromName(bank.get<std::string>()) : std::nullopt;
		if (!parsed)
			return fail("\"tpm2-pcr-bank\" names no PCR bank kexecd knows");
		token.bank = *parsed;
	}
	if (doc.contains("tpm2-policy-hash")) {
		const auto &hash = doc["tpm2-policy-hash"];
		auto parsed = hash.is_string() ? tpmParseHex(hash.get<std::string>()) : std::nullopt;
		if (!parsed || parsed->size() != 32)
			return fail("\"tpm2-policy-hash\" is not a hex SHA-256 digest");
		token.policyHash = *parsed;
	}
	for (auto [key, target] : { std::pair{ "tpm2-pin", &token.pin }, std::pair{ "tpm2_pcrlock", &token.pcrlock } }) {
		if (!doc.contains(key))
			continue;
		if (!doc[key].is_boolean())
			return fail(fmt::format("\"{}\" is not a boolean", key));
		*target = doc[key].get<bool>();
	}
	if (doc.contains("tpm2_pubkey")) {
		if (!doc["tpm2_pubkey"].is_string())
			return fail("\"tpm2_pubkey\" is not a string");
		token.hasPubkey = !doc["tpm2_pubkey"].get_ref<const std::string &>().empty();
	}
	if (doc.contains("tpm2_pubkey_pcrs")) {
		auto signedPcrs = pcrArray(doc["tpm2_pubkey_pcrs"]);
		if (!signedPcrs)
			return fail("\"tpm2_pubkey_pcrs\" is not an array of PCR numbers below 24");
		token.pubkeyPcrs = *signedPcrs;
	}
	if (!token.pubkeyPcrs.empty() && !token.hasPubkey)
		return fail("\"tpm2_pubkey_pcrs\" without \"tpm2_pubkey\"");
	return token;
}

Result<Luks2Facts> readLuks2Facts(const std::string &root, const std::string &path, const Luks2ReadLimits &limits)
{
	if (inFlight.fetch_add(1) >= limits.maxInFlight) {
		inFlight.fetch_sub(1);
		return makeError(Code::Io, fmt::format("Not reading '{}': {} earlier reads of devices still hang",
						       displayText(path), limits.maxInFlight));
	}
	auto pending = std::make_shared<PendingRead>();
	try {
		std::thread([pending, root, path, limits] {
			auto result = readNow(root, path, limits);
			{
				std::lock_guard guard(pending->lock);
				pending->result.emplace(std::move(result));
				pending->done.notify_all();
			}
			inFlight.fetch_sub(1);
		}).detach();
	} catch (const std::system_error &e) {
		inFlight.fetch_sub(1);
		return makeError(Code::Io, fmt::format("Cannot start reading '{}': {}", displayText(path), e.what()));
	}
	std::unique_lock guard(pending->lock);
	if (!pending->done.wait_for(guard, limits.timeout, [&] { return pending->result.has_value(); }))
		return makeError(Code::Io, fmt::format("Reading '{}' took longer than {} ms; given up", displayText(path),
						       limits.timeout.count()),
				 ETIMEDOUT);
	return std::move(*pending->result);
}

} // namespace kexecd
