// SPDX-License-Identifier: LGPL-2.1-or-later
#include "format.h"

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "errors.h"
#include "terminal.h"
#include "text.h"

namespace kexecd {

using nlohmann::json;

namespace {

/* The first of several JSON pointers that names a non-empty value: absent
 * keys simply leave their line out of the human view. */
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
	return jsonText(v);
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

	/* A row whose emptiness is the news (an empty command line). */
	void addEvenEmpty(std::string label, std::string value)
	{
		rows_.emplace_back(std::move(label), std::move(value));
	}

	std::string render() const
	{
		size_t width = 0;
		for (const auto &[label, value] : rows_)
			width = std::max(width, label.size());
		std::string out;
		for (const auto &[label, value] : rows_)
			out += value.empty() ? fmt::format("{:>{}}:\n", label, width)
					     : fmt::format("{:>{}}: {}\n", label, width, value);
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

/* Best first: what each verdict means for booting (kexecd(8) SIGNATURE
 * VERDICTS). "unknown" only the kernel can tell; the rest would not boot
 * under Secure Boot. */
int verdictRank(std::string_view verdict)
{
	constexpr std::string_view order[] = { "trusted", "unknown", "untrusted-signer",
					       "unsigned", "bad-signature", "revoked" };
	for (size_t i = 0; i < std::size(order); i++)
		if (verdict == order[i])
			return static_cast<int>(i);
	return 1; // a verdict this kexecctl does not know: doubtful, not good
}

Tone verdictTone(std::string_view verdict)
{
	const int rank = verdictRank(verdict);
	return rank == 0 ? Tone::Plain : rank == 1 ? Tone::Notice : Tone::Bad;
}

/* How an object of signatures.objects is named in a line: "uki",
 * "addon N", ".linux" (a UKI's kernel) or "kernel image", "parser
 * container". addon counts the addons seen so far. */
std::string objectLabel(const json &doc, const json &object, size_t &addon)
{
	const std::string what = text(object, { "/object" });
	/* A UKI's kernel object is its .linux; a plain kernel's, the image. */
	const bool plain = text(doc, { "/kind" }) == "kernel";
	return what == "addon"    ? fmt::format("addon {}", addon++)
	       : what == "kernel" ? std::string(plain ? "kernel image" : ".linux")
	       : what == "parser" ? std::string("parser container")
				  : what;
}

/* "verdict via anchor" or "verdict (reason)". */
std::string verdictText(const json &v, const FormatOptions &o)
{
	const std::string verdict = text(v, { "/verdict" });
	std::string line = paint(verdict, verdictTone(verdict), o.color);
	if (std::string anchor = text(v, { "/anchor" }); !anchor.empty())
		line += " via " + anchor;
	else if (std::string reason = text(v, { "/reason" }); !reason.empty())
		line += " (" + reason + ")";
	return line;
}

/* One line per object and verdict (the record's signatures.objects):
 * the firmware verdict (would shim boot it) for the UKI and each addon,
 * the kernel verdict (would kexec_file_load take it) for what the kernel
 * verifies in the scheme used. */
void addVerdicts(Block &block, const json &doc, const FormatOptions &o)
{
	const json *objects = find(doc, { "/signatures/objects" });
	if (!objects || !objects->is_array())
		return;
	size_t addon = 0;
	for (const json &obj : *objects) {
		const std::string label = objectLabel(doc, obj, addon);
		for (const char *which : { "/firmware", "/kernel" }) {
			const json *v = find(obj, { which });
			if (!v || !v->is_object())
				continue;
			block.add(fmt::format("{} verdict, {}", which[1] == 'f' ? "Firmware" : "Kernel", label),
				  verdictText(*v, o));
		}
	}
}

/* The Signature summary: the worst verdict of any object, and whose it is,
 * so one untrusted addon is not hidden behind a trusted UKI. Records
 * without signatures.objects: the UKI's (or image's) own verdict. */
std::string signatureSummary(const json &staged, const FormatOptions &o)
{
	std::string verdict = text(staged, { "/uki/signature/verdict", "/image/signature/verdict" });
	std::string signer = text(staged, { "/uki/signature/signer", "/image/signature/signer" });
	std::string detail = text(staged, { "/uki/signature/detail", "/image/signature/detail" });
	std::string line = paint(verdict, verdictTone(verdict), o.color);
	if (!verdict.empty() && !signer.empty())
		line += " by " + signer;
	if (!verdict.empty() && !detail.empty())
		line += " (" + detail + ")";

	if (const json *objects = find(staged, { "/signatures/objects" }); objects && objects->is_array()) {
		int worst = -1;
		size_t addon = 0;
		for (const json &obj : *objects) {
			const std::string label = objectLabel(staged, obj, addon);
			for (const char *which : { "/firmware", "/kernel" }) {
				const json *v = find(obj, { which });
				if (!v || !v->is_object())
					continue;
				const std::string seen = text(*v, { "/verdict" });
				if (verdictRank(seen) <= worst)
					continue;
				worst = verdictRank(seen);
				if (worst == 0)
					continue; // all trusted so far: the UKI's line above says by whom
				std::string why = text(*v, { "/reason" });
				std::string by = text(*v, { "/signer" });
				line = fmt::format("{}{}{} ({} verdict of {}{}{})", paint(seen, verdictTone(seen), o.color),
						   by.empty() ? "" : " by ", by, which[1] == 'f' ? "firmware" : "kernel",
						   label, why.empty() ? "" : ": ", why);
			}
		}
		if (worst == 0 && verdict.empty())
			line = "trusted";
	}
	if (std::string policy = text(staged, { "/signature_policy" }); !line.empty() && !policy.empty())
		line += ", policy " + policy;
	return line;
}

std::string addonList(const json &staged)
{
	const json *addons = find(staged, { "/addons" });
	if (!addons || !addons->is_array())
		return {};
	std::string s;
	for (const json &a : *addons) {
		std::string item = a.is_object() ? text(a, { "/path" }) : scalar(a);
		if (!s.empty())
			s += ", ";
		s += item;
	}
	return s;
}

/* What the kernel gets on the second fd in the BPF scheme, section by
 * section, so an operator can see exactly which bytes the parser reads. */
std::string containerTable(const json &staged, const FormatOptions &o)
{
	const json *sections = find(staged, { "/container/sections" });
	if (!sections || !sections->is_array() || sections->empty())
		return {};
	std::string out = "\n";
	if (o.legend) {
		out += "Image container (BPF scheme, second fd):\n";
		out += fmt::format("  {:<10} {:>10}  {}\n", "SECTION", "SIZE", "SHA256");
	}
	for (const json &s : *sections)
		out += fmt::format("  {:<10} {:>10}  {}\n", text(s, { "/name" }), text(s, { "/size" }),
				   text(s, { "/sha256" }));
	return out;
}

/* "a (x), b (y)" from the objects of an array. */
std::string joinList(const json &staged, const char *pointer, const char *field, const char *detail)
{
	std::string list;
	if (const json *items = find(staged, { pointer }); items && items->is_array())
		for (const json &i : *items) {
			std::string one = text(i, { field });
			if (std::string d = text(i, { detail }); !d.empty())
				one += " (" + d + ")";
			list += (list.empty() ? "" : ", ") + one;
		}
	return list;
}

void addStaged(Block &block, const json &staged, const FormatOptions &o)
{
	/* Records from before issue 15 have no kind: they are all UKIs. */
	block.add("Kind", text(staged, { "/kind" }).empty() ? "uki" : text(staged, { "/kind" }));
	std::string discovered = text(staged, { "/discovery/id" });
	if (std::string why = text(staged, { "/discovery/why" }); !discovered.empty() && !why.empty())
		discovered += " (" + why + ")";
	block.add("Entry", discovered);
	std::string image = text(staged, { "/image/path" });
	if (std::string format = text(staged, { "/image/format" }); !image.empty() && !format.empty())
		image += " (" + format + ")";
	block.add("Kernel image", image);
	block.add("Kernel version", text(staged, { "/image/version" }));
	block.add("Initrds", joinList(staged, "/initrds", "/path", "/sha256"));
	block.add("UKI", text(staged, { "/uki/path" }));
	block.add("OS", text(staged, { "/uki/os_release/pretty_name", "/uki/os_release/id" }));
	block.add("Kernel version", text(staged, { "/uki/uname" }));
	if (const json *sig = find(staged, { "/uki/pcrsig" }); sig && sig->is_boolean()) {
		const bool pkey = find(staged, { "/uki/pcrpkey" }) && staged.at(json::json_pointer("/uki/pcrpkey")) == true;
		if (*sig == true || pkey)
			block.add("PCR signature",
				  fmt::format("{} carried; a kexec boot never measures them (PCR 11 keeps this "
					      "boot's values)", *sig == true && pkey ? ".pcrsig and .pcrpkey"
								       : *sig == true ? ".pcrsig" : ".pcrpkey"));
	}

	std::string profile = text(staged, { "/profile/id", "/profile/title" });
	if (const json *index = find(staged, { "/profile/index" }))
		profile = profile.empty() ? "@" + scalar(*index) : profile + " (@" + scalar(*index) + ")";
	block.add("Profile", profile);
	block.add("Addons", addonList(staged));

	std::string scheme = text(staged, { "/scheme" });
	std::string why = text(staged, { "/scheme_reason" });
	if (!scheme.empty() && !why.empty())
		scheme += " (" + why + ")";
	block.add("Scheme", scheme);

	/* An empty command line is shown as such: the kernel gets nothing. */
	if (auto cmdline = staged.find("cmdline"); cmdline != staged.end() && cmdline->is_string())
		block.addEvenEmpty("Command line", cmdline->get<std::string>());

	block.add("Signature", signatureSummary(staged, o));
	addVerdicts(block, staged, o);

	block.add("Kernel SHA256", text(staged, { "/kernel/sha256" }));
	/* Records before issue 16 carry the composed initrd's own digest. */
	block.add("Initrd SHA256", text(staged, { "/initrd/sha256" }));
	/* The composed initrd, in systemd-stub's order: each part and where
	 * its bytes come from (a file, whose digest is above), or its own
	 * digest when kexecd generated it. */
	if (const json *parts = find(staged, { "/initrd/parts" }); parts && parts->is_array()) {
		std::string list;
		for (const json &p : *parts) {
			std::string item = p.is_string() ? p.get<std::string>() : text(p, { "/what" });
			if (const json *size = find(p, { "/size" }))
				item += " (" + scalar(*size) + " bytes" +
					(find(p, { "/from/file" }) ? "" : ", sha256 " + text(p, { "/sha256" }).substr(0, 12)) +
					")";
			list += (list.empty() ? "" : ", ") + item;
		}
		block.add("Initrd", text(staged, { "/initrd/size" }) + " bytes: " + list);
	}
	block.add("Devicetree", text(staged, { "/devicetree" }));
	/* Addons systemd-stub would not load either (Secure Boot). */
	if (const json *skipped = find(staged, { "/skipped_addons" }); skipped && skipped->is_array()) {
		std::string list;
		for (const json &a : *skipped)
			list += (list.empty() ? "" : ", ") + text(a, { "/path" }) + " (" + text(a, { "/verdict" }) + ")";
		block.add("Skipped addons", list);
	}
	block.add("Container SHA256", text(staged, { "/container/sha256" })); // records before issue 16
	if (const json *sections = find(staged, { "/container/sections" }); sections && sections->is_array()) {
		std::string list;
		for (const json &c : *sections)
			list += (list.empty() ? "" : ", ") + text(c, { "/name" }) + " " + text(c, { "/sha256" }).substr(0, 12);
		block.add("Container", text(staged, { "/container/size" }) + " bytes: " + list);
	}
	block.add("UKI SHA256", text(staged, { "/uki/sha256" }));
	block.add("Image SHA256", text(staged, { "/image/sha256" }));
	block.add("Staged at", text(staged, { "/staged_at" }));
}

void addSupport(Block &block, const json &support)
{
	std::string kexecFile = yesNo(find(support, { "/kexec_file" }));
	if (kexecFile == "yes" && yesNo(find(support, { "/load_disabled" })) == "yes")
		kexecFile += " (but kexec_load_disabled is set)";
	block.add("kexec_file_load", kexecFile);

	std::string bpf = yesNo(find(support, { "/bpf_parser" }));
	std::string detail = text(support, { "/detail" });
	std::string generation = text(support, { "/generation" });
	if (!bpf.empty() && !generation.empty())
		bpf += ", " + generation;
	std::string sigMode = text(support, { "/sig_mode" });
	if (!bpf.empty() && !sigMode.empty())
		bpf += ", sig_mode " + sigMode;
	if (!bpf.empty() && !detail.empty())
		bpf += " (" + detail + ")";
	block.add("BPF parser", bpf);

	block.add("Lockdown", text(support, { "/lockdown" }));
	block.add("Secure Boot", yesNo(find(support, { "/secure_boot" })));
}

/* The daemon's states (kexecctl(1) JSON OUTPUT): failed is bad, a kernel
 * someone else loaded is worth a look. */
Tone stateTone(std::string_view state)
{
	return state == "failed" ? Tone::Bad : state == "foreign" ? Tone::Notice : Tone::Plain;
}

/* The crash kernel's slot, apart from the reboot slot: what a panic would
 * start, and how much memory crashkernel= gave it. */
void addCrashSlot(Block &block, const json &describe, const FormatOptions &o)
{
	const json *crash = find(describe, { "/crash" });
	if (!crash || !crash->is_object())
		return;
	std::string state = text(*crash, { "/state" });
	const json *staged = find(*crash, { "/staged" });
	if (staged && staged->is_object() && !staged->empty()) {
		std::string what = text(*staged, { "/uki/path", "/image/path" });
		if (std::string uname = text(*staged, { "/uki/uname", "/image/version" }); !uname.empty())
			what += (what.empty() ? "" : ", ") + uname;
		if (!what.empty())
			state += " (" + what + ")";
	}
	block.add("Crash kernel", paint(state, stateTone(text(*crash, { "/state" })), o.color));
	if (staged && staged->is_object()) {
		block.add("Crash command line", text(*staged, { "/cmdline" }));
		block.add("Crash kernel SHA256", text(*staged, { "/kernel/sha256" }));
		block.add("Crash initrd SHA256", text(*staged, { "/initrd/sha256" }));
	}
	if (const json *size = find(describe, { "/kernel_support/crash_size" }); size && size->is_number()) {
		const uint64_t bytes = size->get<uint64_t>();
		block.add("Crash memory", bytes ? fmt::format("{} MiB reserved (crashkernel=)", bytes >> 20)
					       : std::string("none (boot with crashkernel= to stage a crash kernel)"));
	}
	block.add("Crash last error", paint(cliWords(text(*crash, { "/last_error" })), Tone::Bad, o.color));
}

} // namespace

namespace {

/* What logind answered the once-only capability probe. */
std::string rebootLine(const json &reboot)
{
	if (!reboot.value("probed", false))
		return "not known yet (systemd-logind has not answered)";
	if (!reboot.value("logind", false))
		return "systemd-logind is not running";
	std::string line = fmt::format("kexec {}, soft-reboot {}", reboot.value("kexec", false) ? "yes" : "no",
				       reboot.value("soft_reboot", false) ? "yes" : "no (needs systemd >= 254)");
	return line;
}

} // namespace

std::string formatStatus(const json &describe, const FormatOptions &o)
{
	Block block;
	const std::string state = text(describe, { "/state" });
	block.add("State", paint(state, stateTone(state), o.color));

	/* Idle: {} (no record, so no "Kind: uki" either). */
	const json *staged = find(describe, { "/staged" });
	if (staged && (!staged->is_object() || staged->empty()))
		staged = nullptr;
	if (staged)
		addStaged(block, *staged, o);

	block.add("Last error", paint(cliWords(text(describe, { "/last_error" })), Tone::Bad, o.color));

	const json *support = find(describe, { "/kernel_support" });
	if (support && support->is_object())
		addSupport(block, *support);
	addCrashSlot(block, describe, o);

	if (const json *reboot = find(describe, { "/reboot" }); reboot && reboot->is_object())
		block.add("Reboot via logind", rebootLine(*reboot));
	/* After a kexec the EFI variables (bootctl status, systemd-analyze)
	 * describe the firmware boot; kexecd says what this boot was. */
	block.add("This boot", text(describe, { "/booted/summary" }));
	block.add("Boot counting", text(describe, { "/booted/boot_counting" }));
	/* Issue 27: one line per volume a kexec would lock out. */
	if (const json *tpm2 = find(describe, { "/tpm2" }); tpm2 && tpm2->is_array())
		for (const json &v : *tpm2) {
			const std::string verdict = text(v, { "/verdict" });
			if (verdict != "needs_passphrase" && verdict != "unknown")
				continue;
			block.add("TPM2 after kexec", paint(fmt::format("'{}' would not unlock: {}", text(v, { "/volume" }),
									   cliWords(text(v, { "/reason" }))),
							    Tone::Bad, o.color));
		}
	block.add("kexecd version", text(describe, { "/version" }));
	return block.render() + (staged ? containerTable(*staged, o) : std::string());
}

std::string formatStaged(const json &staged, const FormatOptions &o)
{
	Block block;
	addStaged(block, staged, o);
	return block.render() + containerTable(staged, o);
}

std::vector<std::string> stagedWarnings(const json &staged)
{
	std::vector<std::string> warnings;
	if (!staged.is_object())
		return warnings;
	const std::string subject = text(staged, { "/uki/path", "/image/path" });
	if (const json *objects = find(staged, { "/signatures/objects" }); objects && objects->is_array()) {
		size_t addon = 0;
		for (const json &obj : *objects) {
			const std::string label = objectLabel(staged, obj, addon);
			std::string verdicts;
			bool trusted = true;
			for (const char *which : { "/firmware", "/kernel" }) {
				const json *v = find(obj, { which });
				if (!v || !v->is_object())
					continue;
				trusted = trusted && text(*v, { "/verdict" }) == "trusted";
				verdicts += fmt::format("{}{} verdict {}", verdicts.empty() ? "" : ", ",
							which[1] == 'f' ? "firmware" : "kernel", verdictText(*v, {}));
			}
			if (trusted)
				continue;
			std::string path = text(obj, { "/path" });
			const std::string what = text(obj, { "/object" });
			/* The kernel object of a UKI is its .linux: name the UKI. */
			if (what == "kernel" && text(staged, { "/kind" }) != "kernel" && !subject.empty())
				path = "of '" + subject + "'";
			else if (!path.empty())
				path = "'" + path + "'";
			std::string name = label == "uki" ? std::string("UKI") : label;
			warnings.push_back(fmt::format("{}{}{} is not trusted: {}", name, path.empty() ? "" : " ", path,
						       verdicts));
		}
	}
	if (auto cmdline = staged.find("cmdline");
	    cmdline != staged.end() && cmdline->is_string() && cmdline->get_ref<const std::string &>().empty())
		warnings.push_back(text(staged, { "/kind" }) == "kernel"
					   ? "the kernel was staged with an empty command line (no --append, "
					     "--command-line or --reuse-cmdline): it will not know its root file system"
					   : "the kernel was staged with an empty command line");
	return warnings;
}

namespace {

std::string profileLabel(const json &p)
{
	std::string label = "@" + text(p, { "/index" });
	if (std::string id = text(p, { "/id" }); !id.empty())
		label += " " + id;
	if (std::string title = text(p, { "/title" }); !title.empty())
		label += " \"" + title + "\"";
	return label;
}

std::string sizedHash(const json &part)
{
	std::string hash = text(part, { "/sha256" });
	std::string size = text(part, { "/size" });
	if (!hash.empty() && !size.empty())
		hash += " (" + size + " bytes)";
	return hash;
}

std::string sectionTable(const json &sections, const std::string &indent, bool legend)
{
	std::string out = legend ? fmt::format("{}{:<12} {:>10} {:>10}\n", indent, "NAME", "OFFSET", "SIZE") : "";
	for (const json &s : sections)
		out += fmt::format("{}{:<12} {:>10} {:>10}\n", indent, text(s, { "/name" }),
				   text(s, { "/offset" }), text(s, { "/size" }));
	return out;
}

} // namespace

std::string formatInspect(const json &doc, const FormatOptions &o)
{
	const json empty = json::object();
	const json *ukiPtr = find(doc, { "/uki" });
	const json &uki = ukiPtr ? *ukiPtr : empty;

	Block block;
	block.add("File", text(uki, { "/path" }));
	if (std::string size = text(uki, { "/size" }); !size.empty())
		block.add("Size", size + " bytes");
	block.add("SHA256", text(uki, { "/sha256" }));
	block.add("Machine", text(uki, { "/machine" }));
	block.add("OS", text(uki, { "/os_release/pretty_name", "/os_release/id" }));
	block.add("Kernel version", text(uki, { "/uname" }));
	block.add("Signature", signatureSummary(doc, o));
	addVerdicts(block, doc, o);

	std::string profiles;
	if (const json *list = find(uki, { "/profiles" }); list && list->is_array())
		for (const json &p : *list)
			profiles += (profiles.empty() ? "" : ", ") + profileLabel(p);
	block.add("Profiles", profiles);
	if (const json *p = find(doc, { "/profile" }); p && p->is_object())
		block.add("Selected profile", profileLabel(*p));

	if (const json *addons = find(doc, { "/addons" }); addons && addons->is_array()) {
		size_t i = 0;
		for (const json &a : *addons) {
			std::string line = text(a, { "/path" });
			if (std::string sig = text(a, { "/signature/verdict" }); !sig.empty())
				line += " (" + paint(sig, verdictTone(sig), o.color) + ")";
			block.add(fmt::format("Addon {}", i++), line);
		}
	}

	block.add("Command line", text(doc, { "/classic/cmdline" }));
	if (const json *k = find(doc, { "/classic/kernel" }))
		block.add("Kernel SHA256", sizedHash(*k));
	if (const json *i = find(doc, { "/classic/initrd" }))
		block.add("Initrd SHA256", sizedHash(*i));
	if (const json *c = find(doc, { "/container" })) {
		block.add("Container SHA256", sizedHash(*c));
		std::string ready = yesNo(find(*c, { "/bpf_ready" }));
		const std::string problem = text(*c, { "/bpf_problem" });
		if (!problem.empty())
			ready += " (" + problem + ")";
		block.add("BPF scheme ready", paint(ready, problem.empty() ? Tone::Plain : Tone::Notice, o.color));
	}

	std::string out = block.render() + containerTable(doc, o);
	if (const json *sections = find(uki, { "/sections" }); sections && sections->is_array()) {
		out += o.legend ? "\nSections:\n" : "\n";
		out += sectionTable(*sections, "  ", o.legend);
	}
	return out;
}

std::string formatList(const json &doc, const FormatOptions &o)
{
	Block head;
	head.add("ESP", text(doc, { "/esp" }));
	head.add("XBOOTLDR", text(doc, { "/xbootldr" }));
	std::string def = text(doc, { "/default" });
	if (std::string why = text(doc, { "/default_reason" }); !def.empty() && !why.empty())
		def += " (" + why + ")";
	head.add("Default", def.empty() ? "none" : def);
	std::string out = head.render();

	const json *entries = find(doc, { "/entries" });
	if (!entries || !entries->is_array() || entries->empty())
		return out + "\nNo boot entries found.\n";
	for (const json &e : *entries) {
		bool isDefault = e.value("default", false);
		out += fmt::format("\n{} {}\n", isDefault ? "*" : " ", text(e, { "/id" }));
		Block block;
		block.add("    Kind", fmt::format("{} ({})", text(e, { "/kind" }), text(e, { "/type" })));
		block.add("    Entry file", text(e, { "/entry_file" }));
		block.add("    Path", text(e, { "/path" }));
		if (const json *initrds = find(e, { "/initrds" }); initrds && initrds->is_array())
			for (const json &i : *initrds)
				block.add("    Initrd", scalar(i));
		block.add("    Options", text(e, { "/options" }));
		block.add("    Problem", paint(text(e, { "/problem" }), Tone::Bad, o.color));
		block.add("    Title", text(e, { "/title" }));
		block.add("    Version", text(e, { "/version" }));
		if (e.value("tries_left", -1) >= 0)
			block.add("    Tries", paint(fmt::format("{} left, {} done{}", e.value("tries_left", -1),
							      e.value("tries_done", -1), e.value("bad", false) ? " (bad)" : ""),
						  e.value("bad", false) ? Tone::Bad : Tone::Plain, o.color));
		block.add("    Addons", text(e, { "/addons" }));
		out += block.render();
	}
	if (const json *notes = find(doc, { "/notes" }); notes && notes->is_array())
		for (const json &n : *notes)
			out += "\nNote: " + scalar(n) + "\n";
	if (o.legend)
		out += fmt::format("\n{} {} listed.\n", entries->size(), entries->size() == 1 ? "entry" : "entries");
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
