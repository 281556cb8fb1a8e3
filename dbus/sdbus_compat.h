// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// The one place that knows which sdbus-c++ major kexecd is built against:
// bookworm's 1.2 or trixie's 2.x (meson sets KEXECD_SDBUS_MAJOR on
// sdbus_dep). Daemon, client and tests write one spelling, this header's,
// and never test the version themselves:
// - names are strong types in 2.x (ServiceName{…}, ObjectPath{…}, …) and
//   plain strings in 1.2: the aliases below are one or the other;
// - an async reply callback's error is a std::optional<sdbus::Error> in 2.x
//   and a const sdbus::Error * in 1.2: take a ReplyError and use it as a
//   pointer (if (error), error->getName());
// - the renamed or vanished calls are functions here.
// The generated glue (xml2cpp of the same major) differs too, but only
// inside; the adaptor and the proxy use it the same way.

#include <optional>
#include <string>

#include <sdbus-c++/sdbus-c++.h>

#ifndef KEXECD_SDBUS_MAJOR
#error "KEXECD_SDBUS_MAJOR is set by meson on sdbus_dep"
#endif

namespace kexecd::dbus {

#if KEXECD_SDBUS_MAJOR >= 2

using ServiceName = sdbus::ServiceName;
using ObjectPath = sdbus::ObjectPath;
using InterfaceName = sdbus::InterfaceName;
using MethodName = sdbus::MethodName;
using SignalName = sdbus::SignalName;
using PropertyName = sdbus::PropertyName;
using ErrorName = sdbus::Error::Name;
using ReplyError = std::optional<sdbus::Error>;

inline bool processPendingEvent(sdbus::IConnection &connection)
{
	return connection.processPendingEvent();
}

/* 2.x subscribes a signal handler when it is registered. */
inline void finishRegistration(sdbus::IProxy &) {}

/* The sender of the call being handled on object, "" when none is. */
inline std::string currentSender(sdbus::IObject &object)
{
	const char *sender = object.getCurrentlyProcessedMessage().getSender();
	return sender ? sender : "";
}

/* 2.x wakes its event loop through a second fd (pending outgoing messages
 * from other threads, for one); -1 when there is none to poll. */
inline int eventFd(const sdbus::IConnection::PollData &data)
{
	return data.eventFd;
}

template<typename T>
std::string signatureOf()
{
	return sdbus::as_null_terminated(sdbus::signature_of_v<T>).data();
}

#else

using ServiceName = std::string;
using ObjectPath = std::string;
using InterfaceName = std::string;
using MethodName = std::string;
using SignalName = std::string;
using PropertyName = std::string;
using ErrorName = std::string;
using ReplyError = const sdbus::Error *;

inline bool processPendingEvent(sdbus::IConnection &connection)
{
	return connection.processPendingRequest();
}

inline void finishRegistration(sdbus::IProxy &proxy)
{
	proxy.finishRegistration();
}

inline std::string currentSender(sdbus::IObject &object)
{
	const sdbus::Message *message = object.getCurrentlyProcessedMessage();
	return message ? message->getSender() : "";
}

inline int eventFd(const sdbus::IConnection::PollData &)
{
	return -1;
}

template<typename T>
std::string signatureOf()
{
	return sdbus::signature_of<T>::str();
}

#endif

} // namespace kexecd::dbus
