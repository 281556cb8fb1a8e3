// SPDX-License-Identifier: LGPL-2.1-or-later
#include "trust_sources.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>

#include "file_util.h"

namespace kexecd {

namespace {

constexpr size_t kMaxProcKeys = 4 << 20;
constexpr size_t kMaxSbatLevel = 64 << 10;
constexpr long kKeyctlRead = 11; // KEYCTL_READ

std::optional<int32_t> parseSerial(const std::string &hex)
{
	uint32_t v = 0;
	auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
	if (ec != std::errc() || p != hex.data() + hex.size() || hex.empty())
		return std::nullopt;
	return static_cast<int32_t>(v);
}

bool exists(const std::string &path)
{
	std::error_code ec;
	return std::filesystem::exists(path, ec);
}

struct ProcKey {
	std::string serialHex;
	std::string type;
	std::string description;
};

std::vector<ProcKey> parseProcKeys(const std::string &text)
{
	std::vector<ProcKey> out;
	std::istringstream in(text);
	std::string line;
	while (std::getline(in, line)) {
		/* serial flags usage expiry perm uid gid type description */
		std::istringstream f(line);
		ProcKey k;
		std::string skip;
		if (!(f >> k.serialHex >> skip >> skip >> skip >> skip >> skip >> skip >> k.type))
			continue;
		std::getline(f, k.description);
		size_t start = k.description.find_first_not_of(' ');
		k.description = start == std::string::npos ? "" : k.description.substr(start);
		out.push_back(std::move(k));
	}
	return out;
}

/* "Debian Secure Boot CA: 6ccece7e... X509.rsa 4f8b4a9c []" -> name, id. */
bool splitKeyDescription(const std::string &desc, std::string &name, std::string &keyId)
{
	size_t colon = desc.rfind(": ");
	while (colon != std::string::npos) {
		std::string rest = desc.substr(colon + 2);
		std::string id = rest.substr(0, rest.find(' '));
		if (!id.empty() && std::all_of(id.begin(), id.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
			name = desc.substr(0, colon);
			keyId = id;
			std::transform(keyId.begin(), keyId.end(), keyId.begin(),
				       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
			return true;
		}
		if (colon == 0)
			break;
		colon = desc.rfind(": ", colon - 1);
	}
	return false;
}

/* Count after "name: " in a keyring description; "empty" is 0. */
std::optional<unsigned long> keyringCount(const std::string &desc)
{
	size_t colon = desc.rfind(": ");
	if (colon == std::string::npos)
		return std::nullopt;
	std::string rest = desc.substr(colon + 2);
	if (rest == "empty")
		return 0;
	unsigned long n = 0;
	auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
	if (ec != std::errc() || p != rest.data() + rest.size())
		return std::nullopt;
	return n;
}

std::vector<int32_t> keyringMembers(int32_t serial)
{
	std::vector<int32_t> ids(256);
	long n = ::syscall(SYS_keyctl, kKeyctlRead, serial, ids.data(), ids.size() * sizeof(int32_t));
	if (n < 0 || static_cast<size_t>(n) > ids.size() * sizeof(int32_t))
		return {};
	ids.resize(static_cast<size_t>(n) / sizeof(int32_t));
	return ids;
}

void addDb(SignatureDatabase &db, const std::string &path, std::vector<std::string> &notes)
{
	if (!exists(path))
		return;
	if (auto r = db.addVariableFile(path); !r)
		notes.push_back(r.error().message + ", ignored");
}

} // namespace

KernelKeyrings readKernelKeyrings(const std::string &procKeys)
{
	KernelKeyrings out;
	auto text = detail::readSmallFile(procKeys, kMaxProcKeys);
	if (!text) {
		out.note = "'" + procKeys + "' cannot be read: builtin and secondary keyrings unknown";
		return out;
	}
	const std::vector<ProcKey> keys = parseProcKeys(*text);
	std::map<int32_t, const ProcKey *> bySerial;
	for (const ProcKey &k : keys)
		if (auto serial = parseSerial(k.serialHex))
			bySerial[*serial] = &k;

	const bool real = procKeys == "/proc/keys";
	bool allKnown = true;
	bool sawBuiltin = false;
	for (const char *ring : { ".builtin_trusted_keys", ".secondary_trusted_keys", ".machine" }) {
		const ProcKey *keyring = nullptr;
		for (const ProcKey &k : keys)
			if (k.type == "keyring" && k.description.rfind(std::string(ring) + ":", 0) == 0)
				keyring = &k;
		if (!keyring) {
			/* The secondary and machine keyrings are optional in the
			 * kernel config; the builtin one always exists, and not
			 * seeing it means /proc/keys does not show it to us. */
			if (std::string_view(ring) == ".builtin_trusted_keys")
				allKnown = false;
			continue;
		}
		if (std::string_view(ring) == ".builtin_trusted_keys")
			sawBuiltin = true;
		auto count = keyringCount(keyring->description);
		if (count && *count == 0)
			continue;
		if (!real) {
			allKnown = false;
			continue;
		}
		auto serial = parseSerial(keyring->serialHex);
		std::vector<int32_t> members = serial ? keyringMembers(*serial) : std::vector<int32_t>();
		if (members.empty()) {
			allKnown = false;
			continue;
		}
		for (int32_t m : members) {
			auto it = bySerial.find(m);
			if (it == bySerial.end()) {
				allKnown = false;
				continue;
			}
			if (it->second->type == "keyring")
				continue; // the builtin keyring linked into the secondary one
			KernelKey key;
			key.keyring = ring;
			if (splitKeyDescription(it->second->description, key.name, key.keyId))
				out.keys.push_back(std::move(key));
		}
	}
	out.known = allKnown && sawBuiltin;
	out.note = out.known ? "read from '" + procKeys + "'"
			     : "not every key of the builtin/secondary/machine keyrings is visible in '" +
				       procKeys + "'";
	return out;
}

Result<void> rebuildStores(TrustSources &s)
{
	s.dbStore = TrustStore();
	s.mokStore = TrustStore();
	if (!s.ignoreDb)
		for (const SignatureDatabase::Cert &c : s.db.certs)
			KEXECD_TRY(s.dbStore.addCertificate(c.cert.get(), c.origin));
	for (const SignatureDatabase::Cert &c : s.mok.certs)
		KEXECD_TRY(s.mokStore.addCertificate(c.cert.get(), c.origin));
	return {};
}

Result<TrustSources> loadTrustSources(const TrustSourcePaths &paths)
{
	TrustSources s;
	auto dir = TrustStore::loadDirectory(paths.trustDir);
	if (!dir)
		return dir.takeError();
	s.trustDir = std::move(*dir);
	s.kernelKeys = readKernelKeyrings(paths.procKeys);

	if (paths.useFirmwareDb) {
		auto var = [&](const std::string &name, const char *guid) {
			return paths.efivarsDir + "/" + name + "-" + guid;
		};
		addDb(s.db, var("db", kEfiGlobalDbGuid), s.notes);
		addDb(s.dbx, var("dbx", kEfiGlobalDbGuid), s.notes);
		s.ignoreDb = exists(var("MokIgnoreDB", kShimLockGuid));

		/* The configuration table (no attribute prefix) is complete;
		 * otherwise the variable, which shim splits into MokListRT,
		 * MokListRT1, ... when it does not fit one variable. */
		for (const char *name : { "MokListRT", "MokListXRT" }) {
			SignatureDatabase &list = std::string_view(name) == "MokListRT" ? s.mok : s.mokx;
			const std::string table = paths.mokVariablesDir + "/" + name;
			if (exists(table)) {
				if (auto data = detail::readSmallFile(table, 16 << 20)) {
					auto r = list.addLists(std::span(reinterpret_cast<const uint8_t *>(data->data()),
									 data->size()), table);
					if (!r)
						s.notes.push_back(r.error().message + ", ignored");
				}
				continue;
			}
			addDb(list, var(name, kShimLockGuid), s.notes);
			for (unsigned i = 1; i < 64; i++) {
				const std::string part = var(std::string(name) + std::to_string(i), kShimLockGuid);
				if (!exists(part))
					break;
				addDb(list, part, s.notes);
			}
		}

		const std::string sbat = var("SbatLevelRT", kShimLockGuid);
		if (exists(sbat)) {
			auto data = detail::readSmallFile(sbat, kMaxSbatLevel);
			/* efivarfs: 4 attribute bytes, then the CSV. */
			if (!data || data->size() < 4) {
				s.notes.push_back("'" + sbat + "' cannot be read, ignored");
			} else if (auto level = parseSbatLevel(std::string_view(*data).substr(4), sbat)) {
				s.sbatLevel = std::move(*level);
			} else {
				s.notes.push_back(level.error().message + ", ignored");
			}
		}
	}
	KEXECD_TRY(rebuildStores(s));
	return s;
}

nlohmann::json TrustSources::describe() const
{
	auto list = [](const SignatureDatabase &d) {
		return nlohmann::json{ { "present", d.present }, { "certificates", d.certs.size() },
				       { "image_hashes", d.imageHashes.size() },
				       { "certificate_hashes", d.certHashes.size() } };
	};
	nlohmann::json keys = nlohmann::json::array();
	for (const KernelKey &k : kernelKeys.keys)
		keys.push_back({ { "keyring", k.keyring }, { "name", k.name }, { "key_id", k.keyId } });
	return { { "trust_dir", trustDir.size() },
		 { "db", list(db) },
		 { "dbx", list(dbx) },
		 { "mok", list(mok) },
		 { "mokx", list(mokx) },
		 { "ignore_db", ignoreDb },
		 { "sbat_level", sbatLevel ? nlohmann::json(sbatLevel->text) : nlohmann::json(nullptr) },
		 { "kernel_keyrings", { { "known", kernelKeys.known }, { "keys", keys }, { "note", kernelKeys.note } } },
		 { "notes", notes } };
}

} // namespace kexecd
