// An index left behind by a power cut is replaced, not rebuilt in place
// (store/src/engine/store_open.cc, OpenIndex; store/src/index/index.cc,
// CheckPagesPresent)
// (docs/design.md, "When the index is trusted"; found by the power-loss
// torture, docs/powerloss.md): LMDB's unsynced commits may have reached the
// disk in any order, so its file may hold a meta page without the pages it
// points to.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "mq/store.h"
#include "store_testing.h"
#include "test_util.h"

namespace mq {
namespace {

class OtherBootEnv final : public Env {
 public:
  Result<std::unique_ptr<Directory>> OpenDirectory(const std::string& d) override {
    return base_->OpenDirectory(d);
  }
  std::string BootId() override { return "a-boot-after-a-power-cut"; }
  uint64_t NowMicros() override { return base_->NowMicros(); }

 private:
  Env* base_ = Env::Default();
};

class StoreIndexPowerCutTest : public ::testing::Test {
 protected:
  test::TempDir dir_;
  std::string path_ = dir_.File("q");

  // Ten messages, then a writer that dies with its index unclean (in use,
  // written during this boot). `unsynced_flush`: it runs with sync=none and
  // its last index commit is a flush of "after", which syncs nothing and so
  // claims no synced log (IndexMeta::synced_log): an index a power cut may
  // have torn. Otherwise its last commit is its open's, which covers only
  // synced log bytes.
  void LeaveUncleanIndex(bool unsynced_flush = false) {
    {
      std::unique_ptr<Store> s;
      ASSERT_TRUE(Store::Open(path_, StoreOptions()).MoveTo(&s).ok());
      for (int i = 0; i < 10; ++i) {
        uint64_t seq = 0;
        ASSERT_TRUE(s->Append("m" + std::to_string(i)).MoveTo(&seq).ok());
      }
      ASSERT_TRUE(s->Close().ok());
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::unique_ptr<Store> s;
      StoreOptions o;
      if (unsynced_flush) {
        o.sync = SyncPolicy::kNone;
        o.index_tail_flush = 1;
      }
      if (!Store::Open(path_, o).MoveTo(&s).ok()) ::_exit(1);
      uint64_t seq = 0;
      if (!s->Append("after").MoveTo(&seq).ok()) ::_exit(1);
      (void)s->Stats();  // waits for the flush in flight
      ::_exit(0);  // no Close
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }

  void ExpectAllElevenPending(Store* s) {
    const auto pending = test::PendingMessages(s);
    ASSERT_EQ(pending.size(), 11u);
    EXPECT_EQ(pending.begin()->second, "m0");
    EXPECT_EQ(pending.rbegin()->second, "after");
  }
};

TEST_F(StoreIndexPowerCutTest, UncleanIndexFromAnotherBootIsReplacedByANewFile) {
  LeaveUncleanIndex(/*unsynced_flush=*/true);
  const std::string old_index = test::ReadFileOrDie(path_ + ".idx");
  OtherBootEnv other_boot;
  StoreOptions o;
  o.env = &other_boot;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, o).MoveTo(&s).ok());
  EXPECT_EQ(s->open_report().index_action, IndexAction::kRebuilt);
  EXPECT_EQ(s->open_report().index_reason, "the machine restarted since it was last written unsynced");
  ASSERT_TRUE(test::FileExists(path_ + ".idx.unreadable"));
  EXPECT_EQ(test::ReadFileOrDie(path_ + ".idx.unreadable"), old_index);
  ExpectAllElevenPending(s.get());
  ASSERT_TRUE(s->Close().ok());
}

// An unclean index whose last commit covers only synced log bytes is whole
// (its commits synced their pages: MDB_NOMETASYNC): another boot keeps it.
TEST_F(StoreIndexPowerCutTest, UncleanIndexFromAnotherBootThatCoversOnlySyncedLogIsKept) {
  LeaveUncleanIndex();
  OtherBootEnv other_boot;
  StoreOptions o;
  o.env = &other_boot;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, o).MoveTo(&s).ok());
  EXPECT_EQ(s->open_report().index_action, IndexAction::kCaughtUp) << DescribeIndexAction(s->open_report());
  EXPECT_EQ(s->open_report().messages_indexed, 1u);  // "after", past what the open's commit covered
  EXPECT_FALSE(test::FileExists(path_ + ".idx.unreadable"));
  ExpectAllElevenPending(s.get());
  ASSERT_TRUE(s->Close().ok());
}

// The shape a power cut leaves under MDB_NOSYNC (which older versions used) when the file grew: the meta
// pages (rewritten in place, the first two) survive, the pages appended after
// the synced end do not. Reading them through LMDB's map would raise SIGBUS.
TEST_F(StoreIndexPowerCutTest, IndexShorterThanItsMetaPageSaysIsReplacedAndTheQueueOpens) {
  LeaveUncleanIndex();
  std::string idx = test::ReadFileOrDie(path_ + ".idx");
  ASSERT_GT(idx.size(), 2u * 4096);
  test::WriteFileOrDie(path_ + ".idx", idx.substr(0, 2 * 4096));
  std::unique_ptr<Store> s;
  const Status st = Store::Open(path_, StoreOptions()).MoveTo(&s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(s->open_report().index_action, IndexAction::kRebuilt);
  EXPECT_EQ(test::ReadFileOrDie(path_ + ".idx.unreadable"), idx.substr(0, 2 * 4096));
  ExpectAllElevenPending(s.get());
  ASSERT_TRUE(s->Close().ok());
}

}  // namespace
}  // namespace mq
