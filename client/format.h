// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Human output of kexecctl. --json output never goes through here: it is
// the daemon's or the engine's JSON as is, so its keys stay the
// documented ones.

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kexecd {

struct FormatOptions {
	bool color = false;  // bad states in colour (terminal.h decides)
	bool legend = true;  // table headers and footers (--no-legend: false)
};

/* hostnamectl-like block from the daemon's Describe() document. */
std::string formatStatus(const nlohmann::json &describe, const FormatOptions &options = {});

/* A short summary of a staged record (the Stage reply). */
std::string formatStaged(const nlohmann::json &staged, const FormatOptions &options = {});

/* What a user must hear about a staged record, one line each (without
 * "Warning: "): every object whose firmware or kernel verdict is not
 * trusted, with its verdicts; an empty command line. */
std::vector<std::string> stagedWarnings(const nlohmann::json &staged);

/* kexecctl inspect: the file, its sections, addons and what would be
 * staged, from the engine's inspectImage() document. */
std::string formatInspect(const nlohmann::json &doc, const FormatOptions &options = {});

/* kexecctl list: one block per UKI, the default marked with '*'. */
std::string formatList(const nlohmann::json &doc, const FormatOptions &options = {});

/* Progress bar redrawn in place on a terminal: "[#####     ]  50% verify". */
class ProgressBar
{
public:
	explicit ProgressBar(FILE *out, int width = 30);
	~ProgressBar();

	void update(std::string_view phase, double fraction);
	/* Erase the bar so the next output starts on a clean line. */
	void finish();

private:
	FILE *out_;
	int width_;
	bool drawn_ = false;
};

} // namespace kexecd
