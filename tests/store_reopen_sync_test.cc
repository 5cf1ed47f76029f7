// A writable open in the same boot after a process that did not close the
// store (crashed, killed: the supervised restart) skips the open's syncs,
// and a power loss afterwards still keeps every acknowledged message
// (docs/design.md, "Reopening in the same boot"). FaultEnv (fault_env.h)
// counts the syncs and models the power loss; the LMDB index is outside it
// (its sync is not seen here, tests/syscall_order_test.cc sees it).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "fault_env.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

using test::FaultEnv;

class StoreReopenSyncTest : public ::testing::Test {
 protected:
  StoreOptions Options() {
    StoreOptions o;
    o.env = &env_;
    o.sync = SyncPolicy::kAlways;
    o.auto_compact = false;
    return o;
  }

  // Opens the queue, recording the syncs (file and directory) made during
  // the open.
  std::unique_ptr<Store> OpenCountingSyncs(std::vector<std::string>* syncs) {
    syncs->clear();
    env_.SetObserver([syncs](uint64_t, const std::string& what) {
      if (what.rfind("sync", 0) == 0) syncs->push_back(what);
    });
    std::unique_ptr<Store> st;
    const Status s = Store::Open(q_, Options()).MoveTo(&st);
    env_.SetObserver(nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return st;
  }

  // Appends `payload` (synced: kAlways) and returns its seq.
  uint64_t Append(Store* st, const std::string& payload) {
    uint64_t seq = 0;
    const Status s = st->Append(payload).MoveTo(&seq);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return seq;
  }

  // The process dies with the store open: nothing after this reaches the
  // files (the store's close fails), the machine keeps running.
  void Kill(std::unique_ptr<Store>* st) {
    env_.CrashNow();
    st->reset();
    env_.RestartProcess();
  }

  std::vector<std::string> Pending() {
    std::vector<std::string> out;
    std::unique_ptr<Store> st;
    const Status s = Store::Open(q_, Options()).MoveTo(&st);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return out;
    EXPECT_TRUE(st->ScanPending(0, [&](const MessageView& m) {
                    out.emplace_back(m.payload);
                    return true;
                  }).ok());
    EXPECT_TRUE(st->Close().ok());
    return out;
  }

  test::TempDir dir_;
  std::string q_ = dir_.File("q");
  FaultEnv env_{Env::Default(), /*real_syncs=*/false};
};

TEST_F(StoreReopenSyncTest, AReopenAfterAKillInTheSameBootMakesNoSync) {
  std::vector<std::string> syncs;
  std::unique_ptr<Store> st = OpenCountingSyncs(&syncs);
  ASSERT_NE(st, nullptr);
  Append(st.get(), "m1");
  Kill(&st);
  st = OpenCountingSyncs(&syncs);
  ASSERT_NE(st, nullptr);
  EXPECT_FALSE(st->open_report().synced_at_open);
  EXPECT_NE(st->open_report().index_action, IndexAction::kRebuilt) << st->open_report().index_reason;
  EXPECT_TRUE(syncs.empty()) << "first sync: " << syncs.front();
  // Twice in a row: the resumed open left the index as the first one did.
  Append(st.get(), "m2");
  Kill(&st);
  st = OpenCountingSyncs(&syncs);
  ASSERT_NE(st, nullptr);
  EXPECT_FALSE(st->open_report().synced_at_open);
  EXPECT_TRUE(syncs.empty()) << "first sync: " << syncs.front();
  EXPECT_TRUE(st->Close().ok());
  EXPECT_EQ(Pending(), (std::vector<std::string>{"m1", "m2"}));
}

TEST_F(StoreReopenSyncTest, AReopenAfterACleanCloseSyncsTheDirectoryAndTheStamp) {
  std::vector<std::string> syncs;
  std::unique_ptr<Store> st = OpenCountingSyncs(&syncs);
  ASSERT_NE(st, nullptr);
  Append(st.get(), "m1");
  ASSERT_TRUE(st->Close().ok());
  st = OpenCountingSyncs(&syncs);
  ASSERT_NE(st, nullptr);
  EXPECT_TRUE(st->open_report().synced_at_open);
  EXPECT_EQ(syncs, (std::vector<std::string>{"sync directory " + dir_.path(), "sync " + q_}));
}

TEST_F(StoreReopenSyncTest, AReopenAfterACreateKilledBeforeItsDirectorySyncSyncsTheDirectory) {
  // The first process dies between the new log's fdatasync and its
  // directory's fsync: the file exists, its entry is not durable, no index
  // names it yet.
  env_.SetObserver([this](uint64_t, const std::string& what) {
    if (what.rfind("sync directory", 0) == 0) env_.CrashNow();
  });
  {
    std::unique_ptr<Store> st;
    EXPECT_FALSE(Store::Open(q_, Options()).MoveTo(&st).ok());
  }
  env_.SetObserver(nullptr);
  env_.RestartProcess();
  std::vector<std::string> syncs;
  std::unique_ptr<Store> st = OpenCountingSyncs(&syncs);
  ASSERT_NE(st, nullptr);
  EXPECT_TRUE(st->open_report().synced_at_open);
  const uint64_t seq = Append(st.get(), "acknowledged");
  ASSERT_GT(seq, 0u);
  // The power fails with the store open: the acknowledged message is there
  // only if this open made the log's directory entry durable.
  env_.CrashNow();
  st.reset();
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(Pending(), (std::vector<std::string>{"acknowledged"}));
}

TEST_F(StoreReopenSyncTest, APowerLossAfterAResumedOpenKeepsEveryAcknowledgedMessageAndSyncsAgain) {
  std::vector<std::string> syncs;
  std::unique_ptr<Store> st = OpenCountingSyncs(&syncs);
  ASSERT_NE(st, nullptr);
  Append(st.get(), "m1");
  Kill(&st);
  st = OpenCountingSyncs(&syncs);  // resumed: no sync
  ASSERT_NE(st, nullptr);
  ASSERT_FALSE(st->open_report().synced_at_open);
  Append(st.get(), "m2");
  ASSERT_TRUE(st->Consume(1).ok());  // m1, durably (kAlways)
  Append(st.get(), "m3");
  // The power fails with the resumed store open.
  env_.CrashNow();
  st.reset();
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  st = OpenCountingSyncs(&syncs);
  ASSERT_NE(st, nullptr);
  EXPECT_TRUE(st->open_report().synced_at_open) << "after a power loss (another boot) the open syncs again";
  // The index's last commit (the dying process's flush) claims only log
  // bytes that were synced (sync=always), so it outlives the power cut.
  EXPECT_EQ(st->open_report().index_action, IndexAction::kTrusted)
      << "an unclean index of another boot whose last commit covers only synced log bytes";
  EXPECT_FALSE(syncs.empty());
  EXPECT_TRUE(st->Close().ok());
  EXPECT_EQ(Pending(), (std::vector<std::string>{"m2", "m3"}));
}

}  // namespace
}  // namespace mq
