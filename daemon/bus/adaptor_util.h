// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// What every ManagerAdaptor handler does at the edge: typed options with
// named errors, labels without control characters, and a guard that turns
// any exception into an error reply (STYLE 4). Shared by the adaptor's
// translation units; sdbus-c++ types stay in daemon/bus.

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <sdbus-c++/sdbus-c++.h>

#include "convert.h"
#include "errors.h"
#include "log.h"
#include "sdbus_compat.h"

namespace kexecd {

inline constexpr size_t kMaxOptionString = 4096;

inline sdbus::Error invalid(const std::string &message)
{
	return toDbusError(Code::InvalidArgument, message);
}

/* Replying can itself throw (the caller may be gone); that must never
 * escape into sd-bus. */
template<typename Reply>
void replyError(const Reply &reply, const sdbus::Error &error)
{
	try {
		reply->returnError(error);
	} catch (const std::exception &e) {
		log::warning("Cannot send error reply {}: {}, ignoring", error.getName(), e.what());
	}
}

/* STYLE 4: sdbus-c++ 1.2 turns only sdbus::Error into an error reply and
 * lets anything else unwind through sd-bus' C frames. Every handler and
 * every asynchronous continuation runs its body through this. */
template<typename Reply, typename Fn>
void guarded(const Reply &reply, const char *what, Fn &&fn)
{
	try {
		fn();
	} catch (const sdbus::Error &e) {
		replyError(reply, e);
	} catch (const std::exception &e) {
		log::error("{}: unexpected exception: {}", what, e.what());
		replyError(reply, toDbusError(Code::Internal, fmt::format("{}: {}", what, e.what())));
	} catch (...) {
		log::error("{}: unexpected exception", what);
		replyError(reply, toDbusError(Code::Internal, fmt::format("{}: internal error", what)));
	}
}

inline void checkKnownOptions(const VariantMap &options, std::initializer_list<std::string_view> known)
{
	for (const auto &[name, value] : options) {
		bool found = false;
		for (auto k : known)
			found = found || name == k;
		if (!found)
			throw invalid(fmt::format("unknown option '{}'", name));
	}
}

template<typename T>
std::optional<T> option(const VariantMap &options, const char *name)
{
	auto it = options.find(name);
	if (it == options.end())
		return std::nullopt;
	if (!it->second.containsValueOfType<T>())
		throw invalid(fmt::format("option '{}' must have type '{}', not '{}'", name,
					  dbus::signatureOf<T>(), it->second.peekValueType()));
	return it->second.get<T>();
}

inline std::string stringOption(const VariantMap &options, const char *name, size_t maxLength)
{
	std::string value = option<std::string>(options, name).value_or("");
	if (value.size() > maxLength)
		throw invalid(fmt::format("option '{}' is longer than {} bytes", name, maxLength));
	if (value.find('\0') != std::string::npos)
		throw invalid(fmt::format("option '{}' contains a NUL byte", name));
	return value;
}

/* Labels (paths for the record, profile names, cmdline_extra) reach
 * terminals, the journal and the kernel command line: no control
 * characters. D-Bus already guarantees valid UTF-8. */
inline void checkLabel(const char *name, const std::string &value)
{
	for (unsigned char c : value)
		if (c < 0x20 || c == 0x7f)
			throw invalid(fmt::format("option '{}' contains the control character {:#04x}", name, c));
}

inline std::string labelOption(const VariantMap &options, const char *name)
{
	std::string value = stringOption(options, name, kMaxOptionString);
	checkLabel(name, value);
	return value;
}

inline bool interactiveOption(const VariantMap &options)
{
	return option<bool>(options, "interactive").value_or(false);
}

/* Stage*, Unstage: the crash kernel's slot instead of the reboot slot. */
inline bool crashOption(const VariantMap &options)
{
	return option<bool>(options, "crash").value_or(false);
}

} // namespace kexecd
