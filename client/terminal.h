// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// What kexecctl does differently on a terminal, the way systemd's tools
// do it: colour for bad states (never in a pipe; NO_COLOR and
// SYSTEMD_COLORS respected) and a pager for long output. No sdbus-c++
// types here, so the rules are unit-tested.

#include <sys/types.h>

#include <cstdio>
#include <string>
#include <string_view>

namespace kexecd {

/* What a value means to the reader: bad states are red, doubtful ones
 * yellow; everything else is printed as it is. */
enum class Tone { Plain, Notice, Bad };

/* Whether to colour what goes to fd, from the environment as systemd
 * decides it: SYSTEMD_COLORS (a boolean, or 16/256/24bit: on; an
 * unparsable value is ignored) wins, then NO_COLOR (set and not empty:
 * off), then TERM unset or dumb (off), then whether fd is a terminal.
 * getenv is passed in for the tests. */
bool colorEnabled(int fd, const char *(*getenv)(const char *) = nullptr);

/* text in the tone's colour when color is true, else text as it is. */
std::string paint(std::string_view text, Tone tone, bool color);

/* "Warning: text" on stderr, the prefix yellow when stderr gets colour. */
void printWarning(std::string_view text);

/* The pager systemd's tools use: only when stdout is a terminal (and TERM
 * is set and not dumb), from
 * SYSTEMD_PAGER, then PAGER (empty or "cat": none), else less (with
 * LESS=FRXMK unless set: one screen is printed without paging), else
 * more. Standard output goes to it until close(), which waits for it. */
class Pager
{
public:
	Pager() = default;
	Pager(const Pager &) = delete;
	Pager &operator=(const Pager &) = delete;
	~Pager();

	void open();
	void close();

private:
	pid_t pid_ = -1;
};

} // namespace kexecd
