// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The daemon's only D-Bus thread. sdbus-c++ 1.2 has no way to hand work to
// its own loop from another thread, and sending from a second thread while
// the loop sleeps in poll() can leave a queued message unflushed (the loop
// only polls for POLLOUT when it recomputes its events). So this loop
// drives the connection itself (getEventLoopPollData/processPendingEvent)
// and runs closures posted by worker threads: replies, Progress and
// PropertiesChanged are all sent from here. It also owns SIGTERM/SIGINT
// through a signalfd, and the few timers the daemon needs (re-checking
// kexec_loaded, the bound on a reboot that never came), as deadlines folded
// into poll()'s timeout.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "fd.h"
#include "result.h"
#include "timers.h"

namespace sdbus {
class IConnection;
}

namespace kexecd {

class EventLoop final : public Timers
{
public:
	/* Blocks SIGTERM and SIGINT for the calling thread, so construct it
	 * before starting any thread. */
	explicit EventLoop(sdbus::IConnection &connection);
	EventLoop(const EventLoop &) = delete;
	EventLoop &operator=(const EventLoop &) = delete;

	/* Thread-safe. fn runs on the loop thread, in posting order. */
	void post(std::function<void()> fn);

	/* Loop thread only. fn runs once on the loop thread after delay,
	 * unless cancelled; returns an id for cancel(). */
	Id after(std::chrono::milliseconds delay, std::function<void()> fn) override;
	void cancel(Id id) override;

	/* Until SIGTERM/SIGINT or exit(). Fails when the bus connection breaks. */
	Result<void> run();
	void exit();

private:
	void wake();
	void runPosted();
	void runTimers();
	int pollTimeout(int busTimeout) const;

	sdbus::IConnection &connection_;
	UniqueFd wakeFd_;
	UniqueFd signalFd_;
	bool exit_ = false;

	std::mutex mutex_;
	std::vector<std::function<void()>> posted_;

	/* Loop thread only: (deadline, id) → closure. */
	using Clock = std::chrono::steady_clock;
	std::map<std::pair<Clock::time_point, uint64_t>, std::function<void()>> timers_;
	uint64_t nextTimer_ = 1;
};

} // namespace kexecd
