// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Opening the files discovery names for a staging: only beneath the root
// of the partition (or tree) they were found on, never through a symlink
// that could lead out of it, never blocking on something that is not a
// regular file. The daemon opens no path a caller names; these are the
// paths discovery itself found.

#include <string>

#include "discovery.h"
#include "result.h"
#include "input_file.h"

namespace kexecd {

enum class Symlinks {
	Refuse,      // RESOLVE_NO_SYMLINKS: ESP, XBOOTLDR, modules
	InRoot,      // followed with root as "/" (RESOLVE_IN_ROOT): the Debian /vmlinuz links
};

/* path must be root + "/" + a relative path. Errors are Code::Io with the
 * errno (ELOOP says a symlink was refused, EXDEV that one led out of
 * root), Code::InvalidImage for something that is not a regular file. */
Result<InputFile> openBeneath(const std::string &root, const std::string &path, Symlinks symlinks);

/* The UKI, kernel and initrds of a discovered entry, opened beneath the
 * entry's root; a failure is Code::InvalidEntry naming the entry file. */
struct EntryFiles {
	InputFile image; // the UKI, or the kernel
	std::vector<InputFile> initrds;
};
Result<EntryFiles> openEntryFiles(const UkiEntry &entry);

} // namespace kexecd
