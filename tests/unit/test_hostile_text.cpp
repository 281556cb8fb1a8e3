// SPDX-License-Identifier: LGPL-2.1-or-later
// The display rule and the command-line rule of text.h, and the state
// file's defences (state_file.h): the engine half of issue 10's
// hostile-input fixes.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "state_file.h"
#include "test_util.h"
#include "text.h"

using namespace kexecd;

namespace {

void writeText(const std::string &path, const std::string &text)
{
	std::ofstream(path, std::ios::binary) << text;
}

bool isPrintableUtf8(const std::string &s)
{
	if (invalidUtf8At(s) != std::string::npos)
		return false;
	for (unsigned char c : s)
		if (c < 0x20 || c == 0x7f)
			return false;
	return true;
}

} // namespace

TEST(Text, Utf8Validation)
{
	EXPECT_EQ(invalidUtf8At("plain ascii"), std::string::npos);
	EXPECT_EQ(invalidUtf8At("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7"), std::string::npos);
	EXPECT_EQ(invalidUtf8At("ab\xff"), 2u);
	EXPECT_EQ(invalidUtf8At(".ini\xf4trd"), 4u);       // 0xf4 then 't': truncated sequence
	EXPECT_EQ(invalidUtf8At("\xc0\xaf"), 0u);          // overlong '/'
	EXPECT_EQ(invalidUtf8At("\xed\xa0\x80"), 0u);      // UTF-16 surrogate
	EXPECT_EQ(invalidUtf8At("\xf4\x90\x80\x80"), 0u);  // past U+10FFFF
	EXPECT_EQ(invalidUtf8At("x\xe2\x82"), 1u);         // cut short at the end
}

TEST(Text, DisplayRuleEscapesOnlyWhatMustBe)
{
	EXPECT_EQ(displayText("Debian GNU/Linux 13 (trixie) \xe2\x82\xac"),
		  "Debian GNU/Linux 13 (trixie) \xe2\x82\xac");
	EXPECT_EQ(displayText(".ini\xf4trd"), ".ini\\xf4trd");
	EXPECT_EQ(displayText("a\nb\tc\x1b[31m\x7f"), "a\\x0ab\\x09c\\x1b[31m\\x7f");
	for (const char *s : { "\xff\xfe", "\xc0\xaf", "\xed\xa0\x80", "\x01\x02", "ok" })
		EXPECT_TRUE(isPrintableUtf8(displayText(s))) << s;
}

/* A record from another version, or one edited by hand, may lack a field or
 * hold another type there: reading it gives nothing, never a throw. */
TEST(Text, OptionalStringsFromRecords)
{
	const auto j = nlohmann::json::parse(R"({"a": {"s": "x", "n": null, "i": 3}, "b": [1]})");
	EXPECT_EQ(jsonOptionalString(j, "/a/s"), "x");
	EXPECT_EQ(jsonOptionalString(j, "/a/n"), std::nullopt);
	EXPECT_EQ(jsonOptionalString(j, "/a/i"), std::nullopt);
	EXPECT_EQ(jsonOptionalString(j, "/a/missing"), std::nullopt);
	EXPECT_EQ(jsonOptionalString(j, "/b/7"), std::nullopt);
	EXPECT_EQ(jsonString(j, "/a/s"), "x");
	EXPECT_EQ(jsonString(j, "/a/i"), "");
}

class StateFileTest : public ::testing::Test
{
protected:
	void SetUp() override
	{
		dir_ = test::makeTempDir();
		::chmod(dir_.c_str(), 0755);
		path_ = dir_ + "/state/staged.json";
	}
	std::string dir_;
	std::string path_;
};

TEST_F(StateFileTest, WritesAndReadsBack)
{
	StateFile file(path_);
	ASSERT_TRUE(file.write({ { "uki", { { "path", "/efi/x.efi" } } } }));
	auto read = file.read();
	ASSERT_TRUE(read);
	ASSERT_TRUE(read->has_value());
	EXPECT_EQ((**read)["uki"]["path"], "/efi/x.efi");
	struct stat st;
	ASSERT_EQ(::stat((path_ + ".tmp").c_str(), &st), -1) << "no temporary is left behind";
}

TEST_F(StateFileTest, MissingIsNoRecord)
{
	auto read = StateFile(path_).read();
	ASSERT_TRUE(read);
	EXPECT_FALSE(read->has_value());
}

TEST_F(StateFileTest, DeepNestingIsRefusedNotOverflowed)
{
	ASSERT_TRUE(StateFile(path_).write(nlohmann::json::object()));
	writeText(path_, std::string(100000, '[') + std::string(100000, ']'));
	auto read = StateFile(path_).read();
	ASSERT_FALSE(read);
	EXPECT_NE(read.error().message.find("nests deeper"), std::string::npos) << read.error().message;
	/* Brackets inside strings are text, not nesting. */
	auto ok = parseStateRecord(R"({"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})", "t");
	EXPECT_TRUE(ok);
}

TEST_F(StateFileTest, FifoIsRefusedWithoutBlocking)
{
	ASSERT_TRUE(StateFile(path_).write(nlohmann::json::object()));
	::unlink(path_.c_str());
	ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
	auto read = StateFile(path_).read(); // would hang forever on a blocking open
	ASSERT_FALSE(read);
	EXPECT_NE(read.error().message.find("not a regular file"), std::string::npos) << read.error().message;
}

TEST_F(StateFileTest, SymlinksAreNeitherFollowedNorWrittenThrough)
{
	ASSERT_TRUE(StateFile(path_).write(nlohmann::json::object()));
	const std::string victim = dir_ + "/victim";
	writeText(victim, "precious");
	::unlink(path_.c_str());
	ASSERT_EQ(::symlink(victim.c_str(), path_.c_str()), 0);
	ASSERT_EQ(::symlink(victim.c_str(), (path_ + ".tmp").c_str()), 0);
	ASSERT_EQ(::symlink(victim.c_str(), (path_ + ".pending.tmp").c_str()), 0);

	auto read = StateFile(path_).read();
	ASSERT_FALSE(read);
	EXPECT_NE(read.error().message.find("symlink"), std::string::npos);

	ASSERT_TRUE(StateFile(path_).write({ { "new", true } }));
	ASSERT_TRUE(StateFile(path_).writePending({ { "pending", true } }));
	EXPECT_EQ(test::readText(victim), "precious");
	struct stat st;
	ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
	EXPECT_TRUE(S_ISREG(st.st_mode)) << "rename replaced the symlink itself";
}

TEST_F(StateFileTest, RefusesADirectoryOthersCanWrite)
{
	const std::string shared = dir_ + "/shared";
	ASSERT_EQ(::mkdir(shared.c_str(), 0777), 0);
	ASSERT_EQ(::chmod(shared.c_str(), 0777), 0);
	auto written = StateFile(shared + "/staged.json").write(nlohmann::json::object());
	ASSERT_FALSE(written);
	EXPECT_NE(written.error().message.find("others cannot write"), std::string::npos)
		<< written.error().message;
}

TEST_F(StateFileTest, OversizeAndGarbageAreNamed)
{
	ASSERT_TRUE(StateFile(path_).write(nlohmann::json::object()));
	writeText(path_, std::string(StateFile::kMaxSize + 1, ' '));
	auto big = StateFile(path_).read();
	ASSERT_FALSE(big);
	EXPECT_NE(big.error().message.find("bytes"), std::string::npos);
	writeText(path_, "[1, 2]");
	auto notObject = StateFile(path_).read();
	ASSERT_FALSE(notObject);
	EXPECT_NE(notObject.error().message.find("not a JSON object"), std::string::npos);
}
