// A log put back from a copy (docs/design.md, "When the index is trusted"):
// the index is trusted only if it provably describes this log's bytes,
// including the used flags; otherwise it is rebuilt, and every message the
// log says is pending is delivered, and none it says is consumed.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>

#include "mq/store.h"
#include "format/record.h"
#include "store_testing.h"
#include "test_util.h"

namespace mq {
namespace {

class StoreRestoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> OpenOrDie() {
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, StoreOptions{}).MoveTo(&s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }
  // seqs 1..4, "m1".."m4", closed cleanly.
  void MakeFour() {
    auto s = OpenOrDie();
    for (int i = 1; i <= 4; ++i) {
      uint64_t seq = 0;
      ASSERT_TRUE(s->Append("m" + std::to_string(i)).MoveTo(&seq).ok());
    }
    ASSERT_TRUE(s->Close().ok());
  }
  void ConsumeFirstTwo(Store* s) {
    for (int i = 1; i <= 2; ++i) {
      Message m;
      ASSERT_TRUE(s->ConsumeFirst(&m).ok());
      ASSERT_EQ(m.seq, static_cast<uint64_t>(i));
    }
  }
  uint32_t SessionStamp() {
    std::string b = test::ReadFileOrDie(path_);
    log::Header h;
    EXPECT_TRUE(log::DecodeHeader(b.data(), b.size(), path_, &h).ok());
    return h.session;
  }
  test::TempDir dir_;
  std::string path_ = dir_.File("q");
  const std::map<uint64_t, std::string> all_four_{{1, "m1"}, {2, "m2"}, {3, "m3"}, {4, "m4"}};
};

TEST_F(StoreRestoreTest, LogRestoredFromAnOlderCopyDeliversTheMessagesTheCopyHasPending) {
  MakeFour();
  const std::string backup = test::ReadFileOrDie(path_);  // cp q q.bak
  {
    auto s = OpenOrDie();
    ConsumeFirstTwo(s.get());
    ASSERT_TRUE(s->Close().ok());
  }
  test::WriteFileOrDie(path_, backup);  // cp q.bak q
  auto s = OpenOrDie();
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt);
  EXPECT_FALSE(s->open_report().index_reason.empty()) << mq::DescribeIndexAction(s->open_report());
  EXPECT_EQ(test::PendingMessages(s.get()), all_four_);
  for (uint64_t want = 1; want <= 4; ++want) {
    Message m;
    ASSERT_TRUE(s->ConsumeFirst(&m).ok());
    EXPECT_EQ(m.seq, want);
  }
}

TEST_F(StoreRestoreTest, LogRestoredAfterAWriterCrashedDeliversTheMessagesTheCopyHasPending) {
  MakeFour();
  const std::string backup = test::ReadFileOrDie(path_);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::unique_ptr<Store> s;
    if (!Store::Open(path_, StoreOptions{}).MoveTo(&s).ok()) ::_exit(1);
    for (int i = 0; i < 2; ++i) {
      Message m;
      if (!s->ConsumeFirst(&m).ok()) ::_exit(1);
    }
    ::_exit(0);  // no Close: the index stays in use, written during this boot
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  test::WriteFileOrDie(path_, backup);
  auto s = OpenOrDie();
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt);
  EXPECT_EQ(s->open_report().index_reason.rfind("the log's session stamp", 0), 0u)
      << mq::DescribeIndexAction(s->open_report());
  EXPECT_EQ(test::PendingMessages(s.get()), all_four_);
}

TEST_F(StoreRestoreTest, IndexRestoredFromAnOlderCopyNeitherLosesNorRedeliversMessages) {
  MakeFour();
  const std::string old_index = test::ReadFileOrDie(path_ + ".idx");
  {
    auto s = OpenOrDie();
    ConsumeFirstTwo(s.get());
    uint64_t seq = 0;
    ASSERT_TRUE(s->Append("m5").MoveTo(&seq).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  test::WriteFileOrDie(path_ + ".idx", old_index);  // the log is newer than the index
  auto s = OpenOrDie();
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt);
  EXPECT_FALSE(s->open_report().index_reason.empty()) << mq::DescribeIndexAction(s->open_report());
  std::map<uint64_t, std::string> want{{3, "m3"}, {4, "m4"}, {5, "m5"}};
  EXPECT_EQ(test::PendingMessages(s.get()), want);
  Message m;
  ASSERT_TRUE(s->ConsumeFirst(&m).ok());
  EXPECT_EQ(m.seq, 3u);
}

TEST_F(StoreRestoreTest, LogCopiedForwardOverAnOlderStateIsReadAsTheLogSays) {
  MakeFour();
  {
    auto s = OpenOrDie();
    ConsumeFirstTwo(s.get());
    ASSERT_TRUE(s->Close().ok());
  }
  const std::string newer_log = test::ReadFileOrDie(path_);  // a later state, copied elsewhere
  // Here the queue goes back to where it was before (say a snapshot of the
  // whole directory), and then the newer log is copied over it.
  {
    auto s = OpenOrDie();
    Message m;
    ASSERT_TRUE(s->ConsumeFirst(&m).ok());  // seq 3, only in this line of history
    ASSERT_TRUE(s->Close().ok());
  }
  test::WriteFileOrDie(path_, newer_log);
  auto s = OpenOrDie();
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt);
  EXPECT_FALSE(s->open_report().index_reason.empty()) << mq::DescribeIndexAction(s->open_report());
  std::map<uint64_t, std::string> want{{3, "m3"}, {4, "m4"}};
  EXPECT_EQ(test::PendingMessages(s.get()), want);
}

TEST_F(StoreRestoreTest, CleanReopenTrustsTheIndexAndEveryOpenRaisesTheSessionStamp) {
  MakeFour();
  uint32_t stamp = SessionStamp();
  EXPECT_EQ(stamp, 1u);  // the creating open's
  for (int i = 0; i < 3; ++i) {
    auto s = OpenOrDie();
    EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
    EXPECT_EQ(s->open_report().scanned_bytes, 0u) << "a trusted clean index scans nothing";
    Message m;
    ASSERT_TRUE(s->ConsumeFirst(&m).ok());
    ASSERT_TRUE(s->Close().ok());
    EXPECT_EQ(SessionStamp(), stamp + 1);
    stamp = SessionStamp();
  }
}

}  // namespace
}  // namespace mq
