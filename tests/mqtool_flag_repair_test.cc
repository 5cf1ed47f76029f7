// mqtool recover repairs what mqtool check reports about a used flag that is
// neither 0 nor 1: it writes 0 (pending: no message is lost), keeps the old
// flag in QUEUE.flag-OFFSET, counts it once, and check is clean afterwards.
#include <gtest/gtest.h>

#include <string>

#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

TEST(MqtoolFlagRepairTest, RecoverRewritesABadUsedFlagToPendingKeepsTheOldOneAndCheckIsThenClean) {
  TempDir dir;
  const std::string q = dir.File("q");
  MakeQueue(q, {"a", "b", "c"});
  // Message 2's record: 56-byte header, 29 bytes of message 1, 20 of meta.
  const size_t flag_at = 56 + 29 + 20;
  std::string bytes = ReadFileOrDie(q);
  ASSERT_EQ(bytes.substr(flag_at, 4), std::string(4, '\0'));
  bytes.replace(flag_at, 4, std::string("\x07\x00\x00\x00", 4));
  WriteFileOrDie(q, bytes);

  ToolRun before = RunTool({"check", q});
  EXPECT_EQ(before.exit_code, 1) << before.out;
  EXPECT_NE(before.out.find("message 2 has used flag 7"), std::string::npos) << before.out;

  ToolRun r = RunTool({"recover", q});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string out = ReplaceAll(r.out, q, "Q");
  EXPECT_EQ(out.find("no damage found"), std::string::npos) << out;
  EXPECT_NE(out.find("Q: offset 105: used flag set to 0 (pending); the old one is kept in Q.flag-105\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Q: 1 message had a used flag that was neither 0 nor 1: set to 0 (pending)"), std::string::npos)
      << out;
  EXPECT_EQ(ReadFileOrDie(q + ".flag-105"), std::string("\x07\x00\x00\x00", 4));
  EXPECT_EQ(ReadFileOrDie(q).substr(flag_at, 4), std::string(4, '\0'));

  ToolRun after = RunTool({"check", q});
  EXPECT_EQ(after.exit_code, 0) << after.out;
  ToolRun again = RunTool({"recover", q});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("no damage found"), std::string::npos) << again.out;
  ToolRun d = RunTool({"recv", q, "--count", "3"});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(d.out, "a\nb\nc\n") << "the repaired message is delivered";
}

}  // namespace
}  // namespace mq::test
