// Sync marks (docs/log-format.md, "Sync marks"; issue 17 item 3): a batch
// appended after a sync starts with a record naming the offset that sync
// made durable, so that recovery tells the unsynced tail a power cut leaves
// (holes, zeroed pages, garbage, intact messages after them) from damage in
// the synced log. One test per "must" of that section.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mq/inspect.h"
#include "mq/store.h"
#include "store_testing.h"
#include "test_util.h"
#include "util/crc32c.h"

namespace mq {
namespace {

using test::Le32;
using test::Le64;


// The record as docs/log-format.md specifies it, built here independently.
std::string SyncMark(uint64_t durable) {
  std::string r = std::string("mqS\x01", 4) + Le32(12) + Le64(durable);
  return r + Le32(crc32c::Mask(crc32c::Value(r.data(), r.size())));
}

StoreOptions Opts(SyncPolicy sync, RecoveryMode mode = RecoveryMode::kTolerateTornTail) {
  StoreOptions o;
  o.sync = sync;
  o.recovery = mode;
  return o;
}

struct Msg {
  uint64_t start = 0, end = 0;  // the framed message's first byte and one past its last
};

class StoreSyncMarkTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }

  std::unique_ptr<Store> Open(const StoreOptions& o) {
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, o).MoveTo(&s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }

  void Append(Store* s, const std::string& payload) {
    uint64_t seq = 0;
    ASSERT_TRUE(s->Append(payload).MoveTo(&seq).ok());
    Message m;
    ASSERT_TRUE(s->Get(seq, &m).ok());
    msgs_[seq] = Msg{m.offset - 20, m.offset + 8 + payload.size()};
  }

  // Six messages appended and synced one by one (sync=always: the batches
  // of 2..6 start with a sync mark), then six appended unsynced (sync=none,
  // a new open: no sync, so no mark) as a process leaves them before a power
  // cut. The index is removed, as after a cut: the open scans the whole log.
  void BuildSyncedThenUnsynced() {
    {
      auto s = Open(Opts(SyncPolicy::kAlways));
      for (int i = 1; i <= 6; ++i) Append(s.get(), "synced " + std::to_string(i));
      ASSERT_TRUE(s->Close().ok());
    }
    {
      auto s = Open(Opts(SyncPolicy::kNone));
      for (int i = 7; i <= 12; ++i) Append(s.get(), "unsynced " + std::to_string(i) + std::string(40, '.'));
      ASSERT_TRUE(s->Close().ok());
    }
    RemoveIndex();
  }

  void RemoveIndex() {
    std::filesystem::remove(path_ + ".idx");
    std::filesystem::remove(path_ + ".idx-lock");
  }

  // Zeroes the bytes of message seq (as a page a power cut never wrote).
  void Zero(uint64_t seq) {
    std::string b = test::ReadFileOrDie(path_);
    std::memset(b.data() + msgs_[seq].start, 0, msgs_[seq].end - msgs_[seq].start);
    test::WriteFileOrDie(path_, b);
  }

  std::vector<uint64_t> PendingSeqs(Store* s) {
    std::vector<uint64_t> out;
    for (const auto& [seq, p] : test::PendingMessages(s)) out.push_back(seq);
    return out;
  }

  test::TempDir dir_;
  std::string path_;
  std::map<uint64_t, Msg> msgs_;
};

TEST_F(StoreSyncMarkTest, EveryBatchAppendedAfterASyncStartsWithAMarkNamingTheSyncedEnd) {
  auto s = Open(Opts(SyncPolicy::kAlways));
  for (int i = 1; i <= 3; ++i) Append(s.get(), "m" + std::to_string(i));
  const std::string b = test::ReadFileOrDie(path_);
  EXPECT_EQ(msgs_[1].start, 56u) << "the first batch of a new log has no sync to name";
  for (uint64_t seq = 2; seq <= 3; ++seq) {
    SCOPED_TRACE("message " + std::to_string(seq));
    const uint64_t mark = msgs_[seq - 1].end;  // right after the message synced before it
    ASSERT_EQ(msgs_[seq].start, mark + 20);
    EXPECT_EQ(b.substr(mark, 20), SyncMark(mark)) << "the sync after message " << seq - 1 << " covered up to " << mark;
  }
  EXPECT_EQ(b.size(), msgs_[3].end);
}

// sync=none promises nothing durable: its logs keep the layout they always
// had (and damage in them is refused as before, for want of proof).
TEST_F(StoreSyncMarkTest, SyncNoneWritesNoMarkEvenAfterASyncOrACompaction) {
  auto s = Open(Opts(SyncPolicy::kNone));
  Append(s.get(), "m1");
  ASSERT_TRUE(s->Sync().ok());
  Append(s.get(), "m2");
  EXPECT_EQ(msgs_[2].start, msgs_[1].end);
  CompactionResult r;
  ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
  Append(s.get(), "m3");
  Message m;
  ASSERT_TRUE(s->Get(2, &m).ok());
  EXPECT_EQ(msgs_[3].start, m.offset + 8 + 2);
  EXPECT_EQ(test::ReadFileOrDie(path_).find(std::string("mqS\x01", 4)), std::string::npos);
}

TEST_F(StoreSyncMarkTest, ZeroedMessagesInTheUnsyncedTailAreCutIntoASideFileAndTheQueueOpensByItself) {
  BuildSyncedThenUnsynced();
  Zero(8);  // intact unsynced messages 9..12 follow: today's "damage in the middle"
  const std::string before = test::ReadFileOrDie(path_);
  auto s = Open(Opts(SyncPolicy::kAlways));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->open_report().tail_cut_offset, msgs_[8].start);
  EXPECT_EQ(s->open_report().tail_cut_bytes, before.size() - msgs_[8].start);
  ASSERT_EQ(s->open_report().side_files.size(), 1u);
  EXPECT_EQ(test::ReadFileOrDie(s->open_report().side_files[0]), before.substr(msgs_[8].start))
      << "nothing is cut without being kept in a side file";
  EXPECT_EQ(PendingSeqs(s.get()), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("after").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 8u) << "the numbers of the cut messages are given again: they were never durable";
}

// `mqtool check` and `dump` (ScanLog) call it what the open does with it.
TEST_F(StoreSyncMarkTest, InspectionReportsTheUnsyncedTailAsATornTailAndDamageBeforeAMarkAsDamage) {
  BuildSyncedThenUnsynced();
  const std::string good = test::ReadFileOrDie(path_);
  Zero(8);
  LogSummary sum;
  ASSERT_TRUE(ScanLog(path_, InspectOptions{}, [](const LogMessage&) { return true; }).MoveTo(&sum).ok());
  ASSERT_EQ(sum.damage.size(), 1u);
  EXPECT_EQ(sum.damage[0].offset, msgs_[8].start);
  EXPECT_TRUE(sum.damage[0].tail) << sum.damage[0].reason;
  EXPECT_EQ(sum.damage[0].bytes, good.size() - msgs_[8].start);
  test::WriteFileOrDie(path_, good);
  Zero(3);
  ASSERT_TRUE(ScanLog(path_, InspectOptions{}, [](const LogMessage&) { return true; }).MoveTo(&sum).ok());
  ASSERT_EQ(sum.damage.size(), 1u);
  EXPECT_EQ(sum.damage[0].offset, msgs_[3].start);
  EXPECT_FALSE(sum.damage[0].tail) << sum.damage[0].reason;
}

TEST_F(StoreSyncMarkTest, DamageBeforeTheOffsetALaterMarkNamesIsRefusedAndChangesNothing) {
  BuildSyncedThenUnsynced();
  Zero(3);  // the mark at the start of message 5's batch says message 3 was synced
  const std::string before = test::ReadFileOrDie(path_);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts(SyncPolicy::kAlways)).MoveTo(&s);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("offset " + std::to_string(msgs_[3].start)), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("mqtool recover --mode salvage"), std::string::npos) << st.message();
  EXPECT_EQ(test::ReadFileOrDie(path_), before);
}

TEST_F(StoreSyncMarkTest, DamageInALogWithoutSyncMarksIsStillRefused) {
  {
    auto s = Open(Opts(SyncPolicy::kNone));
    for (int i = 1; i <= 6; ++i) Append(s.get(), "m" + std::to_string(i));
    ASSERT_TRUE(s->Close().ok());
  }
  RemoveIndex();
  Zero(3);
  const std::string before = test::ReadFileOrDie(path_);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts(SyncPolicy::kNone)).MoveTo(&s);
  ASSERT_TRUE(st.IsCorruption()) << "a log whose writer left no sync mark proves nothing about its tail: "
                                 << st.ToString();
  EXPECT_EQ(test::ReadFileOrDie(path_), before);
}

TEST_F(StoreSyncMarkTest, SyncMarkWithABadChecksumIsDamage) {
  BuildSyncedThenUnsynced();
  const uint64_t mark = msgs_[4].start - 20;
  std::string b = test::ReadFileOrDie(path_);
  ASSERT_EQ(b.substr(mark, 4), std::string("mqS\x01", 4));
  b[mark + 16] ^= 0x01;  // a byte of its checksum
  test::WriteFileOrDie(path_, b);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts(SyncPolicy::kAlways)).MoveTo(&s);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("offset " + std::to_string(mark) + ": checksum mismatch in sync mark"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(test::ReadFileOrDie(path_), b);
}

TEST_F(StoreSyncMarkTest, SyncMarkNamingAnOffsetAfterItselfIsDamage) {
  BuildSyncedThenUnsynced();
  const uint64_t mark = msgs_[4].start - 20;
  std::string b = test::ReadFileOrDie(path_);
  b.replace(mark, 20, SyncMark(mark + 1));  // checks out, but names a byte after itself
  test::WriteFileOrDie(path_, b);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts(SyncPolicy::kAlways)).MoveTo(&s);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("sync mark names offset " + std::to_string(mark + 1) + ", after itself"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(test::ReadFileOrDie(path_), b);
}

TEST_F(StoreSyncMarkTest, SyncMarkCutShortAtTheEndIsATornTail) {
  {
    auto s = Open(Opts(SyncPolicy::kAlways));
    for (int i = 1; i <= 3; ++i) Append(s.get(), "m" + std::to_string(i));
    ASSERT_TRUE(s->Close().ok());
  }
  RemoveIndex();
  std::string b = test::ReadFileOrDie(path_);
  const uint64_t end = b.size();
  b += SyncMark(end).substr(0, 13);
  test::WriteFileOrDie(path_, b);
  auto s = Open(Opts(SyncPolicy::kAlways));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->open_report().tail_cut_offset, end);
  EXPECT_EQ(s->open_report().tail_cut_bytes, 13u);
  EXPECT_EQ(PendingSeqs(s.get()), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(StoreSyncMarkTest, ForgedSyncMarkInAPayloadCanOnlyMakeRecoveryRefuse) {
  BuildSyncedThenUnsynced();
  // A sender's payload after the damage holds a mark that checks out and
  // names the damaged offset as synced: recovery refuses (as it did before
  // sync marks), it never cuts because of a sender's bytes.
  {
    auto s = Open(Opts(SyncPolicy::kNone));
    Append(s.get(), "forged " + SyncMark(msgs_[8].start + 1));
    ASSERT_TRUE(s->Close().ok());
  }
  RemoveIndex();
  Zero(8);
  const std::string before = test::ReadFileOrDie(path_);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts(SyncPolicy::kAlways)).MoveTo(&s);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_EQ(test::ReadFileOrDie(path_), before);
}

// An index rebuild on a live store (mqtool recover's RebuildIndex) may cut
// synced bytes that turned out damaged: a later mark names no byte past the cut.
TEST_F(StoreSyncMarkTest, MarksAfterALiveIndexRebuildCutATailNameNoByteItCut) {
  auto s = Open(Opts(SyncPolicy::kAlways));
  for (int i = 1; i <= 3; ++i) Append(s.get(), "m" + std::to_string(i));
  std::string b = test::ReadFileOrDie(path_);
  b[msgs_[3].end - 1] ^= 0x20;  // message 3's payload: nothing valid after it, a torn tail
  test::WriteFileOrDie(path_, b);
  ASSERT_TRUE(s->RebuildIndex().ok());
  Append(s.get(), "m4");
  Append(s.get(), "m5");
  ASSERT_TRUE(s->Close().ok());
  RemoveIndex();
  s = Open(Opts(SyncPolicy::kAlways));
  ASSERT_NE(s, nullptr) << "a mark named an offset after itself";
  EXPECT_EQ(PendingSeqs(s.get()), (std::vector<uint64_t>{1, 2, 4, 5}));
  EXPECT_EQ(s->open_report().tail_cut_bytes, 0u);
}

TEST_F(StoreSyncMarkTest, ReadsAndCompactionPassOverSyncMarks) {
  auto s = Open(Opts(SyncPolicy::kAlways));
  for (int i = 1; i <= 40; ++i) Append(s.get(), "m" + std::to_string(i));
  for (uint64_t seq = 1; seq <= 40; seq += 3) ASSERT_TRUE(s->Consume(seq).ok());
  std::vector<uint64_t> want;
  for (uint64_t seq = 1; seq <= 40; ++seq)
    if (seq % 3 != 1) want.push_back(seq);
  EXPECT_EQ(PendingSeqs(s.get()), want);
  CompactionResult r;
  ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
  EXPECT_EQ(PendingSeqs(s.get()), want);
  Append(s.get(), "after compaction");
  Append(s.get(), "and another");
  const std::string b = test::ReadFileOrDie(path_);
  EXPECT_EQ(b.substr(msgs_[42].start - 20, 20), SyncMark(msgs_[41].end))
      << "after a compaction the first batch after a sync names the new log's synced end";
  ASSERT_TRUE(s->Close().ok());
  RemoveIndex();
  s = Open(Opts(SyncPolicy::kAlways));
  want.push_back(41);
  want.push_back(42);
  EXPECT_EQ(PendingSeqs(s.get()), want);
  EXPECT_EQ(s->open_report().tail_cut_bytes, 0u);
}

}  // namespace
}  // namespace mq
