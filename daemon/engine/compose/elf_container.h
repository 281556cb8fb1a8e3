// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The ELF64 section container used on both fds of the BPF parser scheme
// (KERNEL-ABI.md §1, §2): the parser container (.bpf.N) and the image
// container (.pe.N/.ima). Layout, exactly as tools/kexec/mkelf_container.c:
// Ehdr, section bytes back to back (sh_addralign 1), .shstrtab last, zero
// pad to 8, section header table. ET_REL, EM_NONE, little-endian.

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "result.h"

namespace kexecd {

struct ElfSection {
	std::string name;
	std::span<const uint8_t> data;
};

/* The container as pieces to write back to back: the ELF header, each
 * section's bytes where they already are (borrowed, not copied), and the
 * section names and header table. Staging writes the pieces straight into
 * the memfd the kernel gets, so section data is copied once (issue 16). */
struct ElfContainerLayout {
	std::vector<uint8_t> head;
	std::vector<std::span<const uint8_t>> data;
	std::vector<uint8_t> tail;

	std::vector<std::span<const uint8_t>> pieces() const;
};

ElfContainerLayout layoutElfContainer(std::span<const ElfSection> sections);
/* The same, in one buffer (the build's mkcontainer, tests). */
std::vector<uint8_t> writeElfContainer(std::span<const ElfSection> sections);

struct ElfContainerView {
	/* In section-table order, without the null section and .shstrtab. */
	std::vector<std::pair<std::string, std::span<const uint8_t>>> sections;
};

/* Bounds-checked reader; the spans point into bytes. */
Result<ElfContainerView> readElfContainer(std::span<const uint8_t> bytes);

} // namespace kexecd
