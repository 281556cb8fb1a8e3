// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// org.kexecd1.Manager on /org/kexecd1: converts arguments, authorizes,
// calls the Stager and converts errors (STYLE 2). The generated PascalCase
// virtuals stay in this class. Threading: every sdbus-c++ call happens on
// the EventLoop thread; staging runs on one worker thread that hands its
// result, its progress and the engine's change notifications back through
// EventLoop::post().

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sdbus-c++/sdbus-c++.h>

#include "manager_adaptor_glue.h"

#include "convert.h"
#include "kernel.h"
#include "stager.h"

namespace kexecd {

class Authorizer;
class EventLoop;
class Logind;

class ManagerAdaptor final : public sdbus::AdaptorInterfaces<org::kexecd1::Manager_adaptor>
{
public:
	static constexpr const char *kObjectPath = "/org/kexecd1";
	static constexpr const char *kBusName = "org.kexecd1";

	ManagerAdaptor(sdbus::IConnection &connection, EventLoop &loop, Stager &stager,
		       KexecKernel &kernel, Authorizer &authorizer, Logind &logind,
		       const Limits &limits);
	~ManagerAdaptor();

private:
	using StageReply = std::shared_ptr<sdbus::Result<VariantMap>>;
	using VoidReply = std::shared_ptr<sdbus::Result<>>;

	void Stage(sdbus::Result<VariantMap> &&result, sdbus::UnixFd uki,
		   std::vector<sdbus::UnixFd> addons, VariantMap options) override;
	void StageDefault(sdbus::Result<VariantMap> &&result, VariantMap options) override;
	void Unstage(sdbus::Result<> &&result, VariantMap options) override;
	void Reboot(sdbus::Result<> &&result, VariantMap options) override;
	void SoftReboot(sdbus::Result<> &&result, VariantMap options) override;
	std::string Describe() override;

	std::string State() override;
	VariantMap Staged() override;
	VariantMap KernelSupport() override;
	std::string LastError() override;
	std::string Version() override;

	std::string sender();
	void fillCommonOptions(StageRequest &request, const VariantMap &options);
	void startStaging(StageReply reply, std::shared_ptr<StageRequest> request, bool discover);
	void finishStaging(StageReply reply, Result<nlohmann::json> result);
	void rebootVia(VoidReply reply, uint64_t flags, bool kexec);
	void forceReboot(VoidReply reply, const std::string &sender);
	void progress(std::string_view phase, double fraction);
	void engineChanged();
	void emitChanges();

	EventLoop &loop_;
	Stager &stager_;
	KexecKernel &kernel_;
	Authorizer &authorizer_;
	Logind &logind_;
	const Limits limits_;

	/* Loop thread only. */
	bool staging_ = false;
	std::thread worker_;
	std::map<std::string, std::string> published_; // property → last emitted value (serialized)

	/* Worker thread → loop: coalesce change notifications and progress. */
	std::atomic<bool> changePending_ = false;
	std::string lastPhase_;  // worker thread only
	double lastFraction_ = -1;
};

} // namespace kexecd
