// SPDX-License-Identifier: LGPL-2.1-or-later
#include "terminal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace kexecd {

namespace {

const char *systemGetenv(const char *name)
{
	return std::getenv(name);
}

/* systemd's parse_boolean, plus the colour depths SYSTEMD_COLORS takes;
 * -1 for anything else. */
int parseColors(std::string_view value)
{
	for (std::string_view on : { "1", "yes", "y", "true", "t", "on", "16", "256", "24bit" })
		if (value == on)
			return 1;
	for (std::string_view off : { "0", "no", "n", "false", "f", "off" })
		if (value == off)
			return 0;
	return -1;
}

/* Whitespace only counts as empty, as systemd's pager does. */
bool blank(const char *s)
{
	return !s || s[std::strspn(s, " \t\n")] == '\0';
}

/* systemd's getenv_terminal_is_dumb(): no TERM (a console an init or
 * a service writes to) is as dumb as TERM=dumb. */
bool dumbTerminal(const char *(*getenv)(const char *))
{
	const char *term = getenv("TERM");
	return !term || !*term || std::strcmp(term, "dumb") == 0;
}

} // namespace

bool colorEnabled(int fd, const char *(*getenv)(const char *))
{
	if (!getenv)
		getenv = systemGetenv;
	if (const char *e = getenv("SYSTEMD_COLORS")) {
		int v = parseColors(e);
		if (v >= 0)
			return v == 1;
	}
	if (const char *e = getenv("NO_COLOR"); e && *e)
		return false;
	if (dumbTerminal(getenv))
		return false;
	return ::isatty(fd) == 1;
}

std::string paint(std::string_view text, Tone tone, bool color)
{
	if (!color || tone == Tone::Plain || text.empty())
		return std::string{ text };
	/* systemd's ANSI_HIGHLIGHT_RED and ANSI_HIGHLIGHT_YELLOW. */
	const char *on = tone == Tone::Bad ? "\x1b[0;1;31m" : "\x1b[0;1;38;5;185m";
	return fmt::format("{}{}\x1b[0m", on, text);
}

void printWarning(std::string_view text)
{
	std::fflush(stdout);
	fmt::print(stderr, "{} {}\n", paint("Warning:", Tone::Notice, colorEnabled(STDERR_FILENO)), text);
}

Pager::~Pager()
{
	close();
}

void Pager::open()
{
	/* Nobody to page for: a pipe, or a console without TERM (an init
	 * script's, where less would wait for a key forever). */
	if (pid_ >= 0 || ::isatty(STDOUT_FILENO) != 1 || dumbTerminal(systemGetenv))
		return;
	const char *pager = std::getenv("SYSTEMD_PAGER");
	if (!pager)
		pager = std::getenv("PAGER");
	if (pager && (blank(pager) || std::strcmp(pager, "cat") == 0))
		return;

	int fds[2];
	if (::pipe2(fds, O_CLOEXEC) < 0)
		return; // no pager: the output goes to the terminal as it is
	std::fflush(stdout);
	pid_t pid = ::fork();
	if (pid < 0) {
		::close(fds[0]);
		::close(fds[1]);
		return;
	}
	if (pid == 0) {
		/* The pager goes when kexecctl goes, e.g. on ^C. */
		(void)::prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (::dup2(fds[0], STDIN_FILENO) < 0)
			_exit(EXIT_FAILURE);
		::setenv("LESS", "FRXMK", 0);
		::setenv("LESSCHARSET", "utf-8", 0);
		/* A pager run for root on someone else's behalf must not
		 * open a shell (less's !command). */
		if (::geteuid() == 0 && (std::getenv("SUDO_UID") || std::getenv("PKEXEC_UID")))
			::setenv("LESSSECURE", "1", 1);
		if (pager) {
			::execl("/bin/sh", "sh", "-c", pager, static_cast<char *>(nullptr));
		} else {
			::execlp("less", "less", static_cast<char *>(nullptr));
			::execlp("more", "more", static_cast<char *>(nullptr));
		}
		/* No pager at all: pass the output through. */
		char buf[4096];
		for (;;) {
			ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			for (ssize_t off = 0; off < n;) {
				ssize_t w = ::write(STDOUT_FILENO, buf + off, n - off);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					_exit(EXIT_FAILURE);
				off += w;
			}
		}
		_exit(EXIT_SUCCESS);
	}
	::close(fds[0]);
	if (::dup2(fds[1], STDOUT_FILENO) < 0) {
		/* Standard output is still the terminal; the pager sees EOF. */
		::close(fds[1]);
		int status;
		(void)::waitpid(pid, &status, 0);
		return;
	}
	::close(fds[1]);
	pid_ = pid;
}

void Pager::close()
{
	if (pid_ < 0)
		return;
	std::fflush(stdout);
	/* EOF for the pager: standard output now goes nowhere. */
	int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0) {
		(void)::dup2(null, STDOUT_FILENO);
		::close(null);
	} else {
		::close(STDOUT_FILENO);
	}
	int status;
	while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
	}
	pid_ = -1;
}

} // namespace kexecd
