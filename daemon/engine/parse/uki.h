// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 3 ("parse"), second half: what a PE means as a Unified
// Kernel Image or as an addon (UAPI.5 UKI spec, systemd-stub rules).
// A UkiImage borrows the bytes of its PeFile: keep the memfd alive.

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pe.h"
#include "result.h"

namespace kexecd {

enum class ImageRole { Uki, Addon };

/* Section name -> payload after profile resolution. */
using SectionSet = std::map<std::string, std::span<const uint8_t>, std::less<>>;

struct UkiProfile {
	unsigned index = 0; // @0, @1, ...
	std::string id;     // ID= of the .profile section ("" if none)
	std::string title;  // TITLE=
	std::span<const uint8_t> raw; // the .profile section (systemd-stub's /.extra/profile)
	SectionSet sections; // the profile's own sections (without .profile)
};

struct OsRelease {
	std::string id;
	std::string versionId;
	std::string prettyName;
	std::string imageVersion;
};

/* The section names the UKI spec defines; others (the stub's .text,
 * .reloc, .sdmagic ...) are carried but have no meaning for staging. */
bool isUkiSectionName(std::string_view name);

class UkiImage
{
public:
	static Result<UkiImage> fromPe(PeFile pe, std::string origin, ImageRole role);

	const PeFile &pe() const { return pe_; }
	const std::string &origin() const { return origin_; }
	ImageRole role() const { return role_; }
	/* Sections before the first .profile (for an addon: all of them). */
	const SectionSet &base() const { return base_; }
	const std::vector<UkiProfile> &profiles() const { return profiles_; }
	const OsRelease &osRelease() const { return osRelease_; }
	const std::string &uname() const { return uname_; }

	/* Find a profile by "@N", "N" or its ID. "" = the default (@0 when
	 * the UKI has profiles, else the base). nullptr + error if unknown. */
	Result<const UkiProfile *> findProfile(std::string_view selector) const;
	/* Base sections overlaid with the profile's; a zero-size section in
	 * the profile removes the base's section of that name. */
	SectionSet resolve(const UkiProfile *profile) const;

private:
	UkiImage(PeFile pe) : pe_(std::move(pe)) {}

	PeFile pe_;
	std::string origin_;
	ImageRole role_ = ImageRole::Uki;
	SectionSet base_;
	std::vector<UkiProfile> profiles_;
	OsRelease osRelease_;
	std::string uname_;
};

/* Addon rules: no .linux, same Machine, .uname equal when both have one. */
Result<void> checkAddonFits(const UkiImage &uki, const UkiImage &addon);

/* os-release style KEY=VALUE parsing (quotes removed). */
std::map<std::string, std::string> parseOsRelease(std::string_view text);

/* Text of a section, up to the first NUL, surrounding whitespace trimmed. */
std::string sectionText(std::span<const uint8_t> data);

} // namespace kexecd
