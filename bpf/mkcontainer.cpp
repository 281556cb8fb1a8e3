// SPDX-License-Identifier: LGPL-2.1-or-later
// Build-machine tool: assemble and sign the parser container the kernel's
// kexec BPF loader expects on kernel_fd (KERNEL-ABI.md section 1):
//
//   ELF64 with sections .bpf.1 ... .bpf.N (alternative parsers for one layer,
//   each an ELF object exporting opts_data/opts_insn), optionally
//   .bpf.nested (a complete, separately signed container for the next
//   layer), .shstrtab last, nothing else; then an appended module signature.
//
// usage: mkcontainer --out FILE --key KEY.pem --cert CERT.pem
//                    [--nested OBJ.o]... OBJ.o [OBJ.o]...

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "elf_container.h"
#include "modsig.h"

namespace {

bool readFile(const std::string &path, std::vector<uint8_t> &out)
{
	std::ifstream f(path, std::ios::binary);
	if (!f)
		return false;
	out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
	return !f.bad();
}

bool readText(const std::string &path, std::string &out)
{
	std::ifstream f(path, std::ios::binary);
	if (!f)
		return false;
	out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
	return !f.bad();
}

kexecd::Result<std::vector<uint8_t>> buildSigned(const std::vector<std::vector<uint8_t>> &layer,
						 const std::vector<uint8_t> *nested,
						 const std::string &key, const std::string &cert)
{
	std::vector<kexecd::ElfSection> sections;
	for (size_t i = 0; i < layer.size(); i++)
		sections.push_back({ ".bpf." + std::to_string(i + 1), layer[i] });
	if (nested)
		sections.push_back({ ".bpf.nested", *nested });
	const std::vector<uint8_t> elf = kexecd::writeElfContainer(sections);
	return kexecd::appendModuleSignature(elf, key, cert);
}

int usage()
{
	std::fprintf(stderr, "usage: mkcontainer --out FILE --key KEY.pem --cert CERT.pem "
			     "[--nested OBJ.o]... OBJ.o [OBJ.o]...\n");
	return 2;
}

} // namespace

int main(int argc, char **argv)
{
	std::string out, keyPath, certPath;
	std::vector<std::string> objs, nestedObjs;

	for (int i = 1; i < argc; i++) {
		const std::string a = argv[i];
		if ((a == "--out" || a == "--key" || a == "--cert" || a == "--nested") && i + 1 < argc) {
			const std::string v = argv[++i];
			if (a == "--out")
				out = v;
			else if (a == "--key")
				keyPath = v;
			else if (a == "--cert")
				certPath = v;
			else
				nestedObjs.push_back(v);
		} else if (!a.empty() && a[0] != '-') {
			objs.push_back(a);
		} else {
			return usage();
		}
	}
	/* The kernel accepts .bpf.1 ... .bpf.8 (single digit, no gaps). */
	if (out.empty() || keyPath.empty() || certPath.empty() || objs.empty() || objs.size() > 8 ||
	    nestedObjs.size() > 8)
		return usage();

	std::string key, cert;
	if (!readText(keyPath, key) || !readText(certPath, cert)) {
		std::fprintf(stderr, "mkcontainer: cannot read key or certificate\n");
		return 1;
	}
	auto load = [](const std::vector<std::string> &paths, std::vector<std::vector<uint8_t>> &blobs) {
		for (const auto &p : paths) {
			std::vector<uint8_t> b;
			if (!readFile(p, b) || b.size() < 4 || std::memcmp(b.data(), "\x7f" "ELF", 4) != 0) {
				std::fprintf(stderr, "mkcontainer: '%s' is not a readable ELF object\n", p.c_str());
				return false;
			}
			blobs.push_back(std::move(b));
		}
		return true;
	};
	std::vector<std::vector<uint8_t>> layer, nestedLayer;
	if (!load(objs, layer) || !load(nestedObjs, nestedLayer))
		return 1;

	std::vector<uint8_t> nested;
	if (!nestedLayer.empty()) {
		/* A nested container is validated (and signature-checked) on its own. */
		auto n = buildSigned(nestedLayer, nullptr, key, cert);
		if (!n) {
			std::fprintf(stderr, "mkcontainer: %s\n", n.error().message.c_str());
			return 1;
		}
		nested = std::move(*n);
	}
	auto signedContainer = buildSigned(layer, nestedLayer.empty() ? nullptr : &nested, key, cert);
	if (!signedContainer) {
		std::fprintf(stderr, "mkcontainer: %s\n", signedContainer.error().message.c_str());
		return 1;
	}
	std::ofstream f(out, std::ios::binary | std::ios::trunc);
	f.write(reinterpret_cast<const char *>(signedContainer->data()),
		static_cast<std::streamsize>(signedContainer->size()));
	if (!f) {
		std::fprintf(stderr, "mkcontainer: cannot write '%s'\n", out.c_str());
		return 1;
	}
	return 0;
}
