// SPDX-License-Identifier: LGPL-2.1-or-later
#include "logind_facts.h"

#include <fmt/format.h>

namespace kexecd {

std::string describeInhibitors(const std::vector<Inhibitor> &inhibitors)
{
	std::string out;
	for (const Inhibitor &i : inhibitors) {
		if (!out.empty())
			out += "; ";
		out += fmt::format("'{}' (uid {}, pid {}): {}", i.who, i.uid, i.pid, i.why);
	}
	return out;
}

std::vector<Inhibitor> blockingFor(const std::vector<Inhibitor> &inhibitors, uint32_t callerUid)
{
	std::vector<Inhibitor> blocking;
	for (const Inhibitor &i : inhibitors)
		if (i.uid != callerUid)
			blocking.push_back(i);
	return blocking;
}

} // namespace kexecd
