// mqtool recover, run as a real process: it cuts a torn tail into a side file,
// salvages around damage when asked, rebuilds the index, prints what it did,
// and refuses at once a queue that a mailbox holds unless --wait.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "mq/store.h"
#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

// A log's bytes without the header's session stamp and checksum, which every
// writable open rewrites (docs/log-format.md, "File header").
std::string WithoutSessionStamp(std::string b) {
  if (b.size() >= 56) b.replace(48, 8, 8, '\0');
  return b;
}

class MqtoolRecoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    // Messages start at 56, 89, 126 and 162; the log is 193 bytes.
    MakeQueue(q_, {"hello", "two words", "tab\there", std::string("\0\xff\n", 3)}, {2});
    good_ = ReadFileOrDie(q_);
  }
  ToolRun Run(std::vector<std::string> args) {
    ToolRun r = RunTool(args);
    r.out = ReplaceAll(r.out, q_, "Q");
    return r;
  }
  TempDir dir_;
  std::string q_, good_;
};

TEST_F(MqtoolRecoverTest, TornTailIsCutIntoASideFileThatKeepsTheCutBytes) {
  WriteFileOrDie(q_, good_ + "garbage!");
  ToolRun r = Run({"recover", q_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "Q: cut a torn tail of 8 bytes at offset 193 into Q.cut-193\n"
            "Q: index rebuilt: 3 pending messages indexed\n"
            "Q: recovered in tolerate-tail mode: 3 pending, 1 consumed message, 193 bytes; no bytes deleted "
            "(side files: Q.cut-193)\n");
  EXPECT_EQ(ReadFileOrDie(q_ + ".cut-193"), "garbage!");
  EXPECT_EQ(WithoutSessionStamp(ReadFileOrDie(q_)), WithoutSessionStamp(good_));
  ToolRun d = Run({"dump", q_, "--format", "raw"});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(d.out, std::string("hello\ntab\there\n\0\xff\n\n", 19));
  EXPECT_EQ(Run({"check", q_}).exit_code, 0);
}

TEST_F(MqtoolRecoverTest, CleanQueueOnlyRebuildsTheIndex) {
  ToolRun r = Run({"recover", q_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Q: no damage found in the log\n"
            "Q: index rebuilt: 3 pending messages indexed\n"
            "Q: recovered in tolerate-tail mode: 3 pending, 1 consumed message, 193 bytes; no bytes deleted\n");
  EXPECT_EQ(WithoutSessionStamp(ReadFileOrDie(q_)), WithoutSessionStamp(good_));
}

TEST_F(MqtoolRecoverTest, DamageInTheMiddleIsRefusedByTheDefaultModeAndNothingChanges) {
  std::string bad = good_;
  bad[89 + 28 + 2] ^= 0x20;
  WriteFileOrDie(q_, bad);
  auto before = Snapshot(dir_.path());
  ToolRun r = Run({"recover", q_});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("mqtool: " + q_ + ": offset 89: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("mqtool recover --mode salvage " + q_), std::string::npos) << r.err;
  EXPECT_EQ(Snapshot(dir_.path()), before);
}

TEST_F(MqtoolRecoverTest, SalvageMovesDamagedBytesToASideFileAndKeepsEveryIntactMessage) {
  std::string bad = good_;
  bad[89 + 28 + 2] ^= 0x20;
  WriteFileOrDie(q_, bad);
  ToolRun r = Run({"recover", q_, "--mode", "salvage"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Q: kept 37 damaged bytes from offset 89 ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(") in Q.damaged-89\n"), std::string::npos) << r.out;
  EXPECT_EQ(ReadFileOrDie(q_ + ".damaged-89"), bad.substr(89, 37));
  ToolRun d = Run({"dump", q_, "--all"});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(d.out,
            "seq=1 offset=76 state=pending size=5 payload=hello\n"
            "seq=3 offset=109 state=pending size=8 payload=tab\\there\n"
            "seq=4 offset=145 state=pending size=3 payload=\\x00\\xff\\n\n");
}

TEST_F(MqtoolRecoverTest, AbsoluteModeRefusesATornTailAndChangesNothing) {
  WriteFileOrDie(q_, good_ + "garbage!");
  auto before = Snapshot(dir_.path());
  ToolRun r = Run({"recover", q_, "--mode", "absolute"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(q_ + ": offset 193: torn tail of 8 bytes"), std::string::npos) << r.err;
  EXPECT_EQ(Snapshot(dir_.path()), before);
}

TEST_F(MqtoolRecoverTest, QueueHeldByAMailboxIsRefusedAtOnceWithItsPid) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(q_, StoreOptions{}).MoveTo(&s).ok());
  ToolRun r = Run({"recover", q_});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(q_ + ": queue in use by pid " + std::to_string(::getpid())), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--wait"), std::string::npos) << r.err;
  ASSERT_TRUE(s->Close().ok());
}

TEST_F(MqtoolRecoverTest, WaitWithATimeoutGivesUpWhileTheQueueStaysHeld) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(q_, StoreOptions{}).MoveTo(&s).ok());
  ToolRun r = Run({"recover", q_, "--wait", "--timeout", "1"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("queue in use by pid " + std::to_string(::getpid())), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Gave up after waiting 1 s (--timeout)"), std::string::npos) << r.err;
  ASSERT_TRUE(s->Close().ok());
}

TEST_F(MqtoolRecoverTest, WaitProceedsOnceTheMailboxClosesTheQueue) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(q_, StoreOptions{}).MoveTo(&s).ok());
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(s->Close().ok());
  });
  ToolRun r = Run({"recover", q_, "--wait", "--timeout", "20"});
  closer.join();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Q: recovered in tolerate-tail mode: 3 pending"), std::string::npos) << r.out;
}

TEST_F(MqtoolRecoverTest, TimeoutWithoutWaitIsAUsageError) {
  ToolRun r = Run({"recover", q_, "--timeout", "5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--timeout needs --wait"), std::string::npos) << r.err;
}

TEST_F(MqtoolRecoverTest, UnknownModeIsAUsageError) {
  ToolRun r = Run({"recover", q_, "--mode", "yolo"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--mode: recovery mode 'yolo'"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFileOrDie(q_), good_);
}

TEST(MqtoolRecoverLegacyTest, OriginalFormatQueueKeepsItsBytesAndGetsAnIndex) {
  TempDir dir;
  std::string q = dir.File("old");
  std::string bytes = LegacyBytes({{false, "a0"}, {true, "a1"}, {false, "a2"}});
  WriteFileOrDie(q, bytes);
  ToolRun r = RunTool({"recover", q});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReplaceAll(r.out, q, "Q"),
            "Q: no damage found in the log\n"
            "Q: index rebuilt: 2 pending messages indexed\n"
            "Q: recovered in tolerate-tail mode: 2 pending, 1 consumed message, 30 bytes; no bytes deleted\n");
  EXPECT_EQ(ReadFileOrDie(q), bytes);
  EXPECT_TRUE(FileExists(q + ".idx"));
}

}  // namespace
}  // namespace mq::test
