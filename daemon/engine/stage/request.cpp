// SPDX-License-Identifier: LGPL-2.1-or-later
#include "request.h"

namespace kexecd {

const char *inputKindName(InputKind kind)
{
	return kind == InputKind::Kernel ? "kernel" : "uki";
}

} // namespace kexecd
