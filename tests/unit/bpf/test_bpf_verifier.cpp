// SPDX-License-Identifier: LGPL-2.1-or-later
// Load the parsing core into the running kernel's verifier (verifier_probe.bpf.c):
// the one check of the BPF side that needs no kexec-series kernel. Skipped
// without the privilege to load BPF programs.

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace {

struct ObjectClose {
	void operator()(bpf_object *o) const { bpf_object__close(o); }
};

} // namespace

TEST(BpfVerifier, ParsingCoreIsAccepted)
{
	const char *path = std::getenv("KEXECD_VERIFIER_PROBE");
	ASSERT_NE(path, nullptr) << "KEXECD_VERIFIER_PROBE not set";
	if (geteuid() != 0)
		GTEST_SKIP() << "needs root (CAP_BPF + CAP_PERFMON) to load programs";

	std::unique_ptr<bpf_object, ObjectClose> obj(bpf_object__open_file(path, nullptr));
	ASSERT_TRUE(obj) << "cannot open " << path;
	static std::vector<char> logs[2];
	int n = 0;
	bpf_program *prog;
	bpf_object__for_each_program(prog, obj.get()) {
		logs[n].assign(16 << 20, 0);
		bpf_program__set_log_buf(prog, logs[n].data(), logs[n].size());
		bpf_program__set_log_level(prog, 1);
		n++;
	}
	ASSERT_EQ(n, 2);
	const int ret = bpf_object__load(obj.get());
	if (ret == -EPERM)
		GTEST_SKIP() << "the kernel refuses BPF program loads here (EPERM)";
	for (int i = 0; i < n; i++) {
		const std::string log(logs[i].data());
		const size_t p = log.rfind("processed ");
		const std::string tail = log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
		if (ret)
			ADD_FAILURE() << "verifier refused the core:\n" << tail;
		else if (p != std::string::npos)
			std::printf("%s", log.substr(p, log.find('\n', p) - p + 1).c_str());
	}
	EXPECT_EQ(ret, 0);
}
