// SPDX-License-Identifier: LGPL-2.1-or-later
#include "uki.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

#include "text.h"

namespace kexecd {

namespace {

constexpr std::array kUkiSections = {
	".linux", ".osrel", ".cmdline", ".initrd", ".ucode", ".splash", ".dtb", ".dtbauto",
	".efifw", ".hwids", ".uname", ".sbat", ".pcrsig", ".pcrpkey", ".profile",
};

std::string_view trim(std::string_view s)
{
	const auto isSpace = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
	while (!s.empty() && isSpace(s.front()))
		s.remove_prefix(1);
	while (!s.empty() && isSpace(s.back()))
		s.remove_suffix(1);
	return s;
}

} // namespace

bool isUkiSectionName(std::string_view name)
{
	return std::find(kUkiSections.begin(), kUkiSections.end(), name) != kUkiSections.end();
}

std::string sectionText(std::span<const uint8_t> data)
{
	std::string_view s(reinterpret_cast<const char *>(data.data()), data.size());
	s = s.substr(0, s.find('\0'));
	return std::string(trim(s));
}

std::map<std::string, std::string> parseOsRelease(std::string_view text)
{
	std::map<std::string, std::string> out;
	while (!text.empty()) {
		const size_t nl = text.find('\n');
		std::string_view line = trim(text.substr(0, nl));
		text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
		if (line.empty() || line.front() == '#')
			continue;
		const size_t eq = line.find('=');
		if (eq == std::string_view::npos || eq == 0)
			continue;
		std::string_view value = trim(line.substr(eq + 1));
		if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
		    value.back() == value.front())
			value = value.substr(1, value.size() - 2);
		out.emplace(std::string(trim(line.substr(0, eq))), std::string(value));
	}
	return out;
}

Result<UkiImage> UkiImage::fromPe(PeFile pe, std::string origin, ImageRole role)
{
	UkiImage img(std::move(pe));
	img.origin_ = std::move(origin);
	img.role_ = role;

	auto invalid = [&img](const std::string &what) {
		return makeError(Code::InvalidImage, fmt::format("'{}': {}", img.origin_, what));
	};

	/* .profile starts a new profile; everything before the first one is
	 * the base (UKI spec, "Multi-Profile UKIs"). */
	UkiProfile *current = nullptr;
	for (const PeSection &s : img.pe_.sections()) {
		if (!isUkiSectionName(s.name))
			continue;
		if (s.name == ".profile") {
			if (role == ImageRole::Addon)
				return invalid("addon carries a .profile section; only UKIs have profiles");
			UkiProfile p;
			p.index = static_cast<unsigned>(img.profiles_.size());
			p.raw = s.data;
			const auto fields = parseOsRelease(sectionText(s.data));
			if (auto it = fields.find("ID"); it != fields.end())
				p.id = displayText(it->second);
			if (auto it = fields.find("TITLE"); it != fields.end())
				p.title = displayText(it->second);
			img.profiles_.push_back(std::move(p));
			current = &img.profiles_.back();
			continue;
		}
		SectionSet &target = current ? current->sections : img.base_;
		if (target.count(s.name))
			return invalid(fmt::format("section '{}' appears twice{}", s.name,
						   current ? fmt::format(" in profile @{}", current->index) : ""));
		target.emplace(s.name, s.data);
	}

	if (auto it = img.base_.find(".osrel"); it != img.base_.end()) {
		const auto fields = parseOsRelease(sectionText(it->second));
		auto get = [&fields](const char *key) {
			auto f = fields.find(key);
			return f == fields.end() ? std::string() : displayText(f->second);
		};
		img.osRelease_ = { get("ID"), get("VERSION_ID"), get("PRETTY_NAME"), get("IMAGE_VERSION") };
	}
	if (auto it = img.base_.find(".uname"); it != img.base_.end())
		img.uname_ = displayText(sectionText(it->second));

	/* The command line goes to the kernel byte for byte: refuse what
	 * JSON, D-Bus and terminals cannot carry rather than alter it. */
	auto checkCmdline = [&](const SectionSet &set, const std::string &where) -> Result<void> {
		auto it = set.find(".cmdline");
		if (it == set.end())
			return {};
		const std::string text = sectionText(it->second);
		if (size_t at = invalidUtf8At(text); at != std::string::npos)
			return invalid(fmt::format("{}.cmdline is not valid UTF-8 (byte {:#04x} at offset {})",
						   where, static_cast<unsigned char>(text[at]), at));
		return {};
	};
	if (auto r = checkCmdline(img.base_, ""); !r)
		return r.takeError();
	for (const UkiProfile &p : img.profiles_)
		if (auto r = checkCmdline(p.sections, fmt::format("profile @{}: ", p.index)); !r)
			return r.takeError();

	if (role == ImageRole::Addon) {
		if (img.base_.count(".linux"))
			return invalid("addon carries a .linux section; an addon may only add "
				       ".cmdline, .initrd, .ucode or .dtb");
		return img;
	}

	/* Every profile must end up with a kernel: a zero-size .linux (which
	 * resolve() keeps when it is the base's) is none. */
	if (img.profiles_.empty()) {
		if (!img.base_.count(".linux") || img.base_.at(".linux").empty())
			return invalid("no .linux section: not a Unified Kernel Image");
	} else {
		for (const UkiProfile &p : img.profiles_) {
			const SectionSet s = img.resolve(&p);
			if (!s.count(".linux") || s.at(".linux").empty())
				return invalid(fmt::format("profile @{} has no .linux section", p.index));
		}
	}
	return img;
}

Result<const UkiProfile *> UkiImage::findProfile(std::string_view selector) const
{
	if (selector.empty())
		return profiles_.empty() ? nullptr : &profiles_.front();

	std::string_view number = selector.front() == '@' ? selector.substr(1) : selector;
	unsigned index = 0;
	const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), index);
	if (ec == std::errc() && end == number.data() + number.size()) {
		if (index < profiles_.size())
			return &profiles_[index];
	} else {
		for (const UkiProfile &p : profiles_)
			if (p.id == selector)
				return &p;
	}
	std::string known;
	for (const UkiProfile &p : profiles_)
		known += fmt::format("{}@{}{}", known.empty() ? "" : ", ", p.index,
				     p.id.empty() ? "" : " (" + p.id + ")");
	return makeError(Code::InvalidArgument,
			 fmt::format("'{}': no profile '{}' (profiles: {})", origin_, displayText(selector),
				     known.empty() ? "none" : known));
}

SectionSet UkiImage::resolve(const UkiProfile *profile) const
{
	SectionSet out = base_;
	if (!profile)
		return out;
	for (const auto &[name, data] : profile->sections) {
		if (data.empty())
			out.erase(name);
		else
			out.insert_or_assign(name, data);
	}
	return out;
}

Result<void> checkAddonFits(const UkiImage &uki, const UkiImage &addon)
{
	if (addon.pe().machine() != uki.pe().machine())
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': addon is for {} but the UKI '{}' is for {}", addon.origin(),
					     machineName(addon.pe().machine()), uki.origin(),
					     machineName(uki.pe().machine())));
	if (!addon.uname().empty() && !uki.uname().empty() && addon.uname() != uki.uname())
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': addon is for kernel '{}' but the UKI '{}' carries '{}'",
					     addon.origin(), addon.uname(), uki.origin(), uki.uname()));
	return {};
}

} // namespace kexecd
