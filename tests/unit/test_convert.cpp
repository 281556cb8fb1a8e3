// SPDX-License-Identifier: LGPL-2.1-or-later
// JSON → a{sv} (daemon/bus/convert.cpp): what clients of the Staged
// property read. sdbus::Variant needs no bus connection.

#include "convert.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace kexecd;

namespace {

/* A std::string in sdbus-c++ 1.2, a const char * in 2.x: compared as text. */
std::string type(const sdbus::Variant &v)
{
	return v.peekValueType();
}

} // namespace

TEST(Convert, ScalarsObjectsAndNulls)
{
	const auto map = jsonToVariantMap(nlohmann::json::parse(
		R"({"s":"x","t":5,"x":-5,"d":0.5,"b":true,"n":null,"o":{"k":"v"},"addons":[]})"));
	EXPECT_EQ(map.size(), 7u);
	EXPECT_EQ(type(map.at("s")), "s");
	EXPECT_EQ(map.at("t").get<uint64_t>(), 5u);
	EXPECT_EQ(map.at("x").get<int64_t>(), -5);
	EXPECT_EQ(map.at("d").get<double>(), 0.5);
	EXPECT_TRUE(map.at("b").get<bool>());
	EXPECT_EQ(type(map.at("o")), "a{sv}");
	EXPECT_EQ(type(map.at("addons")), "aa{sv}");
}

TEST(Convert, NumberArrays)
{
	const auto map = jsonToVariantMap(nlohmann::json::parse(
		R"({"t":[1,2],"x":[1,-2],"d":[1,-2,0.5]})"));
	EXPECT_EQ(map.at("t").get<std::vector<uint64_t>>(), (std::vector<uint64_t>{ 1, 2 }));
	EXPECT_EQ(map.at("x").get<std::vector<int64_t>>(), (std::vector<int64_t>{ 1, -2 }));
	EXPECT_EQ(type(map.at("d")), "ad");
}

/* Found by fuzz_kexecd's state target: [18446744073709551615, -1] became
 * "ax" [-1, -1]. */
TEST(Convert, MixedSignsBeyondInt64DoNotWrap)
{
	const auto map = jsonToVariantMap(nlohmann::json::parse(R"({"a":[18446744073709551615,-1]})"));
	ASSERT_EQ(type(map.at("a")), "ad");
	const auto a = map.at("a").get<std::vector<double>>();
	ASSERT_EQ(a.size(), 2u);
	EXPECT_EQ(a[0], static_cast<double>(std::numeric_limits<uint64_t>::max()));
	EXPECT_EQ(a[1], -1.0);

	const auto fits = jsonToVariantMap(nlohmann::json::parse(R"({"a":[9223372036854775807,-1]})"));
	ASSERT_EQ(type(fits.at("a")), "ax");
	EXPECT_EQ(fits.at("a").get<std::vector<int64_t>>()[0], std::numeric_limits<int64_t>::max());
}
