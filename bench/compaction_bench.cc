// Online compaction (issue 24): how long appends and receives stall while a
// compaction runs, and how fast it compacts against the bare disk.
//
// The log: 2N messages of 64 B appended (batches of 256), every other one
// consumed, so N are pending (N = 10^6; $MQ_BENCH_COMPACT_PENDING sets a
// comma-separated list, e.g. 1000000,10000000,30000000). sync=none, no key,
// automatic compaction off; each iteration builds its log afresh.
//
//   compact/stall/pending=N   Store::Compact on this thread while one thread
//       appends batches of 64 messages of 64 B (one batch every
//       $MQ_BENCH_COMPACT_APPEND_GAP_US microseconds, default 500: 128 k
//       msgs/s) and another receives (ConsumeFirst) as fast as it can.
//       Counters: compact_ms; worst_append_ms and worst_receive_ms, the
//       longest single call while the compaction ran; *_before, the same
//       traffic for 300 ms just before it; appended/received during it.
//       A third thread sends confirmed (Append then Sync, one message every
//       millisecond): confirmed_p99_ms during the compaction against
//       confirmed_p99_ms_before. The store's own timings of the compaction
//       (CompactionResult::timing: the lock holds, the swap's parts) are
//       counters too, with load1 (the 1-minute load average at the start).
//       $MQ_BENCH_COMPACT_TIMELINE=PREFIX writes every call's latency during
//       the compaction to PREFIX-pending=N.csv (for the plots in bench/results).
//   compact/throughput/pending=N   Store::Compact alone: log bytes before per
//       second, against write()+fdatasync of as many bytes to a new file on
//       the same disk (ratio = compaction rate / bare rate).
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "mq/store.h"

namespace mq::bench {
namespace {

using Clock = std::chrono::steady_clock;

StoreOptions Options() {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.auto_compact = false;
  return o;
}

std::vector<uint64_t> PendingSizes(const Flags& f) {
  std::vector<uint64_t> v;
  if (const char* e = std::getenv("MQ_BENCH_COMPACT_PENDING")) {
    std::stringstream ss(e);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) v.push_back(std::strtoull(item.c_str(), nullptr, 10));
  }
  if (v.empty()) v.push_back(f.quick ? 200000 : 1000000);
  return v;
}

// 2n messages of 64 B, every other one consumed.
Status Build(Store* s, uint64_t n) {
  std::vector<std::string> batch;
  std::vector<std::string_view> views;
  uint64_t seq = 0;
  for (uint64_t i = 0; i < 2 * n;) {
    batch.clear();
    for (int k = 0; k < 256 && i < 2 * n; ++k, ++i) batch.push_back(MakePayload(64, "k", i));
    views.assign(batch.begin(), batch.end());
    MQ_RETURN_IF_ERROR(s->AppendBatch(views).MoveTo(&seq));
  }
  for (uint64_t q = 1; q <= 2 * n; q += 2) MQ_RETURN_IF_ERROR(s->Consume(q));
  return Status::OK();
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double ThreadCpuMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double LoadAverage() {
  double l = 0;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = 0;
    std::fclose(f);
  }
  return l;
}

// One call: when it started (ms since the traffic started), how long it
// took, and how much CPU its thread used meanwhile.
struct Sample {
  double at_ms, ms, cpu_ms;
};

// One appending, one receiving and one confirmed-sending thread, until
// stopped; each keeps every call's latency.
class Traffic {
 public:
  Traffic(Store* s, std::chrono::microseconds gap) : s_(s), gap_(gap), t0_(Clock::now()) {
    batch_.reserve(64);
    for (int i = 0; i < 64; ++i) batch_.push_back(MakePayload(64, "t", static_cast<uint64_t>(i)));
    for (auto* v : {&appends_, &receives_, &confirmed_}) v->reserve(1 << 20);
    appender_ = std::thread([this] { Append(); });
    receiver_ = std::thread([this] { Receive(); });
    confirmer_ = std::thread([this] { Confirm(); });
  }
  void Stop() {
    stop_ = true;
    appender_.join();
    receiver_.join();
    confirmer_.join();
  }
  static const Sample* Worst(const std::vector<Sample>& v) {
    const Sample* w = nullptr;
    for (const Sample& x : v)
      if (w == nullptr || x.ms > w->ms) w = &x;
    return w;
  }
  static double WorstMs(const std::vector<Sample>& v) { return Worst(v) ? Worst(v)->ms : 0; }
  static double WorstCpuMs(const std::vector<Sample>& v) { return Worst(v) ? Worst(v)->cpu_ms : 0; }
  static double P99Ms(const std::vector<Sample>& v) {
    if (v.empty()) return 0;
    std::vector<double> ms;
    for (const Sample& x : v) ms.push_back(x.ms);
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  }
  const std::vector<Sample>& appends() const { return appends_; }
  const std::vector<Sample>& receives() const { return receives_; }
  const std::vector<Sample>& confirmed() const { return confirmed_; }
  uint64_t appended() const { return appended_; }
  uint64_t received() const { return received_; }
  const Status& error() const { return !error_.ok() ? error_ : !rerror_.ok() ? rerror_ : cerror_; }
  Clock::time_point start() const { return t0_; }

 private:
  Sample Done(Clock::time_point a, Clock::time_point b, double cpu0) const {
    return Sample{Ms(a - t0_), Ms(b - a), ThreadCpuMs() - cpu0};
  }
  void Append() {
    std::vector<std::string_view> views(batch_.begin(), batch_.end());
    auto next = Clock::now();
    while (!stop_.load()) {
      const double c0 = ThreadCpuMs();
      const auto t0 = Clock::now();
      uint64_t seq = 0;
      Status st = s_->AppendBatch(views).MoveTo(&seq);
      const auto t1 = Clock::now();
      if (!st.ok()) {
        error_ = st;
        return;
      }
      appends_.push_back(Done(t0, t1, c0));
      appended_ += views.size();
      next += gap_;
      if (next > t1) std::this_thread::sleep_until(next);
      else next = t1;
    }
  }
  void Receive() {
    while (!stop_.load()) {
      const double c0 = ThreadCpuMs();
      const auto t0 = Clock::now();
      Message m;
      Status st = s_->ConsumeFirst(&m);
      const auto t1 = Clock::now();
      if (!st.ok() && !st.IsNotFound()) {
        rerror_ = st;
        return;
      }
      receives_.push_back(Done(t0, t1, c0));
      received_ += st.ok();
    }
  }
  // A confirmed send: the append and the sync that makes it durable.
  void Confirm() {
    const std::string one = MakePayload(64, "c", 0);
    while (!stop_.load()) {
      const double c0 = ThreadCpuMs();
      const auto t0 = Clock::now();
      uint64_t seq = 0;
      Status st = s_->Append(one).MoveTo(&seq);
      if (st.ok()) st = s_->Sync();
      const auto t1 = Clock::now();
      if (!st.ok()) {
        cerror_ = st;
        return;
      }
      confirmed_.push_back(Done(t0, t1, c0));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  Store* s_;
  const std::chrono::microseconds gap_;
  const Clock::time_point t0_;
  std::vector<std::string> batch_;
  std::atomic<bool> stop_{false};
  std::vector<Sample> appends_, receives_, confirmed_;
  uint64_t appended_ = 0, received_ = 0;
  Status error_, rerror_, cerror_;
  std::thread appender_, receiver_, confirmer_;
};

// Every call of `t` as CSV: kind, start (ms since the compaction started),
// latency and CPU (ms); the compaction's phases as "phase" rows.
void WriteTimeline(const std::string& path, const Traffic& t, Clock::time_point compact_start,
                   double compact_ms, const CompactionResult::Timing& tm) {
  std::ofstream f(path);
  const double off = Ms(compact_start - t.start());
  f << "kind,at_ms,ms,cpu_ms\n";
  auto rows = [&](const char* kind, const std::vector<Sample>& v) {
    for (const Sample& x : v) f << kind << ',' << x.at_ms - off << ',' << x.ms << ',' << x.cpu_ms << '\n';
  };
  rows("append", t.appends());
  rows("receive", t.receives());
  rows("confirmed", t.confirmed());
  const double us = 1e-3;
  auto ms = [&](uint64_t micros) { return static_cast<double>(micros) * us; };
  const uint64_t snap = tm.snapshot_flush_wait_us + tm.snapshot_lock_us;
  const double swap = ms(snap + tm.copy_us + tm.rounds_us + tm.swap_wait_us);
  f << "phase_copy," << ms(snap) << ",0,0\n";
  f << "phase_rounds," << ms(snap + tm.copy_us) << ",0,0\n";
  f << "phase_swap," << swap << ',' << ms(tm.swap_lock_us) << ",0\n";
  f << "phase_end," << compact_ms << ",0,0\n";
}

std::chrono::microseconds AppendGap() {
  const char* e = std::getenv("MQ_BENCH_COMPACT_APPEND_GAP_US");
  return std::chrono::microseconds(e != nullptr ? std::strtoll(e, nullptr, 10) : 500);
}

// The traffic's samples from `from` ms on (the compaction's, or all).
std::vector<Sample> From(const std::vector<Sample>& v, double from) {
  std::vector<Sample> out;
  for (const Sample& x : v)
    if (x.at_ms >= from) out.push_back(x);
  return out;
}

void Stall(benchmark::State& state, uint64_t n) {
  double compact_ms = 0, appended = 0, received = 0, load1 = 0, kept = 0;
  double wa = 0, wr = 0, wa_cpu = 0, wr_cpu = 0, wa0 = 0, wr0 = 0, cp99 = 0, cp99_0 = 0;
  CompactionResult::Timing tm;
  for (auto _ : state) {
    state.PauseTiming();
    ScratchDir dir;
    std::unique_ptr<Store> s;
    if (Failed(state, Store::Open(dir.File("q"), Options()).MoveTo(&s)) || Failed(state, Build(s.get(), n))) return;
    {
      // The same traffic without a compaction: a second, for the confirmed p99.
      Traffic before(s.get(), AppendGap());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      before.Stop();
      if (Failed(state, before.error())) return;
      wa0 = std::max(wa0, Traffic::WorstMs(before.appends()));
      wr0 = std::max(wr0, Traffic::WorstMs(before.receives()));
      cp99_0 = Traffic::P99Ms(before.confirmed());
    }
    load1 = LoadAverage();
    state.ResumeTiming();
    Traffic during(s.get(), AppendGap());
    const auto t0 = Clock::now();
    CompactionResult r;
    Status st = s->Compact().MoveTo(&r);
    compact_ms = Ms(Clock::now() - t0);
    during.Stop();
    if (Failed(state, st) || Failed(state, during.error())) return;
    const double from = Ms(t0 - during.start());
    const std::vector<Sample> a = From(during.appends(), from), rc = From(during.receives(), from),
                              c = From(during.confirmed(), from);
    wa = Traffic::WorstMs(a);
    wa_cpu = Traffic::WorstCpuMs(a);
    wr = Traffic::WorstMs(rc);
    wr_cpu = Traffic::WorstCpuMs(rc);
    cp99 = Traffic::P99Ms(c);
    tm = r.timing;
    kept = static_cast<double>(r.messages_kept);
    appended = static_cast<double>(during.appended());
    received = static_cast<double>(during.received());
    if (const char* p = std::getenv("MQ_BENCH_COMPACT_TIMELINE"))
      WriteTimeline(std::string(p) + "-pending=" + std::to_string(n) + ".csv", during, t0, compact_ms, tm);
    state.PauseTiming();
    (void)s->Close();
    s.reset();
    state.ResumeTiming();
  }
  auto ms = [](uint64_t us) { return Value(static_cast<double>(us) / 1e3); };
  state.counters["pending"] = Value(static_cast<double>(n));
  state.counters["load1"] = Value(load1);
  state.counters["compact_ms"] = Value(compact_ms);
  state.counters["worst_append_ms"] = Value(wa);
  state.counters["worst_append_cpu_ms"] = Value(wa_cpu);
  state.counters["worst_receive_ms"] = Value(wr);
  state.counters["worst_receive_cpu_ms"] = Value(wr_cpu);
  state.counters["worst_append_ms_before"] = Value(wa0);
  state.counters["worst_receive_ms_before"] = Value(wr0);
  state.counters["confirmed_p99_ms"] = Value(cp99);
  state.counters["confirmed_p99_ms_before"] = Value(cp99_0);
  state.counters["appended_during"] = Value(appended);
  state.counters["received_during"] = Value(received);
  state.counters["snapshot_flush_wait_ms"] = ms(tm.snapshot_flush_wait_us);
  state.counters["lock_snapshot_ms"] = ms(tm.snapshot_lock_us);
  state.counters["copy_ms"] = ms(tm.copy_us);
  state.counters["rounds"] = Value(static_cast<double>(tm.rounds));
  state.counters["rounds_throttled"] = Value(static_cast<double>(tm.throttled_rounds));
  state.counters["rounds_ms"] = ms(tm.rounds_us);
  state.counters["lock_round_max_ms"] = ms(tm.round_lock_max_us);
  state.counters["swap_wait_ms"] = ms(tm.swap_wait_us);
  state.counters["lock_swap_ms"] = ms(tm.swap_lock_us);
  state.counters["swap_copy_ms"] = ms(tm.swap_copy_us);
  state.counters["swap_sync_ms"] = ms(tm.swap_sync_us);
  state.counters["swap_rename_ms"] = ms(tm.swap_rename_us);
  state.counters["swap_commit_ms"] = ms(tm.swap_commit_us);
  state.counters["swap_switch_ms"] = ms(tm.swap_switch_us);
  state.counters["swap_index_entries"] = Value(static_cast<double>(tm.swap_index_entries));
  state.counters["build_commit_ms"] = ms(tm.build_commit_us);
  state.counters["drop_old_ms"] = ms(tm.drop_old_us);
  state.counters["messages_kept"] = Value(kept);
  state.counters["release_old_ms"] = ms(tm.release_old_us);
}

bool WriteAll(int fd, const char* p, size_t len) {
  while (len > 0) {
    ssize_t w = ::write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    len -= static_cast<size_t>(w);
  }
  return true;
}

void Throughput(benchmark::State& state, uint64_t n) {
  double compact_s = 0, bare_s = 0, bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ScratchDir dir;
    std::unique_ptr<Store> s;
    if (Failed(state, Store::Open(dir.File("q"), Options()).MoveTo(&s)) || Failed(state, Build(s.get(), n))) return;
    state.ResumeTiming();
    const auto t0 = Clock::now();
    CompactionResult r;
    if (Failed(state, s->Compact().MoveTo(&r))) return;
    compact_s += std::chrono::duration<double>(Clock::now() - t0).count();
    bytes = static_cast<double>(r.bytes_before);
    state.PauseTiming();
    (void)s->Close();
    s.reset();
    // The reference: as many bytes written and fdatasynced to a new file.
    std::string buf(1u << 20, 'x');
    const auto b0 = Clock::now();
    int fd = ::open(dir.File("w").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      FailedErrno(state, "open");
      return;
    }
    for (uint64_t done = 0; done < r.bytes_before; done += buf.size())
      if (!WriteAll(fd, buf.data(), std::min<uint64_t>(buf.size(), r.bytes_before - done))) FailedErrno(state, "write");
    if (::fdatasync(fd) != 0) FailedErrno(state, "fdatasync");
    bare_s += std::chrono::duration<double>(Clock::now() - b0).count();
    ::close(fd);
    state.ResumeTiming();
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["log_bytes"] = Value(bytes);
  state.counters["compact_MBps"] = Value(bytes * it / compact_s / 1e6);
  state.counters["bare_MBps"] = Value(bytes * it / bare_s / 1e6);
  state.counters["ratio"] = Value(bare_s / compact_s);
}

void RegisterAll(const Flags& f) {
  for (uint64_t n : PendingSizes(f)) {
    const std::string suffix = "/pending=" + std::to_string(n);
    benchmark::RegisterBenchmark(("compact/stall" + suffix).c_str(),
                                 [n](benchmark::State& st) { Stall(st, n); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
    benchmark::RegisterBenchmark(("compact/throughput" + suffix).c_str(),
                                 [n](benchmark::State& st) { Throughput(st, n); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(f.quick ? 1 : 3);
  }
}

}  // namespace
}  // namespace mq::bench

int main(int argc, char** argv) { return mq::bench::RunMain(argc, argv, mq::bench::RegisterAll); }
