// The supervisor's pure decisions (mq/supervisor.h): restart types,
// strategies, restart intensity, backoff with an injected clock and random
// source, and the configuration's durations and names.
#include <gtest/gtest.h>
#include <signal.h>

#include <deque>

#include "mq/supervisor.h"

namespace mq::supervisor {
namespace {

using std::chrono::milliseconds;

TEST(SupervisorRestartType, PermanentRestartsAfterEveryExit) {
  EXPECT_TRUE(ShouldRestart(RestartType::kPermanent, ExitReason::Exit(0)));
  EXPECT_TRUE(ShouldRestart(RestartType::kPermanent, ExitReason::Exit(3)));
  EXPECT_TRUE(ShouldRestart(RestartType::kPermanent, ExitReason::Signal(SIGKILL)));
}

TEST(SupervisorRestartType, TransientRestartsOnlyAfterAnAbnormalExit) {
  EXPECT_FALSE(ShouldRestart(RestartType::kTransient, ExitReason::Exit(0)));
  EXPECT_TRUE(ShouldRestart(RestartType::kTransient, ExitReason::Exit(1)));
  EXPECT_TRUE(ShouldRestart(RestartType::kTransient, ExitReason::Signal(SIGKILL)));
  EXPECT_TRUE(ShouldRestart(RestartType::kTransient, ExitReason{}));  // unknown is not normal
}

TEST(SupervisorRestartType, TemporaryNeverRestarts) {
  EXPECT_FALSE(ShouldRestart(RestartType::kTemporary, ExitReason::Exit(1)));
  EXPECT_FALSE(ShouldRestart(RestartType::kTemporary, ExitReason::Signal(SIGSEGV)));
}

TEST(SupervisorExitReason, ReadsAsInDownMessages) {
  EXPECT_EQ(ExitReason::Exit(3).ToString(), "exit:3");
  EXPECT_EQ(ExitReason::Signal(SIGKILL).ToString(), "signal:KILL");
  EXPECT_EQ(ExitReason::Signal(SIGTERM).ToString(), "signal:TERM");
  EXPECT_EQ(ExitReason{ExitReason::Kind::kNoProc}.ToString(), "noproc");
  EXPECT_EQ(ExitReason{}.ToString(), "unknown");
}

TEST(SupervisorStrategy, OneForOneRestartsOnlyTheChildThatExited) {
  EXPECT_EQ(ChildrenToRestart(Strategy::kOneForOne, 1, 4), (std::vector<size_t>{1}));
}

TEST(SupervisorStrategy, OneForAllRestartsEveryChildInStartOrder) {
  EXPECT_EQ(ChildrenToRestart(Strategy::kOneForAll, 2, 4), (std::vector<size_t>{0, 1, 2, 3}));
}

TEST(SupervisorStrategy, RestForOneRestartsTheChildAndThoseStartedAfterIt) {
  EXPECT_EQ(ChildrenToRestart(Strategy::kRestForOne, 1, 4), (std::vector<size_t>{1, 2, 3}));
  EXPECT_EQ(ChildrenToRestart(Strategy::kRestForOne, 3, 4), (std::vector<size_t>{3}));
}

TEST(SupervisorStrategy, AChildOutOfRangeRestartsNothing) {
  EXPECT_TRUE(ChildrenToRestart(Strategy::kOneForAll, 4, 4).empty());
}

TEST(SupervisorIntensity, MoreThanIntensityRestartsWithinThePeriodGivesUp) {
  RestartIntensity r(3, milliseconds(1000));
  const TimePoint t0{};
  EXPECT_TRUE(r.Record(t0));
  EXPECT_TRUE(r.Record(t0 + milliseconds(100)));
  EXPECT_TRUE(r.Record(t0 + milliseconds(200)));
  EXPECT_FALSE(r.Record(t0 + milliseconds(999)));  // the fourth within 1 s
}

TEST(SupervisorIntensity, RestartsOlderThanThePeriodNoLongerCount) {
  RestartIntensity r(2, milliseconds(1000));
  const TimePoint t0{};
  EXPECT_TRUE(r.Record(t0));
  EXPECT_TRUE(r.Record(t0 + milliseconds(500)));
  EXPECT_TRUE(r.Record(t0 + milliseconds(1000)));  // t0 left the window
  EXPECT_EQ(r.in_window(), 2u);
  EXPECT_FALSE(r.Record(t0 + milliseconds(1400)));
}

TEST(SupervisorIntensity, ZeroIntensityGivesUpAtTheFirstRestart) {
  RestartIntensity r(0, milliseconds(1000));
  EXPECT_FALSE(r.Record(TimePoint{}));
}

// A random source that returns the given values in turn.
std::function<uint64_t()> Sequence(std::deque<uint64_t> values) {
  return [values]() mutable {
    uint64_t v = values.empty() ? 0 : values.front();
    if (!values.empty()) values.pop_front();
    return v;
  };
}

TEST(SupervisorBackoff, DoublesFromFirstUpToTheCapWithoutJitter) {
  Backoff b({milliseconds(100), milliseconds(1000), 0.0, /*immediate=*/false}, Sequence({}));
  std::vector<int64_t> got;
  for (int i = 0; i < 7; ++i) got.push_back(b.Next().count());
  EXPECT_EQ(got, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000, 1000}));
}

TEST(SupervisorBackoff, JitterTakesAtMostItsShareOffEachDelay) {
  // jitter 0.5: of a delay d, the random value modulo (d / 2 + 1) is taken off.
  Backoff b({milliseconds(100), milliseconds(1000), 0.5, /*immediate=*/false}, Sequence({50, 100, 0, 7}));
  EXPECT_EQ(b.Next().count(), 100 - 50);  // the whole share, at most
  EXPECT_EQ(b.Next().count(), 200 - 100);
  EXPECT_EQ(b.Next().count(), 400);
  EXPECT_EQ(b.Next().count(), 800 - 7);
}

TEST(SupervisorBackoff, JitteredDelaysStayWithinTheirBoundsForAnyRandomValue) {
  Backoff b({milliseconds(10), milliseconds(300), 0.25, /*immediate=*/false},
            Sequence({~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull}));
  int64_t nominal = 10;
  for (int i = 0; i < 7; ++i) {
    const int64_t d = b.Next().count();
    EXPECT_LE(d, nominal);
    EXPECT_GE(d, nominal - nominal / 4);
    nominal = std::min<int64_t>(nominal * 2, 300);
  }
}

TEST(SupervisorBackoff, ResetStartsAgainFromFirst) {
  Backoff b({milliseconds(50), milliseconds(1000), 0.0, /*immediate=*/false}, Sequence({}));
  (void)b.Next();
  (void)b.Next();
  b.Reset();
  EXPECT_EQ(b.Next().count(), 50);
}

TEST(SupervisorBackoff, AHugeAttemptCountNeitherOverflowsNorExceedsTheCap) {
  Backoff b({milliseconds(1), milliseconds(1) * 3600000, 0.0, /*immediate=*/false}, Sequence({}));
  for (int i = 0; i < 200; ++i) {
    const int64_t d = b.Next().count();
    ASSERT_GT(d, 0);
    ASSERT_LE(d, 3600000);
  }
}

// The default policy restarts at once after a crash, as OTP does; only a
// crash that repeats within `period` of the child's start waits.
TEST(SupervisorBackoff, TheFirstRestartAfterACrashIsNotDelayed) {
  Backoff b(BackoffPolicy{}, Sequence({0, 0}));  // the defaults: 100 ms, 10 s, jitter 0.5
  EXPECT_EQ(b.AfterExit(milliseconds(10), milliseconds(5000)).count(), 0);
  // A crash again 10 ms after that restart: the first delay, jittered by 0 here.
  EXPECT_EQ(b.AfterExit(milliseconds(10), milliseconds(5000)).count(), 100);
}

TEST(SupervisorBackoff, RepeatedCrashesWithinThePeriodDoubleFromFirstUpToTheCap) {
  Backoff b({milliseconds(100), milliseconds(1000), 0.0}, Sequence({}));
  std::vector<int64_t> got;
  for (int i = 0; i < 7; ++i) got.push_back(b.AfterExit(milliseconds(1), milliseconds(5000)).count());
  EXPECT_EQ(got, (std::vector<int64_t>{0, 100, 200, 400, 800, 1000, 1000}));
}

TEST(SupervisorBackoff, ACrashAfterARunLongerThanThePeriodIsRestartedAtOnceAgain) {
  Backoff b({milliseconds(100), milliseconds(1000), 0.0}, Sequence({}));
  EXPECT_EQ(b.AfterExit(milliseconds(1), milliseconds(5000)).count(), 0);
  EXPECT_EQ(b.AfterExit(milliseconds(1), milliseconds(5000)).count(), 100);
  EXPECT_EQ(b.AfterExit(milliseconds(1), milliseconds(5000)).count(), 200);
  // It ran 5.001 s, past the window: not a repeated crash.
  EXPECT_EQ(b.AfterExit(milliseconds(5001), milliseconds(5000)).count(), 0);
  EXPECT_EQ(b.AfterExit(milliseconds(5000), milliseconds(5000)).count(), 100);  // within it (not longer)
}

TEST(SupervisorBackoff, WithoutImmediateTheFirstRestartWaitsFirstToo) {
  Backoff b({milliseconds(100), milliseconds(1000), 0.0, /*immediate=*/false}, Sequence({}));
  EXPECT_EQ(b.AfterExit(milliseconds(1), milliseconds(5000)).count(), 100);
  EXPECT_EQ(b.AfterExit(milliseconds(1), milliseconds(5000)).count(), 200);
  EXPECT_EQ(b.AfterExit(milliseconds(6000), milliseconds(5000)).count(), 100);
}

TEST(SupervisorParse, DurationsNeedAUnit) {
  EXPECT_EQ(ParseDuration("500ms")->count(), 500);
  EXPECT_EQ(ParseDuration("10s")->count(), 10000);
  EXPECT_EQ(ParseDuration("2m")->count(), 120000);
  EXPECT_EQ(ParseDuration("1h")->count(), 3600000);
  for (const char* bad : {"10", "", "s", "1.5s", "10 s", "-1s", "10sec", "99999999999999999999s"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("duration '" + std::string(bad) + "'"), std::string::npos)
        << r.status().message();
  }
  EXPECT_NE(ParseDuration("10").status().message().find("has no unit"), std::string::npos);
}

TEST(SupervisorParse, StrategyAndRestartNamesListTheChoices) {
  auto strategy = ParseStrategy("rest_for_one");
  auto restart = ParseRestartType("transient");
  ASSERT_TRUE(strategy.ok() && restart.ok());
  EXPECT_EQ(*strategy, Strategy::kRestForOne);
  EXPECT_EQ(*restart, RestartType::kTransient);
  EXPECT_NE(ParseStrategy("one_for_some").status().message().find("one_for_one, one_for_all, rest_for_one"),
            std::string::npos);
  EXPECT_NE(ParseRestartType("always").status().message().find("permanent, transient, temporary"),
            std::string::npos);
}

}  // namespace
}  // namespace mq::supervisor
