// SPDX-License-Identifier: LGPL-2.1-or-later
#include "crypttab.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "fd.h"
#include "text.h"

namespace kexecd {

namespace {

bool isSpace(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::vector<std::string_view> splitFields(std::string_view line)
{
	std::vector<std::string_view> fields;
	size_t i = 0;
	while (i < line.size()) {
		while (i < line.size() && isSpace(line[i]))
			i++;
		size_t start = i;
		while (i < line.size() && !isSpace(line[i]))
			i++;
		if (i > start)
			fields.push_back(line.substr(start, i - start));
	}
	return fields;
}

/* systemd's parse_boolean() words. */
std::optional<bool> parseBool(std::string_view v)
{
	for (const char *w : { "1", "yes", "y", "true", "t", "on" })
		if (v == w)
			return true;
	for (const char *w : { "0", "no", "n", "false", "f", "off" })
		if (v == w)
			return false;
	return std::nullopt;
}

bool startsWith(std::string_view s, std::string_view prefix)
{
	return s.substr(0, prefix.size()) == prefix;
}

/* A volume becomes /dev/mapper/NAME and a unit name: no '/', no control
 * characters, not "." or "..". */
std::string volumeProblem(std::string_view name)
{
	if (name.size() > 127)
		return "volume name longer than 127 bytes";
	if (name == "." || name == "..")
		return "volume name is '.' or '..'";
	for (unsigned char c : name)
		if (c == '/' || c < 0x20 || c == 0x7f)
			return fmt::format("volume name '{}' contains '/' or a control character", displayText(name));
	return {};
}

void parseDevice(std::string_view field, CrypttabEntry &entry)
{
	static const struct {
		const char *prefix;
		CrypttabDevice kind;
	} tags[] = {
		{ "UUID=", CrypttabDevice::Uuid },
		{ "PARTUUID=", CrypttabDevice::PartUuid },
		{ "LABEL=", CrypttabDevice::Label },
		{ "PARTLABEL=", CrypttabDevice::PartLabel },
	};
	entry.device = std::string(field);
	for (const auto &tag : tags) {
		if (!startsWith(field, tag.prefix))
			continue;
		entry.deviceKind = tag.kind;
		entry.deviceValue = std::string(field.substr(std::strlen(tag.prefix)));
		if (entry.deviceValue.empty())
			entry.error = fmt::format("'{}' names no device", displayText(field));
		else if (entry.deviceValue.find('/') != std::string::npos || entry.deviceValue == "." ||
			 entry.deviceValue == "..")
			entry.error = fmt::format("'{}' is not a device name: it contains '/'", displayText(field));
		return;
	}
	entry.deviceKind = CrypttabDevice::Path;
	entry.deviceValue = entry.device;
	if (field.empty() || field[0] != '/')
		entry.error = fmt::format("device '{}' is neither an absolute path nor UUID=, PARTUUID=, LABEL=, PARTLABEL=",
					  displayText(field));
}

void parseOptions(std::string_view field, CrypttabEntry &entry)
{
	size_t start = 0;
	while (start <= field.size()) {
		size_t comma = field.find(',', start);
		std::string_view opt = field.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
		start = comma == std::string_view::npos ? field.size() + 1 : comma + 1;
		if (opt.empty())
			continue;
		entry.options.emplace_back(opt);
		size_t eq = opt.find('=');
		std::string_view key = opt.substr(0, eq);
		std::optional<std::string> value;
		if (eq != std::string_view::npos)
			value = std::string(opt.substr(eq + 1));
		if (key == "noauto" && !value)
			entry.noauto = true;
		else if (key == "nofail" && !value)
			entry.nofail = true;
		else if (key == "headless") {
			auto b = value ? parseBool(*value) : std::optional<bool>(true);
			if (!b)
				entry.error = fmt::format("headless='{}' is not a boolean", displayText(*value));
			else
				entry.headless = *b;
		} else if (key == "tpm2-measure-pcr") {
			auto b = value ? parseBool(*value) : std::optional<bool>(true);
			/* systemd also takes a PCR number here; only 15 is sensible. */
			entry.tpm2MeasurePcr = b ? *b : (value && *value == "15");
		} else if (key == "tpm2-device")
			entry.tpm2Device = value.value_or("");
		else if (key == "tpm2-pcrs")
			entry.tpm2Pcrs = value.value_or("");
		else if (key == "tpm2-signature")
			entry.tpm2Signature = value.value_or("");
		else if (key == "tpm2-pcrlock")
			entry.tpm2Pcrlock = value.value_or("");
	}
}

CrypttabEntry parseLine(std::string_view line, unsigned number, const CrypttabLimits &limits)
{
	CrypttabEntry entry;
	entry.line = number;
	if (line.size() > limits.maxLineLength) {
		entry.error = fmt::format("line longer than {} bytes", limits.maxLineLength);
		return entry;
	}
	auto fields = splitFields(line);
	if (!fields.empty())
		entry.volume = displayText(fields[0]);
	if (invalidUtf8At(line) != std::string_view::npos) {
		entry.error = "line is not valid UTF-8";
		return entry;
	}
	if (fields.size() < 2 || fields.size() > 4) {
		entry.error = fmt::format("{} fields, crypttab wants 2 to 4 (name device [keyfile [options]])",
					  fields.size());
		return entry;
	}
	if (auto problem = volumeProblem(fields[0]); !problem.empty()) {
		entry.error = problem;
		return entry;
	}
	parseDevice(fields[1], entry);
	if (fields.size() > 2 && fields[2] != "none" && fields[2] != "-")
		entry.keyFile = std::string(fields[2]);
	if (fields.size() > 3 && entry.error.empty())
		parseOptions(fields[3], entry);
	return entry;
}

} // namespace

const char *crypttabDeviceName(CrypttabDevice kind)
{
	switch (kind) {
	case CrypttabDevice::Path:
		return "path";
	case CrypttabDevice::Uuid:
		return "UUID";
	case CrypttabDevice::PartUuid:
		return "PARTUUID";
	case CrypttabDevice::Label:
		return "LABEL";
	case CrypttabDevice::PartLabel:
		return "PARTLABEL";
	}
	return "?";
}

Crypttab parseCrypttab(std::string_view text, const CrypttabLimits &limits)
{
	Crypttab tab;
	unsigned number = 0;
	size_t pos = 0;
	auto fail = [&](std::string why) {
		CrypttabEntry entry;
		entry.line = number;
		entry.error = std::move(why);
		tab.entries.push_back(std::move(entry));
	};
	if (text.size() > limits.maxFileSize) {
		fail(fmt::format("crypttab larger than {} bytes", limits.maxFileSize));
		return tab;
	}
	while (pos < text.size()) {
		size_t nl = text.find('\n', pos);
		std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
		pos = nl == std::string_view::npos ? text.size() : nl + 1;
		if (++number > limits.maxLines) {
			fail(fmt::format("crypttab has more than {} lines; the rest is not read", limits.maxLines));
			break;
		}
		size_t first = 0;
		while (first < line.size() && isSpace(line[first]))
			first++;
		if (first == line.size() || line[first] == '#')
			continue;
		if (tab.entries.size() >= limits.maxEntries) {
			fail(fmt::format("crypttab names more than {} volumes; the rest is not read", limits.maxEntries));
			break;
		}
		tab.entries.push_back(parseLine(line, number, limits));
	}
	return tab;
}

Result<Crypttab> readCrypttab(const std::string &path, const CrypttabLimits &limits)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
	if (!fd.valid()) {
		if (errno == ENOENT)
			return Crypttab{};
		return makeError(Code::Io, fmt::format("Cannot open '{}': {}", displayText(path), std::strerror(errno)),
				 errno);
	}
	struct stat st = {};
	if (::fstat(fd.get(), &st) < 0)
		return makeError(Code::Io, fmt::format("Cannot stat '{}': {}", displayText(path), std::strerror(errno)),
				 errno);
	if (!S_ISREG(st.st_mode))
		return makeError(Code::InvalidArgument, fmt::format("'{}' is not a regular file", displayText(path)));
	if (static_cast<uint64_t>(st.st_size) > limits.maxFileSize)
		return makeError(Code::InvalidArgument,
				 fmt::format("'{}' is larger than {} bytes", displayText(path), limits.maxFileSize));
	std::string text;
	text.resize(limits.maxFileSize + 1);
	size_t have = 0;
	while (have < text.size()) {
		ssize_t n = ::read(fd.get(), text.data() + have, text.size() - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return makeError(Code::Io, fmt::format("Cannot read '{}': {}", displayText(path), std::strerror(errno)),
					 errno);
		if (n == 0)
			break;
		have += static_cast<size_t>(n);
	}
	if (have > limits.maxFileSize)
		return makeError(Code::InvalidArgument,
				 fmt::format("'{}' is larger than {} bytes", displayText(path), limits.maxFileSize));
	text.resize(have);
	return parseCrypttab(text, limits);
}

std::string crypttabDevicePath(const CrypttabEntry &entry)
{
	auto lower = [](std::string s) {
		std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
		return s;
	};
	switch (entry.deviceKind) {
	case CrypttabDevice::Path:
		return entry.deviceValue;
	case CrypttabDevice::Uuid:
		return "/dev/disk/by-uuid/" + lower(entry.deviceValue);
	case CrypttabDevice::PartUuid:
		return "/dev/disk/by-partuuid/" + lower(entry.deviceValue);
	case CrypttabDevice::Label:
		return "/dev/disk/by-label/" + entry.deviceValue;
	case CrypttabDevice::PartLabel:
		return "/dev/disk/by-partlabel/" + entry.deviceValue;
	}
	return {};
}

} // namespace kexecd
