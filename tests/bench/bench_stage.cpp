// SPDX-License-Identifier: LGPL-2.1-or-later
// Staging throughput against the physical bound. The bound is reading the
// input bytes once (what any stager must do); kexecd reads once into a
// sealed memfd, then parses, hashes, verifies and composes. The kernel is
// a null KexecKernel so the syscall (which a test machine cannot make) is
// not part of the figure. Prints medians; asserts nothing.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "memfd.h"
#include "stager.h"

using namespace kexecd;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}

template<class F>
double timeMs(F &&f)
{
	const auto start = Clock::now();
	f();
	return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 3) {
		std::fprintf(stderr, "usage: %s FIXTURES_DIR ROUNDS\n", argv[0]);
		return 2;
	}
	const std::string fx = argv[1];
	const int rounds = std::max(3, std::atoi(argv[2]));
	if (std::filesystem::exists(fx + "/UNAVAILABLE") || !std::filesystem::exists(fx + "/uki.efi")) {
		std::fprintf(stderr, "bench: fixtures unavailable in %s\n", fx.c_str());
		return 77;
	}
	const std::string uki = fx + "/uki-signed.efi";
	/* Both signed by the test key, so enforce stages them too. */
	const std::vector<std::string> addons = { fx + "/addon-signed.addon.efi" };
	uint64_t bytes = std::filesystem::file_size(uki);
	for (const auto &a : addons)
		bytes += std::filesystem::file_size(a);

	auto open = [](const std::string &p) { return InputFile{ UniqueFd(::open(p.c_str(), O_RDONLY | O_CLOEXEC)), p }; };

	std::vector<double> readOnce, classic, enforce;
	auto null = makeNullKernel();
	KexecKernel &kernel = *null;
	EngineConfig config;
	config.trustDir = fx + "/trust";
	config.useFirmwareDb = false;
	config.statePath = std::filesystem::temp_directory_path() / "kexecd-bench-staged.json";
	config.scheme = Scheme::Classic;

	for (int i = 0; i < rounds; i++) {
		readOnce.push_back(timeMs([&] {
			auto f = open(uki);
			auto m = SealedMemfd::copyFrom(f.fd.get(), uki, uint64_t{ 1 } << 30);
			for (const auto &a : addons) {
				auto af = open(a);
				auto am = SealedMemfd::copyFrom(af.fd.get(), a, uint64_t{ 1 } << 30);
			}
		}));
		for (auto [policy, out] : { std::pair{ SignaturePolicy::Warn, &classic },
					    std::pair{ SignaturePolicy::Enforce, &enforce } }) {
			Stager stager(kernel, config);
			(void)stager.start();
			StageRequest req;
			req.uki = open(uki);
			for (const auto &a : addons)
				req.addons.push_back(open(a));
			req.policy = policy;
			bool ok = true;
			out->push_back(timeMs([&] { ok = stager.stage(std::move(req), {}).ok(); }));
			if (!ok) {
				std::fprintf(stderr, "bench: staging failed\n");
				return 1;
			}
		}
	}
	std::filesystem::remove(config.statePath);

	const double mb = double(bytes) / (1 << 20);
	const double bound = median(readOnce), c = median(classic), e = median(enforce);
	std::printf("inputs: %.1f MiB (signed UKI + signed addon), %d rounds, medians\n", mb, rounds);
	std::printf("read once (physical bound): %8.2f ms  %8.0f MiB/s\n", bound, mb / bound * 1000);
	std::printf("stage classic, warn:        %8.2f ms  %8.0f MiB/s  %.2fx bound\n", c, mb / c * 1000, c / bound);
	std::printf("stage classic, enforce:     %8.2f ms  %8.0f MiB/s  %.2fx bound\n", e, mb / e * 1000, e / bound);
	return 0;
}
