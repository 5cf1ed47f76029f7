// mqtool check, run as a real process: exit 0 clean, 1 damage (each problem
// on stdout with its offset and what recover would do), 3 unreadable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "mq/store.h"
#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

class MqtoolCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    // Messages start at 56, 89, 126 and 162; the log is 193 bytes.
    MakeQueue(q_, {"hello", "two words", "tab\there", std::string("\0\xff\n", 3)}, {2});
  }
  ToolRun Check() {
    ToolRun r = RunTool({"check", q_});
    r.out = ReplaceAll(r.out, q_, "Q");
    return r;
  }
  TempDir dir_;
  std::string q_;
};

TEST_F(MqtoolCheckTest, CleanQueueExitsZeroWithASummary) {
  ToolRun r = Check();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "Q: ok: 4 messages (3 pending, 1 consumed) in 193 bytes, format version 1; index current\n");
}

TEST_F(MqtoolCheckTest, TornTailIsReportedWithItsOffsetAndTheSideFileRecoverWouldUse) {
  std::string bytes = ReadFileOrDie(q_) + "garbage!";
  WriteFileOrDie(q_, bytes);
  ToolRun r = Check();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out,
            "note: Q.idx: behind the log by 8 bytes (normal after a crash or while a mailbox writes); the next "
            "open catches it up\n"
            "Q: offset 193: torn tail of 8 bytes (unknown record kind 0x62726167). recover would cut it into "
            "Q.cut-193 and keep every message before it\n"
            "Q: 1 problem found; to repair, run: mqtool recover Q\n");
  EXPECT_EQ(ReadFileOrDie(q_), bytes);
}

TEST_F(MqtoolCheckTest, DamageInTheMiddleAdvisesSalvageMode) {
  std::string bytes = ReadFileOrDie(q_);
  bytes[89 + 28 + 2] ^= 0x20;  // a payload byte of message 2: its checksum fails
  WriteFileOrDie(q_, bytes);
  ToolRun r = Check();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("Q: offset 89: 37 damaged bytes ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("); intact messages follow at offset 126. recover --mode salvage would move these bytes "
                       "to Q.damaged-89 and keep every intact message"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Q: 1 problem found; to repair, run: mqtool recover --mode salvage Q\n"), std::string::npos)
      << r.out;
  EXPECT_EQ(ReadFileOrDie(q_), bytes);
}

TEST_F(MqtoolCheckTest, DamagedFileHeaderIsDamageThatRecoverCannotRepair) {
  std::string bytes = ReadFileOrDie(q_);
  bytes[30] ^= 0x01;  // inside the header's log id: its checksum fails
  WriteFileOrDie(q_, bytes);
  ToolRun r = Check();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out,
            "Q: offset 0: file header checksum mismatch. recover cannot repair a damaged file header: restore the "
            "file from a backup\n"
            "Q: 1 problem found\n");
  EXPECT_EQ(ReadFileOrDie(q_), bytes);
}

// The advice depends on the file's size (a header cut short has the store's
// own advice), never on the wording of the error.
TEST_F(MqtoolCheckTest, AHeaderCutShortGetsTheStoresAdviceAndNoSecondOne) {
  WriteFileOrDie(q_, ReadFileOrDie(q_).substr(0, 30));
  ToolRun r = Check();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out,
            "Q: offset 0: the file header is cut short (30 of 56 bytes) and no message follows: its writer stopped "
            "while creating it. Move the file aside and let mq create the queue again. recover cannot repair a "
            "damaged file header\n"
            "Q: 1 problem found\n");
}

TEST_F(MqtoolCheckTest, IndexMissingAPendingMessageIsReported) {
  // The index learns that message 2 was consumed; the log is then put back
  // as it was before, so the index no longer lists a pending message.
  TempDir dir;
  std::string q = dir.File("q");
  MakeQueue(q, {"a", "b", "c"});
  std::string before = ReadFileOrDie(q);
  {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(q, StoreOptions{}).MoveTo(&s).ok());
    ASSERT_TRUE(s->Consume(2).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  // With the session stamp of the log the index describes: a plain copy of
  // the old log is caught by its stamp, and the index is only called stale
  // (MqtoolRestoreTest); this one also forges the stamp.
  before.replace(48, 8, ReadFileOrDie(q).substr(48, 8));
  WriteFileOrDie(q, before);
  ToolRun r = RunTool({"check", q});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(ReplaceAll(r.out, q, "Q"),
            "Q.idx: pending message 2 at offset 105 is missing from the index. recover would build the index "
            "again from the log\n"
            "Q: 1 problem found; to repair, run: mqtool recover Q\n");
}

TEST_F(MqtoolCheckTest, TornTailWhileAMailboxHoldsTheQueueIsANoteNotDamage) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(q_, StoreOptions{}).MoveTo(&s).ok());
  std::string bytes = ReadFileOrDie(q_) + "half";  // as if an append were in progress
  WriteFileOrDie(q_, bytes);
  ToolRun r = Check();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("note: Q: offset 193: the last 4 bytes do not form a complete message ("), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("); pid " + std::to_string(::getpid()) + " holds the queue, so this is probably a write in "
                       "progress\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Q: ok: 4 messages"), std::string::npos) << r.out;
  EXPECT_EQ(ReadFileOrDie(q_), bytes);
  ASSERT_TRUE(s->Close().ok());
}

TEST(MqtoolCheckLegacyTest, OriginalFormatQueueIsCleanWithAStructureOnlyNote) {
  TempDir dir;
  std::string q = dir.File("old");
  WriteFileOrDie(q, LegacyBytes({{false, "a0"}, {true, "a1"}}));
  ToolRun r = RunTool({"check", q});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReplaceAll(r.out, q, "Q"),
            "note: Q.idx: missing; the next open of the queue builds it\n"
            "Q: ok: 2 messages (1 pending, 1 consumed) in 20 bytes, format version 0 (the original format has no "
            "checksums: only its structure was checked); index missing\n");
}

TEST(MqtoolCheckUnreadableTest, FileOfRandomBytesExitsThree) {
  TempDir dir;
  std::string q = dir.File("rnd");
  std::string bytes = "\x9b\x31\x12\x0e not a queue at all, just bytes";
  WriteFileOrDie(q, bytes);
  ToolRun r = RunTool({"check", q});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("mqtool: " + q + ": not an mq message log", 0), 0u) << r.err;
  EXPECT_EQ(ReadFileOrDie(q), bytes);
}

}  // namespace
}  // namespace mq::test
