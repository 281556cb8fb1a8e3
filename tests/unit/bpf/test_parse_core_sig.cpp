// SPDX-License-Identifier: LGPL-2.1-or-later
// Signature checks of the parsing core (pc_send_sig() in bpf/pc_emit.h):
// when the kernel's kexec_context asks (sig_mode SIG or IMA, the newest
// tools' sig_enforced), every PE goes to the kernel as VERIFY_SIG, and in
// IMA mode a refused one as IMA_CHECK with its .ima blob, all before the
// first COPY; with NONE nothing of the kind is sent.

#include <cerrno>
#include <vector>

#include <gtest/gtest.h>

#include "pc_test_util.h"

using namespace pctest;

namespace {

constexpr uint16_t V = KEXEC_BPF_CMD_VERIFY_SIG, I = KEXEC_BPF_CMD_IMA_CHECK, C = KEXEC_BPF_CMD_COPY,
		   D = KEXEC_BPF_CMD_DONE, Z = KEXEC_BPF_CMD_DECOMPRESS;

/* What the kernel was asked, and which PEs it refuses. */
struct Verdicts {
	std::vector<Bytes> refuse;    /* VERIFY_SIG refused for these PEs */
	std::vector<Bytes> refuseIma; /* IMA_CHECK refused for these blobs */
	std::vector<Bytes> verified;  /* VERIFY_SIG payloads, in order */
	std::vector<std::pair<Bytes, Bytes>> ima; /* IMA_CHECK (blob, the PE it vouches for) */
};

int verdict(void *arg, uint16_t cmd, const uint8_t *p, size_t n, const uint8_t *pe, size_t peLen)
{
	auto *v = static_cast<Verdicts *>(arg);
	const Bytes payload(p, p + n);
	if (cmd == KEXEC_BPF_CMD_VERIFY_SIG) {
		v->verified.push_back(payload);
		for (const Bytes &r : v->refuse)
			if (r == payload)
				return -EKEYREJECTED;
		return 0;
	}
	v->ima.emplace_back(payload, Bytes(pe, pe + peLen));
	for (const Bytes &r : v->refuseIma)
		if (r == payload)
			return -EKEYREJECTED;
	return 0;
}

SigOptions sig(unsigned mode, Verdicts &v)
{
	return { mode, verdict, &v };
}

const Bytes kAddonA = makePe({ { ".cmdline", bytesOf("a=1") } });
const Bytes kAddonB = makePe({ { ".initrd", bytesOf("INITRD-b") } });
const Bytes kImaUki = bytesOf("\x03\x02ima-uki");
const Bytes kImaB = bytesOf("\x03\x02ima-b");

} // namespace

TEST(ParseCoreSig, NoneSendsNoSignatureCommand)
{
	Verdicts v;
	const Outcome o = run(makeContainer({ { simpleUki(), kImaUki }, { kAddonA, {} } }), false,
			      sig(KEXEC_SIG_NONE, v));
	ASSERT_TRUE(o.ok()) << errName(o.parseError) << " / " << o.kernelError;
	EXPECT_EQ(o.log, (std::vector<uint16_t>{ C, C, C, D }));
	EXPECT_TRUE(v.verified.empty());
}

TEST(ParseCoreSig, SigVerifiesEveryPeBeforeAnyCopy)
{
	Verdicts v;
	const Bytes uki = simpleUki("base=1");
	const Outcome o = run(makeContainer({ { uki, kImaUki }, { kAddonA, {} }, { kAddonB, kImaB } }), false,
			      sig(KEXEC_SIG_SIG, v));
	ASSERT_TRUE(o.ok()) << errName(o.parseError) << " / " << o.kernelError;
	EXPECT_EQ(o.log, (std::vector<uint16_t>{ V, V, V, C, C, C, D }));
	/* each VERIFY_SIG carries one whole PE, in container order */
	EXPECT_EQ(v.verified, (std::vector<Bytes>{ uki, kAddonA, kAddonB }));
	EXPECT_TRUE(v.ima.empty()) << "SIG mode never falls back to IMA";
	EXPECT_EQ(o.cmdline, cstr("base=1 a=1"));
	EXPECT_EQ(o.initrd, cat({ kInitrd, bytesOf("INITRD-b") }));
}

TEST(ParseCoreSig, SigRefusalStopsBeforeAnyCopy)
{
	Verdicts v;
	v.refuse = { kAddonB };
	const Outcome o = run(makeContainer({ { simpleUki(), {} }, { kAddonA, {} }, { kAddonB, kImaB } }), false,
			      sig(KEXEC_SIG_SIG, v));
	EXPECT_EQ(o.kernelError, -EKEYREJECTED);
	EXPECT_EQ(o.sendError, -PC_E_SIGNATURE);
	EXPECT_EQ(o.log, (std::vector<uint16_t>{ V, V, V }));
	EXPECT_TRUE(o.kernel.empty() && o.initrd.empty() && o.cmdline.empty());
}

TEST(ParseCoreSig, ImaFallsBackToTheBlobOfTheRefusedPe)
{
	Verdicts v;
	const Bytes uki = simpleUki();
	v.refuse = { uki, kAddonB };
	const Outcome o = run(makeContainer({ { uki, kImaUki }, { kAddonA, {} }, { kAddonB, kImaB } }), false,
			      sig(KEXEC_SIG_IMA, v));
	ASSERT_TRUE(o.ok()) << errName(o.sendError) << " / " << o.kernelError;
	EXPECT_EQ(o.log, (std::vector<uint16_t>{ V, I, V, V, I, C, C, C, D }));
	ASSERT_EQ(v.ima.size(), 2u);
	EXPECT_EQ(v.ima[0], std::make_pair(kImaUki, uki));
	EXPECT_EQ(v.ima[1], std::make_pair(kImaB, kAddonB));
}

TEST(ParseCoreSig, ImaWithoutBlobOrWithARefusedBlobIsRefused)
{
	Verdicts v;
	v.refuse = { kAddonA };
	const Outcome noBlob = run(makeContainer({ { simpleUki(), kImaUki }, { kAddonA, {} } }), false,
				   sig(KEXEC_SIG_IMA, v));
	EXPECT_EQ(noBlob.sendError, -PC_E_SIGNATURE);
	EXPECT_EQ(noBlob.log, (std::vector<uint16_t>{ V, V }));

	Verdicts w;
	w.refuse = { kAddonB };
	w.refuseIma = { kImaB };
	const Outcome bad = run(makeContainer({ { simpleUki(), {} }, { kAddonB, kImaB } }), false,
				sig(KEXEC_SIG_IMA, w));
	EXPECT_EQ(bad.sendError, -PC_E_SIGNATURE);
	EXPECT_EQ(bad.log, (std::vector<uint16_t>{ V, V, I }));
	EXPECT_TRUE(bad.kernel.empty());
}

TEST(ParseCoreSig, UnknownModeSendsNothing)
{
	Verdicts v;
	const Outcome o = run(makeContainer({ simpleUki() }), false, sig(3, v));
	EXPECT_EQ(o.sendError, -PC_E_SIG_MODE);
	EXPECT_TRUE(o.log.empty());
}

TEST(ParseCoreSig, ZbootLayerVerifiesTheZbootPeBeforeDecompressing)
{
	Verdicts v;
	const Bytes vmlinux = bigPayload();
	const Bytes zb = makeZboot(gzip(vmlinux));
	const Bytes uki = makePe({ { ".linux", zb }, { ".initrd", kInitrd }, { ".cmdline", bytesOf("c") } });
	const Outcome o = run(makeContainer({ uki }), true, sig(KEXEC_SIG_SIG, v));
	ASSERT_TRUE(o.ok()) << errName(o.sendError) << " / " << o.kernelError;
	EXPECT_EQ(o.log, (std::vector<uint16_t>{ V, C, C, C, D, V, Z, D }));
	EXPECT_EQ(v.verified, (std::vector<Bytes>{ uki, zb }));
	EXPECT_EQ(o.kernel, vmlinux);

	/* not a zboot .linux: the nested layer checks nothing and sends DONE */
	Verdicts w;
	const Outcome flat = run(makeContainer({ simpleUki() }), true, sig(KEXEC_SIG_SIG, w));
	ASSERT_TRUE(flat.ok());
	EXPECT_EQ(flat.log, (std::vector<uint16_t>{ V, C, C, C, D, D }));
}

TEST(ParseCoreSig, ImaBlobLimits)
{
	const std::vector<Entry> tooBig{ { simpleUki(), Bytes(PC_IMA_MAX + 1, 3) } };
	const std::vector<Entry> largest{ { simpleUki(), Bytes(PC_IMA_MAX, 3) } };
	EXPECT_PARSE_ERROR(run(makeContainer(tooBig)), PC_E_SECTION);
	EXPECT_TRUE(run(makeContainer(largest)).ok());
}

/* The model's own rules (kexecd_ref.ko's handlers). */
TEST(KernelModelSig, CopyNeedsAVerifiedPeAndImaNeedsARefusedOne)
{
	km_state km;
	km_init(&km);
	km.sigMode = KEXEC_SIG_SIG;
	auto send = [&](uint16_t c, uint8_t sub, const Bytes &payload) {
		Bytes rec(KEXEC_CMD_HDR_SIZE, 0);
		rec[0] = c & 0xff;
		rec[2] = sub;
		put32(rec, 4, payload.size());
		rec.insert(rec.end(), payload.begin(), payload.end());
		return km_handle(&km, rec.data(), rec.size());
	};
	EXPECT_EQ(send(C, KEXEC_BPF_SUBCMD_KERNEL, kKernel), -EKEYREJECTED);
	EXPECT_EQ(send(I, 0, kImaB), -EINVAL) << "IMA_CHECK vouches for no PE";
	EXPECT_EQ(send(V, 0, {}), -EINVAL);
	EXPECT_EQ(send(V, 0, simpleUki()), 0);
	EXPECT_EQ(send(C, KEXEC_BPF_SUBCMD_KERNEL, kKernel), 0);
	km_free(&km);
}
