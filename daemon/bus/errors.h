// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The edge where engine error values become D-Bus error names. One table
// (errors.cpp) maps every Code to exactly one name; the XML lists the same
// names in its header comment and org.kexecd1(5) documents them.

#include <string>

#include <sdbus-c++/Error.h>

#include "result.h"

namespace kexecd {

const char *dbusErrorName(Code code);

sdbus::Error toDbusError(const Error &error);

inline sdbus::Error toDbusError(Code code, std::string message)
{
	return toDbusError(makeError(code, std::move(message)));
}

} // namespace kexecd
