// mqtool check on a log whose file header is damaged: the advice it prints
// depends on the file's size (a header cut short has the store's own advice),
// never on the wording of the error.
#include <gtest/gtest.h>

#include <string>

#include "mq/inspect.h"
#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

class MqtoolCheckHeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    MakeQueue(q_, {"hello"}, {});
  }
  ToolRun Check() {
    ToolRun r = RunTool({"check", q_});
    r.out = ReplaceAll(r.out, q_, "Q");
    return r;
  }
  TempDir dir_;
  std::string q_;
};

TEST_F(MqtoolCheckHeaderTest, AHeaderCutShortGetsTheStoresAdviceAndNoSecondOne) {
  WriteFileOrDie(q_, ReadFileOrDie(q_).substr(0, 30));
  ToolRun r = Check();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out,
            "Q: offset 0: the file header is cut short (30 of 56 bytes) and no message follows: its writer stopped "
            "while creating it. Move the file aside and let mq create the queue again. recover cannot repair a "
            "damaged file header\n"
            "Q: 1 problem found\n");
}

TEST_F(MqtoolCheckHeaderTest, AHeaderWithABadChecksumGetsTheAdviceToRestoreFromABackup) {
  std::string damaged = ReadFileOrDie(q_);
  damaged[30] ^= 0x01;  // inside the header's log id: its checksum fails
  WriteFileOrDie(q_, damaged);
  ToolRun r = Check();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find(". recover cannot repair a damaged file header: restore the file from a backup\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("Move the file aside"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mq::test
