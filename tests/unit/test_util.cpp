// SPDX-License-Identifier: LGPL-2.1-or-later
#include "test_util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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

std::string makeTempDir()
{
	std::string tmpl = (std::filesystem::temp_directory_path() / "kexecd-test-XXXXXX").string();
	char *d = ::mkdtemp(tmpl.data());
	tempDirs().push_back(d);
	return d;
}

} // namespace kexecd::test
