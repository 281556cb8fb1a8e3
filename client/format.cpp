// SPDX-License-Identifier: LGPL-2.1-or-later
#include "format.h"

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace kexecd {

using nlohmann::json;

namespace {

/*
 * The daemon's document is the contract (kexecctl(1) lists its keys); the
 * few alternative spellings accepted here keep the human view useful
 * against an older or newer daemon instead of printing blanks.
 */
const json *find(const json &doc, std::initializer_list<const char *> pointers)
{
	for (const char *pointer : pointers) {
		json::json_pointer p{ pointer };
		if (doc.contains(p)) {
			const json &v = doc.at(p);
			if (!v.is_null() && !(v.is_string() && v.get_ref<const std::string &>().empty()))
				return &v;
		}
	}
	return nullptr;
}

std::string scalar(const json &v)
{
	if (v.is_string())
		return v.get<std::string>();
	if (v.is_boolean())
		return v.get<bool>() ? "yes" : "no";
	if (v.is_array()) {
		std::string s;
		for (const json &item : v) {
			if (!s.empty())
				s += ", ";
			s += scalar(item);
		}
		return s;
	}
	return v.dump();
}

std::string text(const json &doc, std::initializer_list<const char *> pointers)
{
	const json *v = find(doc, pointers);
	return v ? scalar(*v) : std::string{};
}

class Block
{
public:
	void add(std::string label, std::string value)
	{
		if (!value.empty())
			rows_.emplace_back(std::move(label), std::move(value));
	}

	std::string render() const
	{
		size_t width = 0;
		for (const auto &[label, value] : rows_)
			width = std::max(width, label.size());
		std::string out;
		for (const auto &[label, value] : rows_)
			out += fmt::format("{:>{}}: {}\n", label, width, value);
		return out;
	}

private:
	std::vector<std::pair<std::string, std::string>> rows_;
};

std::string yesNo(const json *v)
{
	if (!v)
		return {};
	if (v->is_boolean())
		return v->get<bool>() ? "yes" : "no";
	return scalar(*v);
}

std::string addonList(const json &staged)
{
	const json *addons = find(staged, { "/addons", "/addon_paths" });
	if (!addons || !addons->is_array())
		return {};
	std::string s;
	for (const json &a : *addons) {
		std::string item = a.is_object() ? text(a, { "/path", "/origin", "/name" }) : scalar(a);
		if (!s.empty())
			s += ", ";
		s += item;
	}
	return s;
}

void addStaged(Block &block, const json &staged)
{
	block.add("UKI", text(staged, { "/uki/path", "/uki_path", "/uki/origin", "/uki" }));
	block.add("Version", text(staged, { "/uki/version", "/version", "/uname", "/uki/uname",
					     "/os_release/PRETTY_NAME", "/osrel/PRETTY_NAME" }));
	block.add("Profile", text(staged, { "/profile/id", "/profile/name", "/profile" }));
	block.add("Addons", addonList(staged));

	std::string scheme = text(staged, { "/scheme/name", "/scheme" });
	std::string why = text(staged, { "/scheme/reason", "/scheme_reason", "/scheme_why",
					 "/scheme_detail" });
	if (!scheme.empty() && !why.empty())
		scheme += " (" + why + ")";
	block.add("Scheme", scheme);

	block.add("Command line", text(staged, { "/cmdline" }));

	std::string verdict = text(staged, { "/signature/verdict", "/signature/uki/verdict",
					     "/signature", "/verdict", "/uki/signature/verdict",
					     "/uki/verdict" });
	std::string signer = text(staged, { "/signature/signer", "/signature/uki/signer",
					    "/uki/signature/signer", "/uki/signer" });
	if (!verdict.empty() && !signer.empty())
		verdict += " (" + signer + ")";
	std::string policy = text(staged, { "/signature/policy", "/signature_policy", "/policy" });
	if (!verdict.empty() && !policy.empty())
		verdict += ", policy " + policy;
	block.add("Signature", verdict);

	block.add("Kernel SHA256", text(staged, { "/sha256/kernel", "/kernel/sha256", "/kernel_sha256" }));
	block.add("Initrd SHA256", text(staged, { "/sha256/initrd", "/initrd/sha256", "/initrd_sha256" }));
	block.add("UKI SHA256", text(staged, { "/sha256/uki", "/uki/sha256", "/uki_sha256" }));
	block.add("Staged at", text(staged, { "/time", "/staged_at", "/timestamp" }));
}

void addSupport(Block &block, const json &support)
{
	std::string kexecFile = yesNo(find(support, { "/kexec_file" }));
	if (kexecFile == "yes" && yesNo(find(support, { "/load_disabled" })) == "yes")
		kexecFile += " (but kexec_load_disabled is set)";
	block.add("kexec_file_load", kexecFile);

	std::string bpf = yesNo(find(support, { "/bpf_parser" }));
	std::string detail = text(support, { "/detail", "/bpf_detail" });
	std::string generation = text(support, { "/generation" });
	if (!bpf.empty() && !generation.empty())
		bpf += ", " + generation;
	if (!bpf.empty() && !detail.empty())
		bpf += " (" + detail + ")";
	block.add("BPF parser", bpf);

	block.add("Lockdown", text(support, { "/lockdown" }));
	block.add("Secure Boot", yesNo(find(support, { "/secure_boot" })));
}

void tree(std::string &out, const json &v, int indent);

void treeItem(std::string &out, const std::string &label, const json &v, int indent)
{
	std::string pad(indent * 2, ' ');
	bool scalarArray = v.is_array() &&
			   std::all_of(v.begin(), v.end(), [](const json &e) { return e.is_primitive(); });
	if (v.is_primitive() || scalarArray) {
		out += fmt::format("{}{}: {}\n", pad, label, scalar(v));
		return;
	}
	out += fmt::format("{}{}:\n", pad, label);
	tree(out, v, indent + 1);
}

void tree(std::string &out, const json &v, int indent)
{
	if (v.is_object()) {
		for (const auto &[key, value] : v.items())
			treeItem(out, key, value, indent);
	} else if (v.is_array()) {
		size_t i = 0;
		for (const json &item : v)
			treeItem(out, fmt::format("[{}]", i++), item, indent);
	} else {
		out += std::string(indent * 2, ' ') + scalar(v) + "\n";
	}
}

} // namespace

std::string formatStatus(const json &describe)
{
	Block block;
	block.add("State", text(describe, { "/state" }));

	const json *staged = find(describe, { "/staged" });
	if (staged && staged->is_object())
		addStaged(block, *staged);

	block.add("Last error", text(describe, { "/last_error" }));

	const json *support = find(describe, { "/kernel_support", "/kernel" });
	if (support && support->is_object())
		addSupport(block, *support);

	block.add("kexecd version", text(describe, { "/version" }));
	return block.render();
}

std::string formatStaged(const json &staged)
{
	Block block;
	addStaged(block, staged);
	return block.render();
}

std::string formatTree(const json &doc)
{
	std::string out;
	tree(out, doc, 0);
	return out;
}

ProgressBar::ProgressBar(FILE *out, int width)
	: out_(out), width_(width)
{
}

ProgressBar::~ProgressBar()
{
	finish();
}

void ProgressBar::update(std::string_view phase, double fraction)
{
	fraction = std::clamp(fraction, 0.0, 1.0);
	int filled = static_cast<int>(fraction * width_ + 0.5);
	/* \r plus erase-to-end: a shorter phase name must not leave a tail. */
	fmt::print(out_, "\r[{:#<{}}{:<{}}] {:3}% {}\x1b[K", "", filled, "", width_ - filled,
		   static_cast<int>(fraction * 100 + 0.5), phase);
	std::fflush(out_);
	drawn_ = true;
}

void ProgressBar::finish()
{
	if (!drawn_)
		return;
	fmt::print(out_, "\r\x1b[K");
	std::fflush(out_);
	drawn_ = false;
}

} // namespace kexecd
