// Online compaction (issue 24; docs/design.md, "Compaction"): Store::Compact
// holds the store's mutex only briefly, so appends, consumes, takes and acks
// from other threads go on during the copy; what they did is in the new log.
//   - a deterministic test: a FaultEnv observer stops the compaction inside
//     its bulk write and has another thread append, consume, take and ack
//     there, which must finish while the compaction is still stopped;
//   - a model test: random interleavings of those calls on three threads
//     against repeated compactions, checked against an in-memory model
//     (same pending set, order, seqs and payloads), before and after reopen;
//   - automatic compaction runs on the compactor thread, not in Consume;
//   - the swap's index commit, under the lock, writes no entry of a message
//     copied before it (the new tables are committed without the lock), at
//     any pending count;
//   - a kill at every mutating step of a compaction with traffic (while the
//     new index tables are built, at the rename, after it) keeps every
//     message, and the next compaction works over the tables it left.
// Sizes: MQ_ONLINE_COMPACTION_MESSAGES raises the model test's message count.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fault_env.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

using test::FileCopy;
using test::PutBack;
using test::CopyOfFile;

using test::FaultEnv;

std::vector<std::pair<uint64_t, std::string>> PendingOf(Store* s) {
  std::vector<std::pair<uint64_t, std::string>> out;
  Status st = s->ScanPending(0, [&](const MessageView& v) {
    out.emplace_back(v.seq, std::string(v.payload));
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

std::string Body(uint64_t i) { return "m" + std::to_string(i) + ":" + std::string(40 + i % 50, static_cast<char>('a' + i % 26)); }

class StoreOnlineCompactionTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }
  test::TempDir dir_;
  std::string path_;
};

TEST_F(StoreOnlineCompactionTest, AppendConsumeTakeAndAckFromAnotherThreadFinishWhileTheCopyIsUnderWay) {
  FaultEnv env(Env::Default(), /*real_syncs=*/false);
  StoreOptions o;
  o.env = &env;
  o.auto_compact = false;
  o.index_tail_flush = 4;  // LMDB holds most messages: the copy's index transaction replaces them
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, o).MoveTo(&s).ok());
  std::map<uint64_t, std::string> model;
  for (uint64_t i = 1; i <= 40; ++i) {
    uint64_t seq = 0;
    ASSERT_TRUE(s->Append(Body(i)).MoveTo(&seq).ok());
    model[seq] = Body(i);
  }
  for (uint64_t seq = 1; seq <= 40; seq += 3) {
    ASSERT_TRUE(s->Consume(seq).ok());
    model.erase(seq);
  }
  // Inside the compaction's first write to QUEUE.compact (the bulk copy, all
  // read from the old log by then), another thread: appends two messages,
  // consumes one the copy holds pending, takes one and acks it, takes one
  // and leaves it taken.
  std::atomic<bool> fired{false};
  bool finished_inside = false;
  uint64_t appended = 0;
  std::future<void> traffic;
  env.SetObserver([&](uint64_t, const std::string& what) {
    if (what.find("q.compact") == std::string::npos || what.rfind("write", 0) != 0 || fired.exchange(true)) return;
    traffic = std::async(std::launch::async, [&] {
      std::vector<std::string_view> batch = {"late:1", "late:2"};
      EXPECT_TRUE(s->AppendBatch(batch).MoveTo(&appended).ok());
      EXPECT_TRUE(s->Consume(2).ok());
      EXPECT_TRUE(s->Take(3).ok());
      EXPECT_TRUE(s->Consume(3).ok());  // ack
      EXPECT_TRUE(s->Take(5).ok());
    });
    finished_inside = traffic.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  });
  CompactionResult r;
  Status st = s->Compact().MoveTo(&r);
  env.SetObserver(nullptr);
  if (traffic.valid()) traffic.get();
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(fired.load()) << "the compaction never wrote QUEUE.compact";
  EXPECT_TRUE(finished_inside) << "appends, consumes and takes waited for the compaction's copy";
  model.erase(2);
  model.erase(3);
  model[appended] = "late:1";
  model[appended + 1] = "late:2";
  EXPECT_EQ(appended, 41u);
  EXPECT_EQ(r.messages_kept, model.size());

  // Message 5 is taken: hidden from reads until released.
  std::map<uint64_t, std::string> visible = model;
  visible.erase(5);
  std::vector<std::pair<uint64_t, std::string>> want(visible.begin(), visible.end());
  EXPECT_EQ(PendingOf(s.get()), want);
  EXPECT_TRUE(s->Consume(2).IsNotFound());
  ASSERT_TRUE(s->Release(5).ok());
  want.assign(model.begin(), model.end());
  EXPECT_EQ(PendingOf(s.get()), want);
  uint64_t next = 0;
  ASSERT_TRUE(s->Append("after").MoveTo(&next).ok());
  EXPECT_EQ(next, 43u);
  model[next] = "after";
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  ASSERT_TRUE(Store::Open(path_, o).MoveTo(&s).ok());
  want.assign(model.begin(), model.end());
  EXPECT_EQ(PendingOf(s.get()), want) << "after reopen";
}

// The model: what every thread was told, under one mutex.
struct Model {
  std::mutex mu;
  std::map<uint64_t, std::string> appended;
  std::set<uint64_t> consumed;
};

constexpr uint64_t kModelMessages = test::kSanitized ? 4000 : 20000;  // sized down under the sanitizers

uint64_t ModelMessages() {
  const char* e = std::getenv("MQ_ONLINE_COMPACTION_MESSAGES");
  return e != nullptr ? std::strtoull(e, nullptr, 10) : kModelMessages;
}

TEST_F(StoreOnlineCompactionTest, RandomInterleavingsWithCompactionsLeaveThePendingSetOfTheModel) {
  StoreOptions o;
  o.auto_compact = false;
  o.sync = SyncPolicy::kNone;
  o.index_tail_flush = 512;
  o.key = KeyExtractor::UntilDelimiter(':');
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, o).MoveTo(&s).ok());
  const uint64_t total = ModelMessages();
  Model model;
  std::atomic<bool> appending{true};
  std::atomic<uint64_t> compactions{0};
  std::mt19937_64 seed_rng(std::random_device{}());
  const uint64_t seed = seed_rng();
  SCOPED_TRACE("seed " + std::to_string(seed));

  // A failed ASSERT returns from its thread: the loops of the others must
  // still end, or the test hangs instead of failing.
  struct EndAppending {
    std::atomic<bool>* flag;
    ~EndAppending() { *flag = false; }
  };
  std::thread appender([&] {
    EndAppending end{&appending};
    std::mt19937_64 rng(seed);
    uint64_t i = 0;
    while (i < total) {
      const size_t n = 1 + rng() % 16;
      std::vector<std::string> bodies;
      for (size_t k = 0; k < n && i < total; ++k) bodies.push_back(Body(++i));
      std::vector<std::string_view> views(bodies.begin(), bodies.end());
      uint64_t first = 0;
      Status st = s->AppendBatch(views).MoveTo(&first);
      ASSERT_TRUE(st.ok()) << st.ToString();
      std::lock_guard<std::mutex> g(model.mu);
      for (size_t k = 0; k < bodies.size(); ++k) model.appended[first + k] = bodies[k];
    }
    appending = false;
  });
  // Consumes (the first pending, or a random seq), takes then acks, takes then releases.
  std::set<uint64_t> taken;  // the consumer's own
  std::thread consumer([&] {
    std::mt19937_64 rng(seed + 1);
    while (appending.load() || compactions.load() < 3) {
      const uint64_t last = s->last_seq();
      if (last == 0) continue;
      const uint64_t seq = 1 + rng() % last;
      switch (rng() % 5) {
        case 0: {
          Message m;
          Status st = s->ConsumeFirst(&m);
          if (st.ok()) {
            std::lock_guard<std::mutex> g(model.mu);
            model.consumed.insert(m.seq);
          } else {
            ASSERT_TRUE(st.IsNotFound()) << st.ToString();
          }
          break;
        }
        case 1:
        case 2: {
          Status st = s->Consume(seq);
          if (st.ok()) {
            std::lock_guard<std::mutex> g(model.mu);
            model.consumed.insert(seq);
            taken.erase(seq);
          } else {
            ASSERT_TRUE(st.IsNotFound()) << st.ToString();
          }
          break;
        }
        case 3: {
          if (s->Take(seq).ok()) taken.insert(seq);
          break;
        }
        case 4: {
          if (!taken.empty()) {
            auto it = taken.begin();
            std::advance(it, rng() % taken.size());
            const uint64_t t = *it;
            taken.erase(it);
            if (rng() % 2 == 0) {
              ASSERT_TRUE(s->Release(t).ok());
            } else {
              ASSERT_TRUE(s->Consume(t).ok()) << "ack of taken message " << t;
              std::lock_guard<std::mutex> g(model.mu);
              model.consumed.insert(t);
            }
          }
          break;
        }
      }
    }
  });
  std::thread compactor([&] {
    while (appending.load() || compactions.load() < 3) {
      CompactionResult r;
      Status st = s->Compact().MoveTo(&r);
      if (!st.ok()) compactions = 1 << 20;  // the consumer stops too
      ASSERT_TRUE(st.ok()) << st.ToString();
      ++compactions;
    }
  });
  appender.join();
  consumer.join();
  compactor.join();
  ASSERT_FALSE(HasFailure());
  EXPECT_GE(compactions.load(), 3u);

  // Taken messages stay taken: hidden until released.
  std::vector<std::pair<uint64_t, std::string>> want;
  for (const auto& [seq, body] : model.appended)
    if (!model.consumed.count(seq) && !taken.count(seq)) want.emplace_back(seq, body);
  EXPECT_EQ(PendingOf(s.get()), want);
  for (uint64_t t : taken) ASSERT_TRUE(s->Release(t).ok()) << "message " << t << " is no longer taken";
  want.clear();
  for (const auto& [seq, body] : model.appended)
    if (!model.consumed.count(seq)) want.emplace_back(seq, body);
  EXPECT_EQ(PendingOf(s.get()), want);
  EXPECT_EQ(model.appended.size(), total);
  EXPECT_EQ(model.appended.rbegin()->first, total) << "seqs are 1..total, none skipped or reused";
  // One more compaction with nothing going on, then a reopen: the same.
  CompactionResult r;
  ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
  EXPECT_EQ(r.messages_kept, want.size());
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  ASSERT_TRUE(Store::Open(path_, o).MoveTo(&s).ok());
  EXPECT_EQ(s->open_report().index_action, IndexAction::kTrusted) << s->open_report().index_reason;
  EXPECT_EQ(PendingOf(s.get()), want) << "after reopen";
}

TEST_F(StoreOnlineCompactionTest, AutomaticCompactionRunsOnItsOwnThreadNotInConsume) {
  FaultEnv env(Env::Default(), /*real_syncs=*/false);
  StoreOptions o;
  o.env = &env;
  o.sync = SyncPolicy::kNone;
  o.auto_compact = true;
  o.compact_min_bytes = 1;
  o.compact_ratio = 0.3;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, o).MoveTo(&s).ok());
  for (uint64_t i = 1; i <= 100; ++i) ASSERT_TRUE(s->Append(Body(i)).ok());
  std::mutex mu;
  std::vector<std::thread::id> creators;  // threads that created QUEUE.compact
  env.SetObserver([&](uint64_t, const std::string& what) {
    if (what.rfind("create", 0) == 0 && what.find("q.compact") != std::string::npos) {
      std::lock_guard<std::mutex> g(mu);
      creators.push_back(std::this_thread::get_id());
    }
  });
  for (uint64_t seq = 1; seq <= 60; ++seq) ASSERT_TRUE(s->Consume(seq).ok());
  // Bounded wait for the compactor thread's compaction (a condition, polled).
  for (int i = 0; i < 2000 && s->Stats().compactions == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(s->Stats().compactions, 1u);
  ASSERT_TRUE(s->Close().ok());  // stops the compactor thread
  env.SetObserver(nullptr);
  {
    std::lock_guard<std::mutex> g(mu);
    ASSERT_FALSE(creators.empty());
    for (const std::thread::id& t : creators)
      EXPECT_NE(t, std::this_thread::get_id()) << "a Consume call ran the compaction";
  }
  ASSERT_TRUE(Store::Open(path_, o).MoveTo(&s).ok());
  std::vector<std::pair<uint64_t, std::string>> want;
  for (uint64_t i = 61; i <= 100; ++i) want.emplace_back(i, Body(i));
  EXPECT_EQ(PendingOf(s.get()), want);
}


// The commit under the lock writes only the last piece's index entries: the
// new log's entries go to the index's other generation of tables, committed
// without the lock (docs/design.md, "Compaction", step 2). Measured by what
// the locked commit wrote (CompactionResult::timing.swap_index_entries), not
// by time: with no traffic the last piece is empty, so it writes none, at
// 1,500 pending messages as at 30,000 (before the change: all of them).
TEST_F(StoreOnlineCompactionTest, TheSwapsIndexCommitUnderTheLockDoesNotGrowWithThePendingCount) {
  for (const uint64_t n : {uint64_t{3000}, uint64_t{60000}}) {
    SCOPED_TRACE(std::to_string(n) + " messages");
    const std::string path = dir_.File("q" + std::to_string(n));
    StoreOptions o;
    o.auto_compact = false;
    o.sync = SyncPolicy::kNone;
    o.key = KeyExtractor::UntilDelimiter(':');  // the key table's entries too
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path, o).MoveTo(&s).ok());
    std::vector<std::string> bodies;
    for (uint64_t i = 1; i <= n; ++i) bodies.push_back(Body(i));
    std::vector<std::string_view> views(bodies.begin(), bodies.end());
    uint64_t first = 0;
    ASSERT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
    ASSERT_EQ(first, 1u);
    std::vector<std::pair<uint64_t, std::string>> want;
    for (uint64_t seq = 1; seq <= n; ++seq) {
      if (seq % 2 == 0) {
        ASSERT_TRUE(s->Consume(seq).ok());
      } else {
        want.emplace_back(seq, bodies[seq - 1]);
      }
    }
    // Twice: the second compaction builds the first generation of tables
    // again, over the one the first compaction left behind.
    for (int round = 0; round < 2; ++round) {
      CompactionResult r;
      ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
      EXPECT_EQ(r.messages_kept, want.size());
      EXPECT_EQ(r.timing.swap_piece_bytes, 0u);
      EXPECT_EQ(r.timing.swap_index_entries, 0u)
          << "the commit under the lock wrote index entries of messages copied before it";
      EXPECT_EQ(PendingOf(s.get()), want) << "after compaction " << round;
      Message m;
      ASSERT_TRUE(s->FirstByKey("m3", &m).ok()) << "the key table of the new tables";
      EXPECT_EQ(m.seq, 3u);
    }
    ASSERT_TRUE(s->Close().ok());
    s.reset();
    ASSERT_TRUE(Store::Open(path, o).MoveTo(&s).ok());
    EXPECT_EQ(s->open_report().index_action, IndexAction::kTrusted) << s->open_report().index_reason;
    EXPECT_EQ(PendingOf(s.get()), want) << "after reopen";
  }
}

// A kill (the process dies, the machine keeps its page cache) at every
// mutating step of a compaction that takes appends and consumes during its
// copy: while the new index tables are built and committed (before the
// rename), at the rename, and at the directory's fsync after it. The index
// is put back as it was at the kill (LMDB's own I/O is not FaultEnv's), and
// the reopen must hold every message that was appended and not consumed,
// whichever tables the index named; a compaction after it must work over
// the tables the killed one left.
TEST_F(StoreOnlineCompactionTest, AKillAtEveryStepWhileTheNewIndexTablesAreBuiltOrSwappedKeepsEveryMessage) {
  constexpr uint64_t kMessages = 3000;
  struct Run {
    std::map<uint64_t, std::string> model;  // appended and not consumed, as the calls returned
    std::string crash_point;
    bool crashed = false;
  };
  // One store, up to its compaction, killed at the compaction's k-th
  // mutating operation (0: not killed); returns what the calls returned.
  auto run = [&](const std::string& path, uint64_t k, FaultEnv* env, uint64_t* compaction_ops, Run* out) {
    StoreOptions o;
    o.env = env;
    o.auto_compact = false;
    o.sync = SyncPolicy::kNone;
    o.index_tail_flush = 64;  // LMDB holds most messages before the compaction
    o.key = KeyExtractor::UntilDelimiter(':');
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path, o).MoveTo(&s).ok());
    std::vector<std::string> bodies;
    for (uint64_t i = 1; i <= kMessages; ++i) bodies.push_back(Body(i));
    for (uint64_t i = 0; i < kMessages; i += 100) {
      std::vector<std::string_view> views(bodies.begin() + static_cast<long>(i),
                                          bodies.begin() + static_cast<long>(i + 100));
      uint64_t first = 0;
      ASSERT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
      for (uint64_t j = 0; j < 100; ++j) out->model[first + j] = bodies[i + j];
    }
    for (uint64_t seq = 1; seq <= kMessages; seq += 3) {
      ASSERT_TRUE(s->Consume(seq).ok());
      out->model.erase(seq);
    }
    const uint64_t start = env->operations();
    if (k != 0) env->CrashAtOperation(start + k);
    const std::string index_path = path + ".idx";
    FileCopy idx_at_kill;
    std::atomic<bool> fired{false};
    std::mutex model_mu;
    env->SetObserver([&](uint64_t op, const std::string& what) {
      if (k != 0 && op == start + k) idx_at_kill = CopyOfFile(index_path);
      // Traffic inside the bulk copy's first write: appends, and consumes
      // of messages the copy holds pending (the catch-up carries both).
      if (what.find("q.compact") == std::string::npos || what.rfind("write", 0) != 0 || fired.exchange(true))
        return;
      std::thread traffic([&] {
        std::vector<std::string_view> late = {"late:1", "late:2", "late:3"};
        uint64_t first = 0;
        if (s->AppendBatch(late).MoveTo(&first).ok()) {
          std::lock_guard<std::mutex> g(model_mu);
          for (uint64_t j = 0; j < late.size(); ++j) out->model[first + j] = std::string(late[j]);
        }
        for (uint64_t seq : {uint64_t{2}, uint64_t{3}, uint64_t{1001}, uint64_t{2999}}) {
          if (s->Consume(seq).ok()) {
            std::lock_guard<std::mutex> g(model_mu);
            out->model.erase(seq);
          }
        }
      });
      traffic.join();
    });
    CompactionResult r;
    Status st = s->Compact().MoveTo(&r);
    env->SetObserver(nullptr);
    out->crashed = env->crashed();
    out->crash_point = env->crash_point();
    if (k == 0) {
      ASSERT_TRUE(st.ok()) << st.ToString();
      *compaction_ops = env->operations() - start;
      ASSERT_TRUE(s->Close().ok());
      return;
    }
    s.reset();  // the kill: whatever the close still did to the index is undone below
    if (out->crashed) PutBack(index_path, idx_at_kill);
  };

  uint64_t ops = 0;
  {
    FaultEnv env(Env::Default(), /*real_syncs=*/false);
    Run r;
    run(dir_.File("count"), 0, &env, &ops, &r);
    ASSERT_FALSE(HasFailure());
  }
  ASSERT_GT(ops, 4u);
  int trusted_with_new_tables_committed = 0, after_rename = 0;
  for (uint64_t k = 1; k <= ops + 1; ++k) {
    const std::string path = dir_.File("q" + std::to_string(k));
    FaultEnv env(Env::Default(), /*real_syncs=*/false);
    Run r;
    run(path, k, &env, nullptr, &r);
    ASSERT_FALSE(HasFailure());
    SCOPED_TRACE("killed at " + (r.crashed ? r.crash_point : std::string("the end (no kill)")));
    env.RestartProcess();
    StoreOptions o;
    o.env = &env;
    o.auto_compact = false;
    o.sync = SyncPolicy::kNone;
    o.key = KeyExtractor::UntilDelimiter(':');
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path, o).MoveTo(&s).ok());
    std::vector<std::pair<uint64_t, std::string>> want(r.model.begin(), r.model.end());
    EXPECT_EQ(PendingOf(s.get()), want) << "after the kill";
    const IndexAction action = s->open_report().index_action;
    // crash_point: "operation N: what".
    const std::string what = r.crash_point.substr(std::min(r.crash_point.size(), r.crash_point.find(": ") + 2));
    if (what.rfind("rename", 0) == 0 && action != IndexAction::kRebuilt) ++trusted_with_new_tables_committed;
    if (what.rfind("sync directory", 0) == 0) ++after_rename;
    // Consumes after the kill (entries the killed compaction may have put in
    // its tables), then a compaction over whatever tables it left, and a reopen.
    for (uint64_t seq : {uint64_t{5}, uint64_t{6}, uint64_t{2000}, uint64_t{2997}}) {
      ASSERT_TRUE(s->Consume(seq).ok()) << seq;
      r.model.erase(seq);
    }
    want.assign(r.model.begin(), r.model.end());
    CompactionResult cr;
    ASSERT_TRUE(s->Compact().MoveTo(&cr).ok());
    EXPECT_EQ(cr.messages_kept, want.size());
    EXPECT_EQ(PendingOf(s.get()), want) << "after the next compaction";
    const StoreStats stats = s->Stats();
    EXPECT_EQ(stats.pending, want.size()) << "the index's entries after the next compaction";
    Message m;
    EXPECT_TRUE(s->FirstByKey("m5", &m).IsNotFound()) << "a consumed message in the key table";
    ASSERT_TRUE(s->Close().ok());
    s.reset();
    ASSERT_TRUE(Store::Open(path, o).MoveTo(&s).ok());
    EXPECT_EQ(s->open_report().index_action, IndexAction::kTrusted) << s->open_report().index_reason;
    EXPECT_EQ(PendingOf(s.get()), want) << "after the next compaction and a reopen";
    ASSERT_TRUE(s->Close().ok());
    if (HasFailure()) return;
  }
  // The kill at the rename comes after the new tables' commit: the index
  // then holds them, not current, and the reopen trusted the current ones.
  EXPECT_EQ(trusted_with_new_tables_committed, 1) << "no kill at the rename, or its reopen rebuilt the index";
  EXPECT_GE(after_rename, 1) << "no kill after the rename";
}

}  // namespace
}  // namespace mq
