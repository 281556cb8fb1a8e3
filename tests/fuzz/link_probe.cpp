// SPDX-License-Identifier: LGPL-2.1-or-later
// Links only where clang has the libFuzzer runtime (tests/fuzz/meson.build).
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *, size_t)
{
	return 0;
}
