// Monitors (mq/monitor.h) with real processes: a DOWN message reaches the
// watcher's mailbox by confirmed send after a SIGKILL, with the exit code of
// a process that is not the watcher's child (PIDFD_INFO_EXIT), as noproc for
// a pid already gone, never after Demonitor, and never confused by a pid
// that a new process took over.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailbox_testing.h"
#include "mq/monitor.h"

namespace mq::supervisor {
namespace {

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The Monitors first, while this process has one thread (mq/monitor.h).
    ASSERT_TRUE(Monitors::Start().MoveTo(&monitors_).ok());
    mb_ = test::OpenMailboxOrDie(test::OptionsIn(dir_));
  }
  std::string NextDown(Mailbox::Timeout t = std::chrono::seconds(10)) {
    Message m;
    Status s = mb_->Receive(Pattern::Prefix("DOWN "), t, &m);
    return s.ok() ? m.payload : "(" + s.ToString() + ")";
  }
  // A child that waits to be killed.
  static pid_t Sleeper() {
    pid_t pid = ::fork();
    if (pid == 0) {
      for (;;) ::pause();
    }
    return pid;
  }
  // A pid that has exited and been reaped.
  static pid_t Gone() {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    int st;
    ::waitpid(pid, &st, 0);
    return pid;
  }
  // A sleeping child with exactly the pid `want` (free now), by writing
  // want - 1 to /proc/sys/kernel/ns_last_pid before the fork: the kernel
  // hands out the next pid after it (CRIU restores pids this way). Another
  // process of the machine can take it first: then the child is killed and
  // the next attempt made. -1 if it never works (not root: no such file).
  static pid_t SleeperWithPid(pid_t want) {
    const std::string last = std::to_string(want - 1);
    for (int attempt = 0; attempt < 50; ++attempt) {
      const int fd = ::open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
      if (fd < 0) return -1;
      const bool wrote = ::write(fd, last.data(), last.size()) == static_cast<ssize_t>(last.size());
      ::close(fd);
      if (!wrote) return -1;
      const pid_t pid = Sleeper();
      if (pid == want) return pid;
      ::kill(pid, SIGKILL);
      int st;
      ::waitpid(pid, &st, 0);
    }
    return -1;
  }
  test::TempDir dir_;
  std::unique_ptr<Mailbox> mb_;
  std::unique_ptr<Monitors> monitors_;
};

// The monitor holds a pidfd of the process it was given, so when that
// process ends and its pid goes to a new process at once, the DOWN still
// comes, for the old process, and the new one is a process of its own: a
// monitor of the pid now watches it, and its DOWN comes only when it ends.
TEST_F(MonitorTest, APidReusedByANewProcessNeitherHidesTheOldDownNorInheritsIt) {
  const pid_t old_pid = Sleeper();
  auto old_ref = monitors_->Monitor(old_pid, mb_->options().socket_path, "old");
  ASSERT_TRUE(old_ref.ok()) << old_ref.status().ToString();
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);
  int st = 0;
  ASSERT_EQ(::waitpid(old_pid, &st, 0), old_pid);  // reaped: the pid is free
  const pid_t reused = SleeperWithPid(old_pid);
  if (reused < 0) GTEST_SKIP() << "could not get pid " << old_pid << " again through /proc/sys/kernel/ns_last_pid";
  ASSERT_EQ(reused, old_pid);
  struct KillAtEnd {  // a failed assertion must not leave the sleeper behind
    pid_t pid;
    ~KillAtEnd() {
      if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
  } sleeper{reused};
  const std::string prefix = "DOWN ref=" + std::to_string(*old_ref) + " pid=" + std::to_string(old_pid) +
                             " name=old reason=";
  const std::string down = NextDown();
  ASSERT_EQ(down.substr(0, prefix.size()), prefix) << down;
  EXPECT_NE(down.substr(prefix.size()), "noproc") << "the old process was alive when monitored";
  ASSERT_EQ(::kill(reused, 0), 0) << "the new process with the same pid is alive";

  auto new_ref = monitors_->Monitor(reused, mb_->options().socket_path, "new");
  ASSERT_TRUE(new_ref.ok());
  Message early;
  Status none = mb_->Receive(Pattern::Prefix("DOWN "), std::chrono::milliseconds(300), &early);
  EXPECT_TRUE(none.IsTimedOut()) << "a DOWN while the new process lives: " << early.payload;
  ASSERT_EQ(::kill(reused, SIGKILL), 0);
  EXPECT_EQ(NextDown(), "DOWN ref=" + std::to_string(*new_ref) + " pid=" + std::to_string(reused) +
                            " name=new reason=signal:KILL");
  ASSERT_EQ(::waitpid(reused, &st, 0), reused);
  sleeper.pid = -1;  // reaped: the pid is no longer ours to kill
  Message extra;
  Status more = mb_->Receive(Pattern::Prefix("DOWN "), std::chrono::milliseconds(300), &extra);
  EXPECT_TRUE(more.IsTimedOut()) << "one DOWN too many: " << extra.payload;
}

TEST_F(MonitorTest, DownAfterSigkillNamesRefPidNameAndSignal) {
  const pid_t child = Sleeper();
  auto ref = monitors_->Monitor(child, mb_->options().socket_path, "worker");
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_EQ(NextDown(), "DOWN ref=" + std::to_string(*ref) + " pid=" + std::to_string(child) +
                            " name=worker reason=signal:KILL");
  // WNOWAIT: the monitor did not reap the watcher's own child.
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  EXPECT_TRUE(WIFSIGNALED(st));
}

TEST_F(MonitorTest, DownOfANonChildCarriesItsExitCode) {
  int pidpipe[2], gate[2];
  ASSERT_EQ(::pipe(pidpipe), 0);
  ASSERT_EQ(::pipe(gate), 0);
  const pid_t parent = ::fork();
  if (parent == 0) {
    ::close(gate[1]);
    const pid_t grandchild = ::fork();
    if (grandchild == 0) {
      char c;
      (void)!::read(gate[0], &c, 1);  // until the test closes the gate
      ::_exit(3);
    }
    ::close(gate[0]);
    (void)!::write(pidpipe[1], &grandchild, sizeof(grandchild));
    int st;
    ::waitpid(grandchild, &st, 0);  // the grandchild's parent reaps it
    ::_exit(0);
  }
  ::close(gate[0]);
  ::close(pidpipe[1]);
  pid_t grandchild = 0;
  ASSERT_EQ(::read(pidpipe[0], &grandchild, sizeof(grandchild)), static_cast<ssize_t>(sizeof(grandchild)));
  auto ref = monitors_->Monitor(grandchild, mb_->options().socket_path);
  ASSERT_TRUE(ref.ok());
  ::close(gate[1]);
  EXPECT_EQ(NextDown(), "DOWN ref=" + std::to_string(*ref) + " pid=" + std::to_string(grandchild) +
                            " name=- reason=exit:3");
  EXPECT_EQ(test::WaitProcess(parent), 0);
  ::close(pidpipe[0]);
}

TEST_F(MonitorTest, PidAlreadyGoneIsNoproc) {
  const pid_t gone = Gone();
  auto ref = monitors_->Monitor(gone, mb_->options().socket_path, "late");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(NextDown(), "DOWN ref=" + std::to_string(*ref) + " pid=" + std::to_string(gone) +
                            " name=late reason=noproc");
}

TEST_F(MonitorTest, DemonitoredProcessSendsNoDown) {
  const pid_t child = Sleeper();
  auto ref = monitors_->Monitor(child, mb_->options().socket_path, "quiet");
  ASSERT_TRUE(ref.ok());
  ASSERT_TRUE(monitors_->Demonitor(*ref).ok());
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int st;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  // A later monitor's DOWN arrives; the demonitored one's never does (it
  // would be ready at the same poll).
  auto marker = monitors_->Monitor(Gone(), mb_->options().socket_path, "marker");
  ASSERT_TRUE(marker.ok());
  EXPECT_NE(NextDown().find("name=marker"), std::string::npos);
  Message extra;
  Status more = mb_->Receive(Pattern::Prefix("DOWN "), std::chrono::milliseconds(500), &extra);
  EXPECT_TRUE(more.IsTimedOut()) << "a DOWN after Demonitor: " << extra.payload;
  EXPECT_EQ(monitors_->Demonitor(*ref).code(), Status::Code::kNotFound);
}

TEST_F(MonitorTest, DemonitorAfterDownIsNotFound) {
  auto ref = monitors_->Monitor(Gone(), mb_->options().socket_path);
  ASSERT_TRUE(ref.ok());
  EXPECT_NE(NextDown().find("reason=noproc"), std::string::npos);
  EXPECT_EQ(monitors_->Demonitor(*ref).code(), Status::Code::kNotFound);
}

TEST_F(MonitorTest, DownToAMissingMailboxIsCountedUndelivered) {
  auto ref = monitors_->Monitor(Gone(), dir_.File("nobody.sock"));
  ASSERT_TRUE(ref.ok());
  EXPECT_TRUE(test::WaitUntil([&] { return monitors_->undelivered() == 1; }));
}

TEST(MonitorFormat, DownMessageStartsWithDownAndNamesEveryField) {
  EXPECT_EQ(DownMessage(7, 1234, "", ExitReason::Exit(0)), "DOWN ref=7 pid=1234 name=- reason=exit:0");
  EXPECT_EQ(DownMessage(8, 1, "db", ExitReason{}), "DOWN ref=8 pid=1 name=db reason=unknown");
}

}  // namespace
}  // namespace mq::supervisor
