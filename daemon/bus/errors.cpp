// SPDX-License-Identifier: LGPL-2.1-or-later
#include "errors.h"

#include <array>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "sdbus_compat.h"
#include "text.h"

namespace kexecd {

namespace {

constexpr std::array<std::pair<Code, const char *>, 16> kErrorTable = { {
	{ Code::InvalidArgument, "org.kexecd1.Error.InvalidArgument" },
	{ Code::InvalidImage, "org.kexecd1.Error.InvalidImage" },
	{ Code::InvalidEntry, "org.kexecd1.Error.InvalidEntry" },
	{ Code::SignatureRejected, "org.kexecd1.Error.SignatureRejected" },
	{ Code::NotStaged, "org.kexecd1.Error.NotStaged" },
	{ Code::Busy, "org.kexecd1.Error.Busy" },
	{ Code::KernelRefused, "org.kexecd1.Error.KernelRefused" },
	{ Code::Unsupported, "org.kexecd1.Error.Unsupported" },
	/* The standard name, so generic tools (busctl, gdbus) recognise it. */
	{ Code::AccessDenied, "org.freedesktop.DBus.Error.AccessDenied" },
	{ Code::Inhibited, "org.kexecd1.Error.Inhibited" },
	{ Code::NoCrashMemory, "org.kexecd1.Error.NoCrashMemory" },
	{ Code::FirmwareRequest, "org.kexecd1.Error.FirmwareRequest" },
	{ Code::BootAssessment, "org.kexecd1.Error.BootAssessment" },
	{ Code::WouldNotUnlock, "org.kexecd1.Error.WouldNotUnlock" },
	{ Code::Io, "org.kexecd1.Error.Io" },
	{ Code::Internal, "org.kexecd1.Error.Internal" },
} };

} // namespace

const char *dbusErrorName(Code code)
{
	for (const auto &[c, name] : kErrorTable)
		if (c == code)
			return name;
	return "org.kexecd1.Error.Internal";
}

sdbus::Error toDbusError(const Error &error)
{
	/* An error reply with invalid UTF-8 cannot be built, and the caller
	 * would wait forever: the display rule, once more, at the edge. */
	std::string message = displayText(error.message);
	/* The errno is part of the contract for KernelRefused and Io: the
	 * client shows it and scripts can match it. */
	if (error.errnum > 0) {
		const char *text = strerror(error.errnum);
		const char *symbol = strerrorname_np(error.errnum);
		if (message.find(text) == std::string::npos)
			message += fmt::format(": {}", text);
		if (symbol)
			message += fmt::format(" [{}]", symbol);
	}
	return sdbus::Error(dbus::ErrorName{ dbusErrorName(error.code) }, std::move(message));
}

} // namespace kexecd
