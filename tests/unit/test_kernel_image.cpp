// SPDX-License-Identifier: LGPL-2.1-or-later
#include "kernel_image.h"

#include <cstring>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>
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

void put64(std::vector<uint8_t> &b, size_t at, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

/* An arm64 Image header (Documentation/arch/arm64/booting.rst) and a body;
 * image_size is the file's (no bss). */
std::vector<uint8_t> arm64Image(size_t size = 4096)
{
	std::vector<uint8_t> b(size, 0x5a);
	std::memset(b.data(), 0, 0x40);
	std::memcpy(b.data() + 0x38, "ARM\x64", 4);
	put64(b, 0x10, size);
	return b;
}

/* Debian's arm64 kernel (tests/fixtures/arm64-fixtures.sh): a real Image header. */
std::string arm64Problem()
{
	if (!fixturesProblem().empty())
		return fixturesProblem();
	if (std::filesystem::exists(fixture("arm64/UNAVAILABLE")))
		return "Debian's arm64 kernel unavailable: " + readText(fixture("arm64/UNAVAILABLE"));
	if (!std::filesystem::exists(fixture("arm64/Image")))
		return "no arm64/Image in the fixtures (tests/fixtures/arm64-fixtures.sh)";
	return {};
}

#define NEED_ARM64()                                    \
	do {                                            \
		if (!arm64Problem().empty())            \
			GTEST_SKIP() << arm64Problem(); \
	} while (0)

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

/* A stager's configuration for plain kernels in dir: no trust anchors, policy warn. */
EngineConfig plainKernelConfig(const std::string &dir)
{
	EngineConfig config;
	config.trustDir = dir + "/no-trust";
	std::filesystem::create_directories(config.trustDir);
	config.useFirmwareDb = false;
	config.procKeys = dir + "/no-proc-keys";
	config.statePath = dir + "/run/staged.json";
	config.policy = SignaturePolicy::Warn;
	return config;
}

std::string messageOf(const Result<KernelImage> &r)
{
	return r ? std::string("(no error)") : r.error().message;
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

	EngineConfig config = plainKernelConfig(dir);
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

/* Issue 31: Debian's real arm64 Image (bookworm: an EFI stub Image, signed) is recognised
 * by its header, whose fields say what arm64's kexec_file_load needs. */
TEST(KernelImageArm64, DebianImageHeader)
{
	NEED_ARM64();
	const auto bytes = readFile(fixture("arm64/Image"));
	auto info = probeKernelImage(bytes, "Image");
	ASSERT_TRUE(info) << info.error().message;
	EXPECT_EQ(info->format, KernelFormat::Arm64Image);
	EXPECT_TRUE(info->efiStub);
	EXPECT_EQ(info->textOffset, 0u); // relocatable since 5.8
	EXPECT_GE(info->imageSize, bytes.size()) << readText(fixture("arm64/package"));
	EXPECT_TRUE(checkKernelMachine(*info, "aarch64", "Image").ok());
	EXPECT_TRUE(checkKernelMachine(*info, "", "Image").ok()); // unknown: nothing checked
}

/* An arm64 Image on x86 and an x86 bzImage on arm64: named, not handed to a kernel that
 * would answer ENOEXEC or EINVAL. */
TEST(KernelImageArm64, WrongArchitectureIsANamedError)
{
	NEED_ARM64();
	auto arm = probeKernelImage(readFile(fixture("arm64/Image")), "Image");
	ASSERT_TRUE(arm) << arm.error().message;
	auto refused = checkKernelMachine(*arm, "x86_64", "/boot/Image");
	ASSERT_FALSE(refused);
	EXPECT_EQ(refused.error().code, Code::InvalidImage);
	EXPECT_EQ(refused.error().message, "'/boot/Image' is an arm64 Image, but the running kernel is x86_64: "
					   "its kexec_file_load takes an x86 bzImage");

	auto x86 = probeKernelImage(debianKernel(), "vmlinuz");
	ASSERT_TRUE(x86) << x86.error().message;
	refused = checkKernelMachine(*x86, "aarch64", "/boot/vmlinuz");
	ASSERT_FALSE(refused);
	EXPECT_EQ(refused.error().message, "'/boot/vmlinuz' is an x86 bzImage, but the running kernel is aarch64: "
					   "its kexec_file_load takes an arm64 Image or a zboot image holding one");
	EXPECT_TRUE(checkKernelMachine(*x86, "x86_64", "vmlinuz").ok());

	/* zboot: the payload's architecture counts. */
	auto z = readKernelImage(zbootOf(arm64Image(64 * 1024)), "vmlinuz.efi");
	ASSERT_TRUE(z) << z.error().message;
	refused = checkKernelMachine(z->info, "x86_64", "vmlinuz.efi");
	ASSERT_FALSE(refused);
	EXPECT_NE(refused.error().message.find("is an arm64 Image (in a zboot image)"), std::string::npos)
		<< refused.error().message;
	EXPECT_TRUE(checkKernelMachine(z->info, "aarch64", "vmlinuz.efi").ok());
}

/* The real header with one field made to lie: each refused, naming the file and the field. */
TEST(KernelImageArm64, HeaderFieldsPastTheFileAreNamed)
{
	NEED_ARM64();
	const auto real = readFile(fixture("arm64/Image"));
	const auto refusedWith = [&](size_t at, uint64_t value, const std::string &text) {
		auto bytes = real;
		put64(bytes, at, value);
		auto info = probeKernelImage(bytes, "/boot/Image-lies");
		ASSERT_FALSE(info) << "field at 0x" << std::hex << at;
		EXPECT_EQ(info.error().code, Code::InvalidImage);
		EXPECT_EQ(info.error().message.rfind("'/boot/Image-lies': arm64 Image header: ", 0), 0u)
			<< info.error().message;
		EXPECT_NE(info.error().message.find(text), std::string::npos) << info.error().message;
	};
	refusedWith(0x10, 0, "image_size is 0");
	refusedWith(0x10, real.size() - 1, fmt::format("image_size 0x{:x} is smaller than the {}-byte file",
						       real.size() - 1, real.size()));
	refusedWith(0x10, uint64_t{ 1 } << 40, "image_size 0x10000000000 is more than 512 MiB");
	refusedWith(0x08, uint64_t{ 2 } << 20, "text_offset 0x200000 lies past the 2 MiB alignment");
	refusedWith(0x08, ~uint64_t{ 0 }, "text_offset 0xffffffffffffffff");
	/* The old text_offset (before 5.8) is fine. */
	auto bytes = real;
	put64(bytes, 0x08, 0x80000);
	EXPECT_TRUE(probeKernelImage(bytes, "Image").ok());
}

/* A zboot header that lies about its payload: the compression's name, or a payload_size that
 * ends inside the stream or runs past it. */
TEST(KernelImageArm64, ZbootHeaderLiesAreNamed)
{
	const auto good = zbootOf(arm64Image(64 * 1024));
	const auto size = static_cast<uint32_t>(good[0x0c] | good[0x0d] << 8 | good[0x0e] << 16 | good[0x0f] << 24);
	const auto withSize = [](std::vector<uint8_t> b, uint32_t v) {
		for (int i = 0; i < 4; i++)
			b[0x0c + i] = static_cast<uint8_t>(v >> (8 * i));
		return b;
	};
	auto lie = good;
	std::memcpy(lie.data() + 0x18, "zstd22", 7);
	auto r = readKernelImage(lie, "vmlinuz.efi");
	EXPECT_EQ(messageOf(r), "'vmlinuz.efi': zboot header: comp_type 'zstd22', but the payload is gzip");

	r = readKernelImage(withSize(good, size - 10), "vmlinuz.efi");
	EXPECT_EQ(messageOf(r), fmt::format("'vmlinuz.efi': zboot header: payload_size 0x{:x} ends inside the gzip "
					    "stream (truncated, or the header lies)",
					    size - 10));
	auto longer = withSize(good, size + 16);
	longer.resize(longer.size() + 16, 0);
	r = readKernelImage(longer, "vmlinuz.efi");
	EXPECT_EQ(messageOf(r), fmt::format("'vmlinuz.efi': zboot header: payload_size 0x{:x} runs 16 bytes past the "
					    "end of the gzip stream (truncated, or the header lies)",
					    size + 16));
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().code, Code::InvalidImage);
	EXPECT_TRUE(readKernelImage(good, "vmlinuz.efi").ok());
}

/* Through the stager: a kernel of another architecture is refused before anything is loaded,
 * and what was staged stays. */
TEST(KernelImageArm64, StagerRefusesAnotherArchitecturesKernel)
{
	NEED_FIXTURES();
	const std::string dir = makeTempDir();
	const std::string fake = dir + "/kernel";
	std::filesystem::create_directories(fake);
	const std::string support = R"({"machine": "aarch64"})";
	writeFile(fake + "/support.json", std::span(reinterpret_cast<const uint8_t *>(support.data()), support.size()));
	writeFile(dir + "/Image", arm64Image(64 * 1024));

	EngineConfig config = plainKernelConfig(dir);
	auto kernel = makeRecordingKernel(fake);
	Stager stager(*kernel, config);
	ASSERT_TRUE(stager.start().ok());

	StageRequest ok;
	ok.kind = InputKind::Kernel;
	ok.kernel = openInput(dir + "/Image");
	ok.cmdline = "console=ttyAMA0";
	auto staged = stager.stage(std::move(ok), nullptr);
	ASSERT_TRUE(staged) << staged.error().message;
	const auto before = readFile(fake + "/kernel.bin");

	StageRequest x86;
	x86.kind = InputKind::Kernel;
	x86.kernel = openInput(fixture("vmlinuz"));
	x86.cmdline = "console=ttyS0";
	auto refused = stager.stage(std::move(x86), nullptr);
	ASSERT_FALSE(refused);
	EXPECT_EQ(refused.error().code, Code::InvalidImage);
	EXPECT_NE(refused.error().message.find("is an x86 bzImage, but the running kernel is aarch64"),
		  std::string::npos)
		<< refused.error().message;
	EXPECT_EQ(readFile(fake + "/kernel.bin"), before);
	EXPECT_EQ(readText(fake + "/cmdline.bin"), std::string("console=ttyAMA0") + '\0');
}

/* The kernel inside a UKI (issue 31): an x86 UKI offered on arm64 and an arm64 UKI on x86 (a
 * zboot .linux judged by its payload) are refused naming the UKI and its .linux; nothing is
 * loaded and the staged kernel stays. */
TEST(KernelImageArm64, StagerRefusesAUkiOfAnotherArchitecture)
{
	NEED_FIXTURES();
	const std::string dir = makeTempDir();
	const std::string fake = dir + "/kernel";
	std::filesystem::create_directories(fake);
	const auto machine = [&](const std::string &m) {
		const std::string support = fmt::format(R"({{"machine": "{}"}})", m);
		writeFile(fake + "/support.json",
			  std::span(reinterpret_cast<const uint8_t *>(support.data()), support.size()));
	};
	const auto text = [](std::span<const uint8_t> b) { return std::string(b.begin(), b.end()); };
	const auto image = arm64Image(64 * 1024);
	writeFile(dir + "/arm64.efi", makePe({ { ".cmdline", "console=ttyAMA0" }, { ".linux", text(image) } }));
	writeFile(dir + "/x86.efi",
		  makePe({ { ".cmdline", "console=ttyS0" }, { ".linux", readText(fixture("vmlinuz")) } }));
	writeFile(dir + "/zboot.efi",
		  makePe({ { ".cmdline", "console=ttyAMA0 zboot" }, { ".linux", text(zbootOf(image)) } }));

	machine("aarch64");
	EngineConfig config = plainKernelConfig(dir);
	auto kernel = makeRecordingKernel(fake);
	Stager stager(*kernel, config);
	ASSERT_TRUE(stager.start().ok());
	const auto stage = [&](const std::string &name) {
		StageRequest r;
		r.uki = openInput(dir + "/" + name);
		return stager.stage(std::move(r), nullptr);
	};
	const auto refusedAs = [&](const std::string &name, const std::string &message) {
		const auto before = readFile(fake + "/kernel.bin");
		const auto cmdline = readText(fake + "/cmdline.bin");
		auto refused = stage(name);
		ASSERT_FALSE(refused) << name;
		EXPECT_EQ(refused.error().code, Code::InvalidImage);
		EXPECT_EQ(refused.error().message, fmt::format("'{}/{}:.linux' {}", dir, name, message));
		EXPECT_EQ(readFile(fake + "/kernel.bin"), before);
		EXPECT_EQ(readText(fake + "/cmdline.bin"), cmdline);
	};

	auto staged = stage("arm64.efi");
	ASSERT_TRUE(staged) << staged.error().message;
	refusedAs("x86.efi", "is an x86 bzImage, but the running kernel is aarch64: its kexec_file_load takes an "
			     "arm64 Image or a zboot image holding one");
	staged = stage("zboot.efi");
	ASSERT_TRUE(staged) << staged.error().message;
	EXPECT_EQ(readFile(fake + "/kernel.bin"), image);

	machine("x86_64");
	refusedAs("arm64.efi", "is an arm64 Image, but the running kernel is x86_64: its kexec_file_load takes an "
			       "x86 bzImage");
	refusedAs("zboot.efi", "is an arm64 Image (in a zboot image), but the running kernel is x86_64: its "
			       "kexec_file_load takes an x86 bzImage");
	EXPECT_EQ(readText(fake + "/cmdline.bin"), std::string("console=ttyAMA0 zboot") + '\0');
	staged = stage("x86.efi");
	ASSERT_TRUE(staged) << staged.error().message;
}
