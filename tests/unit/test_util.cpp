// SPDX-License-Identifier: LGPL-2.1-or-later
#include "test_util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace kexecd::test {

namespace {

/* The list owns its cleanup, so no static destruction order issue. */
struct TempDirs {
	std::vector<std::string> dirs;
	~TempDirs()
	{
		std::error_code ec;
		for (const auto &d : dirs)
			std::filesystem::remove_all(d, ec);
	}
};

std::vector<std::string> &tempDirs()
{
	static TempDirs list;
	return list.dirs;
}

} // namespace

const std::string &fixturesProblem()
{
	static const std::string problem = [] {
		const char *dir = getenv("KEXECD_FIXTURES");
		if (!dir || !*dir)
			return std::string("KEXECD_FIXTURES is not set (run through meson test)");
		if (std::filesystem::exists(std::string(dir) + "/UNAVAILABLE"))
			return "fixtures unavailable: " + readText(std::string(dir) + "/UNAVAILABLE");
		if (!std::filesystem::exists(std::string(dir) + "/uki.efi"))
			return std::string("fixtures not generated in ") + dir;
		return std::string();
	}();
	return problem;
}

std::string fixture(const std::string &name)
{
	return std::string(getenv("KEXECD_FIXTURES")) + "/" + name;
}

std::vector<uint8_t> readFile(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
}

std::string readText(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	std::ostringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

InputFile openInput(const std::string &path)
{
	return InputFile{ UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), path };
}

std::unique_ptr<LoadedImage> loadImage(const std::string &name, ImageRole role)
{
	auto l = std::make_unique<LoadedImage>();
	l->bytes = readFile(fixture(name));
	auto pe = PeFile::parse({ l->bytes.data(), l->bytes.size() }, name);
	if (!pe) {
		l->error = pe.takeError();
		return l;
	}
	auto img = UkiImage::fromPe(std::move(*pe), name, role);
	if (img)
		l->image.emplace(std::move(*img));
	else
		l->error = img.takeError();
	return l;
}

int runProgram(const std::vector<std::string> &argv, std::string *out)
{
	int pipefd[2];
	if (::pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	const pid_t pid = ::fork();
	if (pid < 0) {
		::close(pipefd[0]);
		::close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		const int devnull = ::open("/dev/null", O_WRONLY);
		::dup2(out ? pipefd[1] : devnull, STDOUT_FILENO);
		::dup2(out ? pipefd[1] : devnull, STDERR_FILENO);
		std::vector<char *> args;
		for (const std::string &a : argv)
			args.push_back(const_cast<char *>(a.c_str()));
		args.push_back(nullptr);
		::execvp(args[0], args.data());
		::_exit(127);
	}
	::close(pipefd[1]);
	char buf[4096];
	ssize_t n;
	while ((n = ::read(pipefd[0], buf, sizeof(buf))) > 0)
		if (out)
			out->append(buf, static_cast<size_t>(n));
	::close(pipefd[0]);
	int status = 0;
	::waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::unique_ptr<LoadedImage> parseImage(std::vector<uint8_t> bytes, const std::string &origin, ImageRole role)
{
	auto l = std::make_unique<LoadedImage>();
	l->bytes = std::move(bytes);
	auto pe = PeFile::parse({ l->bytes.data(), l->bytes.size() }, origin);
	if (!pe) {
		l->error = pe.takeError();
		return l;
	}
	auto img = UkiImage::fromPe(std::move(*pe), origin, role);
	if (img)
		l->image.emplace(std::move(*img));
	else
		l->error = img.takeError();
	return l;
}

std::vector<uint8_t> makePe(const std::vector<PeSectionSpec> &sections)
{
	constexpr uint32_t kPeOffset = 0x40, kOptSize = 240, kFileAlign = 0x200, kSectionAlign = 0x1000;
	auto put16 = [](std::vector<uint8_t> &b, size_t off, uint16_t v) {
		b[off] = v & 0xff;
		b[off + 1] = v >> 8;
	};
	auto put32 = [](std::vector<uint8_t> &b, size_t off, uint32_t v) {
		for (int i = 0; i < 4; i++)
			b[off + i] = (v >> (8 * i)) & 0xff;
	};
	auto align = [](uint32_t v, uint32_t a) { return (v + a - 1) / a * a; };

	const uint32_t table = kPeOffset + 4 + 20 + kOptSize;
	const uint32_t headers = align(table + 40 * static_cast<uint32_t>(sections.size()), kFileAlign);
	std::vector<uint8_t> b(headers, 0);
	b[0] = 'M';
	b[1] = 'Z';
	put32(b, 0x3c, kPeOffset);
	std::memcpy(b.data() + kPeOffset, "PE\0\0", 4);
	const size_t coff = kPeOffset + 4;
	put16(b, coff, 0x8664);
	put16(b, coff + 2, static_cast<uint16_t>(sections.size()));
	put16(b, coff + 16, kOptSize);
	put16(b, coff + 18, 0x2022);
	const size_t opt = coff + 20;
	put16(b, opt, 0x20b);
	put32(b, opt + 32, kSectionAlign);
	put32(b, opt + 36, kFileAlign);
	put32(b, opt + 60, headers);
	put16(b, opt + 68, 10); // EFI application
	put32(b, opt + 108, 16);

	uint32_t rva = kSectionAlign;
	for (size_t i = 0; i < sections.size(); i++) {
		const auto &[name, data] = sections[i];
		const size_t h = table + 40 * i;
		std::memcpy(b.data() + h, name.data(), std::min<size_t>(name.size(), 8));
		const uint32_t size = static_cast<uint32_t>(data.size());
		const uint32_t raw = align(size, kFileAlign); // 0 for an empty section
		put32(b, h + 8, size);
		put32(b, h + 12, rva);
		put32(b, h + 16, raw);
		put32(b, h + 20, raw ? static_cast<uint32_t>(b.size()) : 0);
		put32(b, h + 36, 0x40000040); // initialized data, readable
		b.insert(b.end(), data.begin(), data.end());
		b.resize(b.size() + raw - size, 0);
		rva += align(std::max<uint32_t>(size, 1), kSectionAlign);
	}
	put32(b, opt + 56, rva); // SizeOfImage
	return b;
}

void writeFile(const std::string &path, std::span<const uint8_t> bytes)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::unique_ptr<Pe> loadPe(const std::string &path)
{
	auto p = std::make_unique<Pe>();
	p->bytes = readFile(path);
	auto pe = PeFile::parse(p->bytes, path);
	EXPECT_TRUE(pe.ok()) << path << ": " << (pe ? "" : pe.error().message);
	if (pe)
		p->pe.emplace(std::move(*pe));
	return p;
}

std::string makeTempDir()
{
	std::string tmpl = (std::filesystem::temp_directory_path() / "kexecd-test-XXXXXX").string();
	char *d = ::mkdtemp(tmpl.data());
	tempDirs().push_back(d);
	return d;
}

} // namespace kexecd::test
