// `mqsup run` with real processes: what each restart type does on exit 0
// and exit 1, SIGTERM escalating to SIGKILL, a DOWN message to a monitor
// after a SIGKILL, readiness holding the next start, and an orphaned
// grandchild reaped by the supervisor (a subreaper).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "mqsup_testing.h"

namespace mq::test {
namespace {

using Lines = std::vector<std::string>;

class MqsupLifecycleTest : public ::testing::Test {
 protected:
  std::string Ready(const std::string& name, const std::string& extra = "") {
    return run_.Child(name, {"ready"}, "ready = \"notify\"\n" + extra);
  }
  // Runs one child `exit-first CODE` of restart type `type` (it exits CODE
  // once, then stays up if started again), and returns its status row
  // once its DOWN has arrived and the supervisor has decided.
  StatusRow ExitOnce(const std::string& type, int code) {
    run_.Configure("", {run_.Child("x", {"exit-first", std::to_string(code), run_.dir().File("marker")},
                                   "restart = \"" + type + "\"\n")});
    run_.Start();
    EXPECT_NE(run_.NextDown().find("name=x reason=exit:" + std::to_string(code)), std::string::npos);
    // The supervisor decided before it handled this request (one loop).
    return run_.Row("x");
  }
  MqsupRun run_;
};

TEST_F(MqsupLifecycleTest, PermanentIsRestartedAfterExitZero) {
  StatusRow r = ExitOnce("permanent", 0);
  EXPECT_EQ(r.restarts, 1u);
  EXPECT_NE(r.state, "down");
  EXPECT_EQ(r.last_exit, "exit:0");
}

TEST_F(MqsupLifecycleTest, TransientIsNotRestartedAfterExitZero) {
  StatusRow r = ExitOnce("transient", 0);
  EXPECT_EQ(r.restarts, 0u);
  EXPECT_EQ(r.state, "down");
  EXPECT_EQ(r.pid, 0);
  EXPECT_EQ(r.last_exit, "exit:0");
}

TEST_F(MqsupLifecycleTest, TransientIsRestartedAfterExitOne) {
  StatusRow r = ExitOnce("transient", 1);
  EXPECT_EQ(r.restarts, 1u);
  EXPECT_NE(r.state, "down");
}

TEST_F(MqsupLifecycleTest, TemporaryIsNotRestartedEvenAfterExitOne) {
  StatusRow r = ExitOnce("temporary", 1);
  EXPECT_EQ(r.restarts, 0u);
  EXPECT_EQ(r.state, "down");
}

// The delays mqsup logged ("restarting 1 child(ren) in N ms"), in order.
std::vector<long> RestartDelaysMs(const std::string& log) {
  std::vector<long> v;
  const std::string key = "restarting 1 child(ren) in ";
  for (size_t at = log.find(key); at != std::string::npos; at = log.find(key, at + 1))
    v.push_back(std::strtol(log.c_str() + at + key.size(), nullptr, 10));
  return v;
}

// OTP restarts a crashed child at once; so does mqsup with the default
// backoff (docs/supervision.md, "Restart decisions"). Only a crash that
// repeats within `period` of the child's start waits: the first delay,
// 100 ms jittered to 50-100 ms. The delays are mqsup's decisions, read from
// its log, not wall time.
TEST_F(MqsupLifecycleTest, TheFirstRestartAfterACrashIsNotDelayedByDefault) {
  run_.Configure("intensity = 10\nperiod = \"60s\"\n", {run_.Child("x", {"run"})}, /*test_backoff=*/false);
  run_.Start();
  for (int kill_no = 0; kill_no < 2; ++kill_no) {
    ASSERT_TRUE(run_.WaitRunning(1)) << run_.Stderr();
    const pid_t pid = run_.Row("x").pid;
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    EXPECT_NE(run_.NextDown().find("name=x reason=signal:KILL"), std::string::npos);
    ASSERT_TRUE(WaitUntil([&] {
      const StatusRow r = run_.Row("x");
      return r.state == "running" && r.pid > 0 && r.pid != pid;
    })) << run_.Stderr();
  }
  const std::vector<long> delays = RestartDelaysMs(run_.Stderr());
  ASSERT_EQ(delays.size(), 2u) << run_.Stderr();
  EXPECT_EQ(delays[0], 0) << "the first restart after a crash was delayed:\n" << run_.Stderr();
  EXPECT_GE(delays[1], 50) << run_.Stderr();  // the repeated crash backs off
  EXPECT_LE(delays[1], 100) << run_.Stderr();
}

// A restart whose exec fails (its cwd removed meanwhile) never ran: the next
// try is a repeated crash and backs off, instead of trying again at once
// until the intensity gives up. The child first runs longer than `period`,
// so that only the failed start's own (zero) run time makes it a repeat.
TEST_F(MqsupLifecycleTest, ARestartThatCannotStartBacksOffBeforeTheNextTry) {
  const std::string wd = run_.dir().File("wd");
  ASSERT_EQ(::mkdir(wd.c_str(), 0700), 0);
  run_.Configure("intensity = 3\nperiod = \"2s\"\n", {run_.Child("x", {"run"}, "cwd = \"" + wd + "\"\n")},
                 /*test_backoff=*/false);
  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(1)) << run_.Stderr();
  const pid_t pid = run_.Row("x").pid;
  ASSERT_GT(pid, 0);
  ::usleep(2500 * 1000);  // longer than period: the kill is no repeated crash
  ASSERT_EQ(::rmdir(wd.c_str()), 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_EQ(run_.Wait(), 5) << run_.Stderr();  // gave up: the 4th restart within 2 s
  const std::vector<long> delays = RestartDelaysMs(run_.Stderr());
  ASSERT_GE(delays.size(), 3u) << run_.Stderr();
  EXPECT_EQ(delays[0], 0) << run_.Stderr();  // after the kill: at once
  EXPECT_GE(delays[1], 50) << run_.Stderr();  // after the failed start: the first delay
  EXPECT_LE(delays[1], 100) << run_.Stderr();
  EXPECT_GE(delays[2], 100) << run_.Stderr();  // then twice that
  EXPECT_LE(delays[2], 200) << run_.Stderr();
}

TEST_F(MqsupLifecycleTest, ShutdownEscalatesToSigkillForAChildThatIgnoresSigterm) {
  run_.Configure("", {run_.Child("polite", {"ready"}, "ready = \"notify\"\nshutdown = \"5s\"\n"),
                      run_.Child("stubborn", {"ignore-term"}, "shutdown = \"100ms\"\n")});
  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(2)) << run_.Stderr();
  ASSERT_TRUE(WaitUntil([&] { return run_.Events().size() == 2; }));  // both have set up their SIGTERM
  ASSERT_EQ(::kill(run_.pid(), SIGTERM), 0);
  // Reverse start order: stubborn first, killed after its 100 ms.
  EXPECT_NE(run_.NextDown().find("name=stubborn reason=signal:KILL"), std::string::npos);
  EXPECT_NE(run_.NextDown().find("name=polite reason=exit:0"), std::string::npos);
  EXPECT_EQ(run_.Wait(), 0) << run_.Stderr();
  EXPECT_NE(run_.Stderr().find("stubborn (pid"), std::string::npos);
  EXPECT_NE(run_.Stderr().find("did not exit 100 ms after SIGTERM; sending SIGKILL"), std::string::npos);
  EXPECT_EQ(run_.Events(), (Lines{"start polite", "start stubborn", "term polite"}));
}

TEST_F(MqsupLifecycleTest, BrutalKillSendsSigkillAtOnce) {
  run_.Configure("", {Ready("a", "shutdown = \"brutal_kill\"\n")});
  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(1)) << run_.Stderr();
  ASSERT_EQ(::kill(run_.pid(), SIGTERM), 0);
  EXPECT_NE(run_.NextDown().find("name=a reason=signal:KILL"), std::string::npos);
  EXPECT_EQ(run_.Wait(), 0);
  EXPECT_EQ(run_.Events(), (Lines{"start a"}));  // no SIGTERM reached it
}

TEST_F(MqsupLifecycleTest, DownGoesToTheMonitorAfterASigkillWithThePid) {
  run_.Configure("", {Ready("a")});
  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(1)) << run_.Stderr();
  const pid_t pid = run_.Row("a").pid;
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  const std::string down = run_.NextDown();
  EXPECT_EQ(down.substr(0, 5), "DOWN ");
  EXPECT_NE(down.find(" pid=" + std::to_string(pid) + " name=a reason=signal:KILL"), std::string::npos) << down;
}

TEST_F(MqsupLifecycleTest, NotifyReadinessHoldsTheNextStartUntilReady) {
  const std::string gate = run_.dir().File("gate");
  ASSERT_EQ(::mkfifo(gate.c_str(), 0600), 0);
  run_.Configure("", {run_.Child("a", {"gate", gate}, "ready = \"notify\"\n"), Ready("b")});
  run_.Start();
  ASSERT_TRUE(WaitUntil([&] { return run_.Events() == Lines{"start a"}; })) << run_.Stderr();
  // a runs and has not said READY: b is not started.
  EXPECT_EQ(run_.Row("a").state, "starting");
  EXPECT_EQ(run_.Row("b").pid, 0);
  EXPECT_EQ(run_.Events(), Lines{"start a"});
  std::ofstream(gate) << "go";
  ASSERT_TRUE(run_.WaitRunning(2));
  ASSERT_TRUE(WaitUntil([&] { return run_.Events().size() == 2; }));
  EXPECT_EQ(run_.Events(), (Lines{"start a", "start b"}));
}

TEST_F(MqsupLifecycleTest, AnOrphanedGrandchildIsReapedByTheSupervisor) {
  const std::string pidfile = run_.dir().File("grandchild.pid");
  run_.Configure("", {run_.Child("parent", {"grandchild", pidfile}, "restart = \"temporary\"\n")});
  run_.Start();
  EXPECT_NE(run_.NextDown().find("name=parent reason=exit:0"), std::string::npos);
  ASSERT_TRUE(WaitUntil([&] { return FileExists(pidfile); }));
  const pid_t g = static_cast<pid_t>(std::stol(ReadFileOrDie(pidfile)));
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, g, 0));
  ASSERT_GE(pidfd, 0);
  // Its parent exited: it now belongs to the supervisor (the subreaper).
  std::ifstream st("/proc/" + std::to_string(g) + "/status");
  std::string line, ppid;
  while (std::getline(st, line))
    if (line.rfind("PPid:", 0) == 0) ppid = line.substr(5);
  EXPECT_EQ(std::stol(ppid), run_.pid());
  ASSERT_EQ(::kill(g, SIGKILL), 0);
  // POLLHUP on a pidfd: the process has been reaped, not just exited.
  pollfd p{pidfd, POLLHUP, 0};
  bool reaped = false;
  for (int i = 0; i < 100 && !reaped; ++i) reaped = ::poll(&p, 1, 100) > 0 && (p.revents & POLLHUP) != 0;
  EXPECT_TRUE(reaped) << "the orphan stayed a zombie";
  ::close(pidfd);
  EXPECT_TRUE(WaitUntil([&] { return run_.Stderr().find("reaped orphan pid " + std::to_string(g)) != std::string::npos; }));
}

}  // namespace
}  // namespace mq::test
