// SPDX-License-Identifier: LGPL-2.1-or-later
#include "elf_container.h"

#include <elf.h>

#include <cstring>

#include <fmt/format.h>

namespace kexecd {

namespace {

template<class T>
void append(std::vector<uint8_t> &out, const T &value)
{
	const auto *p = reinterpret_cast<const uint8_t *>(&value);
	out.insert(out.end(), p, p + sizeof(T));
}

} // namespace

std::vector<std::span<const uint8_t>> ElfContainerLayout::pieces() const
{
	std::vector<std::span<const uint8_t>> out;
	out.push_back(head);
	out.insert(out.end(), data.begin(), data.end());
	out.push_back(tail);
	return out;
}

ElfContainerLayout layoutElfContainer(std::span<const ElfSection> sections)
{
	ElfContainerLayout layout;
	uint64_t offset = sizeof(Elf64_Ehdr);

	std::string shstrtab(1, '\0');
	std::vector<Elf64_Shdr> headers(1); // SHN_UNDEF entry, all zero

	for (const ElfSection &s : sections) {
		Elf64_Shdr sh{};
		sh.sh_name = static_cast<Elf64_Word>(shstrtab.size());
		sh.sh_type = SHT_PROGBITS;
		sh.sh_offset = offset;
		sh.sh_size = s.data.size();
		sh.sh_addralign = 1;
		headers.push_back(sh);
		shstrtab.append(s.name);
		shstrtab.push_back('\0');
		layout.data.push_back(s.data);
		offset += s.data.size();
	}

	Elf64_Shdr strtab{};
	strtab.sh_name = static_cast<Elf64_Word>(shstrtab.size());
	shstrtab.append(".shstrtab");
	shstrtab.push_back('\0');
	strtab.sh_type = SHT_STRTAB;
	strtab.sh_offset = offset;
	strtab.sh_size = shstrtab.size();
	strtab.sh_addralign = 1;
	headers.push_back(strtab);
	std::vector<uint8_t> &out = layout.tail;
	out.insert(out.end(), shstrtab.begin(), shstrtab.end());
	offset += shstrtab.size();

	const uint64_t pad = ((offset + 7) & ~uint64_t{ 7 }) - offset;
	out.resize(out.size() + pad, 0);
	const uint64_t shoff = offset + pad;
	for (const Elf64_Shdr &sh : headers)
		append(out, sh);

	Elf64_Ehdr eh{};
	std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh.e_type = ET_REL;
	eh.e_machine = EM_NONE;
	eh.e_version = EV_CURRENT;
	eh.e_shoff = shoff;
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = static_cast<Elf64_Half>(headers.size());
	eh.e_shstrndx = static_cast<Elf64_Half>(headers.size() - 1);
	layout.head.resize(sizeof(eh));
	std::memcpy(layout.head.data(), &eh, sizeof(eh));
	return layout;
}

std::vector<uint8_t> writeElfContainer(std::span<const ElfSection> sections)
{
	std::vector<uint8_t> out;
	const ElfContainerLayout layout = layoutElfContainer(sections); // outlives its pieces
	for (std::span<const uint8_t> piece : layout.pieces())
		out.insert(out.end(), piece.begin(), piece.end());
	return out;
}

Result<ElfContainerView> readElfContainer(std::span<const uint8_t> bytes)
{
	auto invalid = [](std::string what) {
		return makeError(Code::InvalidImage, "not a valid ELF container: " + what);
	};

	Elf64_Ehdr eh;
	if (bytes.size() < sizeof(eh))
		return invalid("shorter than an ELF64 header");
	std::memcpy(&eh, bytes.data(), sizeof(eh));
	if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return invalid("no ELF magic");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return invalid("not ELF64 little-endian");
	if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
	    eh.e_shstrndx >= eh.e_shnum)
		return invalid("bad section header fields");
	const uint64_t tableSize = uint64_t{ eh.e_shnum } * sizeof(Elf64_Shdr);
	if (eh.e_shoff > bytes.size() || tableSize > bytes.size() - eh.e_shoff)
		return invalid("section table past end of file");

	auto header = [&](unsigned i) {
		Elf64_Shdr sh;
		std::memcpy(&sh, bytes.data() + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof(sh));
		return sh;
	};
	auto within = [&](const Elf64_Shdr &sh) {
		return sh.sh_offset <= bytes.size() && sh.sh_size <= bytes.size() - sh.sh_offset;
	};

	const Elf64_Shdr strtab = header(eh.e_shstrndx);
	if (!within(strtab) || strtab.sh_size == 0 ||
	    bytes[strtab.sh_offset + strtab.sh_size - 1] != 0)
		return invalid("bad .shstrtab");
	const auto *names = reinterpret_cast<const char *>(bytes.data() + strtab.sh_offset);

	ElfContainerView view;
	for (unsigned i = 1; i < eh.e_shnum; i++) {
		if (i == eh.e_shstrndx)
			continue;
		const Elf64_Shdr sh = header(i);
		if (sh.sh_name >= strtab.sh_size)
			return invalid(fmt::format("section {} name outside .shstrtab", i));
		if (!within(sh))
			return invalid(fmt::format("section {} data past end of file", i));
		view.sections.emplace_back(std::string(names + sh.sh_name),
					   bytes.subspan(sh.sh_offset, sh.sh_size));
	}
	return view;
}

} // namespace kexecd
