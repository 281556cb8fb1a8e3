// SPDX-License-Identifier: LGPL-2.1-or-later
#include "kernel_image.h"

#include <cstring>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <zlib.h>

#include "kernel.h"
#include "stager.h"
#include "test_util.h"

using namespace kexecd;
using namespace kexecd::test;

namespace {

std::vector<uint8_t> debianKernel()
{
	if (!fixturesProblem().empty())
		return {};
	return readFile(fixture("vmlinuz"));
}

#define NEED_FIXTURES()                                   \
	do {                                              \
		if (!fixturesProblem().empty())           \
			GTEST_SKIP() << fixturesProblem(); \
	} while (0)

/* An arm64 Image header (Documentation/arch/arm64/booting.rst) and a body. */
std::vector<uint8_t> arm64Image(size_t size = 4096)
{
	std::vector<uint8_t> b(size, 0x5a);
	std::memset(b.data(), 0, 0x40);
	std::memcpy(b.data() + 0x38, "ARM\x64", 4);
	return b;
}

std::vector<uint8_t> gzip(std::span<const uint8_t> in)
{
	z_stream zs{};
	EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	std::vector<uint8_t> out(deflateBound(&zs, in.size()) + 64);
	zs.next_in = const_cast<Bytef *>(in.data());
	zs.avail_in = static_cast<uInt>(in.size());
	zs.next_out = out.data();
	zs.avail_out = static_cast<uInt>(out.size());
	EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
	out.resize(zs.total_out);
	deflateEnd(&zs);
	return out;
}

/* The zboot layout of drivers/firmware/efi/libstub/zboot-header.S: MZ,
 * "zimg", payload offset and size, the compression name at 0x18. */
std::vector<uint8_t> zbootOf(std::span<const uint8_t> payload)
{
	std::vector<uint8_t> b(0x200, 0);
	b[0] = 'M';
	b[1] = 'Z';
	std::memcpy(b.data() + 4, "zimg", 4);
	const auto put32 = [&b](size_t at, uint32_t v) {
		for (int i = 0; i < 4; i++)
			b[at + i] = static_cast<uint8_t>(v >> (8 * i));
	};
	const auto packed = gzip(payload);
	put32(0x08, static_cast<uint32_t>(b.size()));
	put32(0x0c, static_cast<uint32_t>(packed.size()));
	std::memcpy(b.data() + 0x18, "gzip", 4);
	b.insert(b.end(), packed.begin(), packed.end());
	return b;
}

} // namespace

TEST(KernelImage, DebianBzImageIsRecognisedByItsSetupHeader)
{
	NEED_FIXTURES();
	const auto bytes = debianKernel();
	auto info = probeKernelImage(bytes, "vmlinuz");
	ASSERT_TRUE(info) << info.error().message;
	EXPECT_EQ(info->format, KernelFormat::BzImage);
	EXPECT_TRUE(info->efiStub); // Debian's kernel is an EFI stub, Authenticode-signed
	EXPECT_GE(info->bootProtocol, 0x020c);
	/* The fixture generator names the file after this same release. */
	const std::string uname = readText(fixture("uname.txt"));
	EXPECT_EQ(info->version, uname.substr(0, uname.find_first_of("\n ")));
	auto image = readKernelImage(bytes, "vmlinuz");
	ASSERT_TRUE(image);
	EXPECT_TRUE(image->unpacked.empty()); // handed over as it is
}

TEST(KernelImage, TruncatedBzImageIsANamedError)
{
	NEED_FIXTURES();
	auto bytes = debianKernel();
	bytes.resize(bytes.size() / 2);
	auto info = probeKernelImage(bytes, "/boot/vmlinuz-half");
	ASSERT_FALSE(info);
	EXPECT_EQ(info.error().code, Code::InvalidImage);
	EXPECT_NE(info.error().message.find("'/boot/vmlinuz-half'"), std::string::npos) << info.error().message;
	EXPECT_NE(info.error().message.find("truncated bzImage"), std::string::npos) << info.error().message;
	/* Cut inside the setup header: nothing is recognised at all. */
	bytes.resize(0x100);
	info = probeKernelImage(bytes, "/boot/vmlinuz-stub");
	ASSERT_FALSE(info);
	EXPECT_NE(info.error().message.find("'/boot/vmlinuz-stub' is not a kernel image"), std::string::npos)
		<< info.error().message;
}

TEST(KernelImage, BzImageWithoutBootFlagOrOldProtocolIsRefused)
{
	NEED_FIXTURES();
	auto bytes = debianKernel();
	bytes[0x1fe] = 0;
	auto info = probeKernelImage(bytes, "k");
	ASSERT_FALSE(info);
	EXPECT_NE(info.error().message.find("0xAA55"), std::string::npos);
	bytes = debianKernel();
	bytes[0x206] = 0x0b; // 2.11
	info = probeKernelImage(bytes, "k");
	ASSERT_FALSE(info);
	EXPECT_NE(info.error().message.find("2.11"), std::string::npos) << info.error().message;
}

TEST(KernelImage, Arm64ImageByMagic)
{
	auto info = probeKernelImage(arm64Image(), "Image");
	ASSERT_TRUE(info) << info.error().message;
	EXPECT_EQ(info->format, KernelFormat::Arm64Image);
	EXPECT_FALSE(info->efiStub);

	auto bad = arm64Image();
	bad[0x3b] = 0x65; // "ARMe"
	info = probeKernelImage(bad, "/boot/Image-bad");
	ASSERT_FALSE(info);
	EXPECT_EQ(info.error().code, Code::InvalidImage);
	EXPECT_NE(info.error().message.find("'/boot/Image-bad' is not a kernel image"), std::string::npos);
	EXPECT_NE(info.error().message.find("0x38"), std::string::npos);
}

TEST(KernelImage, ZbootPayloadIsDecompressedAndProbed)
{
	const auto payload = arm64Image(64 * 1024);
	auto image = readKernelImage(zbootOf(payload), "vmlinuz.efi");
	ASSERT_TRUE(image) << image.error().message;
	EXPECT_EQ(image->info.format, KernelFormat::Zboot);
	ASSERT_TRUE(image->info.payloadFormat);
	EXPECT_EQ(*image->info.payloadFormat, KernelFormat::Arm64Image);
	EXPECT_EQ(image->unpacked, payload);

	/* A zboot whose payload is no kernel: refused after decompression. */
	auto junk = readKernelImage(zbootOf(std::vector<uint8_t>(4096, 0x11)), "junk.efi");
	ASSERT_FALSE(junk);
	EXPECT_NE(junk.error().message.find("'junk.efi (zboot payload)'"), std::string::npos)
		<< junk.error().message;
}

TEST(KernelImage, UkiIsNotAPlainKernel)
{
	NEED_FIXTURES();
	auto info = probeKernelImage(readFile(fixture("uki.efi")), "uki.efi");
	ASSERT_FALSE(info);
	EXPECT_NE(info.error().message.find("stage a UKI without --kernel"), std::string::npos)
		<< info.error().message;
}

TEST(KernelImage, TinyFilesAreRefused)
{
	for (size_t n : { size_t{ 0 }, size_t{ 1 }, size_t{ 0x3f } }) {
		std::vector<uint8_t> b(n, 0);
		auto info = probeKernelImage(b, "tiny");
		ASSERT_FALSE(info);
		EXPECT_EQ(info.error().code, Code::InvalidImage);
	}
}

TEST(KernelImage, ReusableCmdlineDropsWhatNamesThisBootsFiles)
{
	EXPECT_EQ(reusableCmdline("BOOT_IMAGE=/boot/vmlinuz-6.1.0-57-amd64 root=UUID=abc ro quiet\n"),
		  "root=UUID=abc ro quiet");
	EXPECT_EQ(reusableCmdline("initrd=\\initrd.img console=ttyS0  initrd=/x  x=\"a b\" BOOT_IMAGE=(hd0)/v"),
		  "console=ttyS0 x=\"a b\"");
	/* Only the whole key: these stay. */
	EXPECT_EQ(reusableCmdline("rd.initrd=1 my.BOOT_IMAGE=2"), "rd.initrd=1 my.BOOT_IMAGE=2");
	EXPECT_EQ(reusableCmdline(""), "");
}

/* Through the stager with the recording kernel: a zboot kernel is handed
 * over decompressed, the initrds padded and concatenated, the command
 * line as given, and the record says all of it. */
TEST(KernelImage, StagedZbootKernelIsUnpackedAndRecorded)
{
	const std::string dir = makeTempDir();
	const std::string fake = dir + "/kernel";
	std::filesystem::create_directories(fake);
	const auto payload = arm64Image(64 * 1024);
	writeFile(dir + "/Image.efi", zbootOf(payload));
	const std::vector<uint8_t> a(5, 'a'), b(8, 'b');
	writeFile(dir + "/a", a);
	writeFile(dir + "/b", b);

	EngineConfig config;
	config.trustDir = dir + "/no-trust";
	std::filesystem::create_directories(config.trustDir);
	config.useFirmwareDb = false;
	config.procKeys = dir + "/no-proc-keys";
	config.statePath = dir + "/run/staged.json";
	config.policy = SignaturePolicy::Warn;
	auto kernel = makeRecordingKernel(fake);
	Stager stager(*kernel, config);
	ASSERT_TRUE(stager.start().ok());

	StageRequest r;
	r.kind = InputKind::Kernel;
	r.kernel = openInput(dir + "/Image.efi");
	r.initrds.push_back(openInput(dir + "/a"));
	r.initrds.push_back(openInput(dir + "/b"));
	r.cmdline = "console=ttyAMA0 x=1";
	auto staged = stager.stage(std::move(r), nullptr);
	ASSERT_TRUE(staged) << staged.error().message;
	EXPECT_EQ(readFile(fake + "/kernel.bin"), payload);
	std::vector<uint8_t> padded = { 'a', 'a', 'a', 'a', 'a', 0, 0, 0, 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b' };
	EXPECT_EQ(readFile(fake + "/initrd.bin"), padded);
	EXPECT_EQ(readText(fake + "/cmdline.bin"), std::string("console=ttyAMA0 x=1") + '\0');
	const nlohmann::json &rec = *staged;
	EXPECT_EQ(rec["kind"], "kernel");
	EXPECT_EQ(rec["image"]["format"], "zboot");
	EXPECT_EQ(rec["image"]["payload_format"], "arm64-image");
	EXPECT_EQ(rec["kernel"]["zboot"], true);
	EXPECT_EQ(rec["initrds"].size(), 2u);
	/* No PE envelope worth the name and no signature: unsigned, and
	 * 'enforce' refuses it. */
	EXPECT_EQ(rec["image"]["signature"]["verdict"], "unsigned");
	StageRequest again;
	again.kind = InputKind::Kernel;
	again.kernel = openInput(dir + "/Image.efi");
	again.policy = SignaturePolicy::Enforce;
	auto refused = stager.stage(std::move(again), nullptr);
	ASSERT_FALSE(refused);
	EXPECT_EQ(refused.error().code, Code::SignatureRejected);
	/* The refusal kept what was staged. */
	EXPECT_EQ(readFile(fake + "/kernel.bin"), payload);

	/* Limits are named errors. */
	StageRequest many;
	many.kind = InputKind::Kernel;
	many.kernel = openInput(dir + "/Image.efi");
	for (unsigned i = 0; i <= Limits{}.maxInitrds; i++)
		many.initrds.push_back(openInput(dir + "/a"));
	auto tooMany = stager.stage(std::move(many), nullptr);
	ASSERT_FALSE(tooMany);
	EXPECT_EQ(tooMany.error().code, Code::InvalidArgument);
	StageRequest longLine;
	longLine.kind = InputKind::Kernel;
	longLine.kernel = openInput(dir + "/Image.efi");
	longLine.cmdline = std::string(Limits{}.maxCmdline + 1, 'x');
	auto tooLong = stager.stage(std::move(longLine), nullptr);
	ASSERT_FALSE(tooLong);
	EXPECT_EQ(tooLong.error().code, Code::InvalidArgument);

	/* Initrds that are no regular file (a pipe) are read whole, then
	 * padded and concatenated the same way. */
	int pipeFds[2];
	ASSERT_EQ(::pipe(pipeFds), 0);
	ASSERT_EQ(::write(pipeFds[1], a.data(), a.size()), static_cast<ssize_t>(a.size()));
	::close(pipeFds[1]);
	StageRequest piped;
	piped.kind = InputKind::Kernel;
	piped.kernel = openInput(dir + "/Image.efi");
	piped.initrds.push_back({ UniqueFd(pipeFds[0]), "pipe" });
	piped.initrds.push_back(openInput(dir + "/b"));
	auto viaPipe = stager.stage(std::move(piped), nullptr);
	ASSERT_TRUE(viaPipe) << viaPipe.error().message;
	EXPECT_EQ(readFile(fake + "/initrd.bin"), padded);
	EXPECT_EQ((*viaPipe)["initrd"]["size"], padded.size());

	/* Inputs over the total limit, placed or read whole, are a named
	 * error and leave the staged kernel as it was. */
	config.limits.maxTotalInput = readFile(dir + "/Image.efi").size() + a.size() + b.size() - 1;
	Stager tight(*kernel, config);
	ASSERT_TRUE(tight.start().ok());
	StageRequest big;
	big.kind = InputKind::Kernel;
	big.kernel = openInput(dir + "/Image.efi");
	big.initrds.push_back(openInput(dir + "/a"));
	big.initrds.push_back(openInput(dir + "/b"));
	auto over = tight.stage(std::move(big), nullptr);
	ASSERT_FALSE(over);
	EXPECT_EQ(over.error().code, Code::InvalidArgument);
	EXPECT_NE(over.error().message.find("inputs add up to more than the limit"), std::string::npos)
		<< over.error().message;
	EXPECT_EQ(readFile(fake + "/initrd.bin"), padded);
	EXPECT_EQ(tight.staged(), stager.staged());
}
