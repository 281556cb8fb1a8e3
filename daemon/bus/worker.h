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
#include <stop_token>
#include <thread>

namespace kexecd {

class Worker
{
public:
	Worker();
	/* Runs the queued submit() jobs to the end, then joins: a staging in
	 * flight must not be cut between load and record. Queued
	 * submitQuery() jobs are dropped and a running one is asked to stop:
	 * the daemon is stopping, often on a reboot's path, and the loop that
	 * would take their answer is gone. Call off the loop. */
	~Worker();
	Worker(const Worker &) = delete;
	Worker &operator=(const Worker &) = delete;

	/* Thread-safe. A job with effects (a staging). */
	void submit(std::function<void()> job);
	/* Thread-safe. A job whose only result is what it posts to the
	 * loop (the booted kernel's digest, an unlock check). */
	void submitQuery(std::function<void(std::stop_token)> job);

private:
	struct Job {
		std::function<void(std::stop_token)> run;
		bool query = false;
	};
	void enqueue(Job job);
	void run();

	std::mutex mutex_;
	std::condition_variable wake_;
	std::deque<Job> jobs_;
	bool stop_ = false;
	std::stop_source stopSource_;
	std::thread thread_; // last: starts after the members it uses
};

} // namespace kexecd
