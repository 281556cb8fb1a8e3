// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// A staging's inputs against the limits the BPF parser (bpf/parse_core.h)
// is built with, checked so the caller gets a named error instead of an
// opaque EINVAL from the kernel.

#include <vector>

#include "request.h"
#include "result.h"
#include "stage_input.h"

namespace kexecd {

/* The composed kernel, initrd and command line, and each PE. */
Result<void> checkBpfLimits(const ParsedInput &in);
/* The per-PE size limit from the callers' files' sizes, before reading. */
Result<void> checkBpfInputSizes(const InputFile &uki, const std::vector<InputFile> &addons);

} // namespace kexecd
