// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// One long-lived thread that runs staging jobs in order. It exists so the
// loop thread never joins a thread: joining while sd-bus' connection lock
// is held (any method handler runs under it) deadlocked against a worker
// whose last captured sdbus object was being destroyed. Jobs must capture
// no sdbus-c++ object; they post their results back to the EventLoop.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace kexecd {

class Worker
{
public:
	Worker();
	/* Runs the queued jobs to the end, then joins: a staging in flight
	 * must not be cut between load and record. Call off the loop. */
	~Worker();
	Worker(const Worker &) = delete;
	Worker &operator=(const Worker &) = delete;

	/* Thread-safe. */
	void submit(std::function<void()> job);

private:
	void run();

	std::mutex mutex_;
	std::condition_variable wake_;
	std::deque<std::function<void()>> jobs_;
	bool stop_ = false;
	std::thread thread_; // last: starts after the members it uses
};

} // namespace kexecd
