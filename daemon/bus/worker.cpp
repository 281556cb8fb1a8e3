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
	stopSource_.request_stop();
	wake_.notify_one();
	thread_.join();
}

void Worker::submit(std::function<void()> job)
{
	enqueue({ [job = std::move(job)](std::stop_token) { job(); }, false });
}

void Worker::submitQuery(std::function<void(std::stop_token)> job)
{
	enqueue({ std::move(job), true });
}

void Worker::enqueue(Job job)
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
		Job job;
		{
			std::unique_lock lock(mutex_);
			wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
			if (jobs_.empty())
				return;
			job = std::move(jobs_.front());
			jobs_.pop_front();
			if (stop_ && job.query)
				continue;
		}
		try {
			job.run(stopSource_.get_token());
		} catch (const std::exception &e) {
			log::error("Worker job failed: {}, ignoring", e.what());
		}
	}
}

} // namespace kexecd
