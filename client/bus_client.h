// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// What every kexecctl verb that talks to kexecd shares: the global
// options, the proxy, the connection, and one way to report an error (a
// line on stderr, and with --json a document on stdout). sdbus-c++ types
// stay in the client's bus files.

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <sdbus-c++/sdbus-c++.h>

#include "config.h"
#include "errors.h"
#include "manager_proxy.h"
#include "sdbus_compat.h"

namespace kexecd {

using json = nlohmann::json;
using Options = std::map<std::string, sdbus::Variant>;

inline constexpr const char *kBusName = "org.kexecd1";
inline constexpr const char *kObjectPath = "/org/kexecd1";

/* Staging reads and verifies whole images, and polkit may wait for a
 * password; the default 25 s D-Bus timeout is far too short for either. */
inline constexpr auto kStageTimeout = std::chrono::minutes(10);
inline constexpr auto kAuthTimeout = std::chrono::minutes(5);

struct GlobalOptions {
	bool json = false;      // --json, --json=pretty, --json=short
	bool jsonShort = false; // --json=short: one line
	bool noAskPassword = false;
	bool noPager = false;
	bool noLegend = false;
	bool quiet = false;
	std::string bus = "system";
	std::string config = KEXECD_CONF_FILE; // for the ESP/XBOOTLDR roots

	/* The document as --json asked for it, newline included. */
	std::string jsonOut(const nlohmann::json &doc) const;
};

class ManagerProxy final : public sdbus::ProxyInterfaces<org::kexecd1::Manager_proxy>
{
public:
	explicit ManagerProxy(sdbus::IConnection &connection);
	~ManagerProxy();

	/* For calls that need a timeout or an async reply, which the
	 * generated methods do not offer. */
	sdbus::IProxy &proxy() { return getProxy(); }

	std::function<void(const std::string &, double)> progress;

private:
	void onProgress(const std::string &phase, const double &fraction) override;
};

/* Prints the one-line message (stderr, red on a terminal) and, with
 * --json, the same error as a document on stdout; returns the exit code. */
int report(const GlobalOptions &global, const ClientError &error, const std::string &name = {});
/* hint, when not empty, is added to the line after "; ". */
int reportBusError(const GlobalOptions &global, const sdbus::Error &e, Verb verb, const std::string &hint = {});

json variantToJson(const sdbus::Variant &v);
json mapToJson(const std::map<std::string, sdbus::Variant> &map);

std::unique_ptr<sdbus::IConnection> connectBus(const GlobalOptions &global, int &exitCode);
Options authOptions(const GlobalOptions &global);

/* reboot_cmd.cpp */
struct RebootOptions {
	std::string mode;      // auto|kexec|soft|cold, "" for the verb's default
	bool dryRun = false;
	bool force = false;
	bool ignoreInhibitors = false;
	bool ignoreTpm = false;
	bool requireStaged = false;
};
int cmdReboot(const GlobalOptions &global, Verb verb, const RebootOptions &opts);

} // namespace kexecd
