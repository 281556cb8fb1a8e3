// SPDX-License-Identifier: LGPL-2.1-or-later
#include "log.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
/* The location is the caller's (CODE_FILE= from Format), not this sink's. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

namespace kexecd::log {

namespace {

/* spdlog's log_msg has no room for extra fields: the caller's fields ride
 * along in a thread-local for the duration of one write(). */
thread_local const Fields *currentFields = nullptr;
bool journal = false;

int syslogPriority(spdlog::level::level_enum level)
{
	switch (level) {
	case spdlog::level::trace:
	case spdlog::level::debug: return LOG_DEBUG;
	case spdlog::level::info: return LOG_INFO;
	case spdlog::level::warn: return LOG_WARNING;
	case spdlog::level::err: return LOG_ERR;
	case spdlog::level::critical: return LOG_CRIT;
	default: return LOG_INFO;
	}
}

class JournalSink final : public spdlog::sinks::base_sink<std::mutex>
{
protected:
	void sink_it_(const spdlog::details::log_msg &msg) override
	{
		std::vector<std::string> strings;
		strings.reserve(8 + (currentFields ? currentFields->size() : 0));
		strings.push_back("MESSAGE=" + std::string(msg.payload.data(), msg.payload.size()));
		strings.push_back("PRIORITY=" + std::to_string(syslogPriority(msg.level)));
		strings.push_back("SYSLOG_IDENTIFIER=kexecd");
		if (!msg.source.empty()) {
			strings.push_back(std::string("CODE_FILE=") + msg.source.filename);
			strings.push_back("CODE_LINE=" + std::to_string(msg.source.line));
			if (msg.source.funcname)
				strings.push_back(std::string("CODE_FUNC=") + msg.source.funcname);
		}
		if (currentFields)
			for (const Field &field : *currentFields) {
				/* Callers pass errnum as is; 0 means no errno. */
				if (field.value.empty() || (field.name == "ERRNO" && field.value == "0"))
					continue;
				strings.push_back(std::string(field.name) + "=" + field.value);
			}

		std::vector<struct iovec> iov;
		iov.reserve(strings.size());
		for (auto &s : strings)
			iov.push_back({ s.data(), s.size() });
		/* journald gone (shutdown, container): say it on stderr rather
		 * than lose it. */
		if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) < 0)
			fmt::print(stderr, "kexecd: {}\n", strings[0].substr(8));
	}
	void flush_() override {}
};

/* systemd.exec(5): JOURNAL_STREAM is "dev:ino" of the stream stderr
 * must still be connected to; a child that redirected stderr must not
 * log to the journal behind the caller's back. */
bool stderrIsJournal()
{
	const char *env = secure_getenv("JOURNAL_STREAM");
	if (!env)
		return false;
	unsigned long long dev, ino;
	if (sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return false;
	struct stat st;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

spdlog::level::level_enum toSpd(Level level)
{
	switch (level) {
	case Level::Debug: return spdlog::level::debug;
	case Level::Info: return spdlog::level::info;
	case Level::Warning: return spdlog::level::warn;
	case Level::Error: return spdlog::level::err;
	}
	return spdlog::level::info;
}

} // namespace

Result<void> setup(std::string_view level, bool forceStderr)
{
	spdlog::level::level_enum spd;
	if (level == "debug")
		spd = spdlog::level::debug;
	else if (level == "info")
		spd = spdlog::level::info;
	else if (level == "warning" || level == "warn")
		spd = spdlog::level::warn;
	else if (level == "error")
		spd = spdlog::level::err;
	else
		return makeError(Code::InvalidArgument,
				 fmt::format("invalid log level '{}': use debug|info|warning|error", level));

	journal = !forceStderr && stderrIsJournal();
	std::shared_ptr<spdlog::logger> logger;
	if (journal) {
		logger = std::make_shared<spdlog::logger>("kexecd", std::make_shared<JournalSink>());
	} else {
		logger = std::make_shared<spdlog::logger>(
			"kexecd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
		logger->set_pattern("kexecd: %^%l%$: %v");
	}
	logger->set_level(spd);
	logger->flush_on(spdlog::level::debug);
	spdlog::set_default_logger(logger);
	return {};
}

bool usingJournal()
{
	return journal;
}

void detail::write(Level level, Fields fields, const SourceLocation &loc, std::string message)
{
	currentFields = &fields;
	spdlog::log(spdlog::source_loc{ loc.file, static_cast<int>(loc.line), loc.function },
		    toSpd(level), "{}", message);
	currentFields = nullptr;
}

} // namespace kexecd::log
