// SPDX-License-Identifier: LGPL-2.1-or-later
#include "event_loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>

#include <sdbus-c++/IConnection.h>
#include <sdbus-c++/Error.h>

#include "log.h"
#include "sdbus_compat.h"

namespace kexecd {

EventLoop::EventLoop(sdbus::IConnection &connection)
	: connection_(connection)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, nullptr);
	signalFd_.reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
	wakeFd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (!signalFd_.valid() || !wakeFd_.valid())
		throw sdbus::Error(dbus::ErrorName{ "org.kexecd1.Error.Internal" },
				   std::string("Failed to create loop fds: ") + strerror(errno));
}

void EventLoop::post(std::function<void()> fn)
{
	{
		std::lock_guard lock(mutex_);
		posted_.push_back(std::move(fn));
	}
	wake();
}

void EventLoop::exit()
{
	post([this] { exit_ = true; });
}

void EventLoop::wake()
{
	uint64_t one = 1;
	/* EAGAIN means the counter is already non-zero: the loop wakes anyway. */
	[[maybe_unused]] ssize_t r = write(wakeFd_.get(), &one, sizeof(one));
}

void EventLoop::runPosted()
{
	std::vector<std::function<void()>> batch;
	{
		std::lock_guard lock(mutex_);
		batch.swap(posted_);
	}
	for (auto &fn : batch) {
		/* A posted closure must not take the daemon down; each one
		 * already replies to its own caller on failure. */
		try {
			fn();
		} catch (const std::exception &e) {
			log::error("Posted task failed: {}, ignoring", e.what());
		}
	}
}

uint64_t EventLoop::after(std::chrono::milliseconds delay, std::function<void()> fn)
{
	const uint64_t id = nextTimer_++;
	timers_.emplace(std::make_pair(Clock::now() + delay, id), std::move(fn));
	return id;
}

void EventLoop::cancel(uint64_t id)
{
	for (auto it = timers_.begin(); it != timers_.end(); ++it) {
		if (it->first.second == id) {
			timers_.erase(it);
			return;
		}
	}
}

void EventLoop::runTimers()
{
	const auto now = Clock::now();
	while (!timers_.empty() && timers_.begin()->first.first <= now) {
		auto fn = std::move(timers_.begin()->second);
		timers_.erase(timers_.begin());
		try {
			fn();
		} catch (const std::exception &e) {
			log::error("Timer task failed: {}, ignoring", e.what());
		}
	}
}

int EventLoop::pollTimeout(int busTimeout) const
{
	if (timers_.empty())
		return busTimeout;
	auto wait = std::chrono::ceil<std::chrono::milliseconds>(timers_.begin()->first.first - Clock::now());
	int timer = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(wait.count(), INT32_MAX)));
	return busTimeout < 0 ? timer : std::min(busTimeout, timer);
}

Result<void> EventLoop::run()
{
	try {
		while (!exit_) {
			while (dbus::processPendingEvent(connection_))
				;
			runPosted();
			runTimers();
			if (exit_)
				break;
			/* A posted closure may have queued messages or replies;
			 * process again before sleeping so the poll events
			 * include POLLOUT for them. */
			if (dbus::processPendingEvent(connection_))
				continue;

			auto data = connection_.getEventLoopPollData();
			/* poll() skips a negative fd: sdbus-c++ 1.2 has no event fd. */
			struct pollfd fds[] = {
				{ data.fd, data.events, 0 },
				{ wakeFd_.get(), POLLIN, 0 },
				{ signalFd_.get(), POLLIN, 0 },
				{ dbus::eventFd(data), POLLIN, 0 },
			};
			int r = poll(fds, 4, pollTimeout(data.getPollTimeout()));
			if (r < 0) {
				if (errno == EINTR)
					continue;
				return makeError(Code::Io, std::string("poll: ") + strerror(errno), errno);
			}
			if (fds[1].revents & POLLIN) {
				uint64_t value;
				[[maybe_unused]] ssize_t n = read(wakeFd_.get(), &value, sizeof(value));
			}
			if (fds[2].revents & POLLIN) {
				struct signalfd_siginfo info;
				if (read(signalFd_.get(), &info, sizeof(info)) == sizeof(info))
					log::info("Received {}, exiting", strsignal(info.ssi_signo));
				exit_ = true;
			}
		}
	} catch (const sdbus::Error &e) {
		return makeError(Code::Io, "D-Bus connection failed: " + e.getMessage());
	}
	return {};
}

} // namespace kexecd
