// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 5 ("compose"): turn a UKI and its addons into exactly what
// kexec_file_load receives, for either scheme (DESIGN.md §3).

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "elf_container.h"
#include "memfd.h"
#include "result.h"
#include "stub_cpio.h"
#include "uki.h"

namespace kexecd {

/* One piece of the composed initrd: what it is and its bytes. */
struct InitrdPart {
	std::string what; // ".ucode of 'a.addon.efi'", ".initrd", "/.extra/os-release", ...
	std::span<const uint8_t> data;
};

/* The initrd in systemd-stub's order (stub.c run()): addons' .ucode in
 * reverse, the UKI's .ucode, the UKI's .initrd, the generated archives
 * (credentials, global credentials, sysext, global sysext, confext,
 * global confext, .pcrsig, .pcrpkey, .osrel, .profile), then the addons'
 * .initrd. Owns the generated archives the parts point into. */
class InitrdComposition
{
public:
	InitrdComposition() = default;
	InitrdComposition(const InitrdComposition &) = delete;
	InitrdComposition &operator=(const InitrdComposition &) = delete;
	InitrdComposition(InitrdComposition &&) = default;
	InitrdComposition &operator=(InitrdComposition &&) = default;

	const std::vector<InitrdPart> &parts() const { return parts_; }
	/* The concatenation the stub hands over (combine_initrds()): with
	 * more than one part, each is zero-padded to 4 bytes, because after
	 * a compressed archive the kernel's unpacker looks for the next cpio
	 * header only at a 4-byte-aligned offset. One part goes as it is. */
	std::vector<std::span<const uint8_t>> padded() const;
	uint64_t paddedSize() const;
	/* Where each part starts in padded(), in order. */
	std::vector<uint64_t> offsets() const;
	/* The same for parts of these sizes, none empty, before their bytes
	 * are read; total gets paddedSize(). */
	static std::vector<uint64_t> offsetsFor(std::span<const uint64_t> sizes, uint64_t &total);

	void add(std::string what, std::span<const uint8_t> data);
	void addGenerated(std::string what, std::vector<uint8_t> archive);

private:
	/* The stub's rule, in one place: zeros to 4 bytes after each part
	 * when there is more than one. */
	static uint64_t padAfter(uint64_t size, size_t count);

	std::vector<InitrdPart> parts_;
	/* unique_ptr: the parts' spans must survive the vector growing. */
	std::vector<std::unique_ptr<std::vector<uint8_t>>> generated_;
};

/* resolved: the UKI's sections after profile resolution; profile: the
 * selected profile (its raw .profile becomes /.extra/profile). */
InitrdComposition composeInitrd(const SectionSet &resolved, const UkiProfile *profile,
				std::span<const UkiImage *const> addons, const SidecarFiles *sidecars);

/* Section payloads only (no generated archives, no padding): the BPF
 * scheme's parser composes these in the kernel, and its host model must
 * agree with this list byte for byte. */
std::vector<std::span<const uint8_t>> initrdParts(const SectionSet &uki,
						  std::span<const UkiImage *const> addons);

/* systemd-stub's command line (settle_command_line(), load_addons()):
 * loaderOptions, when not empty, replace the UKI's .cmdline; the addons'
 * .cmdline are appended either way, global ones first. Each piece is
 * mangled as the stub's mangle_stub_cmdline() does. */
std::string composeCmdline(const SectionSet &uki, std::span<const UkiImage *const> addons,
			   std::string_view loaderOptions);
/* The stub ignores loader options under Secure Boot when the UKI has a
 * .cmdline; kexecd refuses them there with a named error instead of
 * dropping them silently. */
Result<void> checkLoaderOptions(const SectionSet &uki, std::string_view loaderOptions, bool secureBoot,
				std::string_view what = "cmdline_extra");
/* composed, then append after one space (nothing when append is empty). */
std::string appendCmdline(std::string composed, std::string_view append);
/* mangle_stub_cmdline(): up to the first NUL, control characters become
 * spaces, trailing spaces go. */
std::string stubCmdlineText(std::span<const uint8_t> data);

/* What becomes of the UKI's devicetree: "" when it has none. kexec_file_load
 * takes no devicetree, so a .dtb/.dtbauto is never applied: this says so
 * for the record and status instead of dropping it silently. */
std::string devicetreeNote(const SectionSet &resolved, std::span<const UkiImage *const> addons);

/* The kernel the classic scheme hands over for a UKI (profile's .linux):
 * a zboot image's payload, else the section's bytes; wasZboot says which. */
Result<SealedMemfd> classicKernel(const UkiImage &uki, const UkiProfile *profile, bool *wasZboot);

/* Where one part of the composed initrd lies, and where its bytes came
 * from: a section of an input file (that file's SHA-256 in the record
 * covers them), or generated (then its own digest). The record describes
 * the initrd by these instead of hashing it once more (issue 16). */
struct InitrdPartRecord {
	std::string what;
	uint64_t offset = 0;       // in the composed initrd
	uint64_t size = 0;
	std::string from;          // the input file, "" if generated
	uint64_t fromOffset = 0;   // its offset there
	std::string sha256;        // generated parts only
};

/* Classic scheme: userspace decomposition. */
struct ClassicParts {
	SealedMemfd kernel;
	std::optional<SealedMemfd> initrd; // nullopt -> KEXEC_FILE_NO_INITRAMFS
	std::string cmdline;               // without the trailing NUL
	bool kernelWasZboot = false;
	bool kernelPlaced = false; // kernel is ClassicOptions::placedKernel
	std::vector<InitrdPartRecord> initrdLayout; // in order
	std::string devicetree;                // devicetreeNote()
};

struct ClassicOptions {
	const UkiProfile *profile = nullptr;
	std::string cmdlineExtra; // the loader's options; the caller checked them (checkLoaderOptions)
	std::string cmdlineAppend; // appended to the composed command line (StageRequest::cmdlineAppend)
	const SidecarFiles *sidecars = nullptr;
	size_t maxCmdline = 4096;
	/* The kernel and initrd as PlacedFile placed them: used as they are
	 * when they hold exactly what would be composed. */
	const SealedMemfd *placedKernel = nullptr;
	const SealedMemfd *placedInitrd = nullptr;
};

Result<ClassicParts> composeClassic(const UkiImage &uki, std::span<const UkiImage *const> addons,
				    const ClassicOptions &options);

/* BPF scheme: the image container (KERNEL-ABI.md §2). */
struct ContainerEntry {
	std::span<const uint8_t> pe;
	std::vector<uint8_t> ima; // security.ima xattr; empty = none
};

/* The parser has a fixed scan window: at most this many sections. */
constexpr unsigned kMaxContainerSections = 15;
/* Section carrying the selected profile index (decimal ASCII) for our
 * parser; the drafts' parsers skip unknown names. */
constexpr const char *kSelectSection = ".select";

Result<SealedMemfd> composeImageContainer(std::span<const ContainerEntry> entries,
					  std::optional<unsigned> profileIndex);
/* Its sections, in order; select holds the .select section's bytes. */
Result<std::vector<ElfSection>> imageContainerSections(std::span<const ContainerEntry> entries,
						       std::optional<unsigned> profileIndex, std::string &select);

} // namespace kexecd
