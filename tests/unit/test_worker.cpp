// SPDX-License-Identifier: LGPL-2.1-or-later
#include "worker.h"

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace kexecd {
namespace {

/* The stop of a daemon that was just D-Bus activated (issue 30): a
 * staging finishes, queries (the booted kernel's digest, an unlock check)
 * do not hold the stop up. */
TEST(Worker, StopFinishesStagingsAndDropsQueries)
{
	std::vector<std::string> ran;
	std::promise<void> started;
	bool sawStop = false;
	{
		Worker worker;
		/* A query in flight when the stop comes is told to stop; it
		 * returns as soon as it is (bounded, so a bug fails, not hangs). */
		worker.submitQuery([&](std::stop_token stop) {
			std::promise<void> stopped;
			std::stop_callback onStop(stop, [&] { stopped.set_value(); });
			started.set_value();
			sawStop = stopped.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready;
			ran.push_back("running query");
		});
		worker.submitQuery([&](std::stop_token) { ran.push_back("queued query"); });
		worker.submit([&] { ran.push_back("staging"); });
		started.get_future().wait();
	}
	EXPECT_TRUE(sawStop);
	EXPECT_EQ(ran, (std::vector<std::string>{ "running query", "staging" }));
}

TEST(Worker, RunsJobsInOrder)
{
	std::vector<int> ran;
	{
		Worker worker;
		for (int i = 0; i < 5; i++) {
			if (i % 2)
				worker.submitQuery([&, i](std::stop_token) { ran.push_back(i); });
			else
				worker.submit([&, i] { ran.push_back(i); });
		}
		std::promise<void> done;
		worker.submit([&] { done.set_value(); });
		done.get_future().wait();
	}
	EXPECT_EQ(ran, (std::vector<int>{ 0, 1, 2, 3, 4 }));
}

} // namespace
} // namespace kexecd
