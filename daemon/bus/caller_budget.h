// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// How much of the daemon one bus caller may hold while it waits for
// polkit: requests and the file descriptors that came with them. Without
// it an unprivileged caller could pin every fd of the daemon by sending
// Stage calls while polkit is slow, and root's next Stage would fail.

#include <cstddef>
#include <map>
#include <string>

#include "result.h"

namespace kexecd {

struct CallerBudgetLimits {
	/* Descriptors count twice: the pending method call keeps its own,
	 * and the request holds the duplicates the engine will read. */
	size_t requestsPerCaller = 4;
	size_t fdsPerCaller = 128; // four full messages of 16 fds
	size_t fdsTotal = 1024;    // all callers together; well below kexecd's RLIMIT_NOFILE
};

class CallerBudget
{
public:
	explicit CallerBudget(CallerBudgetLimits limits = {}) : limits_(limits) {}

	/* Reserves one request with fds for sender, or says why not. */
	Result<void> admit(const std::string &sender, size_t fds);
	void release(const std::string &sender, size_t fds);

	size_t fdsHeld() const { return fdsTotal_; }
	size_t requestsOf(const std::string &sender) const;

private:
	struct Usage {
		size_t requests = 0;
		size_t fds = 0;
	};
	CallerBudgetLimits limits_;
	std::map<std::string, Usage> usage_;
	size_t fdsTotal_ = 0;
};

} // namespace kexecd
