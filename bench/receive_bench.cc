// Selective receive behind a backlog, and draining a mailbox, through the
// store API, side by side with SQLite as a queue and the original design's
// algorithm (docs/benchmarks.md, "Selective receive" and "Draining").
// Erlang's own mailbox is measured by erlang_mailbox.escript in the same run.
//
//   lookup/mq-key/backlog=K         Store::FirstByKey of the one wanted key behind K others (no consume)
//   recv/SYSTEM/backlog=K           receive the oldest wanted message behind K others and consume it
//   recv/pread-floor/backlog=K      reference: pread the K messages' bytes of the same log in 256 KiB
//                                   reads (the read window's size), parsing nothing: the copy any
//                                   scan that reads the log with pread pays
//   drain-reverse/SYSTEM/n=K        K messages arrive in the reverse of the order they are received in
//   drain-order/SYSTEM/n=K          K messages received oldest first (receive(any));
//                                   mq-nokey: a queue without a key extractor (the mailbox's default)
//
// SYSTEM: mq-key (FirstByKey + Consume), mq-pred (FindFirst with a predicate +
// Consume: the mailbox's predicate receive), mq-scan (the same through
// ScanPending, which checks every payload's checksum), sqlite-key (SELECT ... WHERE used=0 AND key=? ORDER BY
// seq LIMIT 1 + UPDATE, one transaction), original (its receive: rescan the
// file from the start). Every message is 64 bytes. Sync: mq none, SQLite
// synchronous=OFF (WAL): these measure the receive path, not durability.
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "format/log_format.h"
#include "mq/store.h"
#include "original_queue.h"
#include "sqlite_queue.h"

namespace mq::bench {
namespace {

constexpr size_t kSize = 64;
constexpr uint64_t kTags = 1000;
const std::string kWanted = "wanted";

bool IsWanted(std::string_view p) { return p.size() > 7 && p.compare(0, 7, "wanted:") == 0; }

// Messages [0, n): the other tags, then `wanted` wanted ones.
std::vector<std::string> Backlog(uint64_t k, uint64_t wanted) {
  std::vector<std::string> v;
  v.reserve(k + wanted);
  for (uint64_t i = 0; i < k; ++i) v.push_back(MakePayload(kSize, TagKey(i, kTags), i));
  for (uint64_t i = 0; i < wanted; ++i) v.push_back(MakePayload(kSize, kWanted, k + i));
  return v;
}

// Unique keys arriving in reverse: w0000099, ..., w0000000.
std::string RevKey(uint64_t i) {
  char b[32];
  std::snprintf(b, sizeof(b), "w%07llu", static_cast<unsigned long long>(i));
  return b;
}
std::vector<std::string> Reversed(uint64_t k) {
  std::vector<std::string> v;
  v.reserve(k);
  for (uint64_t i = k; i-- > 0;) v.push_back(MakePayload(kSize, RevKey(i), i));
  return v;
}

Status OpenStore(const std::string& path, std::unique_ptr<Store>* out, bool keyed = true) {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.key = keyed ? KeyExtractor::UntilDelimiter(':') : KeyExtractor::None();
  o.auto_compact = false;
  return Store::Open(path, o).MoveTo(out);
}

Status Fill(Store* s, const std::vector<std::string>& msgs) {
  std::vector<std::string_view> views;
  for (size_t i = 0; i < msgs.size(); i += 4096) {
    views.assign(msgs.begin() + static_cast<long>(i),
                 msgs.begin() + static_cast<long>(std::min(msgs.size(), i + 4096)));
    MQ_RETURN_IF_ERROR(s->AppendBatch(views).status());
  }
  return Status::OK();
}

std::string Fill(SqliteQueue* q, const std::vector<std::string>& msgs, const KeyExtractor& key) {
  std::vector<std::string_view> views, keys;
  for (size_t i = 0; i < msgs.size(); i += 4096) {
    views.assign(msgs.begin() + static_cast<long>(i),
                 msgs.begin() + static_cast<long>(std::min(msgs.size(), i + 4096)));
    keys.clear();
    for (std::string_view p : views) keys.push_back(key.Extract(p));
    std::string e = q->AppendBatch(keys, views);
    if (!e.empty()) return e;
  }
  return {};
}

void Fill(OriginalQueue* q, const std::vector<std::string>& msgs) {
  for (const std::string& m : msgs) q->Enqueue(m);
  q->Flush();
}

bool SkipIf(benchmark::State& state, const std::string& e) {
  if (e.empty()) return false;
  state.SkipWithError(e.c_str());
  return true;
}

// ---- receive behind a backlog ----

void LookupMqKey(benchmark::State& state, uint64_t k) {
  ScratchDir dir;
  std::unique_ptr<Store> s;
  if (Failed(state, OpenStore(dir.File("q"), &s)) || Failed(state, Fill(s.get(), Backlog(k, 1)))) return;
  Message m;
  for (auto _ : state)
    if (Failed(state, s->FirstByKey(kWanted, &m))) break;
  state.counters["backlog"] = Value(static_cast<double>(k));
  (void)s->Close();
}

// The copy under mq's predicate scan: the same log as recv/mq-pred, its first
// K messages' bytes read with pread into one 256 KiB buffer, again and again.
void PreadFloor(benchmark::State& state, uint64_t k) {
  ScratchDir dir;
  std::unique_ptr<Store> s;
  if (Failed(state, OpenStore(dir.File("q"), &s)) || Failed(state, Fill(s.get(), Backlog(k, 1))) ||
      Failed(state, s->Close()))
    return;
  const int fd = ::open(dir.File("q").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    state.SkipWithError("open the log");
    return;
  }
  const off_t end = ::lseek(fd, 0, SEEK_END);
  const size_t bytes = static_cast<size_t>(std::min<off_t>(end, static_cast<off_t>(k * (kSize + log::kFramedOverhead))));
  std::vector<char> buf(256 << 10);
  for (auto _ : state) {
    for (size_t off = 0; off < bytes;) {
      const ssize_t n = ::pread(fd, buf.data(), std::min(buf.size(), bytes - off), static_cast<off_t>(off));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  ::close(fd);
  state.counters["backlog"] = Value(static_cast<double>(k));
}

enum class How { kKey, kFindFirst, kScan };

void RecvMq(benchmark::State& state, uint64_t k, How how) {
  ScratchDir dir;
  std::unique_ptr<Store> s;
  if (Failed(state, OpenStore(dir.File("q"), &s)) ||
      Failed(state, Fill(s.get(), Backlog(k, state.max_iterations))))
    return;
  Message m;
  for (auto _ : state) {
    uint64_t seq = 0;
    if (how == How::kKey) {
      if (Failed(state, s->FirstByKey(kWanted, &m))) break;
      seq = m.seq;
    } else if (how == How::kFindFirst) {
      uint64_t scanned = 0;
      if (Failed(state, s->FindFirst(0, IsWanted, &m, &scanned))) break;
      seq = m.seq;
    } else {
      Status st = s->ScanPending(0, [&](const MessageView& v) {
        if (!IsWanted(v.payload)) return true;
        seq = v.seq;
        return false;
      });
      if (Failed(state, st)) break;
      if (seq == 0) {
        state.SkipWithError("no wanted message left");
        break;
      }
    }
    if (Failed(state, s->Consume(seq))) break;
  }
  state.counters["backlog"] = Value(static_cast<double>(k));
  (void)s->Close();
}

void RecvSqlite(benchmark::State& state, uint64_t k) {
  ScratchDir dir;
  SqliteQueue q;
  if (SkipIf(state, q.Open(dir.File("q.db"), SqliteSync::kOff)) ||
      SkipIf(state, Fill(&q, Backlog(k, state.max_iterations), KeyExtractor::UntilDelimiter(':'))))
    return;
  int64_t seq = 0;
  std::string payload;
  bool found = false;
  for (auto _ : state) {
    if (SkipIf(state, q.PopByKey(kWanted, &seq, &payload, &found))) break;
    if (!found) {
      state.SkipWithError("no wanted message left");
      break;
    }
  }
  state.counters["backlog"] = Value(static_cast<double>(k));
}

void RecvOriginal(benchmark::State& state, uint64_t k) {
  ScratchDir dir;
  OriginalQueue q(dir.File("testq"));
  if (!q.ok()) {
    FailedErrno(state, "open");
    return;
  }
  Fill(&q, Backlog(k, state.max_iterations));
  for (auto _ : state) {
    if (!q.Receive(IsWanted)) {
      state.SkipWithError("no wanted message left");
      break;
    }
  }
  state.counters["backlog"] = Value(static_cast<double>(k));
}

// ---- draining ----

enum class Order { kReverse, kArrival };

// keyed: the queue has a key extractor (and so a key table to keep up).
void DrainMq(benchmark::State& state, uint64_t k, Order order, bool by_key, bool keyed = true) {
  const std::vector<std::string> msgs = order == Order::kReverse ? Reversed(k) : Backlog(k, 0);
  std::vector<std::string> keys;
  for (uint64_t i = 0; i < k; ++i) keys.push_back(RevKey(i));
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::make_unique<ScratchDir>();
    std::unique_ptr<Store> s;
    if (Failed(state, OpenStore(dir->File("q"), &s, keyed)) || Failed(state, Fill(s.get(), msgs))) break;
    state.ResumeTiming();
    Message m;
    for (uint64_t i = 0; i < k; ++i) {
      Status st;
      if (order == Order::kArrival) {
        // What Mailbox::Receive(Pattern::Any()) does: find and consume in one call.
        st = s->ConsumeFirst(&m);
      } else {
        if (by_key) {
          st = s->FirstByKey(keys[i], &m);
        } else {
          const std::string want = keys[i] + ":";
          uint64_t scanned = 0;
          st = s->FindFirst(0, [&](std::string_view p) { return p.compare(0, want.size(), want) == 0; }, &m,
                            &scanned);
        }
        if (st.ok()) st = s->Consume(m.seq);
      }
      if (Failed(state, st)) break;
    }
    state.PauseTiming();
    (void)s->Close();
    s.reset();
    dir.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * k));
  state.counters["n"] = Value(static_cast<double>(k));
}

void DrainSqlite(benchmark::State& state, uint64_t k, Order order) {
  const std::vector<std::string> msgs = order == Order::kReverse ? Reversed(k) : Backlog(k, 0);
  std::vector<std::string> keys;
  for (uint64_t i = 0; i < k; ++i) keys.push_back(RevKey(i));
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::make_unique<ScratchDir>();
    auto q = std::make_unique<SqliteQueue>();
    if (SkipIf(state, q->Open(dir->File("q.db"), SqliteSync::kOff)) ||
        SkipIf(state, Fill(q.get(), msgs, KeyExtractor::UntilDelimiter(':'))))
      break;
    state.ResumeTiming();
    int64_t seq = 0;
    std::string payload;
    bool found = false;
    for (uint64_t i = 0; i < k; ++i) {
      std::string e = order == Order::kArrival ? q->PopFirst(&seq, &payload, &found)
                                               : q->PopByKey(keys[i], &seq, &payload, &found);
      if (SkipIf(state, e)) break;
      if (!found) {
        state.SkipWithError("message missing");
        break;
      }
    }
    state.PauseTiming();
    q.reset();
    dir.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * k));
  state.counters["n"] = Value(static_cast<double>(k));
}

void DrainOriginal(benchmark::State& state, uint64_t k, Order order) {
  const std::vector<std::string> msgs = order == Order::kReverse ? Reversed(k) : Backlog(k, 0);
  std::vector<std::string> prefixes;
  for (uint64_t i = 0; i < k; ++i) prefixes.push_back(RevKey(i) + ":");
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::make_unique<ScratchDir>();
    auto q = std::make_unique<OriginalQueue>(dir->File("testq"));
    Fill(q.get(), msgs);
    state.ResumeTiming();
    for (uint64_t i = 0; i < k; ++i) {
      bool got = false;
      if (order == Order::kArrival) {
        got = q->Receive([](std::string_view) { return true; }).has_value();
      } else {
        const std::string& want = prefixes[i];
        got = q->Receive([&](std::string_view p) { return p.compare(0, want.size(), want) == 0; }).has_value();
      }
      if (!got) {
        state.SkipWithError("message missing");
        break;
      }
    }
    state.PauseTiming();
    q.reset();
    dir.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * k));
  state.counters["n"] = Value(static_cast<double>(k));
}

void RegisterAll(const Flags& f) {
  const std::vector<uint64_t> backlogs = f.quick ? std::vector<uint64_t>{100, 1000, 10000, 100000}
                                                 : std::vector<uint64_t>{100, 1000, 10000, 100000, 1000000};
  const double min_time = f.MinTime(f.quick ? 0.1 : 0.5);
  // The rows a target is judged on, where one run swings across the target
  // line: repeated, and bench/report.py takes the median repetition.
  const int reps = f.quick ? 1 : 3;
  auto reg = [](const std::string& name, auto fn) {
    return benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kMicrosecond);
  };
  auto clamp = [](double v, int64_t lo, int64_t hi) {
    return std::max<int64_t>(lo, std::min<int64_t>(hi, static_cast<int64_t>(v)));
  };
  for (uint64_t k : backlogs) {
    const std::string b = "/backlog=" + std::to_string(k);
    const double kd = static_cast<double>(k);
    reg("lookup/mq-key" + b, [k](benchmark::State& st) { LookupMqKey(st, k); })->MinTime(min_time);
    reg("recv/mq-key" + b, [k](benchmark::State& st) { RecvMq(st, k, How::kKey); })
        ->Iterations(f.quick ? 5000 : 20000);
    reg("recv/sqlite-key" + b, [k](benchmark::State& st) { RecvSqlite(st, k); })
        ->Iterations(f.quick ? 2000 : 10000);
    const int64_t scan_iters = clamp((f.quick ? 2e6 : 2e7) / kd, 3, 20000);  // each scans K messages
    reg("recv/mq-pred" + b, [k](benchmark::State& st) { RecvMq(st, k, How::kFindFirst); })
        ->Iterations(scan_iters)
        ->Repetitions(reps);
    reg("recv/pread-floor" + b, [k](benchmark::State& st) { PreadFloor(st, k); })
        ->Iterations(scan_iters)
        ->Repetitions(reps);
    reg("recv/mq-scan" + b, [k](benchmark::State& st) { RecvMq(st, k, How::kScan); })->Iterations(scan_iters);
    reg("recv/original" + b, [k](benchmark::State& st) { RecvOriginal(st, k); })
        // Each receive leaves a consumed record that later ones skip over:
        // keep them to a tenth of the backlog so the figure is "behind K".
        ->Iterations(clamp(std::min(kd / 10, (f.quick ? 3e5 : 3e6) / kd), 2, 1000));
  }
  // Drains. The quadratic ones (the original, and any predicate receive that
  // has to pass the whole backlog each time) stop where they stop finishing.
  const std::vector<uint64_t> drains = f.quick ? std::vector<uint64_t>{100, 1000, 10000}
                                               : std::vector<uint64_t>{100, 1000, 10000, 100000, 1000000};
  const uint64_t quadratic_max = f.quick ? 1000 : 10000;
  for (uint64_t k : drains) {
    const std::string n = "/n=" + std::to_string(k);
    const int64_t iters = clamp((f.quick ? 1e4 : 1e5) / static_cast<double>(k), 1, f.quick ? 10 : 50);
    if (k <= 100000) {
      reg("drain-reverse/mq-key" + n, [k](benchmark::State& st) { DrainMq(st, k, Order::kReverse, true); })
          ->Iterations(iters);
      reg("drain-reverse/sqlite-key" + n, [k](benchmark::State& st) { DrainSqlite(st, k, Order::kReverse); })
          ->Iterations(iters);
    }
    if (k <= quadratic_max) {
      const int64_t q_iters = k <= 100 ? 10 : 1;  // a quadratic drain of 10^4 already takes seconds
      reg("drain-reverse/mq-pred" + n, [k](benchmark::State& st) { DrainMq(st, k, Order::kReverse, false); })
          ->Iterations(q_iters);
      reg("drain-reverse/original" + n, [k](benchmark::State& st) { DrainOriginal(st, k, Order::kReverse); })
          ->Iterations(q_iters);
      reg("drain-order/original" + n, [k](benchmark::State& st) { DrainOriginal(st, k, Order::kArrival); })
          ->Iterations(q_iters);
    }
    const int drain_reps = k >= 1000000 ? reps : 1;
    reg("drain-order/mq" + n, [k](benchmark::State& st) { DrainMq(st, k, Order::kArrival, false); })
        ->Iterations(iters)
        ->Repetitions(drain_reps);
    reg("drain-order/mq-nokey" + n, [k](benchmark::State& st) { DrainMq(st, k, Order::kArrival, false, false); })
        ->Iterations(iters)
        ->Repetitions(drain_reps);
    if (k <= 100000)  // SQLite pops at ~10^4/s here: 10^6 would take minutes
      reg("drain-order/sqlite" + n, [k](benchmark::State& st) { DrainSqlite(st, k, Order::kArrival); })
          ->Iterations(iters);
  }
}

}  // namespace
}  // namespace mq::bench

int main(int argc, char** argv) { return mq::bench::RunMain(argc, argv, mq::bench::RegisterAll); }
