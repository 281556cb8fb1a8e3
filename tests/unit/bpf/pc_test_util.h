// SPDX-License-Identifier: LGPL-2.1-or-later
// Helpers shared by the parsing core tests (test_parse_core*.cpp): PE and
// image-container builders, zboot wrapping, and running a container through
// the kernel model.
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zlib.h>

#include "elf_container.h"
#include "kernel_model.h"
#include "parse_core.h"

namespace pctest {

using Bytes = std::vector<uint8_t>;

inline Bytes bytesOf(std::string_view s)
{
	return Bytes(s.begin(), s.end());
}

struct Sec {
	std::string name;
	Bytes data;
	/* 0: VirtualSize = data size; else override */
	uint32_t virtualSize = 0;
};

inline void put16(Bytes &b, size_t off, uint16_t v)
{
	b[off] = v & 0xff;
	b[off + 1] = v >> 8;
}

inline void put32(Bytes &b, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[off + i] = (v >> (8 * i)) & 0xff;
}

/* A minimal PE: DOS header, PE signature, COFF header, an optional header of
 * optSize zero bytes, the section table, data at 512-byte file alignment
 * (SizeOfRawData rounded up, VirtualSize exact, as ukify/objcopy do). */
inline Bytes makePe(const std::vector<Sec> &secs, uint16_t optSize = 0xf0)
{
	const size_t lfanew = 0x40;
	const size_t table = lfanew + 24 + optSize;
	size_t off = (table + secs.size() * 40 + 511) & ~size_t{ 511 };
	Bytes pe(off, 0);
	pe[0] = 'M';
	pe[1] = 'Z';
	put32(pe, 0x3c, lfanew);
	std::memcpy(&pe[lfanew], "PE\0\0", 4);
	put16(pe, lfanew + 4, 0x8664);
	put16(pe, lfanew + 6, static_cast<uint16_t>(secs.size()));
	put16(pe, lfanew + 20, optSize);
	for (size_t i = 0; i < secs.size(); i++) {
		const size_t h = table + i * 40;
		const size_t raw = (secs[i].data.size() + 511) & ~size_t{ 511 };
		std::memcpy(&pe[h], secs[i].name.data(), std::min<size_t>(8, secs[i].name.size()));
		put32(pe, h + 8, secs[i].virtualSize ? secs[i].virtualSize : secs[i].data.size());
		put32(pe, h + 12, 0x1000 * (i + 1));
		put32(pe, h + 16, raw);
		put32(pe, h + 20, raw ? off : 0);
		pe.insert(pe.end(), secs[i].data.begin(), secs[i].data.end());
		pe.resize(off + raw, 0);
		off += raw;
	}
	return pe;
}

struct Entry {
	Bytes pe;
	Bytes ima;
};

/* The image container exactly as the engine's composeImageContainer lays it
 * out: .pe.N (+ .ima), then .select. */
inline Bytes makeContainer(const std::vector<Entry> &entries, std::optional<std::string> select = {})
{
	std::vector<kexecd::ElfSection> secs;
	for (size_t i = 0; i < entries.size(); i++) {
		secs.push_back({ ".pe." + std::to_string(i + 1), entries[i].pe });
		if (!entries[i].ima.empty())
			secs.push_back({ ".ima", entries[i].ima });
	}
	if (select)
		secs.push_back({ ".select",
				 { reinterpret_cast<const uint8_t *>(select->data()), select->size() } });
	return kexecd::writeElfContainer(secs);
}

inline Bytes makeContainer(const std::vector<Bytes> &pes, std::optional<std::string> select = {})
{
	std::vector<Entry> e;
	for (const auto &p : pes)
		e.push_back({ p, {} });
	return makeContainer(e, select);
}

struct Outcome {
	int parseError = 0;
	int kernelError = 0;
	int sendError = 0; /* pc_send_plan()'s -PC_E_* of the last layer */
	unsigned commands = 0;
	unsigned verified = 0; /* PEs the model's last layer accepted (VERIFY_SIG, IMA_CHECK) */
	std::vector<uint16_t> log; /* every command the kernel received, in order */
	Bytes kernel, initrd, cmdline;

	bool ok() const { return parseError == 0 && kernelError == 0; }
};

/* The kernel's side of signature checks: sig_mode and the verdict. */
struct SigOptions {
	unsigned mode = KEXEC_SIG_NONE;
	int (*verify)(void *, uint16_t, const uint8_t *, size_t, const uint8_t *, size_t) = nullptr;
	void *arg = nullptr;
};

inline Outcome run(const Bytes &image, bool nested = false, const SigOptions &sig = {})
{
	km_state km;
	km_init(&km);
	km.sigMode = sig.mode;
	km.verify = sig.verify;
	km.verifyArg = sig.arg;
	Outcome o;
	km_run(&km, image.data(), image.size(), nested ? 1 : 0);
	o.parseError = km.parseError;
	o.kernelError = km.kernelError;
	o.sendError = km.sendError;
	o.commands = km.ncommands;
	o.verified = km.verified;
	o.log.assign(km.log, km.log + km.nlog);
	auto take = [](const km_blob &b) { return b.data ? Bytes(b.data, b.data + b.size) : Bytes(); };
	o.kernel = take(km.kernel);
	o.initrd = take(km.initrd);
	o.cmdline = take(km.cmdline);
	km_free(&km);
	return o;
}

inline Bytes cat(std::initializer_list<Bytes> parts)
{
	Bytes out;
	for (const auto &p : parts)
		out.insert(out.end(), p.begin(), p.end());
	return out;
}

inline Bytes cstr(std::string_view s)
{
	Bytes b = bytesOf(s);
	b.push_back(0);
	return b;
}

inline const Bytes kKernel = bytesOf("MZ-not-really-a-bzImage-but-bytes");
inline const Bytes kInitrd = bytesOf("070701-uki-initrd");

inline Bytes simpleUki(std::string_view cmdline = "console=ttyS0 quiet")
{
	return makePe({ { ".osrel", bytesOf("ID=test\n") },
			{ ".cmdline", bytesOf(cmdline) },
			{ ".linux", kKernel },
			{ ".initrd", kInitrd } });
}

inline std::string errName(int e)
{
	return pc_strerror(e);
}

#define EXPECT_PARSE_ERROR(outcome, code)                                              \
	do {                                                                           \
		const Outcome &o_ = (outcome);                                          \
		EXPECT_EQ(o_.parseError, -(code)) << errName(o_.parseError);           \
		EXPECT_EQ(o_.commands, 0u) << "a refused image must emit no command"; \
	} while (0)


inline Bytes gzip(const Bytes &in)
{
	z_stream zs{};
	EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	Bytes out(deflateBound(&zs, in.size()) + 64);
	zs.next_in = const_cast<Bytef *>(in.data());
	zs.avail_in = in.size();
	zs.next_out = out.data();
	zs.avail_out = out.size();
	EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
	out.resize(zs.total_out);
	deflateEnd(&zs);
	return out;
}

/* A zboot PE: "zimg" header (KERNEL-ABI section 7) + one .payload section. */
inline Bytes makeZboot(const Bytes &payload, uint32_t sizeAdjust = 0)
{
	Bytes pe = makePe({ { ".payload", payload } });
	const size_t table = 0x40 + 24 + 0xf0;
	const uint32_t off = pc_le32(&pe[table + 20]);
	std::memcpy(&pe[4], "zimg", 4);
	put32(pe, 8, off);
	put32(pe, 12, payload.size() + sizeAdjust);
	std::memcpy(&pe[0x18], "gzip", 5);
	return pe;
}

inline Bytes bigPayload()
{
	Bytes v(200000);
	for (size_t i = 0; i < v.size(); i++)
		v[i] = static_cast<uint8_t>((i * 7) ^ (i >> 9));
	return v;
}


} // namespace pctest
