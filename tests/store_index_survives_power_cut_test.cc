// An index that survives a power cut (docs/design.md, "An index that
// survives a power cut"): a flush of the index tail makes the log durable up
// to what it covers before it commits, and says so (IndexMeta::synced_log);
// an open in another boot then trusts that index and scans only the log after
// it, instead of rebuilding the index from the whole log. It must never trust
// an index that claims more than the log holds.
//
// FaultEnv (fault_env.h) models the log's power cut; LMDB's I/O is outside
// it, so the test keeps the index file as it was when the power failed (every
// commit made, none since) and puts it back after FaultEnv's power loss.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fault_env.h"
#include "mq/store.h"
#include "store_testing.h"
#include "test_util.h"

namespace mq {
namespace {

using test::FaultEnv;
using test::PowerLossOptions;

constexpr size_t kFlush = 64;     // StoreOptions::index_tail_flush
constexpr int kFlushed = 2 * 64;  // messages the index's last flush covers
constexpr int kLate = 10;         // appended after it, in no flush

std::string Payload(int i) { return "message-" + std::to_string(i) + std::string(100, 'x'); }

class IndexSurvivesPowerCutTest : public ::testing::Test {
 protected:
  StoreOptions Options(SyncPolicy sync) {
    StoreOptions o;
    o.env = &env_;
    o.sync = sync;
    o.batch_interval = std::chrono::hours(1);  // sync=batch: only the flushes sync the log
    o.index_tail_flush = kFlush;
    o.auto_compact = false;
    return o;
  }

  // The writer: kFlushed messages in two flushes of the index tail (the
  // second waited for), then kLate appended one by one, which no flush
  // covers; then the power fails. `covered_`: the log's size after the
  // flushed ones, what the index's last commit covers.
  void WriteThenCutPower(SyncPolicy sync, const PowerLossOptions& cut = {}) {
    std::unique_ptr<Store> st;
    ASSERT_TRUE(Store::Open(q_, Options(sync)).MoveTo(&st).ok());
    for (int b = 0; b < kFlushed / static_cast<int>(kFlush); ++b) {
      std::vector<std::string> owned;
      for (size_t i = 0; i < kFlush; ++i) owned.push_back(Payload(static_cast<int>(b * kFlush + i)));
      std::vector<std::string_view> batch(owned.begin(), owned.end());
      uint64_t seq = 0;
      ASSERT_TRUE(st->AppendBatch(batch).MoveTo(&seq).ok());
    }
    (void)st->Stats();  // waits for the flush in flight
    covered_ = test::ReadFileOrDie(q_).size();
    for (int i = kFlushed; i < kFlushed + kLate; ++i) {
      uint64_t seq = 0;
      ASSERT_TRUE(st->Append(Payload(i)).MoveTo(&seq).ok());
    }
    // The power fails: LMDB's file as it is now (FaultEnv does not see it).
    const std::string index = test::ReadFileOrDie(q_ + ".idx");
    env_.CrashNow();
    st.reset();  // its close fails; it may still write LMDB, which the cut undoes below
    ASSERT_TRUE(env_.SimulatePowerLoss(cut).ok());
    test::WriteFileOrDie(q_ + ".idx", index);
  }

  // Opens in the new boot; every pending message must be one that was sent,
  // in order, with its payload; returns how many.
  std::unique_ptr<Store> Reopen(SyncPolicy sync, size_t* pending) {
    std::unique_ptr<Store> st;
    const Status s = Store::Open(q_, Options(sync)).MoveTo(&st);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return nullptr;
    const std::map<uint64_t, std::string> got = test::PendingMessages(st.get());
    int i = 0;
    for (const auto& [seq, payload] : got) {
      EXPECT_EQ(seq, static_cast<uint64_t>(i + 1));
      EXPECT_EQ(payload, Payload(i)) << "seq " << seq;
      ++i;
    }
    *pending = got.size();
    return st;
  }

  test::TempDir dir_;
  std::string q_ = dir_.File("q");
  FaultEnv env_{Env::Default(), /*real_syncs=*/false};
  uint64_t covered_ = 0;
};

TEST_F(IndexSurvivesPowerCutTest, AnIndexOfAnotherBootIsTrustedAndOnlyTheLogAfterWhatItCoversIsScanned) {
  WriteThenCutPower(SyncPolicy::kAlways);  // every append synced: the late ones survive
  const uint64_t size = test::ReadFileOrDie(q_).size();
  ASSERT_GT(size, covered_);
  size_t pending = 0;
  std::unique_ptr<Store> st = Reopen(SyncPolicy::kAlways, &pending);
  ASSERT_NE(st, nullptr);
  const OpenReport& r = st->open_report();
  EXPECT_EQ(r.index_action, IndexAction::kCaughtUp) << DescribeIndexAction(r);
  EXPECT_EQ(r.scanned_from, covered_);
  EXPECT_EQ(r.scanned_bytes, size - covered_);
  EXPECT_EQ(r.messages_indexed, static_cast<uint64_t>(kLate));
  EXPECT_EQ(pending, static_cast<size_t>(kFlushed + kLate));
  EXPECT_FALSE(test::FileExists(q_ + ".idx.unreadable"));
  EXPECT_TRUE(st->Close().ok());
}

// sync=batch with nothing but the flushes to sync the log: what the index
// covers is durable only because its flush synced it first.
TEST_F(IndexSurvivesPowerCutTest, AFlushSyncsTheLogItCoversBeforeItsIndexCommit) {
  WriteThenCutPower(SyncPolicy::kBatch);  // the late appends were never synced: the cut takes them
  EXPECT_EQ(test::ReadFileOrDie(q_).size(), covered_);
  size_t pending = 0;
  std::unique_ptr<Store> st = Reopen(SyncPolicy::kBatch, &pending);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->open_report().index_action, IndexAction::kTrusted) << DescribeIndexAction(st->open_report());
  EXPECT_EQ(st->open_report().scanned_bytes, 0u);
  EXPECT_EQ(pending, static_cast<size_t>(kFlushed));
  EXPECT_TRUE(st->Close().ok());
}

// The unsynced tail past the index in the shapes FaultEnv's page model gives
// it (a subset of its pages in any order, a torn last page): the queue opens
// by itself with the index trusted, every flushed message is there, and of
// the late ones only whole ones, in order (Reopen checks).
TEST_F(IndexSurvivesPowerCutTest, AnUnsyncedTailInAnyShapeAfterATrustedIndexOpensByItself) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    q_ = dir_.File("q" + std::to_string(seed));
    PowerLossOptions cut;
    cut.pages = seed % 3 == 0 ? PowerLossOptions::Pages::kTornLastPage : PowerLossOptions::Pages::kSubset;
    cut.seed = seed;
    WriteThenCutPower(SyncPolicy::kBatch, cut);
    size_t pending = 0;
    std::unique_ptr<Store> st = Reopen(SyncPolicy::kBatch, &pending);
    ASSERT_NE(st, nullptr);
    const OpenReport& r = st->open_report();
    EXPECT_NE(r.index_action, IndexAction::kRebuilt) << DescribeIndexAction(r);
    EXPECT_EQ(r.scanned_from, covered_);
    EXPECT_GE(pending, static_cast<size_t>(kFlushed));
    EXPECT_TRUE(st->Close().ok());
  }
}

// The index claims log bytes the log no longer has (a disk that lied about
// a flush, a log put back from an older copy of the same session): never
// trusted, rebuilt from what the log holds; no message it named appears.
TEST_F(IndexSurvivesPowerCutTest, AnIndexThatCoversMoreThanTheLogHoldsIsRebuilt) {
  WriteThenCutPower(SyncPolicy::kBatch);
  std::string log = test::ReadFileOrDie(q_);
  ASSERT_EQ(log.size(), covered_);
  test::WriteFileOrDie(q_, log.substr(0, covered_ - 10));  // the last flushed message lost its end
  size_t pending = 0;
  std::unique_ptr<Store> st = Reopen(SyncPolicy::kBatch, &pending);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->open_report().index_action, IndexAction::kRebuilt);
  EXPECT_NE(st->open_report().index_reason.find("covers " + std::to_string(covered_) + " bytes"), std::string::npos)
      << st->open_report().index_reason;
  EXPECT_EQ(pending, static_cast<size_t>(kFlushed - 1));
  EXPECT_TRUE(st->Close().ok());
}

TEST_F(IndexSurvivesPowerCutTest, AnIndexWhoseLastMessageIsNotInTheLogIsRebuilt) {
  WriteThenCutPower(SyncPolicy::kBatch);
  std::string log = test::ReadFileOrDie(q_);
  ASSERT_EQ(log.size(), covered_);
  // The last flushed message's bytes zeroed, the size kept.
  const size_t framed = Payload(kFlushed - 1).size() + 28;
  for (size_t i = covered_ - framed; i < covered_; ++i) log[i] = 0;
  test::WriteFileOrDie(q_, log);
  size_t pending = 0;
  std::unique_ptr<Store> st = Reopen(SyncPolicy::kBatch, &pending);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->open_report().index_action, IndexAction::kRebuilt);
  EXPECT_NE(st->open_report().index_reason.find("does not match the log"), std::string::npos)
      << st->open_report().index_reason;
  EXPECT_EQ(pending, static_cast<size_t>(kFlushed - 1));
  EXPECT_TRUE(st->Close().ok());
}

// sync=none promises nothing durable: its flushes do not sync the log and
// claim nothing, so another boot rebuilds (as every unclean index of another
// boot was before).
TEST_F(IndexSurvivesPowerCutTest, AnIndexFlushedUnderSyncNoneIsRebuiltInAnotherBoot) {
  WriteThenCutPower(SyncPolicy::kNone);
  size_t pending = 0;
  std::unique_ptr<Store> st = Reopen(SyncPolicy::kNone, &pending);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->open_report().index_action, IndexAction::kRebuilt);
  EXPECT_EQ(st->open_report().index_reason, "the machine restarted since it was last written unsynced");
  EXPECT_TRUE(st->Close().ok());
}

}  // namespace
}  // namespace mq
