// mqtool compact, run as a real process: drops consumed messages atomically,
// keeps sequence numbers, and --dry-run changes nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <regex>
#include <string>

#include "mq/store.h"
#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

class MqtoolCompactTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    // 193 bytes; message 2 (37 framed bytes) is consumed.
    MakeQueue(q_, {"hello", "two words", "tab\there", std::string("\0\xff\n", 3)}, {2});
  }
  ToolRun Run(std::vector<std::string> args) {
    ToolRun r = RunTool(args);
    r.out = ReplaceAll(r.out, q_, "Q");
    return r;
  }
  // dump's text output without the offsets, which compaction changes.
  std::string PendingWithoutOffsets() {
    ToolRun d = Run({"dump", q_});
    EXPECT_EQ(d.exit_code, 0) << d.err;
    return std::regex_replace(d.out, std::regex(" offset=[0-9]+"), "");
  }
  TempDir dir_;
  std::string q_;
};

TEST_F(MqtoolCompactTest, CompactThenDumpShowsTheSamePendingMessagesWithTheSameSeqs) {
  std::string before = PendingWithoutOffsets();
  ToolRun r = Run({"compact", q_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "Q: compacted: 193 bytes before, 156 after (37 bytes reclaimed); 3 messages kept, 1 consumed dropped\n");
  EXPECT_EQ(ReadFileOrDie(q_).size(), 156u);
  EXPECT_EQ(PendingWithoutOffsets(), before);
  EXPECT_EQ(before,
            "seq=1 state=pending size=5 payload=hello\n"
            "seq=3 state=pending size=8 payload=tab\\there\n"
            "seq=4 state=pending size=3 payload=\\x00\\xff\\n\n");
  ToolRun all = Run({"dump", q_, "--all", "--format", "raw"});
  EXPECT_EQ(all.out, std::string("hello\ntab\there\n\0\xff\n\n", 19));
  EXPECT_EQ(Run({"check", q_}).exit_code, 0);
}

TEST_F(MqtoolCompactTest, DryRunReportsTheSameNumbersAndChangesNothing) {
  auto before = Snapshot(dir_.path());
  ToolRun r = Run({"compact", q_, "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Q: would compact: 193 bytes before, 156 after (37 bytes reclaimed); 3 messages kept, 1 consumed "
            "dropped (dry run: nothing changed)\n");
  EXPECT_EQ(Snapshot(dir_.path()), before);
}

TEST_F(MqtoolCompactTest, DryRunWorksWhileAMailboxHoldsTheQueue) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(q_, StoreOptions{}).MoveTo(&s).ok());
  ToolRun r = Run({"compact", q_, "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Q: would compact: 193 bytes before, 156 after"), std::string::npos) << r.out;
  ASSERT_TRUE(s->Close().ok());
}

TEST_F(MqtoolCompactTest, QueueHeldByAMailboxIsRefusedAtOnceWithItsPid) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(q_, StoreOptions{}).MoveTo(&s).ok());
  std::string bytes = ReadFileOrDie(q_);
  ToolRun r = Run({"compact", q_});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(q_ + ": queue in use by pid " + std::to_string(::getpid())), std::string::npos) << r.err;
  EXPECT_EQ(ReadFileOrDie(q_), bytes);
  ASSERT_TRUE(s->Close().ok());
}

TEST_F(MqtoolCompactTest, DamagedLogIsRefusedWithAdviceToRecoverAndNothingChanges) {
  std::string bytes = ReadFileOrDie(q_) + "garbage!";
  WriteFileOrDie(q_, bytes);
  auto before = Snapshot(dir_.path());
  ToolRun r = Run({"compact", q_});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(q_ + ": offset 193: torn tail of 8 bytes"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mqtool recover"), std::string::npos) << r.err;
  EXPECT_EQ(Snapshot(dir_.path()), before);

  ToolRun dry = Run({"compact", q_, "--dry-run"});
  EXPECT_EQ(dry.exit_code, 3);
  EXPECT_NE(dry.err.find(q_ + ": offset 193: "), std::string::npos) << dry.err;
  EXPECT_NE(dry.err.find("compact changes nothing on a damaged log"), std::string::npos) << dry.err;
  EXPECT_EQ(Snapshot(dir_.path()), before);
}

TEST(MqtoolCompactLegacyTest, OriginalFormatQueueIsRewrittenInTheCurrentFormatKeepingSeqs) {
  TempDir dir;
  std::string q = dir.File("old");
  WriteFileOrDie(q, LegacyBytes({{false, "a0"}, {true, "a1"}, {false, "b2"}}));
  ToolRun r = RunTool({"compact", q});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // 56-byte header + two framed 2-byte messages of 30 bytes each.
  EXPECT_EQ(ReplaceAll(r.out, q, "Q"),
            "Q: compacted: 30 bytes before, 116 after (86 bytes more, for the frames the original format lacks); "
            "2 messages kept, 1 consumed dropped; converted from the original format to format version 1\n");
  ToolRun d = RunTool({"dump", q, "--all"});
  EXPECT_EQ(d.out,
            "seq=1 offset=76 state=pending size=2 payload=a0\n"
            "seq=3 offset=106 state=pending size=2 payload=b2\n");
}

}  // namespace
}  // namespace mq::test
