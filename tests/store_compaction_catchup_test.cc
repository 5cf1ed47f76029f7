// Online compaction's catch-up rounds (docs/design.md, "Catching up"): however
// long appends outrun the copy, the rounds go on without the store's lock
// (there is no fixed limit on them), appends and consumes are throttled while
// the tail does not shrink, and what is left for the lock is a small piece.
// A FaultEnv observer appends, inside each write of the copy to
// QUEUE.compact, more bytes than the last time: a traffic that outruns the
// copy for as many rounds as the test chooses, deterministically.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fault_env.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

using test::FaultEnv;

constexpr int kOutrunningRounds = 14;            // more than the old fixed limit of 8
constexpr uint64_t kFinalPiece = 256 << 10;      // compaction_online.cc's bound on the last piece

TEST(StoreCompactionCatchUpTest, AppendsThatOutrunTheCopyForManyRoundsLeaveOnlyASmallPieceForTheLock) {
  test::TempDir dir;
  const std::string path = dir.File("q");
  FaultEnv env(Env::Default(), /*real_syncs=*/false);
  StoreOptions o;
  o.env = &env;
  o.auto_compact = false;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path, o).MoveTo(&s).ok());
  std::map<uint64_t, std::string> model;
  for (uint64_t i = 1; i <= 200; ++i) {
    uint64_t seq = 0;
    const std::string body = "m" + std::to_string(i);
    ASSERT_TRUE(s->Append(body).MoveTo(&seq).ok());
    model[seq] = body;
  }
  for (uint64_t seq = 1; seq <= 200; seq += 2) {
    ASSERT_TRUE(s->Consume(seq).ok());
    model.erase(seq);
  }
  // Inside each write to QUEUE.compact, another thread appends a batch of
  // more than kFinalPiece bytes, a little more each time (the tail grows:
  // the copy is outrun). Bounded wait: where the compaction holds the
  // store's lock (the swap), the append waits for it, and the observer goes on.
  int fired = 0;
  std::vector<std::future<uint64_t>> traffic;
  int waited_out = 0;
  env.SetObserver([&](uint64_t, const std::string& what) {
    if (what.find("q.compact") == std::string::npos || what.rfind("write", 0) != 0 || fired >= kOutrunningRounds)
      return;
    const int round = fired++;
    traffic.push_back(std::async(std::launch::async, [&s, round] {
      std::vector<std::string> bodies;
      for (int k = 0; k < 80 + round; ++k) bodies.push_back("r" + std::to_string(round) + std::string(4000, 'x'));
      std::vector<std::string_view> views(bodies.begin(), bodies.end());
      uint64_t first = 0;
      EXPECT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
      return first;
    }));
    if (traffic.back().wait_for(std::chrono::seconds(2)) != std::future_status::ready) ++waited_out;
  });
  CompactionResult r;
  Status st = s->Compact().MoveTo(&r);
  env.SetObserver(nullptr);
  for (auto& f : traffic) f.wait();
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(fired, kOutrunningRounds);
  EXPECT_EQ(waited_out, 0) << "an append inside the copy waited for the compaction's lock (the swap took a large tail)";
  EXPECT_GE(r.timing.rounds, static_cast<uint64_t>(kOutrunningRounds))
      << "the catch-up rounds stopped while the tail was still large";
  EXPECT_GT(r.timing.throttled_rounds, 0u) << "a growing tail did not throttle the traffic";
  EXPECT_LE(r.timing.swap_piece_bytes, kFinalPiece) << "the swap copied a large tail under the lock";
  EXPECT_LE(r.timing.swap_lock_us, r.timing.total_us);
  // Nothing lost: every message appended during the rounds is pending, after a reopen too.
  uint64_t pending = 0;
  ASSERT_TRUE(s->ScanPending(0, [&](const MessageView&) { return ++pending, true; }).ok());
  uint64_t appended = 0;
  for (int round = 0; round < kOutrunningRounds; ++round) appended += 80 + static_cast<uint64_t>(round);
  EXPECT_EQ(pending, model.size() + appended);
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  ASSERT_TRUE(Store::Open(path, o).MoveTo(&s).ok());
  pending = 0;
  ASSERT_TRUE(s->ScanPending(0, [&](const MessageView&) { return ++pending, true; }).ok());
  EXPECT_EQ(pending, model.size() + appended) << "after reopen";
}

// The throttle is bounded: with a compaction throttling and nothing ending
// its round, an append still returns (after at most a couple of ms, not the
// whole round).
TEST(StoreCompactionCatchUpTest, AThrottledAppendWaitsAtMostAMomentForTheRound) {
  test::TempDir dir;
  const std::string path = dir.File("q");
  FaultEnv env(Env::Default(), /*real_syncs=*/false);
  StoreOptions o;
  o.env = &env;
  o.auto_compact = false;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path, o).MoveTo(&s).ok());
  for (uint64_t i = 1; i <= 50; ++i) {
    uint64_t seq = 0;
    ASSERT_TRUE(s->Append("m" + std::to_string(i)).MoveTo(&seq).ok());
  }
  ASSERT_TRUE(s->Consume(1).ok());
  // Rounds 1 and 2 append growing tails (the second round throttles); inside
  // round 2's write the observer holds the round for up to 5 s while
  // another thread appends: the append must return long before.
  int fired = 0;
  bool returned_within_round = false;
  uint64_t throttled_rounds_seen = 0;
  std::vector<std::future<void>> traffic;  // waited for after the compaction: an append never outlives the test
  env.SetObserver([&](uint64_t, const std::string& what) {
    if (what.find("q.compact") == std::string::npos || what.rfind("write", 0) != 0 || fired >= 3) return;
    const int round = fired++;
    traffic.push_back(std::async(std::launch::async, [&s, round] {
      std::vector<std::string> bodies(70 + static_cast<size_t>(round) * 10, std::string(4000, 'y'));
      std::vector<std::string_view> views(bodies.begin(), bodies.end());
      uint64_t first = 0;
      EXPECT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
    }));
    const bool ok = traffic.back().wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    if (round == 2) returned_within_round = ok;
  });
  CompactionResult r;
  Status st = s->Compact().MoveTo(&r);
  env.SetObserver(nullptr);
  for (auto& f : traffic) f.wait();
  ASSERT_TRUE(st.ok()) << st.ToString();
  throttled_rounds_seen = r.timing.throttled_rounds;
  ASSERT_EQ(fired, 3);
  EXPECT_GT(throttled_rounds_seen, 0u) << "the growing tail did not throttle (the test checks nothing then)";
  EXPECT_TRUE(returned_within_round) << "a throttled append waited for the whole round";
  ASSERT_TRUE(s->Close().ok());
}

}  // namespace
}  // namespace mq
