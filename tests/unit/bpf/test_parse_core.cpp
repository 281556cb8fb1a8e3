// SPDX-License-Identifier: LGPL-2.1-or-later
// The BPF parsers' parsing core (bpf/parse_core.h) run on the host: image
// containers in, command stream out, replayed into the kernel model
// (bpf/kernel_model.c); then compared with the classic composition of the
// engine for every fixture.

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zlib.h>

#include "compose.h"
#include "elf_container.h"
#include "kernel_model.h"
#include "parse_core.h"
#include "pe.h"
#include "uki.h"
#include "zboot.h"

#include "pc_test_util.h"

using namespace pctest;


TEST(ParseCore, SimpleUkiReassembles)
{
	const Outcome o = run(makeContainer({ simpleUki() }));
	ASSERT_TRUE(o.ok()) << errName(o.parseError) << " / " << o.kernelError;
	EXPECT_EQ(o.kernel, kKernel);
	EXPECT_EQ(o.initrd, kInitrd);
	EXPECT_EQ(o.cmdline, cstr("console=ttyS0 quiet"));
	EXPECT_EQ(o.commands, 4u);
}

TEST(ParseCore, CommandStreamWireFormat)
{
	const Bytes img = makeContainer({ simpleUki("a=1") });
	pc_buf buf{ img.data(), img.size() };
	auto st = std::make_unique<pc_state>();
	ASSERT_EQ(pc_uki_plan(&buf, st.get()), 0);
	ASSERT_EQ(st->ncmd, 4u);

	struct Want {
		uint16_t cmd;
		uint8_t subcmd, pipeline;
		Bytes payload;
	} want[] = {
		{ KEXEC_BPF_CMD_COPY, KEXEC_BPF_SUBCMD_KERNEL, KEXEC_BPF_PIPELINE_FILL, kKernel },
		{ KEXEC_BPF_CMD_COPY, KEXEC_BPF_SUBCMD_INITRD, 0, kInitrd },
		{ KEXEC_BPF_CMD_COPY, KEXEC_BPF_SUBCMD_CMDLINE, 0, cstr("a=1") },
		{ KEXEC_BPF_CMD_DONE, 0, 0, {} },
	};
	for (unsigned i = 0; i < 4; i++) {
		Bytes rec(KEXEC_CMD_HDR_SIZE + st->cmd[i].total, 0xee);
		const long n = pc_emit(&buf, st.get(), &st->cmd[i], rec.data());
		ASSERT_EQ(n, static_cast<long>(KEXEC_CMD_HDR_SIZE + want[i].payload.size()));
		/* post-v7 header: cmd u16 LE, subcmd u8, pipeline u8, payload_len u32 LE, num_chunks u16 = 0 */
		EXPECT_EQ(rec[0], want[i].cmd & 0xff);
		EXPECT_EQ(rec[1], want[i].cmd >> 8);
		EXPECT_EQ(rec[2], want[i].subcmd);
		EXPECT_EQ(rec[3], want[i].pipeline);
		EXPECT_EQ(pc_le32(&rec[4]), want[i].payload.size());
		EXPECT_EQ(rec[8], 0);
		EXPECT_EQ(rec[9], 0);
		EXPECT_EQ(Bytes(rec.begin() + KEXEC_CMD_HDR_SIZE, rec.begin() + n), want[i].payload);
	}
}

TEST(ParseCore, AddonsComposeLikeSystemdStub)
{
	const Bytes u0 = bytesOf("UCODE-uki"), u1 = bytesOf("UCODE-a1"), u2 = bytesOf("UCODE-a2");
	const Bytes i1 = bytesOf("INITRD-a1"), i2 = bytesOf("INITRD-a2");
	const Bytes uki = makePe({ { ".cmdline", bytesOf(" base=1\n") },
				   { ".linux", kKernel },
				   { ".ucode", u0 },
				   { ".initrd", kInitrd } });
	const Bytes a1 = makePe({ { ".cmdline", bytesOf("a1=1") }, { ".initrd", i1 }, { ".ucode", u1 } });
	const Bytes a2 = makePe({ { ".ucode", u2 }, { ".initrd", i2 } }); /* no cmdline */
	const Bytes a3 = makePe({ { ".cmdline", bytesOf(std::string_view("a3=1\0ignored", 12)) } });

	const Outcome o = run(makeContainer({ uki, a1, a2, a3 }));
	ASSERT_TRUE(o.ok()) << errName(o.parseError);
	EXPECT_EQ(o.kernel, kKernel);
	/* ucode: last addon first, the UKI's last; then UKI initrd, addons' in order */
	EXPECT_EQ(o.initrd, cat({ u2, u1, u0, kInitrd, i1, i2 }));
	EXPECT_EQ(o.cmdline, cstr("base=1 a1=1 a3=1"));
}

TEST(ParseCore, ImaSectionsAreAccepted)
{
	const Bytes addon = makePe({ { ".cmdline", bytesOf("x=1") } });
	const Outcome o = run(makeContainer({ { simpleUki("a"), bytesOf("\x03\x02ima") },
					      { addon, bytesOf("\x03\x02ima2") } }));
	ASSERT_TRUE(o.ok()) << errName(o.parseError);
	EXPECT_EQ(o.cmdline, cstr("a x=1"));
}

TEST(ParseCore, AddonWithLinuxIsRefused)
{
	const Bytes addon = makePe({ { ".linux", bytesOf("evil") }, { ".cmdline", bytesOf("y=1") } });
	EXPECT_PARSE_ERROR(run(makeContainer({ simpleUki(), addon })), PC_E_ADDON_LINUX);
}

TEST(ParseCore, AddonWithProfileIsRefused)
{
	const Bytes addon = makePe({ { ".profile", bytesOf("ID=x") }, { ".cmdline", bytesOf("y=1") } });
	EXPECT_PARSE_ERROR(run(makeContainer({ simpleUki(), addon })), PC_E_PROFILE);
}

namespace {

Bytes profileUki()
{
	return makePe({ { ".cmdline", bytesOf("base=1") },
			{ ".initrd", kInitrd },
			{ ".linux", kKernel },
			{ ".profile", bytesOf("ID=default") },
			{ ".profile", bytesOf("ID=debug") },
			{ ".cmdline", bytesOf("base=1 debug") },
			{ ".profile", bytesOf("ID=other") },
			{ ".initrd", bytesOf("OTHER-INITRD") },
			{ ".linux", bytesOf("OTHER-KERNEL") } });
}

} // namespace

TEST(ParseCore, ProfilesOverlayTheBase)
{
	const Bytes uki = profileUki();
	{
		/* no .select: base only */
		const Outcome o = run(makeContainer({ uki }));
		ASSERT_TRUE(o.ok()) << errName(o.parseError);
		EXPECT_EQ(o.cmdline, cstr("base=1"));
	}
	{
		const Outcome o = run(makeContainer({ uki }, "0"));
		ASSERT_TRUE(o.ok());
		EXPECT_EQ(o.cmdline, cstr("base=1"));
		EXPECT_EQ(o.kernel, kKernel);
	}
	{
		const Outcome o = run(makeContainer({ uki }, "1"));
		ASSERT_TRUE(o.ok());
		EXPECT_EQ(o.cmdline, cstr("base=1 debug"));
		EXPECT_EQ(o.initrd, kInitrd);
	}
	{
		const Outcome o = run(makeContainer({ uki }, std::string("2\n")));
		ASSERT_TRUE(o.ok());
		EXPECT_EQ(o.cmdline, cstr("base=1"));
		EXPECT_EQ(o.initrd, bytesOf("OTHER-INITRD"));
		EXPECT_EQ(o.kernel, bytesOf("OTHER-KERNEL"));
	}
	EXPECT_PARSE_ERROR(run(makeContainer({ uki }, "3")), PC_E_PROFILE);
	/* profile 0 of a UKI without profiles is its base */
	EXPECT_TRUE(run(makeContainer({ simpleUki() }, "0")).ok());
	EXPECT_PARSE_ERROR(run(makeContainer({ simpleUki() }, "1")), PC_E_PROFILE);
}

TEST(ParseCore, MalformedSelect)
{
	const Bytes uki = profileUki();
	for (std::string s : { std::string(), std::string("x"), std::string("1234"), std::string("-1"),
			       std::string("1 "), std::string("\n"), std::string("1\n2"),
			       std::string("1\0\0", 3) }) {
		SCOPED_TRACE("'" + s + "'");
		EXPECT_PARSE_ERROR(run(makeContainer({ uki }, s)), PC_E_SELECT);
	}
	EXPECT_TRUE(run(makeContainer({ uki }, std::string("1\0", 2))).ok());

	/* .select must follow the last PE, once */
	const Bytes addon = makePe({ { ".cmdline", bytesOf("x") } });
	const Bytes base = simpleUki(), zero = bytesOf("0");
	std::vector<kexecd::ElfSection> secs = { { ".pe.1", base }, { ".select", zero }, { ".pe.2", addon } };
	EXPECT_PARSE_ERROR(run(kexecd::writeElfContainer(secs)), PC_E_SECTION);
	secs = { { ".pe.1", base }, { ".select", zero }, { ".select", zero } };
	EXPECT_PARSE_ERROR(run(kexecd::writeElfContainer(secs)), PC_E_SECTION);
}

TEST(ParseCore, DuplicateSectionInOneScope)
{
	const Bytes uki = makePe({ { ".linux", kKernel }, { ".initrd", kInitrd }, { ".cmdline", bytesOf("a") },
				   { ".cmdline", bytesOf("b") } });
	EXPECT_PARSE_ERROR(run(makeContainer({ uki })), PC_E_DUPLICATE);
}

TEST(ParseCore, CmdlineEdgeCases)
{
	/* whitespace only, NUL first, no .cmdline at all: empty cmdline = "\0" */
	for (const Bytes &c : { bytesOf(" \t\r\n "), Bytes{ 0, 'x' }, Bytes{} }) {
		const Bytes uki = makePe({ { ".linux", kKernel }, { ".initrd", kInitrd }, { ".cmdline", c } });
		const Outcome o = run(makeContainer({ uki }));
		ASSERT_TRUE(o.ok()) << errName(o.parseError);
		EXPECT_EQ(o.cmdline, Bytes{ 0 });
	}
	/* 4095 characters + NUL fit, one more does not */
	const std::string longest(PC_CMDLINE_MAX - 1, 'x');
	EXPECT_TRUE(run(makeContainer({ simpleUki(longest) })).ok());
	EXPECT_PARSE_ERROR(run(makeContainer({ simpleUki(longest + "y") })), PC_E_TOO_BIG);
	/* past the scan window without a NUL: cannot be measured */
	EXPECT_PARSE_ERROR(run(makeContainer({ simpleUki(longest + "yz") })), PC_E_CMDLINE);
	/* the join counts too */
	const Bytes addon = makePe({ { ".cmdline", bytesOf("z") } });
	EXPECT_TRUE(run(makeContainer({ simpleUki(std::string(PC_CMDLINE_MAX - 3, 'x')), addon })).ok());
	EXPECT_PARSE_ERROR(run(makeContainer({ simpleUki(std::string(PC_CMDLINE_MAX - 2, 'x')), addon })),
			   PC_E_TOO_BIG);
	/* a long section is fine when the text ends early */
	Bytes padded = bytesOf("short");
	padded.resize(PC_CMDLINE_MAX * 3, 0);
	const Bytes uki = makePe({ { ".linux", kKernel }, { ".initrd", kInitrd }, { ".cmdline", padded } });
	const Outcome o = run(makeContainer({ uki }));
	ASSERT_TRUE(o.ok());
	EXPECT_EQ(o.cmdline, cstr("short"));
}

TEST(ParseCore, KernelSideRequirements)
{
	EXPECT_PARSE_ERROR(run(makeContainer({ makePe({ { ".initrd", kInitrd } }) })), PC_E_NO_KERNEL);
	EXPECT_PARSE_ERROR(run(makeContainer({ makePe({ { ".linux", {} }, { ".initrd", kInitrd } }) })),
			   PC_E_NO_KERNEL);
	EXPECT_PARSE_ERROR(run(makeContainer({ makePe({ { ".linux", kKernel } }) })), PC_E_NO_INITRD);
	/* an addon's initrd is enough */
	const Bytes addon = makePe({ { ".initrd", kInitrd } });
	EXPECT_TRUE(run(makeContainer({ makePe({ { ".linux", kKernel } }), addon })).ok());
}

TEST(ParseCore, VirtualSizeBoundsThePayload)
{
	/* VirtualSize smaller than the data: only VirtualSize bytes; 0: SizeOfRawData */
	Bytes k = kKernel;
	const Bytes uki = makePe({ { ".linux", k, 5 }, { ".initrd", kInitrd } });
	const Outcome o = run(makeContainer({ uki }));
	ASSERT_TRUE(o.ok());
	EXPECT_EQ(o.kernel, Bytes(k.begin(), k.begin() + 5));
}

TEST(ParseCore, ContainerStructureErrors)
{
	const Bytes good = makeContainer({ simpleUki() });
	ASSERT_TRUE(run(good).ok());

	EXPECT_PARSE_ERROR(run(Bytes{}), PC_E_SHORT);
	EXPECT_PARSE_ERROR(run(Bytes(good.begin(), good.begin() + 63)), PC_E_SHORT);
	Bytes b = good;
	b[0] = 'X';
	EXPECT_PARSE_ERROR(run(b), PC_E_MAGIC);
	b = good;
	b[4] = 1; /* ELFCLASS32 */
	EXPECT_PARSE_ERROR(run(b), PC_E_MAGIC);
	b = good;
	b[5] = 2; /* big endian */
	EXPECT_PARSE_ERROR(run(b), PC_E_MAGIC);
	b = good;
	put32(b, 40, 0xfffffff0); /* e_shoff past the end */
	EXPECT_PARSE_ERROR(run(b), PC_E_ELF);
	b = good;
	put16(b, 62, 0); /* e_shstrndx = null section */
	EXPECT_PARSE_ERROR(run(b), PC_E_ELF);
	b = good;
	put16(b, 58, 40); /* e_shentsize */
	EXPECT_PARSE_ERROR(run(b), PC_E_ELF);

	/* naming */
	auto named = [](std::vector<std::string> names) {
		std::vector<Bytes> keep;
		std::vector<kexecd::ElfSection> secs;
		const Bytes uki = simpleUki();
		for (const auto &n : names)
			secs.push_back({ n, uki });
		return kexecd::writeElfContainer(secs);
	};
	EXPECT_PARSE_ERROR(run(named({ ".pe.2" })), PC_E_SECTION);
	EXPECT_PARSE_ERROR(run(named({ ".pe.1", ".pe.3" })), PC_E_SECTION);
	EXPECT_PARSE_ERROR(run(named({ ".pe.01" })), PC_E_SECTION);
	EXPECT_PARSE_ERROR(run(named({ ".uki" })), PC_E_SECTION);
	EXPECT_PARSE_ERROR(run(named({ ".ima", ".pe.1" })), PC_E_SECTION);
	EXPECT_PARSE_ERROR(run(named({ ".pe.1", ".ima", ".ima" })), PC_E_SECTION);
	EXPECT_PARSE_ERROR(run(named({})), PC_E_NO_PE);

	/* 15 sections are read, a 16th is refused rather than ignored */
	const Bytes addon = makePe({ { ".cmdline", bytesOf("x") } });
	std::vector<Bytes> pes{ simpleUki() };
	for (int i = 0; i < 14; i++)
		pes.push_back(addon);
	EXPECT_TRUE(run(makeContainer(pes)).ok());
	pes.push_back(addon);
	EXPECT_PARSE_ERROR(run(makeContainer(pes)), PC_E_TOO_MANY);

	/* empty PE */
	std::vector<kexecd::ElfSection> secs{ { ".pe.1", {} } };
	EXPECT_PARSE_ERROR(run(kexecd::writeElfContainer(secs)), PC_E_BOUNDS);
}

TEST(ParseCore, PeStructureErrors)
{
	const Bytes good = simpleUki();
	auto withPe = [](const Bytes &pe) { return run(makeContainer({ pe })); };
	Bytes b = good;
	b[1] = 'X';
	EXPECT_PARSE_ERROR(withPe(b), PC_E_PE);
	b = good;
	put32(b, 0x3c, 0x7fffffff);
	EXPECT_PARSE_ERROR(withPe(b), PC_E_PE);
	b = good;
	b[0x40 + 1] = 'X'; /* PE signature */
	EXPECT_PARSE_ERROR(withPe(b), PC_E_PE);
	b = good;
	put16(b, 0x40 + 6, 0); /* no sections */
	EXPECT_PARSE_ERROR(withPe(b), PC_E_PE);
	b = good;
	put16(b, 0x40 + 6, 33);
	EXPECT_PARSE_ERROR(withPe(b), PC_E_TOO_MANY);
	b = good;
	put16(b, 0x40 + 20, 0xfff0); /* optional header runs past the file */
	EXPECT_PARSE_ERROR(withPe(b), PC_E_PE);
	/* section data outside the PE */
	b = good;
	const size_t table = 0x40 + 24 + 0xf0;
	put32(b, table + 2 * 40 + 20, 0x7ffffff0); /* .linux PointerToRawData */
	EXPECT_PARSE_ERROR(withPe(b), PC_E_PE_SECTION);
	b = good;
	put32(b, table + 2 * 40 + 16, 0x7ffffff0); /* .linux SizeOfRawData */
	put32(b, table + 2 * 40 + 8, 0);
	EXPECT_PARSE_ERROR(withPe(b), PC_E_PE_SECTION);
	b = good;
	put32(b, table + 3 * 40 + 20, pc_le32(&b[table + 2 * 40 + 20])); /* .initrd on top of .linux */
	EXPECT_PARSE_ERROR(withPe(b), PC_E_PE_SECTION);
	b = good;
	put32(b, table + 0 * 40 + 16, 0x7ffffff0); /* an ignored section (.osrel) out of bounds */
	EXPECT_PARSE_ERROR(withPe(b), PC_E_PE_SECTION);
	/* truncated PE */
	EXPECT_PARSE_ERROR(withPe(Bytes(good.begin(), good.begin() + 40)), PC_E_PE);
}

/* Every prefix and many single-byte corruptions of valid containers: each
 * must either parse to a consistent result or fail cleanly (ASan/UBSan watch
 * for out-of-bounds reads). */
TEST(ParseCore, TruncationAndCorruptionNeverCrash)
{
	const Bytes addon = makePe({ { ".cmdline", bytesOf("a=1") }, { ".initrd", bytesOf("AI") },
				     { ".ucode", bytesOf("AU") } });
	const Bytes img = makeContainer({ { profileUki(), bytesOf("ima") }, { addon, {} } }, "1");
	ASSERT_TRUE(run(img).ok());

	for (size_t n = 0; n < img.size(); n += (n < 1024 ? 1 : 97)) {
		Bytes t(img.begin(), img.begin() + n);
		const Outcome o = run(t);
		EXPECT_FALSE(o.ok()) << "prefix " << n;
	}
	uint32_t seed = 12345;
	auto rnd = [&seed]() {
		seed = seed * 1103515245 + 12345;
		return seed >> 8;
	};
	unsigned okCount = 0;
	for (int i = 0; i < 3000; i++) {
		Bytes t = img;
		const unsigned flips = 1 + rnd() % 3;
		for (unsigned f = 0; f < flips; f++) {
			/* bias towards headers, where the structure is */
			const size_t pos = (rnd() % 4 == 0) ? rnd() % t.size() : rnd() % std::min<size_t>(t.size(), 1024);
			t[pos] = static_cast<uint8_t>(rnd());
		}
		/* and the container's section table at the end */
		t[t.size() - 1 - rnd() % 64 * 7 % t.size()] ^= static_cast<uint8_t>(1u << (rnd() % 8));
		const Outcome o = run(t);
		if (o.ok()) {
			okCount++;
			EXPECT_FALSE(o.kernel.empty());
			ASSERT_FALSE(o.cmdline.empty());
			EXPECT_EQ(o.cmdline.back(), 0);
		} else {
			EXPECT_EQ(o.commands, 0u);
		}
	}
	EXPECT_GT(okCount, 0u); /* some flips hit payload bytes only */
}

/* --- zboot nested layer ---------------------------------------------- */


TEST(ParseCore, ZbootInsideUkiNestedLayerDecompresses)
{
	const Bytes vmlinux = bigPayload();
	const Bytes zb = makeZboot(gzip(vmlinux));
	const Bytes uki = makePe({ { ".linux", zb }, { ".initrd", kInitrd }, { ".cmdline", bytesOf("c") } });
	const Bytes img = makeContainer({ uki });

	const Outcome nested = run(img, true);
	ASSERT_TRUE(nested.ok()) << errName(nested.parseError) << " / " << nested.kernelError;
	EXPECT_EQ(nested.kernel, vmlinux);
	EXPECT_EQ(nested.initrd, kInitrd);
	EXPECT_EQ(nested.cmdline, cstr("c"));

	/* x86_64 container (no .bpf.nested): the zboot PE stays as copied */
	const Outcome flat = run(img, false);
	ASSERT_TRUE(flat.ok());
	EXPECT_EQ(flat.kernel, zb);
}

TEST(ParseCore, NonZbootKernelPassesTheNestedLayer)
{
	const Outcome o = run(makeContainer({ simpleUki() }), true);
	ASSERT_TRUE(o.ok());
	EXPECT_EQ(o.kernel, kKernel);
}

TEST(ParseCore, BadZbootSizesFailTheNestedLayer)
{
	const Bytes zb = makeZboot(gzip(bigPayload()), 0x100000);
	const Bytes uki = makePe({ { ".linux", zb }, { ".initrd", kInitrd } });
	const Outcome o = run(makeContainer({ uki }), true);
	EXPECT_EQ(o.parseError, -PC_E_ZBOOT);

	/* a payload the kernel cannot decompress: the model refuses the command */
	const Bytes junk = makeZboot(bytesOf("not compressed at all"));
	const Outcome j = run(makeContainer({ makePe({ { ".linux", junk }, { ".initrd", kInitrd } }) }), true);
	EXPECT_EQ(j.parseError, 0);
	EXPECT_EQ(j.kernelError, -EINVAL);
}

/* --- kernel model semantics (KERNEL-ABI section 3) -------------------- */

namespace {

Bytes cmd(uint16_t c, uint8_t sub, uint8_t pipe, const Bytes &payload, uint16_t chunks = 0)
{
	Bytes b(KEXEC_CMD_HDR_SIZE);
	put16(b, 0, c);
	b[2] = sub;
	b[3] = pipe;
	put32(b, 4, payload.size());
	put16(b, 8, chunks);
	b.insert(b.end(), payload.begin(), payload.end());
	return b;
}

int handle(km_state &km, const Bytes &b)
{
	return km_handle(&km, b.data(), b.size());
}

} // namespace

TEST(KernelModel, CommandSemantics)
{
	km_state km;
	km_init(&km);
	const uint8_t C = KEXEC_BPF_CMD_COPY;
	EXPECT_EQ(handle(km, Bytes{ 1, 0, 0 }), -EINVAL);                       /* short header */
	EXPECT_EQ(km_handle(&km, nullptr, 0), -EINVAL);
	Bytes lying = cmd(C, KEXEC_BPF_SUBCMD_KERNEL, 0, bytesOf("abc"));
	put32(lying, 4, 100);
	EXPECT_EQ(handle(km, lying), -EINVAL);                                   /* payload_len > buffer */
	EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_KERNEL, 0, {})), -EINVAL);   /* empty kernel */
	EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_CMDLINE, 0, {})), -EINVAL);  /* empty cmdline */
	EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_INITRD, 0, {})), 0);         /* empty initrd ignored */
	EXPECT_EQ(handle(km, cmd(C, 0, 0, bytesOf("x"))), -EINVAL);               /* subcmd 0 (EC's bug) */
	EXPECT_EQ(handle(km, cmd(C, 9, 0, bytesOf("x"))), -EINVAL);
	EXPECT_EQ(handle(km, cmd(KEXEC_BPF_CMD_VERIFY_SIG, 0, 0, {})), -EINVAL);          /* VERIFY_SIG of nothing */
	EXPECT_EQ(handle(km, cmd(0, 0, 0, {})), -EINVAL);
	EXPECT_EQ(handle(km, cmd(77, 0, 0, {})), -EINVAL);
	EXPECT_EQ(handle(km, cmd(KEXEC_BPF_CMD_DECOMPRESS, KEXEC_BPF_SUBCMD_INITRD, 0, gzip(bytesOf("x")))),
		  -EINVAL);
	EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_KERNEL, 0, bytesOf("k"), 1)), -EINVAL); /* chunks */
	EXPECT_EQ(km_finish(&km), -EINVAL);

	/* COPY replaces, never concatenates */
	EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_KERNEL, 0, bytesOf("k1"))), 0);
	EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_KERNEL, 0, bytesOf("k2"))), 0);
	EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_INITRD, 0, bytesOf("i1"))), 0);
	EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_INITRD, 0, bytesOf("i2"))), 0);
	EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_CMDLINE, 0, bytesOf("c"))), 0);
	EXPECT_EQ(km_finish(&km), -EINVAL); /* not DONE yet */
	EXPECT_EQ(handle(km, cmd(KEXEC_BPF_CMD_DONE, 0, 0, {})), 0);
	ASSERT_EQ(km_finish(&km), 0);
	EXPECT_EQ(Bytes(km.kernel.data, km.kernel.data + km.kernel.size), bytesOf("k2"));
	EXPECT_EQ(Bytes(km.initrd.data, km.initrd.data + km.initrd.size), bytesOf("i2"));
	EXPECT_EQ(Bytes(km.cmdline.data, km.cmdline.data + km.cmdline.size), cstr("c")); /* NUL added */

	/* decompress replaces the kernel; PIPELINE_FILL queues, 16 slots */
	const Bytes v = bytesOf("decompressed kernel");
	EXPECT_EQ(handle(km, cmd(KEXEC_BPF_CMD_DECOMPRESS, KEXEC_BPF_SUBCMD_KERNEL, KEXEC_BPF_PIPELINE_FILL,
				 gzip(v))),
		  0);
	EXPECT_EQ(Bytes(km.kernel.data, km.kernel.data + km.kernel.size), v);
	EXPECT_EQ(km.nnext, 1u);
	for (int i = 1; i < KM_MAX_NEXT; i++)
		EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_KERNEL, KEXEC_BPF_PIPELINE_FILL, bytesOf("k"))), 0);
	EXPECT_EQ(handle(km, cmd(C, KEXEC_BPF_SUBCMD_KERNEL, KEXEC_BPF_PIPELINE_FILL, bytesOf("k"))), -ENOMEM);
	km_free(&km);
}

/* --- fixtures: byte-identical to the classic composition -------------- */

namespace {

std::optional<std::filesystem::path> fixtures()
{
	const char *dir = std::getenv("KEXECD_FIXTURES");
	if (!dir || !*dir)
		return std::nullopt;
	std::filesystem::path p(dir);
	if (!std::filesystem::exists(p / "uki.efi") || std::filesystem::exists(p / "UNAVAILABLE"))
		return std::nullopt;
	return p;
}

Bytes readFile(const std::filesystem::path &p)
{
	std::ifstream f(p, std::ios::binary);
	Bytes b(std::filesystem::file_size(p));
	f.read(reinterpret_cast<char *>(b.data()), static_cast<std::streamsize>(b.size()));
	return b;
}

struct Classic {
	Bytes kernel, initrd, cmdline;
};

/* What the classic scheme hands the kernel, from the engine's own functions. */
kexecd::Result<Classic> classic(const std::vector<Bytes> &files, std::optional<unsigned> profile)
{
	std::vector<kexecd::UkiImage> imgs;
	for (size_t i = 0; i < files.size(); i++) {
		auto pe = kexecd::PeFile::parse(files[i], "f" + std::to_string(i));
		if (!pe)
			return pe.takeError();
		auto img = kexecd::UkiImage::fromPe(std::move(*pe), "f" + std::to_string(i),
						    i ? kexecd::ImageRole::Addon : kexecd::ImageRole::Uki);
		if (!img)
			return img.takeError();
		imgs.push_back(std::move(*img));
	}
	std::vector<const kexecd::UkiImage *> addons;
	for (size_t i = 1; i < imgs.size(); i++) {
		auto fits = kexecd::checkAddonFits(imgs[0], imgs[i]);
		if (!fits)
			return fits.takeError();
		addons.push_back(&imgs[i]);
	}
	const kexecd::UkiProfile *prof = nullptr;
	if (profile) {
		auto p = imgs[0].findProfile(std::to_string(*profile));
		if (!p)
			return p.takeError();
		prof = *p;
	}
	const kexecd::SectionSet set = imgs[0].resolve(prof);
	Classic c;
	auto linux = set.find(".linux");
	if (linux == set.end())
		return kexecd::makeError(kexecd::Code::InvalidImage, "no .linux");
	c.kernel.assign(linux->second.begin(), linux->second.end());
	if (kexecd::probeZboot(linux->second)) {
		auto k = kexecd::unpackZboot(linux->second, "zboot");
		if (!k)
			return k.takeError();
		c.kernel = std::move(*k);
	}
	for (auto part : kexecd::initrdParts(set, addons))
		c.initrd.insert(c.initrd.end(), part.begin(), part.end());
	c.cmdline = cstr(kexecd::composeCmdline(set, addons, ""));
	return c;
}

struct Case {
	std::vector<std::string> files;
	std::optional<unsigned> profile;
	bool nested = false;
};

} // namespace

TEST(ParseCoreFixtures, MatchesClassicComposition)
{
	const auto dir = fixtures();
	if (!dir)
		GTEST_SKIP() << "fixtures not available (KEXECD_FIXTURES unset or UNAVAILABLE)";

	const Case cases[] = {
		{ { "uki.efi" }, {}, false },
		{ { "uki-ucode.efi" }, {}, false },
		{ { "uki.efi", "addon-cmdline.addon.efi" }, {}, false },
		{ { "uki.efi", "addon-initrd.addon.efi" }, {}, false },
		{ { "uki-ucode.efi", "addon-cmdline.addon.efi", "addon-initrd.addon.efi" }, {}, false },
		{ { "uki-profiles.efi" }, 0u, false },
		{ { "uki-profiles.efi" }, 1u, false },
		{ { "uki-profiles.efi", "addon-initrd.addon.efi" }, 2u, false },
		{ { "uki-zboot.efi" }, {}, true },
	};
	for (const Case &c : cases) {
		std::string label;
		std::vector<Bytes> files;
		for (const auto &f : c.files) {
			label += f + " ";
			files.push_back(readFile(*dir / f));
			ASSERT_FALSE(files.back().empty()) << f;
		}
		if (c.profile)
			label += "@" + std::to_string(*c.profile);
		SCOPED_TRACE(label);

		auto want = classic(files, c.profile);
		ASSERT_TRUE(want.ok()) << want.error().message;
		const Outcome got = run(makeContainer(files, c.profile ? std::optional(std::to_string(*c.profile))
								       : std::nullopt),
					c.nested);
		ASSERT_TRUE(got.ok()) << errName(got.parseError) << " / errno " << got.kernelError;
		EXPECT_TRUE(got.kernel == want->kernel)
			<< "kernel differs: " << got.kernel.size() << " vs " << want->kernel.size() << " bytes";
		EXPECT_TRUE(got.initrd == want->initrd) << "initrd differs";
		EXPECT_EQ(std::string(got.cmdline.begin(), got.cmdline.end()),
			  std::string(want->cmdline.begin(), want->cmdline.end()));
	}
}

TEST(ParseCoreFixtures, RefusedOnesEmitNothing)
{
	const auto dir = fixtures();
	if (!dir)
		GTEST_SKIP() << "fixtures not available";

	/* the addon rules and every malformed PE as the UKI or as an addon */
	EXPECT_PARSE_ERROR(run(makeContainer({ readFile(*dir / "uki.efi"), readFile(*dir / "addon-linux.addon.efi") })),
			   PC_E_ADDON_LINUX);
	EXPECT_EQ(run(makeContainer({ readFile(*dir / "uki-bad-zboot.efi") }), true).parseError, -PC_E_ZBOOT);
	EXPECT_PARSE_ERROR(run(makeContainer({ readFile(*dir / "uki-noinitrd.efi") })), PC_E_NO_INITRD);

	unsigned n = 0;
	for (const auto &e : std::filesystem::directory_iterator(*dir)) {
		const std::string name = e.path().filename().string();
		if (name.rfind("bad-", 0) != 0)
			continue;
		const Bytes bad = readFile(e.path());
		SCOPED_TRACE(name);
		if (bad.empty()) {
			/* an empty section cannot even be a .pe.N */
			EXPECT_PARSE_ERROR(run(makeContainer({ bad })), PC_E_BOUNDS);
			continue;
		}
		const Outcome asUki = run(makeContainer({ bad }), true);
		const Outcome asAddon = run(makeContainer({ readFile(*dir / "uki.efi"), bad }), true);
		/* the engine must refuse it too; where the core accepts a file the
		 * engine refuses, the difference must be in rules beyond the
		 * kernel's view (e.g. overlapping sections) and harmless */
		auto pe = kexecd::PeFile::parse(bad, name);
		if (!asUki.ok()) {
			EXPECT_EQ(asUki.commands, 0u);
		}
		if (!asAddon.ok()) {
			EXPECT_EQ(asAddon.commands, 0u);
		}
		if (pe.ok())
			continue; /* a bad-* that is a valid PE (e.g. a bad zboot) */
		EXPECT_FALSE(asUki.ok()) << "core accepted a PE the engine refuses: " << pe.error().message;
		n++;
	}
	EXPECT_GT(n, 0u);
}
