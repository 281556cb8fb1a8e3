// SPDX-License-Identifier: LGPL-2.1-or-later
#include "record.h"

#include <cstdio>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "digest.h"
#include "elf_container.h"
#include "memfd.h"
#include "trust.h"
#include "uki.h"

namespace kexecd {

nlohmann::json signatureJson(const SignatureReport &r)
{
	return { { "verdict", verdictName(r.verdict) }, { "signer", r.signer }, { "detail", r.detail } };
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
	/* Issue 27: the signed PCR 11 policy a firmware boot's systemd-stub
	 * hands to the initrd. A kexec boot measures no section into PCR 11,
	 * so the unlock check needs to know whether the target carries one. */
	auto carries = [&](std::string_view name) {
		if (uki.base().contains(name))
			return true;
		for (const UkiProfile &p : uki.profiles())
			if (p.sections.contains(name))
				return true;
		return false;
	};
	j["pcrsig"] = carries(".pcrsig");
	j["pcrpkey"] = carries(".pcrpkey");
}

nlohmann::json profileJson(const UkiProfile *p)
{
	if (!p)
		return nullptr;
	return { { "index", p->index }, { "id", p->id }, { "title", p->title } };
}

nlohmann::json partJson(uint64_t size, std::string sha256)
{
	return { { "size", size }, { "sha256", std::move(sha256) } };
}

nlohmann::json initrdJson(uint64_t size, std::span<const InitrdPartRecord> parts)
{
	nlohmann::json j = { { "size", size }, { "parts", nlohmann::json::array() } };
	for (const InitrdPartRecord &p : parts) {
		nlohmann::json part = { { "what", p.what }, { "offset", p.offset }, { "size", p.size } };
		if (p.from.empty())
			part["sha256"] = p.sha256;
		else
			part["from"] = { { "file", p.from }, { "offset", p.fromOffset } };
		j["parts"].push_back(std::move(part));
	}
	return j;
}

nlohmann::json containerJson(const SealedMemfd &container, std::span<const std::string> fileDigests)
{
	/* No digest of the whole: its sections' are, and the .pe.N ones are
	 * the input files' (issue 16). */
	nlohmann::json j = { { "size", container.size() } };
	j["sections"] = nlohmann::json::array();
	if (auto view = readElfContainer(container.bytes()))
		for (const auto &[name, data] : view->sections) {
			size_t n = 0;
			const bool known = std::sscanf(name.c_str(), ".pe.%zu", &n) == 1 && n >= 1 &&
					   n <= fileDigests.size() && name == fmt::format(".pe.{}", n);
			nlohmann::json s = known ? partJson(data.size(), fileDigests[n - 1]) : partJson(data);
			s["name"] = name;
			j["sections"].push_back(s);
		}
	return j;
}

std::string isoTime(std::chrono::system_clock::time_point t)
{
	return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

} // namespace kexecd
