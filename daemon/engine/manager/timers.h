// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The one-shot timers the Manager arms (the bound on "rebooting", the
// slow re-check of kexec_loaded). The bus layer's EventLoop provides them;
// unit tests fire them by hand.

#include <chrono>
#include <cstdint>
#include <functional>

namespace kexecd {

class Timers
{
public:
	using Id = uint64_t; // 0 is never a timer

	virtual ~Timers() = default;
	/* fn runs once on the loop's thread after delay, unless cancelled. */
	virtual Id after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
	/* Cancelling 0, or a timer that already ran, does nothing. */
	virtual void cancel(Id id) = 0;
};

} // namespace kexecd
