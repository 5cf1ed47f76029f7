// Crash-point enumeration (issue 2 item 8, issue 6 item 2): a workload of
// appends, consumes, one compaction and a reopen runs under sync=always on a
// FaultEnv that crashes at mutating file operation k, for every k (and, in one
// test, crashes again at every operation of the recovery that follows). After a
// simulated power loss (unsynced data dropped, optionally a torn final write,
// a new boot id, and the LMDB index as it was at the crash, as an earlier
// copy, deleted, or garbage) the queue is reopened and checked:
//   - every message whose Append returned OK is pending, unless its Consume
//     returned OK or was in flight at the crash;
//   - no message whose Consume returned OK is pending again;
//   - a message is consumed only if a Consume of it was asked for;
//   - every message in the log is one the workload appended, byte for byte, at
//     that seq; seqs strictly increase; a new append gets a higher seq;
//   - the index equals a fresh rebuild: VerifyIndex finds nothing and the
//     pending list read through the store equals the one ScanLog reads;
//   - an index that cannot be trusted after the power loss is rebuilt.
// With traffic (issue 24), the compaction is online: inside its first write to
// QUEUE.compact (its copy, without the store's mutex) the workload appends a
// message and consumes one the copy holds pending, so crash points fall in
// that traffic and in every later step of the compaction with it in flight.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fault_env.h"
#include "mq/inspect.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

using test::FileCopy;
using test::PutBack;
using test::CopyOfFile;

using test::FaultEnv;
using test::PowerLossOptions;

// What the workload was told.
struct Ledger {
  std::map<uint64_t, std::string> acked;      // Append returned OK
  std::map<uint64_t, std::string> in_flight;  // Append failed at the crash: may or may not survive
  std::set<uint64_t> consumed;                // Consume returned OK
  std::set<uint64_t> consume_in_flight;       // Consume failed at the crash
};

// The index tail is handed to the index writer thread every 2 appended
// messages (the default, 65,536, is never reached by these workloads), so the
// writer's LMDB transactions run, and are in flight, at the crash points.
constexpr size_t kCrashTailFlush = 2;

StoreOptions CrashOptions(Env* env) {
  StoreOptions o;
  o.sync = SyncPolicy::kAlways;
  o.index_tail_flush = kCrashTailFlush;
  o.auto_compact = false;
  o.key = KeyExtractor::UntilDelimiter(':');
  o.env = env;
  return o;
}

std::string Payload(char key, int i) {
  return std::string(1, key) + ":" + std::to_string(i) + "/" + std::string(9 + 7 * i, static_cast<char>('k' + i));
}

// One batch far larger than the index tail (kCrashTailFlush), appended in one
// write and consumed in its middle, so that LMDB holds a batch's entries, and
// index deletes, at crash time. Only the plain enumeration and the
// process-crash test use it.
constexpr uint64_t kBigBatch = 40;

// wide: each message padded to kWideMessage bytes, so the batch spans
// several 4 KiB pages and a power cut can keep a later one without an
// earlier one (PowerLossOptions::Pages).
constexpr size_t kWideMessage = 300;

std::vector<std::string> BigBatch(bool wide) {
  std::vector<std::string> v;
  for (uint64_t i = 0; i < kBigBatch; ++i) {
    v.push_back("t" + std::to_string(i % 7) + ":" + std::to_string(i));
    if (wide) v.back().resize(kWideMessage, static_cast<char>('A' + i % 26));
  }
  return v;
}

// The recorded workload. Each step stops the run at its first error (after a
// crash every operation fails anyway), noting what was in flight.
class Workload {
 public:
  // big_batch: add one batch of kBigBatch messages (and a consume inside it).
  Workload(std::string path, Env* env, Ledger* ledger, bool big_batch, bool traffic = false, bool wide = false)
      : path_(std::move(path)), env_(env), ledger_(ledger), big_(big_batch), traffic_(traffic), wide_(wide) {}

  // True if every step succeeded. Seqs: a:1 is 1; b:1 a:2 b:2 are 2..4; c:1
  // is 5; the big batch (if any) is 6..5+B; then a:3, c:2, c:3, d:1 are
  // 6+B..9+B.
  bool Run() {
    const uint64_t b = big_ ? kBigBatch : 0;
    return Open() && Append({Payload('a', 1)}) && Append({Payload('b', 1), Payload('a', 2), Payload('b', 2)}) &&
           Consume(1) && Append({Payload('c', 1)}) &&
           (!big_ || (Append(BigBatch(wide_)) && Consume(5 + kBigBatch / 2))) && Consume(3) && Compact() &&
           Append({Payload('a', 3)}) && Reopen() && Append({Payload('c', 2), Payload('c', 3)}) && Consume(2) &&
           Consume(7 + b) && Append({Payload('d', 1)});
  }
  // Batches handed to the index writer thread so far, by every Store object
  // the workload opened.
  uint64_t index_writes() const { return index_writes_ + (store_ ? store_->Stats().index_writes : 0); }
  // The last assigned seq of an uncrashed run.
  uint64_t last_seq() const { return (big_ ? kBigBatch : 0) + 9 + (traffic_ ? 1 : 0); }

  // Destroys the store (as the end of the workload's scope used to).
  void Close() { store_.reset(); }

  // From the FaultEnv observer, before each mutating operation: the traffic
  // during the compaction's copy (once, at its first write to QUEUE.compact),
  // on the compacting thread, which does not hold the store's mutex there.
  void Observe(const std::string& what) {
    if (!traffic_ || !compacting_ || traffic_done_ || what.rfind("write", 0) != 0 ||
        what.find("q.compact") == std::string::npos)
      return;
    traffic_done_ = true;
    (void)(Append({Payload('e', 1)}) && Consume(4));  // 4 is pending below the compaction's snapshot
  }

 private:
  bool Open() { return Store::Open(path_, CrashOptions(env_)).MoveTo(&store_).ok(); }

  bool Append(const std::vector<std::string>& payloads) {
    const uint64_t seq0 = store_->last_seq() + 1;
    std::vector<std::string_view> views(payloads.begin(), payloads.end());
    uint64_t first = 0;
    Status s = payloads.size() == 1 ? store_->Append(views[0]).MoveTo(&first) : store_->AppendBatch(views).MoveTo(&first);
    auto& book = s.ok() ? ledger_->acked : ledger_->in_flight;
    if (s.ok()) {
      EXPECT_EQ(first, seq0);
    }
    for (size_t i = 0; i < payloads.size(); ++i) book[seq0 + i] = payloads[i];
    return s.ok();
  }

  bool Consume(uint64_t seq) {
    Status s = store_->Consume(seq);
    (s.ok() ? ledger_->consumed : ledger_->consume_in_flight).insert(seq);
    return s.ok();
  }

  bool Compact() {
    CompactionResult r;
    compacting_ = true;
    bool ok = store_->Compact().MoveTo(&r).ok();
    compacting_ = false;
    return ok && (!traffic_ || traffic_done_);
  }

  bool Reopen() {
    index_writes_ += store_->Stats().index_writes;
    Status s = store_->Close();
    store_.reset();
    return s.ok() && Open();
  }

  std::string path_;
  Env* env_;
  Ledger* ledger_;
  bool big_;
  bool traffic_;
  bool wide_;
  bool compacting_ = false;
  bool traffic_done_ = false;
  uint64_t index_writes_ = 0;
  std::unique_ptr<Store> store_;
};

// A scratch directory, removed on destruction. In memory (/dev/shm) when
// there is one: what a power loss keeps is FaultEnv's bookkeeping, not the
// disk's, and LMDB's own fsyncs on a real disk would make the enumeration
// some twenty times slower.
class ScratchDir {
 public:
  ScratchDir() {
    std::error_code ec;
    std::string base = "/dev/shm";
    if (!std::filesystem::is_directory(base, ec) || ::access(base.c_str(), W_OK) != 0) {
      const char* t = std::getenv("TMPDIR");
      base = t != nullptr ? t : "/tmp";
    }
    std::string tmpl = base + "/mq-crash-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp in " << base << " failed";
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// What the LMDB index looks like after the power loss. It does its own I/O, so
// any of these is possible: the OS wrote back all of it, only an older state
// of it, none of it, or something LMDB cannot read.
enum class IndexFate { kAsAtCrash, kEarlierCopy, kDeleted, kGarbage };
constexpr IndexFate kAllFates[] = {IndexFate::kAsAtCrash, IndexFate::kEarlierCopy, IndexFate::kDeleted,
                                   IndexFate::kGarbage};

const char* FateName(IndexFate f) {
  switch (f) {
    case IndexFate::kAsAtCrash: return "index as at the crash";
    case IndexFate::kEarlierCopy: return "index from an earlier point";
    case IndexFate::kDeleted: return "index deleted";
    case IndexFate::kGarbage: return "index overwritten with garbage";
  }
  return "?";
}

struct Tally {
  uint64_t states = 0;
  uint64_t rebuilt = 0;
  uint64_t trusted = 0;  // trusted or caught up
  uint64_t tails_cut = 0;
  uint64_t index_writer_ran = 0;  // crash runs in which the index writer thread got a batch before the crash
  uint64_t holes = 0;  // states whose log had damage with intact messages after it (out-of-order pages)
  uint64_t multi_page = 0;  // states where a file had 2 or more unsynced pages at the crash
  uint64_t kept_after_power_loss = 0;  // an unclean index claiming only synced log, usable after the power loss
};

class StoreCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("q");
    index_path_ = IndexPathFor(path_);
  }

  // Runs the workload crashing at operation k (past its end: power is lost
  // after its last step, the store still open). Leaves the store
  // destroyed and the copies of the index taken at the crash (or at the end)
  // and at operation max(1, k/2).
  void RunCrashed(FaultEnv* env, uint64_t k, Ledger* ledger, FileCopy* at_crash, FileCopy* earlier,
                  Tally* tally = nullptr) {
    const uint64_t early_op = std::max<uint64_t>(1, k / 2);
    bool took_crash_copy = false;
    Workload w(path_, env, ledger, big_batch_, traffic_, wide_batch_);
    env->SetObserver([&](uint64_t op, const std::string& what) {
      if (op == early_op) *earlier = CopyOfFile(index_path_);
      if (op == k) {
        *at_crash = CopyOfFile(index_path_);
        took_crash_copy = true;
      }
      w.Observe(what);
    });
    env->CrashAtOperation(k);
    {
      bool completed = w.Run();
      if (tally != nullptr && w.index_writes() > 0) ++tally->index_writer_ran;
      if (!took_crash_copy) {
        // Power is lost after the last step, with the store still open.
        *at_crash = CopyOfFile(index_path_);
        env->CrashNow();
      }
      if (k <= completed_ops_) {
        EXPECT_FALSE(completed) << "a crash at operation " << k << " went unnoticed";
      } else {
        EXPECT_TRUE(completed) << env->crash_point();
      }
      w.Close();  // the store is destroyed (after the crash) with the observer still in place
    }
    env->SetObserver(nullptr);
  }

  void ApplyFate(IndexFate fate, const FileCopy& at_crash, const FileCopy& earlier) {
    switch (fate) {
      case IndexFate::kAsAtCrash: PutBack(index_path_, at_crash); break;
      case IndexFate::kEarlierCopy: PutBack(index_path_, earlier); break;
      case IndexFate::kDeleted: PutBack(index_path_, FileCopy{}); break;
      case IndexFate::kGarbage: PutBack(index_path_, FileCopy{true, std::string(16384, '\x5a')}); break;
    }
  }

  // Reopens the queue after a crash and checks every promise. *post_seq (if
  // given) gets the seq of the message appended after recovery.
  void CheckRecovery(FaultEnv* env, const Ledger& ledger, Tally* tally, bool after_power_loss,
                     uint64_t* post_seq = nullptr) {
    ++tally->states;
    // What the index looks like before the open (after a power loss: under the new boot).
    bool index_usable = false;
    {
      LogSummary sum;
      InspectOptions io;
      io.env = env;
      Status st = ScanLog(path_, io, [](const LogMessage&) { return true; }).MoveTo(&sum);
      if (st.ok()) {
        // Damage with intact messages after it: in the middle, or the
        // unsynced tail a power cut left (ScanLog names it so).
        for (const LogDamage& d : sum.damage) {
          if (!d.tail || d.reason.find("the unsynced tail of a power cut") != std::string::npos) {
            ++tally->holes;
            break;
          }
        }
        IndexInfo info;
        ASSERT_TRUE(InspectIndex(path_, sum, io).MoveTo(&info).ok());
        index_usable = info.state == IndexInfo::State::kCurrent || info.state == IndexInfo::State::kBehind;
        // Unless its last commit covers only log bytes that were synced
        // (docs/design.md, "An index that survives a power cut"): then the
        // checks below prove that trusting it lost and invented nothing.
        const bool claims_synced = info.synced_log != 0 && info.synced_log == info.applied;
        if (after_power_loss && info.state != IndexInfo::State::kMissing &&
            info.state != IndexInfo::State::kUnreadable && !info.clean && !claims_synced) {
          EXPECT_EQ(info.state, IndexInfo::State::kStale)
              << "an index written unsynced before the power loss must not look current: " << info.detail;
        }
        if (after_power_loss && !info.clean && claims_synced && index_usable) ++tally->kept_after_power_loss;
      } else {
        ASSERT_TRUE(st.IsNotFound()) << st.ToString();  // the crash came before the log was durable
      }
    }

    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, CrashOptions(env)).MoveTo(&s);
    ASSERT_TRUE(st.ok()) << "reopen after the power loss: " << st.ToString();
    const OpenReport& rep = s->open_report();
    const bool rebuilt = rep.index_action == IndexAction::kRebuilt;
    if (!index_usable) {
      EXPECT_TRUE(rebuilt) << "index action: " << DescribeIndexAction(rep);
    }
    (rebuilt ? tally->rebuilt : tally->trusted) += 1;
    if (rep.tail_cut_bytes > 0) ++tally->tails_cut;

    uint64_t max_acked = 0;
    for (const auto& [seq, p] : ledger.acked) max_acked = std::max(max_acked, seq);
    uint64_t post = 0;
    ASSERT_TRUE(s->Append("p:after recovery").MoveTo(&post).ok());
    EXPECT_GT(post, max_acked) << "a new message reused an acknowledged seq";
    if (post_seq != nullptr) *post_seq = post;

    std::vector<std::pair<uint64_t, std::string>> via_store;
    ASSERT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
      via_store.emplace_back(v.seq, std::string(v.payload));
      return true;
    }).ok());
    ASSERT_TRUE(s->Close().ok());
    s.reset();

    // The log, read on its own.
    std::vector<std::pair<uint64_t, std::string>> via_log;
    std::set<uint64_t> consumed_in_log;
    uint64_t prev = 0;
    LogSummary sum;
    st = ScanLog(path_, InspectOptions{}, [&](const LogMessage& r) {
      EXPECT_GT(r.seq, prev) << "seqs must strictly increase along the log";
      prev = r.seq;
      std::string payload(r.payload);
      if (r.seq == post) {
        EXPECT_EQ(payload, "p:after recovery");
      } else {
        auto a = ledger.acked.find(r.seq);
        auto f = ledger.in_flight.find(r.seq);
        if (a != ledger.acked.end()) {
          EXPECT_EQ(payload, a->second) << "message " << r.seq << " differs from what was appended";
        } else if (f != ledger.in_flight.end()) {
          EXPECT_EQ(payload, f->second) << "message " << r.seq << " differs from what was appended";
        } else {
          ADD_FAILURE() << "message " << r.seq << " in the log was never appended";
        }
      }
      if (r.consumed) {
        consumed_in_log.insert(r.seq);
        EXPECT_TRUE(ledger.consumed.count(r.seq) || ledger.consume_in_flight.count(r.seq))
            << "message " << r.seq << " is consumed but nobody consumed it";
      } else {
        via_log.emplace_back(r.seq, payload);
      }
      return true;
    }).MoveTo(&sum);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(sum.damage.empty()) << "damage left in the log at offset " << sum.damage.front().offset << ": "
                                    << sum.damage.front().reason;

    std::set<uint64_t> pending;
    for (const auto& [seq, p] : via_log) pending.insert(seq);
    for (const auto& [seq, p] : ledger.acked) {
      if (ledger.consumed.count(seq)) {
        EXPECT_EQ(pending.count(seq), 0u) << "message " << seq << " came back although its Consume returned OK";
      } else if (!ledger.consume_in_flight.count(seq)) {
        EXPECT_EQ(pending.count(seq), 1u) << "acknowledged message " << seq << " was lost";
      }
    }

    std::vector<std::string> problems;
    ASSERT_TRUE(VerifyIndex(path_, InspectOptions{}).MoveTo(&problems).ok());
    EXPECT_TRUE(problems.empty()) << problems.front();
    EXPECT_EQ(via_store, via_log) << "the index after recovery differs from a scan of the log";
  }

  // Counts the mutating operations of an uncrashed run (workload only).
  uint64_t CountOperations() {
    ScratchDir d;
    FaultEnv env(Env::Default(), /*real_syncs=*/false);
    Ledger ledger;
    Workload w(d.File("q"), &env, &ledger, big_batch_, traffic_, wide_batch_);
    env.SetObserver([&](uint64_t, const std::string& what) { w.Observe(what); });
    EXPECT_TRUE(w.Run());
    w.Close();
    env.SetObserver(nullptr);
    uint64_t n = env.operations();
    EXPECT_EQ(ledger.acked.size(), w.last_seq());
    EXPECT_EQ(ledger.acked.rbegin()->first, w.last_seq());
    return n;
  }

  void Clear() {
    for (const auto& e : std::filesystem::directory_iterator(dir_.path())) std::filesystem::remove_all(e.path());
  }

  // Every crash point, every index fate.
  void EnumerateCrashPoints(bool torn, double torn_fraction, Tally* tally) {
    PowerLossOptions opt;
    opt.torn_write = torn;
    opt.torn_fraction = torn_fraction;
    EnumerateCrashPoints({opt}, {std::begin(kAllFates), std::end(kAllFates)}, tally);
  }

  // Every crash point, each power loss model, each index fate. The losses
  // after the first run only at crash points where a file had 2 or more
  // unsynced pages at the first run's crash (elsewhere every page model
  // leaves the same few states).
  void EnumerateCrashPoints(const std::vector<PowerLossOptions>& losses, const std::vector<IndexFate>& fates,
                            Tally* tally) {
    completed_ops_ = CountOperations();
    ASSERT_GT(completed_ops_, 20u);
    for (uint64_t k = 1; k <= completed_ops_ + 1; ++k) {
      bool multi_page = false;
      for (const PowerLossOptions& loss : losses)
      for (IndexFate fate : fates) {
        if (&loss != &losses.front() && !multi_page) continue;
        Clear();
        FaultEnv env(Env::Default(), /*real_syncs=*/false);
        Ledger ledger;
        FileCopy at_crash, earlier;
        RunCrashed(&env, k, &ledger, &at_crash, &earlier, tally);
        if (env.MaxUnsyncedPages() >= 2) {
          multi_page = true;
          ++tally->multi_page;
        }
        const std::string where = env.crash_point();
        ASSERT_TRUE(env.SimulatePowerLoss(loss).ok());
        ApplyFate(fate, at_crash, earlier);
        SCOPED_TRACE("crash at " + (where.empty() ? "the end" : where) + (loss.torn_write ? ", torn write" : "") +
                     LossName(loss) + ", " + FateName(fate));
        CheckRecovery(&env, ledger, tally, true);
        if (HasFailure()) return;  // the first failing state says enough
      }
    }
  }

  static std::string LossName(const PowerLossOptions& loss) {
    switch (loss.pages) {
      case PowerLossOptions::Pages::kOff: return "";
      case PowerLossOptions::Pages::kSubset: return ", a subset of the unsynced pages (seed " + std::to_string(loss.seed) + ")";
      case PowerLossOptions::Pages::kTornLastPage: return ", the unsynced pages with the last torn (seed " + std::to_string(loss.seed) + ")";
    }
    return "";
  }

  void Report(const Tally& t, const std::string& what = "crash states") {
    std::cout << "[ crash    ] explored " << t.states << " " << what << ": index rebuilt in " << t.rebuilt
              << ", trusted in " << t.trusted << "; torn tails cut in " << t.tails_cut
              << "; the index writer ran before the crash in " << t.index_writer_ran
              << "; damage with intact messages after it in " << t.holes << "; several unsynced pages in "
              << t.multi_page << "; an unclean index kept after a power loss in " << t.kept_after_power_loss
              << std::endl;
    std::string key = what;
    for (char& c : key) c = c == ' ' ? '_' : c;
    RecordProperty(key, static_cast<int>(t.states));
    RecordProperty(key + "_index_rebuilt", static_cast<int>(t.rebuilt));
    RecordProperty(key + "_tails_cut", static_cast<int>(t.tails_cut));
    RecordProperty(key + "_index_writer_ran", static_cast<int>(t.index_writer_ran));
  }

  ScratchDir dir_;
  std::string path_, index_path_;
  uint64_t completed_ops_ = 0;
  bool big_batch_ = false;  // the workload includes the big batch
  bool traffic_ = false;    // the workload appends and consumes during the compaction's copy
  bool wide_batch_ = false; // the big batch's messages are kWideMessage bytes (several pages)
};

TEST_F(StoreCrashTest, EveryCrashPointKeepsAcknowledgedMessagesAndDropsAcknowledgedConsumes) {
  big_batch_ = true;
  Tally t;
  EnumerateCrashPoints(false, 0.5, &t);
  Report(t);
  if (HasFailure()) return;  // the enumeration stopped at the failing state
  EXPECT_EQ(t.states, 4 * (completed_ops_ + 1));
  // Most crash points come after the second append, which hands the tail to
  // the index writer thread: its LMDB write is in flight or done at the crash.
  EXPECT_GT(t.index_writer_ran * 2, t.states) << "the index writer thread ran before too few crash points";
}

TEST_F(StoreCrashTest, EveryCrashPointOfACompactionWithTrafficKeepsAcknowledgedMessagesAndConsumes) {
  big_batch_ = true;
  traffic_ = true;
  Tally t;
  EnumerateCrashPoints(false, 0.5, &t);
  Report(t, "crash states with traffic during compaction");
  if (HasFailure()) return;
  EXPECT_EQ(t.states, 4 * (completed_ops_ + 1));
}

TEST_F(StoreCrashTest, EveryCrashPointWithATornFinalWriteKeepsAcknowledgedMessages) {
  Tally t;
  // Where the cut lands: in the meta record, in the payload, near its end.
  for (double fraction : {0.1, 0.5, 0.9}) {
    if (!HasFailure()) EnumerateCrashPoints(true, fraction, &t);
  }
  Report(t);
  if (HasFailure()) return;
  EXPECT_GT(t.tails_cut, 0u) << "torn writes should leave torn tails for recovery to cut";
  EXPECT_GT(t.index_writer_ran * 2, t.states) << "the index writer thread ran before too few crash points";
}

// Recovery itself crashes: after a first power loss (with torn writes), the
// reopen is crashed at each of its own mutating operations, power is lost
// again, and the next reopen must still keep every promise.
TEST_F(StoreCrashTest, CrashesDuringRecoveryLoseNothing) {
  completed_ops_ = CountOperations();
  Tally t;
  uint64_t recovery_ops_total = 0;
  for (uint64_t k = 1; k <= completed_ops_ + 1 && !HasFailure(); ++k) {
    Clear();
    FaultEnv env(Env::Default(), /*real_syncs=*/false);
    Ledger ledger;
    FileCopy at_crash, earlier;
    RunCrashed(&env, k, &ledger, &at_crash, &earlier, &t);
    const std::string first = env.crash_point();
    ASSERT_TRUE(env.SimulatePowerLoss(PowerLossOptions{true, 0.5}).ok());
    PutBack(index_path_, at_crash);
    // The disk as the first power loss left it.
    std::map<std::string, FileCopy> disk;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
      disk[e.path().string()] = CopyOfFile(e.path().string());

    // How many mutating operations an uninterrupted recovery does.
    uint64_t recovery_ops = 0;
    {
      std::unique_ptr<Store> s;
      ASSERT_TRUE(Store::Open(path_, CrashOptions(&env)).MoveTo(&s).ok());
      recovery_ops = env.operations();
    }
    recovery_ops_total += recovery_ops;
    for (uint64_t j = 1; j <= recovery_ops; ++j) {
      ASSERT_TRUE(env.SimulatePowerLoss().ok());  // forget the last run; the disk restored below is durable
      Clear();
      for (const auto& [p, c] : disk) PutBack(p, c);
      FileCopy idx;
      env.SetObserver([&](uint64_t op, const std::string&) {
        if (op == j) idx = CopyOfFile(index_path_);
      });
      env.CrashAtOperation(j);
      {
        std::unique_ptr<Store> s;
        (void)Store::Open(path_, CrashOptions(&env)).MoveTo(&s);  // fails, or succeeds and dies on close
      }
      env.SetObserver(nullptr);
      const std::string second = env.crash_point();
      ASSERT_TRUE(env.SimulatePowerLoss(PowerLossOptions{true, 0.5}).ok());
      const IndexFate fate = kAllFates[(k + j) % 4];
      ApplyFate(fate, idx, disk[index_path_]);  // earlier: the index the recovery started from
      SCOPED_TRACE("first crash at " + (first.empty() ? "the end" : first) + ", then recovery crashed at " +
                   second + ", " + FateName(fate));
      CheckRecovery(&env, ledger, &t, true);
      if (HasFailure()) break;
    }
  }
  Report(t);
  if (HasFailure()) return;
  EXPECT_EQ(t.states, recovery_ops_total);
  EXPECT_GT(t.states, completed_ops_) << "every recovery does at least one mutating operation";
}

// A process crash (the machine keeps running, so nothing is dropped) at every
// operation; the restart recovers, is checked, appends and closes; then the
// power fails. What the restart acknowledged must survive the power loss too,
// and after the crash alone the index is reused, not rebuilt.
TEST_F(StoreCrashTest, EveryProcessCrashThenRecoveryThenPowerLossKeepsAcknowledgedMessages) {
  big_batch_ = true;
  completed_ops_ = CountOperations();
  Tally after_crash, after_power_loss;
  for (uint64_t k = 1; k <= completed_ops_ + 1; ++k) {
    Clear();
    FaultEnv env(Env::Default(), /*real_syncs=*/false);
    Ledger ledger;
    FileCopy at_crash, earlier;
    RunCrashed(&env, k, &ledger, &at_crash, &earlier, &after_crash);
    const std::string where = env.crash_point();
    env.RestartProcess();
    PutBack(index_path_, at_crash);  // a killed process leaves LMDB's commits in the page cache
    SCOPED_TRACE("process crash at " + (where.empty() ? "the end" : where));
    uint64_t post = 0;
    CheckRecovery(&env, ledger, &after_crash, false, &post);
    if (HasFailure()) break;
    ledger.acked[post] = "p:after recovery";
    ASSERT_TRUE(env.SimulatePowerLoss().ok());
    SCOPED_TRACE("then a power loss after the restart closed the queue");
    CheckRecovery(&env, ledger, &after_power_loss, true);
    if (HasFailure()) break;
  }
  Report(after_crash, "process crash states");
  Report(after_power_loss, "power losses after restart");
  if (HasFailure()) return;
  EXPECT_EQ(after_crash.states, completed_ops_ + 1);
  EXPECT_GT(after_crash.trusted, 0u) << "within one boot an index that matches the log is reused";
}

// Out-of-order write-back (issue 17 item 5): at each crash point, a seeded
// subset of the unsynced 4 KiB pages survives, or all of them with the last
// one torn, so the unsynced tail of the log can hold a lost (zeroed or old)
// page with intact messages after it. Under sync=always nothing acknowledged
// is in that tail, and the store must recover on its own: it cuts the
// unsynced tail (its sync marks prove where the durable bytes end) instead of
// refusing the log as damaged in the middle. The index is either as at the
// crash or gone (the LMDB fates are the other enumerations' concern).
TEST_F(StoreCrashTest, EveryCrashPointWithUnsyncedPagesSurvivingOutOfOrderRecoversByItself) {
  big_batch_ = true;
  wide_batch_ = true;
  // Fewer seeds under the sanitizers (the release stage runs them all).
  const uint64_t subsets = test::kSanitized ? 8 : 32, torn_pages = test::kSanitized ? 2 : 8;
  std::vector<PowerLossOptions> losses;
  for (uint64_t seed = 1; seed <= subsets; ++seed) {
    PowerLossOptions o;
    o.pages = PowerLossOptions::Pages::kSubset;
    o.seed = seed;
    losses.push_back(o);
  }
  PowerLossOptions torn;
  torn.pages = PowerLossOptions::Pages::kTornLastPage;
  for (uint64_t seed = subsets + 1; seed <= subsets + torn_pages; ++seed) {
    torn.seed = seed;
    losses.push_back(torn);
  }
  Tally t;
  EnumerateCrashPoints(losses, {IndexFate::kAsAtCrash, IndexFate::kDeleted}, &t);
  Report(t, "crash states with out-of-order pages");
  if (HasFailure()) return;
  EXPECT_GT(t.multi_page, 0u) << "no crash point had a write of several pages in flight";
  EXPECT_GT(t.holes, 0u) << "no state had a lost page before an intact one: the model is not exercised";
  EXPECT_GT(t.tails_cut, 0u) << "no state left an unsynced tail to cut";
  EXPECT_GT(t.index_writer_ran * 2, t.states) << "the index writer thread ran before too few crash points";
}

}  // namespace
}  // namespace mq
