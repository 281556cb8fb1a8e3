// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Daemon logging: spdlog, written to the journal with structured fields
// when stderr is connected to it (JOURNAL_STREAM), to stderr otherwise.
// The engine does not log; the daemon logs once, where an error is handled.
//
//   log::error("Failed to load kernel '{}': {}", path, strerror(-r));
//   log::error({ { "KEXECD_PATH", path }, { "ERRNO", "5" } }, "...", ...);

#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "result.h"

namespace kexecd::log {

enum class Level { Debug, Info, Warning, Error };

struct Field {
	std::string_view name; // journal field name: upper case, e.g. KEXECD_PATH
	std::string value;
};
using Fields = std::initializer_list<Field>;

/* level: debug|info|warning|error. Journal when JOURNAL_STREAM matches
 * stderr, unless forceStderr. */
Result<void> setup(std::string_view level, bool forceStderr = false);
bool usingJournal();

/* std::source_location without <source_location>: clang 14 cannot use
 * libstdc++ 12's (no __builtin_source_location), and the fuzzers and
 * tools build with clang. Both compilers evaluate these builtins at the
 * call site when they are default arguments. */
struct SourceLocation {
	const char *file;
	unsigned line;
	const char *function;

	static constexpr SourceLocation current(const char *file = __builtin_FILE(),
						unsigned line = __builtin_LINE(),
						const char *function = __builtin_FUNCTION())
	{
		return { file, line, function };
	}
};

/* A format string that also remembers where it was written (CODE_FILE=,
 * CODE_LINE= in the journal). */
template<typename... Args>
struct Format {
	template<typename S>
		requires std::is_convertible_v<const S &, std::string_view>
	consteval Format(const S &s, SourceLocation where = SourceLocation::current())
		: str(s), loc(where)
	{
	}
	fmt::format_string<Args...> str;
	SourceLocation loc;
};

namespace detail {
void write(Level level, Fields fields, const SourceLocation &loc, std::string message);
}

#define KEXECD_LOG_LEVEL_FN(fn, level)                                                     \
	template<typename... Args>                                                         \
	void fn(Format<std::type_identity_t<Args>...> f, Args &&...args)                   \
	{                                                                                  \
		detail::write(level, {}, f.loc, fmt::format(f.str, std::forward<Args>(args)...)); \
	}                                                                                  \
	template<typename... Args>                                                         \
	void fn(Fields fields, Format<std::type_identity_t<Args>...> f, Args &&...args)    \
	{                                                                                  \
		detail::write(level, fields, f.loc,                                        \
			      fmt::format(f.str, std::forward<Args>(args)...));            \
	}

KEXECD_LOG_LEVEL_FN(debug, Level::Debug)
KEXECD_LOG_LEVEL_FN(info, Level::Info)
KEXECD_LOG_LEVEL_FN(warning, Level::Warning)
KEXECD_LOG_LEVEL_FN(error, Level::Error)

#undef KEXECD_LOG_LEVEL_FN

} // namespace kexecd::log
