// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stub_cpio.h"

#include <algorithm>

namespace kexecd {

namespace {

void pad4(std::vector<uint8_t> &out)
{
	/* Relative to the start of the archive, as the stub's pad4(). */
	while (out.size() % 4)
		out.push_back(0);
}

void word(std::vector<uint8_t> &out, uint32_t v)
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 7; i >= 0; i--)
		out.push_back(static_cast<uint8_t>(hex[(v >> (4 * i)) & 0xf]));
}

void header(std::vector<uint8_t> &out, uint32_t &inode, uint32_t mode, uint32_t size,
	    std::string_view name)
{
	static constexpr std::string_view magic = "070701";
	out.insert(out.end(), magic.begin(), magic.end());
	word(out, inode++);
	word(out, mode);
	word(out, 0); // uid
	word(out, 0); // gid
	word(out, 1); // nlink
	word(out, 0); // mtime: never propagated, for stable measurements
	word(out, size);
	word(out, 0); // dev major
	word(out, 0); // dev minor
	word(out, 0); // rdev major
	word(out, 0); // rdev minor
	word(out, static_cast<uint32_t>(name.size() + 1));
	word(out, 0); // check
	out.insert(out.end(), name.begin(), name.end());
	out.push_back(0);
	pad4(out);
}

/* pack_cpio_prefix(): every leading directory 0555, the last one with
 * the target's mode. */
void prefix(std::vector<uint8_t> &out, uint32_t &inode, const CpioTarget &target)
{
	const std::string_view dir(target.dir);
	for (size_t pos = dir.find('/'); pos != std::string_view::npos; pos = dir.find('/', pos + 1))
		if (pos > 0)
			header(out, inode, 0040000 | 0555, 0, dir.substr(0, pos));
	header(out, inode, 0040000 | target.dirMode, 0, dir);
}

void file(std::vector<uint8_t> &out, uint32_t &inode, const CpioTarget &target, std::string_view name,
	  std::span<const uint8_t> data)
{
	header(out, inode, 0100000 | target.fileMode, static_cast<uint32_t>(data.size()),
	       std::string(target.dir) + "/" + std::string(name));
	out.insert(out.end(), data.begin(), data.end());
	pad4(out);
}

void trailer(std::vector<uint8_t> &out)
{
	/* The stub's literal trailer: upper-case B in the name size, and
	 * its padding is part of the string. */
	static constexpr std::string_view t = "070701"
					      "00000000"
					      "00000000"
					      "00000000"
					      "00000000"
					      "00000001"
					      "00000000"
					      "00000000"
					      "00000000"
					      "00000000"
					      "00000000"
					      "00000000"
					      "0000000B"
					      "00000000"
					      "TRAILER!!!";
	out.insert(out.end(), t.begin(), t.end());
	out.insert(out.end(), 4, 0);
}

char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool endsWithNoCase(std::string_view s, std::string_view suffix)
{
	if (s.size() < suffix.size())
		return false;
	return std::equal(suffix.begin(), suffix.end(), s.end() - static_cast<std::ptrdiff_t>(suffix.size()),
			  [](char a, char b) { return lower(a) == lower(b); });
}

} // namespace

std::vector<uint8_t> packStubCpio(std::vector<CpioFile> files, const CpioTarget &target)
{
	std::vector<uint8_t> out;
	if (files.empty())
		return out;
	std::sort(files.begin(), files.end(), [](const CpioFile &a, const CpioFile &b) { return a.name < b.name; });
	uint32_t inode = 1;
	prefix(out, inode, target);
	for (const CpioFile &f : files)
		file(out, inode, target, f.name, f.data);
	trailer(out);
	return out;
}

std::vector<uint8_t> packStubCpioLiteral(std::span<const uint8_t> data, const CpioTarget &target,
					 std::string_view name)
{
	std::vector<uint8_t> out;
	uint32_t inode = 1;
	prefix(out, inode, target);
	file(out, inode, target, name, data);
	trailer(out);
	return out;
}

bool stubPicksUp(std::string_view name, std::string_view suffix, std::string_view exclude)
{
	if (name.empty() || name.front() == '.' || name.size() > 255)
		return false;
	if (!std::all_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
		return false;
	if (!endsWithNoCase(name, suffix))
		return false;
	return exclude.empty() || !endsWithNoCase(name, exclude);
}

} // namespace kexecd
