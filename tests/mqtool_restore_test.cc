// The sequence through mqtool, each command a separate process (the
// writer stops between steps): `cp q q.bak`, receive seq 1 and 2,
// `cp q.bak q`. The copy has 1..4 pending, so recv delivers 1, 2, 3, 4.
#include <gtest/gtest.h>

#include <string>

#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

TEST(MqtoolRestoreTest, LogRestoredFromACopyDeliversEveryMessageTheCopyHasPending) {
  TempDir dir;
  const std::string q = dir.File("q");
  MakeQueue(q, {"m1", "m2", "m3", "m4"});
  const std::string backup = ReadFileOrDie(q);  // cp q q.bak
  ToolRun first = RunTool({"recv", q, "--count", "2"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(first.out, "m1\nm2\n");
  WriteFileOrDie(q, backup);  // cp q.bak q

  ToolRun stat = RunTool({"stat", q});
  EXPECT_EQ(stat.exit_code, 0) << stat.err;
  EXPECT_NE(stat.out.find("\nmessages pending:   4\n"), std::string::npos) << stat.out;
  EXPECT_EQ(stat.out.find("index:              current"), std::string::npos) << stat.out;
  EXPECT_NE(stat.out.find("session stamp"), std::string::npos) << stat.out;

  ToolRun again = RunTool({"recv", q, "--count", "4"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "m1\nm2\nm3\nm4\n");
}

TEST(MqtoolRestoreTest, StatCallsTheIndexOfAnUntouchedQueueCurrent) {
  TempDir dir;
  const std::string q = dir.File("q");
  MakeQueue(q, {"m1", "m2", "m3"});
  ToolRun r = RunTool({"recv", q});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ToolRun stat = RunTool({"stat", q});
  EXPECT_EQ(stat.exit_code, 0) << stat.err;
  EXPECT_NE(stat.out.find("\nindex:              current\n"), std::string::npos) << stat.out;
}

}  // namespace
}  // namespace mq::test
