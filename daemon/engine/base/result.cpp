// SPDX-License-Identifier: LGPL-2.1-or-later
#include "result.h"

namespace kexecd {

const char *codeName(Code code)
{
	switch (code) {
	case Code::InvalidArgument: return "InvalidArgument";
	case Code::InvalidImage: return "InvalidImage";
	case Code::InvalidEntry: return "InvalidEntry";
	case Code::SignatureRejected: return "SignatureRejected";
	case Code::NotStaged: return "NotStaged";
	case Code::Busy: return "Busy";
	case Code::KernelRefused: return "KernelRefused";
	case Code::Unsupported: return "Unsupported";
	case Code::AccessDenied: return "AccessDenied";
	case Code::Inhibited: return "Inhibited";
	case Code::NoCrashMemory: return "NoCrashMemory";
	case Code::FirmwareRequest: return "FirmwareRequest";
	case Code::BootAssessment: return "BootAssessment";
	case Code::WouldNotUnlock: return "WouldNotUnlock";
	case Code::Io: return "Io";
	case Code::Internal: return "Internal";
	}
	return "Internal";
}

} // namespace kexecd
