// Maintenance at log sizes of 10 MB ... 1 GB, side by side with the bare disk
// (docs/benchmarks.md, "Maintenance"). Each log holds messages of 64 B to
// 4 KiB (uniform), keyed, with every other one consumed. Rates are log bytes
// processed per second (the log's size before the operation).
//
//   maint/disk-write/size=S             write() of S bytes in 1 MiB buffers to a new file
//   maint/disk-write+fdatasync/size=S   the same plus the final fdatasync: the reference
//   maint/compact/size=S                Store::Compact (new log written, fdatasynced, renamed; index remapped)
//   maint/scanlog/size=S                mq::ScanLog over every record (what `mqtool check` reads), page cache warm
//   maint/scanlog-cold/size=S           the same after dropping the log from the page cache (fadvise)
//   maint/verify-index/size=S           mq::VerifyIndex (the other half of check)
//   maint/rebuild/size=S                Store::RebuildIndex
//   maint/reopen-after-kill/size=S      Store::Open after a writer was SIGKILLed, index intact
//   maint/reopen-after-kill-full-tail/size=S   the same, the writer's 65,535 newest messages not in LMDB
//   maint/mqtool-dump-raw/size=S        `mqtool dump --format raw QUEUE > /dev/null` (the binary named by
//                                       $MQ_TOOL; bench/run builds it), pending messages only
#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "mq/inspect.h"
#include "mq/store.h"

namespace mq::bench {
namespace {

StoreOptions Options() {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.key = KeyExtractor::UntilDelimiter(':');
  o.auto_compact = false;
  return o;
}

// A prepared log (and its clean index) of about `bytes` bytes, made once per
// size and kept for the whole run.
struct Prepared {
  ScratchDir dir;
  std::string log, idx;
  uint64_t bytes = 0, messages = 0;
  Status status;
};

Prepared* Prepare(uint64_t target) {
  static std::map<uint64_t, std::unique_ptr<Prepared>> cache;
  auto& slot = cache[target];
  if (slot) return slot.get();
  slot = std::make_unique<Prepared>();
  Prepared* p = slot.get();
  p->log = p->dir.File("q");
  p->idx = IndexPathFor(p->log);
  std::unique_ptr<Store> s;
  p->status = Store::Open(p->log, Options()).MoveTo(&s);
  if (!p->status.ok()) return p;
  std::mt19937_64 rng(target);
  std::uniform_int_distribution<size_t> size(64, 4096);
  std::vector<std::string> batch;
  std::vector<std::string_view> views;
  uint64_t written = 0, seq = 0, n = 0;
  while (written < target && p->status.ok()) {
    batch.clear();
    size_t bytes = 0;
    while (bytes < (1u << 20)) {
      batch.push_back(MakePayload(size(rng), TagKey(n, 1000), n));
      ++n;
      bytes += batch.back().size() + 28;
    }
    views.assign(batch.begin(), batch.end());
    p->status = s->AppendBatch(views).MoveTo(&seq);
    written += bytes;
  }
  p->messages = n;
  for (uint64_t q = 1; q <= n && p->status.ok(); q += 2) p->status = s->Consume(q);
  if (p->status.ok()) p->status = s->Close();
  p->bytes = FileSize(p->log);
  return p;
}

bool Ready(benchmark::State& state, Prepared* p) {
  if (Failed(state, p->status)) return false;
  return true;
}

void Finish(benchmark::State& state, Prepared* p) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * p->bytes));
  state.counters["log_bytes"] = Value(static_cast<double>(p->bytes));
  state.counters["messages"] = Value(static_cast<double>(p->messages));
}

bool Restore(benchmark::State& state, Prepared* p, ScratchDir* work, std::unique_ptr<Store>* s) {
  if (!CopyFile(p->log, work->File("q")) || !CopyFile(p->idx, IndexPathFor(work->File("q"))))
    return !FailedErrno(state, "copying the prepared log");
  if (s == nullptr) return true;
  return !Failed(state, Store::Open(work->File("q"), Options()).MoveTo(s));
}

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void DiskWrite(benchmark::State& state, uint64_t target, bool sync) {
  Prepared* p = Prepare(target);
  if (!Ready(state, p)) return;
  ScratchDir dir;
  std::string buf(1u << 20, 'x');
  for (auto _ : state) {
    int fd = ::open(dir.File("w").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      FailedErrno(state, "open");
      break;
    }
    for (uint64_t done = 0; done < p->bytes; done += buf.size())
      if (!WriteAll(fd, buf.data(), std::min<uint64_t>(buf.size(), p->bytes - done))) FailedErrno(state, "write");
    if (sync && ::fdatasync(fd) != 0) FailedErrno(state, "fdatasync");
    state.PauseTiming();
    ::close(fd);
    RemoveFile(dir.File("w"));
    state.ResumeTiming();
  }
  Finish(state, p);
}

void Compact(benchmark::State& state, uint64_t target) {
  Prepared* p = Prepare(target);
  if (!Ready(state, p)) return;
  uint64_t after = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto work = std::make_unique<ScratchDir>();
    std::unique_ptr<Store> s;
    if (!Restore(state, p, work.get(), &s)) break;
    state.ResumeTiming();
    CompactionResult r;
    if (Failed(state, s->Compact().MoveTo(&r))) break;
    state.PauseTiming();
    after = r.bytes_after;
    (void)s->Close();
    s.reset();
    work.reset();
    state.ResumeTiming();
  }
  Finish(state, p);
  state.counters["out_bytes"] = Value(static_cast<double>(after));
}

void Scan(benchmark::State& state, uint64_t target, bool cold) {
  Prepared* p = Prepare(target);
  if (!Ready(state, p)) return;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      int fd = ::open(p->log.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
      }
      state.ResumeTiming();
    }
    LogSummary sum;
    uint64_t seen = 0;
    Status s = ScanLog(p->log, InspectOptions{}, [&](const LogMessage& r) {
      seen += r.payload.size();
      return true;
    }).MoveTo(&sum);
    if (Failed(state, s)) break;
    benchmark::DoNotOptimize(seen);
  }
  Finish(state, p);
}

void Verify(benchmark::State& state, uint64_t target) {
  Prepared* p = Prepare(target);
  if (!Ready(state, p)) return;
  for (auto _ : state) {
    std::vector<std::string> problems;
    if (Failed(state, VerifyIndex(p->log, InspectOptions{}).MoveTo(&problems))) break;
    if (!problems.empty()) {
      state.SkipWithError(("index problems: " + problems.front()).c_str());
      break;
    }
  }
  Finish(state, p);
}

void Rebuild(benchmark::State& state, uint64_t target) {
  Prepared* p = Prepare(target);
  if (!Ready(state, p)) return;
  for (auto _ : state) {
    state.PauseTiming();
    auto work = std::make_unique<ScratchDir>();
    std::unique_ptr<Store> s;
    if (!Restore(state, p, work.get(), &s)) break;
    state.ResumeTiming();
    if (Failed(state, s->RebuildIndex())) break;
    state.PauseTiming();
    (void)s->Close();
    s.reset();
    work.reset();
    state.ResumeTiming();
  }
  Finish(state, p);
}

// A child opens the queue, appends a batch, tells the parent, and is killed
// with SIGKILL while it holds the queue; the parent then times the reopen.
// `late` messages of `late_size` bytes are appended by the killed writer
// and reach LMDB only through the reopen's catch-up scan.
void ReopenAfterKill(benchmark::State& state, uint64_t target, int late, size_t late_size) {
  Prepared* p = Prepare(target);
  if (!Ready(state, p)) return;
  auto work = std::make_unique<ScratchDir>();
  if (!Restore(state, p, work.get(), nullptr)) return;
  const std::string log = work->File("q");
  std::string action;
  for (auto _ : state) {
    state.PauseTiming();
    int fds[2];
    if (::pipe(fds) != 0) {
      FailedErrno(state, "pipe");
      break;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      std::unique_ptr<Store> s;
      if (!Store::Open(log, Options()).MoveTo(&s).ok()) ::_exit(1);
      std::vector<std::string> msgs;
      for (int i = 0; i < late; ++i) msgs.push_back(MakePayload(late_size, "late", static_cast<uint64_t>(i)));
      std::vector<std::string_view> views(msgs.begin(), msgs.end());
      uint64_t seq = 0;
      if (!s->AppendBatch(views).MoveTo(&seq).ok()) ::_exit(1);
      char c = 'k';
      if (::write(fds[1], &c, 1) != 1) ::_exit(1);
      for (;;) ::pause();
    }
    ::close(fds[1]);
    char c = 0;
    bool ok = ::read(fds[0], &c, 1) == 1;
    ::close(fds[0]);
    ::kill(pid, SIGKILL);
    int wst = 0;
    ::waitpid(pid, &wst, 0);
    if (!ok) {
      state.SkipWithError("the child could not open and append");
      break;
    }
    state.ResumeTiming();
    std::unique_ptr<Store> s;
    if (Failed(state, Store::Open(log, Options()).MoveTo(&s))) break;
    state.PauseTiming();
    action = mq::DescribeIndexAction(s->open_report());
    (void)s->Close();
    s.reset();
    state.ResumeTiming();
  }
  state.SetLabel("index " + action);
  state.counters["log_bytes"] = Value(static_cast<double>(FileSize(log)));
}

// Runs the real mqtool on the prepared log, stdout to /dev/null.
void MqtoolDump(benchmark::State& state, uint64_t target) {
  const char* tool = std::getenv("MQ_TOOL");
  if (tool == nullptr || *tool == '\0') {
    state.SkipWithError("set MQ_TOOL to the mqtool binary (bench/run does)");
    return;
  }
  Prepared* p = Prepare(target);
  if (!Ready(state, p)) return;
  for (auto _ : state) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    std::string a0 = tool, a1 = "dump", a2 = "--format", a3 = "raw", a4 = p->log;
    char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), nullptr};
    pid_t pid = 0;
    int rc = posix_spawn(&pid, tool, &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int wst = 0;
    if (rc != 0 || ::waitpid(pid, &wst, 0) != pid || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
      state.SkipWithError("mqtool dump failed");
      break;
    }
  }
  Finish(state, p);
}

void RegisterAll(const Flags& f) {
  const std::vector<uint64_t> sizes = f.quick ? std::vector<uint64_t>{10u << 20, 100u << 20}
                                              : std::vector<uint64_t>{10u << 20, 100u << 20, 1u << 30};
  auto reg = [&f](const std::string& name, uint64_t size, auto fn) {
    const int64_t iters = f.quick ? (size <= (10u << 20) ? 5 : 2) : size <= (10u << 20) ? 20 : size <= (100u << 20) ? 5 : 3;
    benchmark::RegisterBenchmark(name.c_str(), fn)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(iters);
  };
  for (uint64_t size : sizes) {
    const std::string s = "/size=" + std::to_string(size >> 20) + "MiB";
    reg("maint/disk-write" + s, size, [size](benchmark::State& st) { DiskWrite(st, size, false); });
    reg("maint/disk-write+fdatasync" + s, size, [size](benchmark::State& st) { DiskWrite(st, size, true); });
    reg("maint/compact" + s, size, [size](benchmark::State& st) { Compact(st, size); });
    reg("maint/scanlog" + s, size, [size](benchmark::State& st) { Scan(st, size, false); });
    reg("maint/scanlog-cold" + s, size, [size](benchmark::State& st) { Scan(st, size, true); });
    reg("maint/verify-index" + s, size, [size](benchmark::State& st) { Verify(st, size); });
    reg("maint/rebuild" + s, size, [size](benchmark::State& st) { Rebuild(st, size); });
    reg("maint/reopen-after-kill" + s, size, [size](benchmark::State& st) { ReopenAfterKill(st, size, 1000, 256); });
    // The worst case: the writer dies with a full index tail (65,535 messages
    // not yet in LMDB; one more would have flushed it).
    reg("maint/reopen-after-kill-full-tail" + s, size,
        [size](benchmark::State& st) { ReopenAfterKill(st, size, 65535, 64); });
    reg("maint/mqtool-dump-raw" + s, size, [size](benchmark::State& st) { MqtoolDump(st, size); });
  }
}

}  // namespace
}  // namespace mq::bench

int main(int argc, char** argv) { return mq::bench::RunMain(argc, argv, mq::bench::RegisterAll); }
