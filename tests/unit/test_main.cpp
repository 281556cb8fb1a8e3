// SPDX-License-Identifier: LGPL-2.1-or-later
// gtest main shared by the engine tests: the fixture-free tests always
// run; when the fixtures cannot be had the binary reports a skip (77).

#include <cstdio>

#include <gtest/gtest.h>

#include "test_util.h"

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	const int ret = RUN_ALL_TESTS();
	if (ret == 0 && !kexecd::test::fixturesProblem().empty()) {
		std::fprintf(stderr, "fixture tests skipped: %s\n", kexecd::test::fixturesProblem().c_str());
		return 77;
	}
	return ret;
}
