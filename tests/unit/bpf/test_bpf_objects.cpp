// SPDX-License-Identifier: LGPL-2.1-or-later
// Open each built BPF parser object with libbpf (no load, no CAP_BPF): the
// shape the kernel's fixed light skeleton expects must be there.

#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <cstdlib>
#include <vector>
#include <string>

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

namespace {

/* The built objects, ':'-separated in KEXECD_BPF_OBJECTS (meson appends
 * its own gtest arguments, so argv is not ours). */
std::vector<std::string> objects()
{
	std::vector<std::string> out;
	const char *env = std::getenv("KEXECD_BPF_OBJECTS");
	std::string s = env ? env : "";
	size_t pos;
	while (!s.empty()) {
		pos = s.find(':');
		out.push_back(s.substr(0, pos));
		s = pos == std::string::npos ? "" : s.substr(pos + 1);
	}
	return out;
}

struct ObjectClose {
	void operator()(bpf_object *o) const { bpf_object__close(o); }
};

void checkObject(const char *path)
{
	SCOPED_TRACE(path);
	bpf_object *raw = bpf_object__open_file(path, nullptr);
	ASSERT_NE(raw, nullptr);
	ASSERT_EQ(libbpf_get_error(raw), 0);
	std::unique_ptr<bpf_object, ObjectClose> obj(raw);

	/* exactly one program, on the anchor, sleepable fentry */
	int programs = 0;
	bpf_program *prog;
	bpf_object__for_each_program(prog, obj.get()) {
		programs++;
		EXPECT_STREQ(bpf_program__section_name(prog), "fentry.s/kexec_image_parser_anchor");
		EXPECT_EQ(bpf_program__type(prog), BPF_PROG_TYPE_TRACING);
		EXPECT_EQ(bpf_program__expected_attach_type(prog), BPF_TRACE_FENTRY);
	}
	EXPECT_EQ(programs, 1);

	/* ringbuf_1..4 (valid sizes) and the four data sections, nothing else */
	std::set<std::string> maps;
	bpf_map *map;
	bpf_object__for_each_map(map, obj.get()) {
		const std::string name = bpf_map__name(map);
		maps.insert(name.substr(name.find('.') == std::string::npos ? 0 : name.find('.')));
		if (name.rfind("ringbuf_", 0) == 0) {
			EXPECT_EQ(bpf_map__type(map), BPF_MAP_TYPE_RINGBUF) << name;
			const unsigned size = bpf_map__max_entries(map);
			EXPECT_EQ(size & (size - 1), 0u) << name << " size must be a power of two";
			/* a page multiple on 4K, 16K and 64K-page kernels */
			EXPECT_EQ(size % 65536, 0u) << name << " size must be a multiple of 64 KiB";
		}
	}
	const std::set<std::string> want = { "ringbuf_1", "ringbuf_2", "ringbuf_3", "ringbuf_4",
					     ".rodata", ".data", ".rodata.str1.1", ".bss" };
	EXPECT_EQ(maps, want);

	const btf *b = bpf_object__btf(obj.get());
	EXPECT_NE(b, nullptr) << "object must carry BTF (CO-RE relocations)";
	EXPECT_GE(btf__find_by_name_kind(b, "kexec_context", BTF_KIND_STRUCT), 0);
	for (const char *kfunc : { "bpf_get_parser_context", "bpf_put_parser_context", "bpf_buffer_parser" })
		EXPECT_GE(btf__find_by_name_kind(b, kfunc, BTF_KIND_FUNC), 0) << kfunc;
}

} // namespace

TEST(BpfObjects, ShapeMatchesTheKernelSkeleton)
{
	const auto objs = objects();
	ASSERT_FALSE(objs.empty()) << "KEXECD_BPF_OBJECTS names no object";
	for (const auto &o : objs)
		checkObject(o.c_str());
}

namespace {

/* The "license" section's bytes, read with a minimal ELF64 parser (libbpf
 * 1.1 has no public license getter). */
std::string licenseOf(const char *path)
{
	std::ifstream f(path, std::ios::binary);
	std::string elf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
	auto rd = [&elf](size_t off, size_t n) -> uint64_t {
		uint64_t v = 0;
		if (off + n > elf.size())
			return 0;
		for (size_t i = 0; i < n; i++)
			v |= uint64_t{ static_cast<uint8_t>(elf[off + i]) } << (8 * i);
		return v;
	};
	if (elf.size() < 64 || elf.compare(0, 4, "\x7f" "ELF") != 0)
		return {};
	const uint64_t shoff = rd(40, 8), shnum = rd(60, 2), shstrndx = rd(62, 2);
	const uint64_t strOff = rd(shoff + shstrndx * 64 + 24, 8);
	for (uint64_t i = 0; i < shnum; i++) {
		const uint64_t h = shoff + i * 64;
		const uint64_t name = strOff + rd(h, 4);
		if (name < elf.size() && elf.compare(name, 8, std::string("license\0", 8)) == 0) {
			const uint64_t off = rd(h + 24, 8), size = rd(h + 32, 8);
			if (off + size <= elf.size())
				return elf.substr(off, size);
		}
	}
	return {};
}

} // namespace

TEST(BpfObjects, LicenseIsGpl)
{
	const auto objs = objects();
	ASSERT_FALSE(objs.empty());
	for (const auto &o : objs)
		EXPECT_EQ(licenseOf(o.c_str()), std::string("GPL\0", 4)) << o;
}
