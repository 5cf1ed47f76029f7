// `mqsup run` restarts by its strategy, with real processes: which children
// are stopped (in reverse start order) and started again (in start order),
// read from the order the children log; and the restart limit.
#include <gtest/gtest.h>
#include <signal.h>

#include "mqsup_testing.h"

namespace mq::test {
namespace {

using Lines = std::vector<std::string>;

class MqsupStrategyTest : public ::testing::Test {
 protected:
  // A child that logs its start, then sends READY: the next one starts only
  // then, so the order file's order is the order of the starts.
  std::string Ready(const std::string& name) { return run_.Child(name, {"ready"}, "ready = \"notify\"\n"); }
  // Three children a, b, c under `strategy`; b is killed once they run.
  Lines KillB(const std::string& strategy, size_t downs, size_t events) {
    run_.Configure("strategy = \"" + strategy + "\"\n",
                   {Ready("a"), Ready("b"), Ready("c")});
    run_.Start();
    EXPECT_TRUE(run_.WaitRunning(3)) << run_.Stderr();
    EXPECT_TRUE(WaitUntil([&] { return run_.Events().size() == 3; }));
    const pid_t b = run_.Row("b").pid;
    if (b <= 0) {
      ADD_FAILURE() << "no pid for b";
      return {};
    }
    EXPECT_EQ(::kill(b, SIGKILL), 0);
    EXPECT_EQ(run_.NextDown().find("name=b reason=signal:KILL") != std::string::npos, true);
    for (size_t i = 1; i < downs; ++i) EXPECT_NE(run_.NextDown().find("reason=exit:0"), std::string::npos);
    EXPECT_TRUE(WaitUntil([&] {
      const StatusRow r = run_.Row("b");
      return r.pid != b && r.pid != 0 && r.restarts == 1;
    }));
    EXPECT_TRUE(run_.WaitRunning(3));
    // (A child logs its start once it runs, which may be after the status.)
    EXPECT_TRUE(WaitUntil([&] { return run_.Events().size() >= events; }));
    return run_.Events();
  }
  MqsupRun run_;
};

TEST_F(MqsupStrategyTest, OneForOneRestartsOnlyTheChildThatDied) {
  EXPECT_EQ(KillB("one_for_one", 1, 4), (Lines{"start a", "start b", "start c", "start b"}));
}

TEST_F(MqsupStrategyTest, OneForAllStopsTheOthersInReverseOrderThenStartsAllInOrder) {
  EXPECT_EQ(KillB("one_for_all", 3, 8),
            (Lines{"start a", "start b", "start c", "term c", "term a", "start a", "start b", "start c"}));
}

TEST_F(MqsupStrategyTest, RestForOneRestartsTheChildAndThoseStartedAfterIt) {
  EXPECT_EQ(KillB("rest_for_one", 2, 6), (Lines{"start a", "start b", "start c", "term c", "start b", "start c"}));
}

TEST_F(MqsupStrategyTest, IntensityExceededStopsEveryChildAndExitsFive) {
  run_.Configure("intensity = 1\nperiod = \"1h\"\n", {Ready("a"), Ready("b")});
  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(2)) << run_.Stderr();
  const pid_t b = run_.Row("b").pid, a = run_.Row("a").pid;
  ASSERT_GT(b, 0);
  ASSERT_GT(a, 0);
  ASSERT_EQ(::kill(a, SIGKILL), 0);  // restart 1: allowed
  EXPECT_NE(run_.NextDown().find("name=a reason=signal:KILL"), std::string::npos);
  pid_t a2 = 0;
  ASSERT_TRUE(WaitUntil([&] {
    const StatusRow r = run_.Row("a");
    a2 = r.pid;
    return r.restarts == 1 && r.state == "running" && r.pid > 0;
  }));
  ASSERT_EQ(::kill(a2, SIGKILL), 0);  // restart 2 within the hour: too many
  EXPECT_EQ(run_.Wait(), 5) << run_.Stderr();
  EXPECT_NE(run_.Stderr().find("giving up"), std::string::npos);
  // b was stopped (SIGTERM, logged by it) and reaped: its pid is gone.
  ASSERT_FALSE(run_.Events().empty());
  EXPECT_EQ(run_.Events().back(), "term b");
  EXPECT_EQ(::kill(b, 0), -1);
  EXPECT_FALSE(FileExists(run_.control())) << "the control socket is removed";
}

}  // namespace
}  // namespace mq::test
