// A crash during the compaction of the bridge's delivery record
// (bridge/src/delivered_log.h, docs/bridge.md "Inbound"): at every operation
// of the compaction, and of the appends that follow it, the process dies
// (FaultEnv's crash point) and then either just restarts (a SIGKILL of
// mqbridge: the page cache keeps everything) or the machine loses power
// (unsynced bytes, creates and renames are dropped; torn writes and pages
// written back out of order too). The restarted bridge then does what
// Inbound does: it replays the actor's messages from the higher of the
// consumer's ack floor and the record's floor, and delivers each one the
// record does not hold. Every message of the actor must then have been
// delivered exactly once: none skipped (lost: the record claims a message it
// never delivered) and none delivered twice (the record forgot one).
//
// The one duplicate that is not the record's to prevent is allowed: the batch
// that the actor's mailbox stored but whose append to the record did not
// complete (docs/bridge.md, "What survives what") may be delivered again,
// once. Every other message must be delivered exactly once.
//
// Needs no nats-server: the record is reached only through mq::Env.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "delivered_log.h"
#include "fault_env.h"
#include "test_util.h"

namespace mq::bridge {
namespace {

using test::FaultEnv;
using test::PowerLossOptions;

constexpr char kName[] = "MQ-1.orders.delivered";
// The actor's messages are the even stream sequences (other actors share the
// stream: the record has gaps). 600 of them are delivered before the
// compaction, 100 after; the consumer's ack floor at the compaction is 800.
constexpr uint64_t kBefore = 600, kAfter = 100, kAckFloor = 800;
constexpr size_t kBatch = 64;
uint64_t ActorSeq(uint64_t i) { return 2 * i; }

// What the bridge did before it died.
struct BeforeCrash {
  std::map<uint64_t, int> delivered;  // stream seq -> deliveries into the actor's mailbox
  std::vector<uint64_t> unrecorded;   // the batch delivered whose Record did not return OK
  bool compacted = false;             // Compact returned OK
  std::string crash_point;
};

// Records kBefore sequences, compacts to kAckFloor with the crash armed at
// the compaction's k-th operation (counted from its first), then records
// kAfter more, until the crash. k = 0: no crash inside; the process is
// crashed after the last append.
void RunUntilCrash(FaultEnv* env, const std::string& dir, uint64_t k, BeforeCrash* run, uint64_t* ops_in_compaction_and_after) {
  auto log = DeliveredLog::Open(dir, kName, env);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  std::vector<uint64_t> batch;
  auto record = [&](uint64_t from, uint64_t to) -> bool {  // [from, to] by actor index
    for (uint64_t i = from; i <= to;) {
      batch.clear();
      for (; i <= to && batch.size() < kBatch; ++i) batch.push_back(ActorSeq(i));
      // The actor's mailbox has confirmed the batch: delivered, whatever
      // becomes of its record.
      for (uint64_t s : batch) run->delivered[s]++;
      if (!(*log)->Record(batch).ok()) {
        run->unrecorded.assign(batch.begin(), batch.end());
        return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(record(1, kBefore));
  ASSERT_FALSE(env->crashed());
  const uint64_t start = env->operations();
  if (k > 0) env->CrashAtOperation(start + k);
  run->compacted = (*log)->Compact(kAckFloor).ok();
  if (run->compacted) {
    EXPECT_EQ((*log)->floor(), kAckFloor);
    (void)record(kBefore + 1, kBefore + kAfter);
  }
  *ops_in_compaction_and_after = env->operations() - start;
  if (!env->crashed()) env->CrashNow();
  run->crash_point = env->crash_point();
}

// The restart: replay from max(ack floor, record floor) + 1, deliver what
// the record does not hold; then every actor message was delivered once.
void CheckExactlyOnce(FaultEnv* env, const std::string& dir, const BeforeCrash& run, uint64_t server_ack_floor) {
  auto log = DeliveredLog::Open(dir, kName, env);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  std::map<uint64_t, int> delivered = run.delivered;
  const uint64_t from = std::max<uint64_t>(server_ack_floor, (*log)->floor()) + 1;
  for (uint64_t i = 1; i <= kBefore + kAfter; ++i) {
    const uint64_t s = ActorSeq(i);
    if (s >= from && !(*log)->Contains(s)) delivered[s]++;
  }
  int lost = 0, twice = 0;
  uint64_t first_lost = 0, first_twice = 0;
  for (uint64_t i = 1; i <= kBefore + kAfter; ++i) {
    const uint64_t s = ActorSeq(i);
    const int n = delivered[s];
    if (n == 0 && lost++ == 0) first_lost = s;
    const bool in_window = std::find(run.unrecorded.begin(), run.unrecorded.end(), s) != run.unrecorded.end();
    if (n > (in_window ? 2 : 1) && twice++ == 0) first_twice = s;
  }
  EXPECT_EQ(lost, 0) << "messages never delivered (the record claims them), the first stream seq " << first_lost
                     << "; record floor " << (*log)->floor();
  EXPECT_EQ(twice, 0) << "messages delivered twice (the record forgot them), the first stream seq " << first_twice
                      << "; record floor " << (*log)->floor() << ", " << (*log)->size() << " above it";
}

struct Loss {
  std::string name;
  bool power_loss;
  PowerLossOptions opt;
};

std::vector<Loss> Losses() {
  std::vector<Loss> v;
  v.push_back({"SIGKILL (the page cache survives)", false, {}});
  v.push_back({"power loss", true, {}});
  PowerLossOptions torn;
  torn.torn_write = true;
  v.push_back({"power loss, torn write", true, torn});
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    PowerLossOptions p;
    p.pages = PowerLossOptions::Pages::kSubset;
    p.seed = seed;
    v.push_back({"power loss, a subset of the pages (seed " + std::to_string(seed) + ")", true, p});
  }
  PowerLossOptions last;
  last.pages = PowerLossOptions::Pages::kTornLastPage;
  last.seed = 1;
  v.push_back({"power loss, the last page torn", true, last});
  return v;
}

TEST(BridgeRecordCrash, ACrashAtAnyOperationOfTheCompactionLosesNoMessageAndDeliversNoneTwice) {
  // How many operations the compaction and the appends after it take.
  uint64_t total = 0;
  std::vector<std::string> points;
  {
    test::FastTempDir dir;
    FaultEnv env(Env::Default(), /*real_syncs=*/false);
    env.SetObserver([&](uint64_t, const std::string& what) { points.push_back(what); });
    BeforeCrash run;
    RunUntilCrash(&env, dir.path(), 0, &run, &total);
    ASSERT_TRUE(run.compacted);
    // The last `total` are the compaction's and the appends' after it (the
    // CrashNow at the end is no operation).
    ASSERT_GE(points.size(), total);
    points.erase(points.begin(), points.end() - static_cast<std::ptrdiff_t>(total));
  }
  // The compaction's own steps are all among the crash points.
  const auto has = [&](const std::string& part) {
    return std::any_of(points.begin(), points.end(), [&](const std::string& p) { return p.find(part) != std::string::npos; });
  };
  ASSERT_TRUE(has("create ") && has(".delivered.new")) << "no create of the compacted copy among the operations";
  ASSERT_TRUE(has("rename ")) << "no rename among the operations";
  ASSERT_TRUE(has("sync directory ")) << "no directory sync among the operations";
  ASSERT_GE(total, 6u);

  int states = 0, compacted_states = 0;
  for (uint64_t k = 1; k <= total; ++k) {
    for (const Loss& loss : Losses()) {
      for (uint64_t server_floor : {kAckFloor, uint64_t{0}}) {  // 0: the server lost the consumer
        test::FastTempDir dir;
        FaultEnv env(Env::Default(), /*real_syncs=*/false);
        BeforeCrash run;
        uint64_t ops = 0;
        RunUntilCrash(&env, dir.path(), k, &run, &ops);
        if (HasFailure()) return;
        if (loss.power_loss) ASSERT_TRUE(env.SimulatePowerLoss(loss.opt).ok());
        else env.RestartProcess();
        SCOPED_TRACE("crash at operation " + std::to_string(k) + " of " + std::to_string(total) + " (" +
                     run.crash_point + "), " + loss.name + ", server ack floor " + std::to_string(server_floor));
        CheckExactlyOnce(&env, dir.path(), run, server_floor);
        ++states;
        if (run.compacted) ++compacted_states;
        if (HasFailure()) return;  // the first failing state says enough
      }
    }
  }
  EXPECT_GT(compacted_states, 0);
  EXPECT_GE(states, 6 * 2 * static_cast<int>(total));
}

}  // namespace
}  // namespace mq::bridge
