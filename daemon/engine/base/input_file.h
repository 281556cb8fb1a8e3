// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// One input of a staging as it reaches the engine: an open file (the
// caller opened it; the daemon opens no path a caller names) and the name
// it is known by in messages and the record.

#include <string>

#include "fd.h"

namespace kexecd {

struct InputFile {
	UniqueFd fd;
	std::string origin; // a path for messages and the record
};

} // namespace kexecd
