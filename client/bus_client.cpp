// SPDX-License-Identifier: LGPL-2.1-or-later
#include "bus_client.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "terminal.h"
#include "text.h"

namespace kexecd {

ManagerProxy::ManagerProxy(sdbus::IConnection &connection)
	: ProxyInterfaces(connection, dbus::ServiceName{ kBusName }, dbus::ObjectPath{ kObjectPath })
{
	registerProxy();
}

ManagerProxy::~ManagerProxy()
{
	unregisterProxy();
}

void ManagerProxy::onProgress(const std::string &phase, const double &fraction)
{
	if (progress)
		progress(phase, fraction);
}

/* Prints the one-line message (stderr) and, with --json, the same error as
 * a document on stdout; returns the exit code. */
std::string GlobalOptions::jsonOut(const nlohmann::json &doc) const
{
	return jsonText(doc, jsonShort ? -1 : 2) + "\n";
}

int report(const GlobalOptions &global, const ClientError &error, const std::string &name)
{
	std::fflush(stdout);
	fmt::print(stderr, "{}\n", paint(error.message, Tone::Bad, colorEnabled(STDERR_FILENO)));
	if (global.json) {
		json doc = { { "error", { { "kind", error.kind },
					  { "message", error.message },
					  { "exit_code", error.exitCode } } } };
		if (!name.empty())
			doc["error"]["name"] = name;
		fmt::print("{}", global.jsonOut(doc));
	}
	return error.exitCode;
}

int reportBusError(const GlobalOptions &global, const sdbus::Error &e, Verb verb, const std::string &hint)
{
	ClientError error = describeBusError(e.getName(), e.getMessage(), verb);
	if (!hint.empty())
		error.message += "; " + hint;
	return report(global, error, e.getName());
}

namespace {

template<typename T>
json arrayToJson(const sdbus::Variant &v)
{
	json out = json::array();
	for (const T &item : v.get<std::vector<T>>())
		out.push_back(item);
	return out;
}

} // namespace

json mapToJson(const std::map<std::string, sdbus::Variant> &map)
{
	json out = json::object();
	for (const auto &[key, value] : map)
		out[key] = variantToJson(value);
	return out;
}

/* The reply dictionaries hold strings, numbers, booleans, string lists and
 * nested a{sv}; anything else is shown by its signature rather than lost
 * silently. */
json variantToJson(const sdbus::Variant &v)
{
	const std::string type = v.peekValueType();
	if (type == "s" || type == "o" || type == "g")
		return v.get<std::string>();
	if (type == "b")
		return v.get<bool>();
	if (type == "y")
		return v.get<uint8_t>();
	if (type == "n")
		return v.get<int16_t>();
	if (type == "q")
		return v.get<uint16_t>();
	if (type == "i")
		return v.get<int32_t>();
	if (type == "u")
		return v.get<uint32_t>();
	if (type == "x")
		return v.get<int64_t>();
	if (type == "t")
		return v.get<uint64_t>();
	if (type == "d")
		return v.get<double>();
	if (type == "as")
		return arrayToJson<std::string>(v);
	if (type == "at")
		return arrayToJson<uint64_t>(v);
	if (type == "ax")
		return arrayToJson<int64_t>(v);
	if (type == "au")
		return arrayToJson<uint32_t>(v);
	if (type == "ai")
		return arrayToJson<int32_t>(v);
	if (type == "ab")
		return arrayToJson<bool>(v);
	if (type == "ad")
		return arrayToJson<double>(v);
	if (type == "a{ss}") {
		json out = json::object();
		for (const auto &[key, value] : v.get<std::map<std::string, std::string>>())
			out[key] = value;
		return out;
	}
	if (type == "a{sv}")
		return mapToJson(v.get<std::map<std::string, sdbus::Variant>>());
	if (type == "aa{sv}") {
		json out = json::array();
		for (const auto &map : v.get<std::vector<std::map<std::string, sdbus::Variant>>>())
			out.push_back(mapToJson(map));
		return out;
	}
	if (type == "av") {
		json out = json::array();
		for (const sdbus::Variant &item : v.get<std::vector<sdbus::Variant>>())
			out.push_back(variantToJson(item));
		return out;
	}
	if (type == "v")
		return variantToJson(v.get<sdbus::Variant>());
	return "<unsupported D-Bus type " + type + ">";
}

std::unique_ptr<sdbus::IConnection> connectBus(const GlobalOptions &global, int &exitCode)
{
	/* sd-bus reads the system bus address from this variable, so an
	 * explicit address keeps every other system-bus semantic intact. */
	if (global.bus != "system" && ::setenv("DBUS_SYSTEM_BUS_ADDRESS", global.bus.c_str(), 1) < 0) {
		exitCode = report(global, { ExitFailure, "failed", "Cannot set the bus address" });
		return nullptr;
	}
	try {
		return sdbus::createSystemBusConnection();
	} catch (const sdbus::Error &e) {
		std::string where = global.bus == "system" ? "the system bus" : "'" + global.bus + "'";
		exitCode = report(global, { ExitUnreachable, "unreachable",
					    fmt::format("Cannot connect to {}: {}", where, e.getMessage()) },
				  e.getName());
		return nullptr;
	}
}

Options authOptions(const GlobalOptions &global)
{
	return Options{ { "interactive", sdbus::Variant{ !global.noAskPassword } } };
}

} // namespace kexecd
