// SPDX-License-Identifier: LGPL-2.1-or-later
#include "caller_budget.h"

#include <fmt/format.h>

namespace kexecd {

Result<void> CallerBudget::admit(const std::string &sender, size_t fds)
{
	Usage &u = usage_[sender];
	if (u.requests + 1 > limits_.requestsPerCaller || u.fds + fds > limits_.fdsPerCaller) {
		if (u.requests == 0)
			usage_.erase(sender);
		return makeError(Code::Busy,
				 fmt::format("this caller already has {} request(s) holding {} file descriptor(s) "
					     "waiting for authorization (limits: {} requests, {} descriptors)",
					     u.requests, u.fds, limits_.requestsPerCaller, limits_.fdsPerCaller));
	}
	if (fdsTotal_ + fds > limits_.fdsTotal) {
		if (u.requests == 0)
			usage_.erase(sender);
		return makeError(Code::Busy,
				 fmt::format("{} file descriptors are already waiting for authorization "
					     "(limit {}); try again later", fdsTotal_, limits_.fdsTotal));
	}
	u.requests++;
	u.fds += fds;
	fdsTotal_ += fds;
	return {};
}

void CallerBudget::release(const std::string &sender, size_t fds)
{
	auto it = usage_.find(sender);
	if (it == usage_.end())
		return;
	it->second.requests -= it->second.requests ? 1 : 0;
	it->second.fds -= std::min(it->second.fds, fds);
	fdsTotal_ -= std::min(fdsTotal_, fds);
	if (it->second.requests == 0)
		usage_.erase(it);
}

size_t CallerBudget::requestsOf(const std::string &sender) const
{
	auto it = usage_.find(sender);
	return it == usage_.end() ? 0 : it->second.requests;
}

} // namespace kexecd
