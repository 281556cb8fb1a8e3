// SPDX-License-Identifier: LGPL-2.1-or-later
#include "kernel.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "memfd.h"
#include "test_util.h"

using namespace kexecd;
using namespace kexecd::test;

namespace {

void writeFile(const std::string &path, const std::string &data)
{
	std::filesystem::create_directories(std::filesystem::path(path).parent_path());
	std::ofstream(path, std::ios::binary) << data;
}

} // namespace

TEST(Kernel, RecordingKernelRecordsExactBytes)
{
	const std::string dir = makeTempDir();
	auto kernel = makeKernel("fake:" + dir, {});
	ASSERT_TRUE(kernel.ok());
	const std::string k = "kernel-bytes", i = "initrd-bytes";
	auto kfd = SealedMemfd::fromBytes({ reinterpret_cast<const uint8_t *>(k.data()), k.size() }, "k");
	auto ifd = SealedMemfd::fromBytes({ reinterpret_cast<const uint8_t *>(i.data()), i.size() }, "i");
	ASSERT_TRUE(kfd.ok() && ifd.ok());

	LoadRequest req;
	req.kernelFd = kfd->fd();
	req.initrdFd = ifd->fd();
	req.cmdline = "quiet";
	ASSERT_TRUE((*kernel)->load(req).ok());
	EXPECT_EQ(readText(dir + "/kernel.bin"), k);
	EXPECT_EQ(readText(dir + "/initrd.bin"), i);
	EXPECT_EQ(readText(dir + "/cmdline.bin"), std::string("quiet\0", 6));
	EXPECT_TRUE(*(*kernel)->loaded(Slot::Reboot));
	EXPECT_FALSE(*(*kernel)->loaded(Slot::Crash));

	/* The crash slot records apart and unloads alone. */
	req.slot = Slot::Crash;
	req.cmdline = "crash";
	EXPECT_EQ(kexecFileFlags(req), kKexecFileOnCrash);
	ASSERT_TRUE((*kernel)->load(req).ok());
	EXPECT_EQ(readText(dir + "/crash-cmdline.bin"), std::string("crash\0", 6));
	EXPECT_EQ(readText(dir + "/cmdline.bin"), std::string("quiet\0", 6));
	EXPECT_TRUE(*(*kernel)->loaded(Slot::Crash));
	ASSERT_TRUE((*kernel)->unload(Slot::Crash).ok());
	EXPECT_FALSE(*(*kernel)->loaded(Slot::Crash));
	EXPECT_TRUE(*(*kernel)->loaded(Slot::Reboot));
	req.slot = Slot::Reboot;
	req.cmdline = "quiet";

	/* A refused load leaves the previous recording alone. */
	writeFile(dir + "/fail-load", std::to_string(EKEYREJECTED));
	auto r = (*kernel)->load(req);
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::KernelRefused);
	EXPECT_EQ(r.error().errnum, EKEYREJECTED);
	EXPECT_NE(r.error().message.find("keyring"), std::string::npos);

	ASSERT_TRUE((*kernel)->unload(Slot::Reboot).ok());
	EXPECT_FALSE(*(*kernel)->loaded(Slot::Reboot));
}

TEST(Kernel, SpecParsing)
{
	EXPECT_TRUE(makeKernel("real", {}).ok());
	EXPECT_FALSE(makeKernel("fake:", {}).ok());
	auto bad = makeKernel("qemu", {});
	ASSERT_FALSE(bad.ok());
	EXPECT_EQ(bad.error().code, Code::InvalidArgument);
}

TEST(Kernel, NullKernelKeepsNothing)
{
	auto k = makeKernel("null", {});
	ASSERT_TRUE(k.ok());
	KexecKernel &kernel = **k;
	auto support = kernel.probe();
	ASSERT_TRUE(support.ok());
	EXPECT_TRUE(support->kexecFile);
	EXPECT_TRUE(support->bpfParser);
	EXPECT_FALSE(*kernel.loaded(Slot::Reboot));
	EXPECT_EQ(kernel.unload(Slot::Reboot).error().code, Code::NotStaged);
	LoadRequest request;
	request.kernelFd = 0; // stdin: any open fd
	ASSERT_TRUE(kernel.load(request).ok());
	EXPECT_TRUE(*kernel.loaded(Slot::Reboot));
	EXPECT_FALSE(*kernel.loaded(Slot::Crash));
	request.kernelFd = 1 << 20; // not open
	auto refused = kernel.load(request);
	ASSERT_FALSE(refused.ok());
	EXPECT_EQ(refused.error().code, Code::KernelRefused);
	EXPECT_EQ(refused.error().errnum, EBADF);
	ASSERT_TRUE(kernel.unload(Slot::Reboot).ok());
	EXPECT_FALSE(*kernel.loaded(Slot::Reboot));
	EXPECT_EQ(kernel.rebootKexec().error().code, Code::Unsupported);
}

TEST(Kernel, ProbeReadsSysfsUnderAConfigurableRoot)
{
	const std::string root = makeTempDir();
	writeFile(root + "/sys/kernel/kexec_loaded", "1\n");
	writeFile(root + "/sys/kernel/security/lockdown", "none [integrity] confidentiality\n");
	writeFile(root + "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
		  std::string("\x06\x00\x00\x00\x01", 5));
	writeFile(root + "/proc/sys/kernel/kexec_load_disabled", "0\n");
	writeFile(root + "/sys/kernel/kexec_crash_loaded", "1\n");
	writeFile(root + "/sys/kernel/kexec_crash_size", "268435456\n");
	auto kernel = makeSyscallKernel({ root + "/sys", root + "/proc" });
	auto s = kernel->probe();
	ASSERT_TRUE(s.ok());
	EXPECT_TRUE(s->loaded);
	EXPECT_TRUE(s->crashLoaded);
	EXPECT_EQ(s->crashSize, uint64_t{ 256 } << 20);
	EXPECT_TRUE(*kernel->loaded(Slot::Crash));
	writeFile(root + "/sys/kernel/kexec_crash_loaded", "0\n");
	EXPECT_FALSE(*kernel->loaded(Slot::Crash));
	EXPECT_TRUE(*kernel->loaded(Slot::Reboot));
	EXPECT_EQ(s->lockdown, "integrity");
	EXPECT_TRUE(s->secureBoot);
	EXPECT_FALSE(s->loadDisabled);
	EXPECT_FALSE(s->bpfParser);
	EXPECT_NE(s->detail.find("no kernel BTF"), std::string::npos) << s->detail;
}

TEST(Kernel, ProbeFindsTheParserSeriesInBtf)
{
	const char *btf = getenv("KEXECD_FAKE_BTF");
	if (!btf)
		GTEST_SKIP() << "KEXECD_FAKE_BTF not set";
	const std::string root = makeTempDir();
	std::filesystem::create_directories(root + "/sys/kernel/btf");
	std::filesystem::copy_file(btf, root + "/sys/kernel/btf/vmlinux");
	auto s = makeSyscallKernel({ root + "/sys", root + "/proc" })->probe();
	ASSERT_TRUE(s.ok());
	EXPECT_TRUE(s->bpfParser) << s->detail;
	EXPECT_EQ(s->generation, "post-v7");
}

/* Names alone cannot tell the generations apart (KERNEL-ABI.md §10):
 * the probe reads member types too. */
TEST(Kernel, ProbeTellsTheGenerationsApartByMemberTypes)
{
	struct Case {
		const char *env;
		bool bpfParser;
		const char *generation;
		const char *sigField;
	};
	for (const Case &c : { Case{ "KEXECD_FAKE_BTF", true, "post-v7", "sig_mode" },
			       Case{ "KEXECD_FAKE_BTF_NEWEST", false, "newest", "sig_enforced" },
			       Case{ "KEXECD_FAKE_BTF_WRONG_TYPE", false, "unknown", "" },
			       Case{ "KEXECD_FAKE_BTF_V7", false, "v6-v7", "" } }) {
		const char *btf = getenv(c.env);
		if (!btf)
			GTEST_SKIP() << c.env << " not set";
		KernelSupport s;
		probeBtf(btf, s);
		EXPECT_EQ(s.bpfParser, c.bpfParser) << c.env << ": " << s.detail;
		EXPECT_EQ(s.generation, c.generation) << c.env << ": " << s.detail;
		EXPECT_EQ(s.sigField, c.sigField) << c.env;
	}
}

TEST(Kernel, BpfReferenceKernelNeedsTheModulesBtf)
{
	/* Without /sys/kernel/btf/kexecd_ref the reference backend offers
	 * no BPF parser, whatever vmlinux says. */
	const std::string root = makeTempDir();
	std::filesystem::create_directories(root + "/sys/kernel/btf");
	if (const char *btf = getenv("KEXECD_FAKE_BTF"))
		std::filesystem::copy_file(btf, root + "/sys/kernel/btf/vmlinux");
	auto kernel = makeKernel("bpf-reference", { root + "/sys", root + "/proc" });
	ASSERT_TRUE(kernel.ok());
	auto s = (*kernel)->probe();
	ASSERT_TRUE(s.ok());
	EXPECT_FALSE(s->bpfParser) << s->detail;
	EXPECT_NE(s->detail.find("kexecd_ref"), std::string::npos) << s->detail;
}

TEST(Kernel, ProbeOfThisMachinesKernel)
{
	if (!std::filesystem::exists("/sys/kernel/btf/vmlinux"))
		GTEST_SKIP() << "no /sys/kernel/btf/vmlinux on this machine";
	auto s = makeSyscallKernel({})->probe();
	ASSERT_TRUE(s.ok());
	/* No released kernel carries the series: detection must say no. */
	EXPECT_FALSE(s->bpfParser) << s->detail;
	EXPECT_NE(s->detail.find("lacks the kexec BPF parser series"), std::string::npos) << s->detail;
}

TEST(Kernel, ErrnoHints)
{
	EXPECT_NE(kexecErrnoHint(EPERM).find("CAP_SYS_BOOT"), std::string::npos);
	EXPECT_NE(kexecErrnoHint(ENOEXEC).find("BPF parser"), std::string::npos);
	for (int e : { EKEYREJECTED, ENOKEY, EBADMSG, ELIBBAD, ENOPKG, EMSGSIZE })
		EXPECT_NE(kexecErrnoHint(e).find("signature"), std::string::npos) << e;
}

TEST(Memfd, CopyIsSealedAndLimited)
{
	const std::string dir = makeTempDir();
	writeFile(dir + "/f", std::string(10000, 'x'));
	UniqueFd fd(::open((dir + "/f").c_str(), O_RDONLY | O_CLOEXEC));
	::lseek(fd.get(), 500, SEEK_SET); // the caller's position must not matter
	auto m = SealedMemfd::copyFrom(fd.get(), "f", 10000);
	ASSERT_TRUE(m.ok()) << m.error().message;
	EXPECT_EQ(m->size(), 10000u);
	EXPECT_EQ(fcntl(m->fd(), F_GET_SEALS), F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
	EXPECT_LT(::write(m->fd(), "y", 1), 0);

	auto big = SealedMemfd::copyFrom(fd.get(), "f", 9999);
	ASSERT_FALSE(big.ok());
	EXPECT_EQ(big.error().code, Code::InvalidImage);
	EXPECT_NE(big.error().message.find("'f'"), std::string::npos);

	/* Pipes have no size: the limit is enforced while reading. */
	int p[2];
	ASSERT_EQ(::pipe(p), 0);
	ASSERT_EQ(::write(p[1], "hello", 5), 5);
	::close(p[1]);
	UniqueFd rd(p[0]);
	auto piped = SealedMemfd::copyFrom(rd.get(), "pipe", 100);
	ASSERT_TRUE(piped.ok()) << piped.error().message;
	EXPECT_EQ(std::string(piped->bytes().begin(), piped->bytes().end()), "hello");
}

/* The one-copy read path (issue 16) builds memfds in place: bytes land
 * where they are put, and a file that ends early (it shrank after its
 * size was taken) is a named error naming it, not a short copy. */
TEST(Memfd, BuiltInPlaceAndShrunkFileIsNamed)
{
	const std::string dir = makeTempDir();
	writeFile(dir + "/f", "0123456789");
	UniqueFd fd(::open((dir + "/f").c_str(), O_RDONLY | O_CLOEXEC));
	auto m = SealedMemfd::create("built", 16);
	ASSERT_TRUE(m.ok()) << m.error().message;
	ASSERT_TRUE(m->copyIn(fd.get(), 2, 4, 6, "f").ok());
	const uint8_t tail[] = { 'z', 'z' };
	ASSERT_TRUE(m->writeAt(14, tail).ok());
	ASSERT_TRUE(m->seal().ok());
	EXPECT_EQ(std::string(m->bytes().begin(), m->bytes().end()),
		  std::string("\0\0\0\0" "234567" "\0\0\0\0" "zz", 16));
	EXPECT_EQ(fcntl(m->fd(), F_GET_SEALS), F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);

	auto short_ = SealedMemfd::create("short", 16);
	ASSERT_TRUE(short_.ok());
	auto r = short_->copyIn(fd.get(), 4, 0, 12, "f");
	ASSERT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, Code::InvalidImage);
	EXPECT_NE(r.error().message.find("'f' ended at byte 10 while being read"), std::string::npos)
		<< r.error().message;
	/* Writing past the end it was made with is the builder's bug, refused. */
	EXPECT_FALSE(short_->writeAt(15, tail).ok());
}
