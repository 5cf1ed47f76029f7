// One writer per queue (docs/design.md, invariant 5): a second Store::Open on
// the same queue gets kBusy naming the holder's pid, read-only inspection
// still works, and the lock goes with its holder (even one that is killed).
// The holder runs in a forked child so that its pid differs from ours.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "mq/inspect.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

StoreOptions Opts() {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  return o;
}

// A child process that opens the queue and holds it until told to go.
class Holder {
 public:
  explicit Holder(const std::string& path) {
    int up[2], down[2];
    if (::pipe(up) != 0 || ::pipe(down) != 0) {
      ADD_FAILURE() << "pipe";
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(up[0]);
      ::close(down[1]);
      std::unique_ptr<Store> s;
      char ok = Store::Open(path, Opts()).MoveTo(&s).ok() ? 'y' : 'n';
      uint64_t seq = 0;
      if (ok == 'y' && !s->Append("from the holder").MoveTo(&seq).ok()) ok = 'n';
      if (::write(up[1], &ok, 1) != 1) ::_exit(2);
      char c;
      (void)::read(down[0], &c, 1);  // until the parent writes or dies
      if (s != nullptr) (void)s->Close();
      ::_exit(ok == 'y' ? 0 : 1);
    }
    ::close(up[1]);
    ::close(down[0]);
    to_child_ = down[1];
    char c = 0;
    ready_ = ::read(up[0], &c, 1) == 1 && c == 'y';
    ::close(up[0]);
  }
  ~Holder() {
    Release();
    Reap();
  }
  bool ready() const { return ready_; }
  pid_t pid() const { return pid_; }
  // Lets the child close the store and exit.
  void Release() {
    if (to_child_ >= 0) {
      (void)::write(to_child_, "x", 1);
      ::close(to_child_);
      to_child_ = -1;
    }
  }
  void Kill() {
    if (to_child_ >= 0) ::close(to_child_);  // no write to a dead reader (SIGPIPE)
    to_child_ = -1;
    ::kill(pid_, SIGKILL);
  }
  int Reap() {
    if (pid_ <= 0) return -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  bool ready_ = false;
};

class StoreLockTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }
  test::TempDir dir_;
  std::string path_;
};

TEST_F(StoreLockTest, SecondWriterIsBusyAndTheErrorNamesTheHoldersPid) {
  Holder holder(path_);
  ASSERT_TRUE(holder.ready());
  const std::string before = test::ReadFileOrDie(path_);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts()).MoveTo(&s);
  EXPECT_TRUE(st.IsBusy()) << st.ToString();
  EXPECT_NE(st.message().find(path_ + ": queue in use by pid " + std::to_string(holder.pid()) + " "), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("stop that process"), std::string::npos) << st.ToString();
  EXPECT_EQ(s, nullptr);
  EXPECT_EQ(QueueLockHolder(path_), holder.pid());
  EXPECT_TRUE(test::ReadFileOrDie(path_) == before) << "a busy open changed the log";
}

TEST_F(StoreLockTest, ReadOnlyInspectionWorksWhileAWriterHoldsTheQueue) {
  Holder holder(path_);
  ASSERT_TRUE(holder.ready());
  LogSummary sum;
  std::string payload;
  Status st = ScanLog(path_, InspectOptions{}, [&](const LogMessage& r) {
    payload.assign(r.payload);
    return true;
  }).MoveTo(&sum);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(sum.messages, 1u);
  EXPECT_EQ(payload, "from the holder");
}

TEST_F(StoreLockTest, LockIsFreeOnceTheHolderClosesAndThenRecordsTheNewHolder) {
  Holder holder(path_);
  ASSERT_TRUE(holder.ready());
  holder.Release();
  int status = holder.Reap();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(QueueLockHolder(path_), 0);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts()).MoveTo(&s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(QueueLockHolder(path_), ::getpid());
  Message m;
  ASSERT_TRUE(s->Get(1, &m).ok());
  EXPECT_EQ(m.payload, "from the holder");
}

TEST_F(StoreLockTest, LockIsFreeWhenTheHolderIsKilled) {
  Holder holder(path_);
  ASSERT_TRUE(holder.ready());
  holder.Kill();
  int status = holder.Reap();
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts()).MoveTo(&s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  Message m;
  ASSERT_TRUE(s->Get(1, &m).ok());
  EXPECT_EQ(m.payload, "from the holder");
}

TEST_F(StoreLockTest, SecondOpenInTheSameProcessIsBusyToo) {
  std::unique_ptr<Store> first;
  ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&first).ok());
  std::unique_ptr<Store> second;
  Status st = Store::Open(path_, Opts()).MoveTo(&second);
  EXPECT_TRUE(st.IsBusy()) << st.ToString();
  EXPECT_NE(st.message().find("in use by pid " + std::to_string(::getpid())), std::string::npos) << st.ToString();
  ASSERT_TRUE(first->Close().ok());
  ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&second).ok()) << "Close releases the lock";
}

TEST_F(StoreLockTest, LockSurvivesCompactionRenamingTheLog) {
  std::unique_ptr<Store> first;
  ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&first).ok());
  uint64_t seq = 0;
  ASSERT_TRUE(first->Append("a").MoveTo(&seq).ok());
  ASSERT_TRUE(first->Consume(seq).ok());
  CompactionResult r;
  ASSERT_TRUE(first->Compact().MoveTo(&r).ok());
  std::unique_ptr<Store> second;
  EXPECT_TRUE(Store::Open(path_, Opts()).MoveTo(&second).IsBusy());
}

// The lock file names its holder: the open writes its pid over the old one
// and cuts only what is left of a longer one (no truncate to 0 at every
// open: a restart of a supervised actor reopens its queue each time).
TEST(StoreLockPid, TheLockFileHoldsExactlyTheOpenersPidAfterALongerOne) {
  test::TempDir dir;
  const std::string queue = dir.File("q");
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(queue, Opts()).MoveTo(&s).ok());
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  test::WriteFileOrDie(queue + ".lock", "123456789012\n");  // longer than any pid
  ASSERT_TRUE(Store::Open(queue, Opts()).MoveTo(&s).ok());
  EXPECT_EQ(test::ReadFileOrDie(queue + ".lock"), std::to_string(::getpid()) + "\n");
  ASSERT_TRUE(s->Close().ok());
}

}  // namespace
}  // namespace mq
