// SPDX-License-Identifier: LGPL-2.1-or-later
#include "worker.h"

#include "log.h"

namespace kexecd {

Worker::Worker() : thread_([this] { run(); })
{
}

Worker::~Worker()
{
	{
		std::lock_guard lock(mutex_);
		stop_ = true;
	}
	wake_.notify_one();
	thread_.join();
}

void Worker::submit(std::function<void()> job)
{
	{
		std::lock_guard lock(mutex_);
		jobs_.push_back(std::move(job));
	}
	wake_.notify_one();
}

void Worker::run()
{
	for (;;) {
		std::function<void()> job;
		{
			std::unique_lock lock(mutex_);
			wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
			if (jobs_.empty())
				return;
			job = std::move(jobs_.front());
			jobs_.pop_front();
		}
		try {
			job();
		} catch (const std::exception &e) {
			log::error("Worker job failed: {}, ignoring", e.what());
		}
	}
}

} // namespace kexecd
