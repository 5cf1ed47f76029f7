// Many mailboxes in one process (issue 23; docs/benchmarks.md, "Many
// mailboxes"): mailboxes on one shared runtime (mq/runtime.h) against
// mailboxes with threads of their own.
//
//   runtime-open/mq/mode=M/mailboxes=N    opens N mailboxes (sync=batch), then closes them; time per
//                                         mailbox opened. Counters: rss_per_mailbox (bytes of RSS the N
//                                         idle mailboxes added, divided by N) and threads (of the process
//                                         with the N open). M=runtime: one mq::Runtime; M=threads: each
//                                         mailbox with threads of its own
//   runtime-ingest/mq/mode=M/mailboxes=N  a sender process sends 64-byte datagrams to the N mailboxes in
//                                         turn, as fast as they are taken; rate of datagrams stored (socket
//                                         -> log + index) summed over the N, sync=none. mode=threads
//                                         mailboxes=1 is one mailbox as it is without a runtime.
//                                         200,000 datagrams a run (20,000 with --mq_quick), so that the
//                                         whole binary finishes in a few minutes on a loaded machine;
//                                         MQ_BENCH_RUNTIME_MESSAGES=K sends K instead
//   runtime-idle/mq/kind=K/mailboxes=N   what N idle stores or mailboxes cost each (bench/idle_measure.h;
//                                         the same figures as mq_idle_cost), measured in a child process
//                                         of its own so that nothing earlier in this one counts: K=store (a
//                                         bare store), mailbox (threads of its own), mailbox-runtime (on one
//                                         mq::Runtime). Counters per store or mailbox: rss, address_space,
//                                         disk (allocated blocks) and disk_apparent in bytes, fds, threads,
//                                         open_us. sync=none
//
// Every open and ingest row has the counter load_1min: the 1-minute load
// average when it ended (the machine is shared; ratios are read within one
// run).
//
// A count that does not fit in this process (descriptors: RLIMIT_NOFILE) is
// reported as an error naming the failed open, not left out.
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "idle_measure.h"
#include "mq/mailbox.h"
#include "mq/runtime.h"

namespace mq::bench {
namespace {

size_t Threads() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

uint64_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

double LoadAverage() {
  std::ifstream f("/proc/loadavg");
  double one = 0;
  f >> one;
  return one;
}

// Datagrams per ingest run: MQ_BENCH_RUNTIME_MESSAGES, or the default.
uint64_t IngestMessages(bool quick) {
  if (const char* e = std::getenv("MQ_BENCH_RUNTIME_MESSAGES"); e != nullptr && *e != '\0') {
    const unsigned long long k = std::strtoull(e, nullptr, 10);
    if (k > 0) return k;
  }
  return quick ? 20000 : 200000;
}

void RaiseDescriptorLimit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0) {
    r.rlim_cur = r.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &r);
  }
}

MailboxOptions OptionsFor(const ScratchDir& dir, size_t i, const std::shared_ptr<Runtime>& rt, SyncPolicy sync) {
  MailboxOptions o;
  o.socket_path = dir.File("m" + std::to_string(i) + ".sock");
  o.queue_path = dir.File("m" + std::to_string(i) + ".q");
  o.store.sync = sync;
  o.runtime = rt;
  return o;
}

// Opens n mailboxes; false (and the benchmark marked failed) if one fails.
bool OpenAll(benchmark::State& state, const ScratchDir& dir, size_t n, const std::shared_ptr<Runtime>& rt,
             SyncPolicy sync, std::vector<std::unique_ptr<Mailbox>>* out) {
  for (size_t i = 0; i < n; ++i) {
    std::unique_ptr<Mailbox> mb;
    Status s = Mailbox::Open(OptionsFor(dir, i, rt, sync)).MoveTo(&mb);
    if (!s.ok()) {
      state.SkipWithError(("mailbox " + std::to_string(i) + " of " + std::to_string(n) + ": " + s.ToString()).c_str());
      return false;
    }
    out->push_back(std::move(mb));
  }
  return true;
}

void Open(benchmark::State& state, bool runtime, size_t n) {
  RaiseDescriptorLimit();
  double rss_per = 0, threads = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ScratchDir dir;
    std::shared_ptr<Runtime> rt;
    if (runtime && Failed(state, Runtime::Create().MoveTo(&rt))) break;
    std::vector<std::unique_ptr<Mailbox>> mbs;
    const uint64_t rss_before = RssBytes();
    state.ResumeTiming();
    if (!OpenAll(state, dir, n, rt, SyncPolicy::kBatch, &mbs)) break;
    state.PauseTiming();
    rss_per = static_cast<double>(RssBytes() - rss_before) / static_cast<double>(n);
    threads = static_cast<double>(Threads());
    for (auto& mb : mbs) (void)mb->Close();
    mbs.clear();
    rt.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
  state.counters["rss_per_mailbox"] = Value(rss_per);
  state.counters["threads"] = Value(threads);
  state.counters["load_1min"] = Value(LoadAverage());
}

// The sender: a process forked before any thread of this one starts; it
// connects to every socket, waits for the go byte, then sends `total`
// datagrams to the sockets in turn (blocking sends: as fast as they are taken).
pid_t ForkSender(const std::vector<std::string>& paths, uint64_t total, int* go) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[1]);
    char c;
    if (::read(fds[0], &c, 1) != 1) ::_exit(0);
    std::vector<int> socks;
    for (const std::string& p : paths) {
      const int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, p.c_str(), sizeof(a.sun_path) - 1);
      if (s < 0 || ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) ::_exit(1);
      socks.push_back(s);
    }
    char msg[64];
    std::memset(msg, 'x', sizeof(msg));
    for (uint64_t i = 0; i < total; ++i)
      if (::send(socks[i % socks.size()], msg, sizeof(msg), MSG_NOSIGNAL) < 0) ::_exit(2);
    ::_exit(0);
  }
  ::close(fds[0]);
  *go = fds[1];
  return pid;
}

void Ingest(benchmark::State& state, bool runtime, size_t n, uint64_t per_iteration) {
  RaiseDescriptorLimit();
  for (auto _ : state) {
    state.PauseTiming();
    ScratchDir dir;
    std::vector<std::string> paths;
    for (size_t i = 0; i < n; ++i) paths.push_back(dir.File("m" + std::to_string(i) + ".sock"));
    int go = -1;
    // Before the runtime's threads (fork copies only the calling thread).
    const pid_t sender = ForkSender(paths, per_iteration, &go);
    if (sender < 0) {
      state.SkipWithError("fork");
      break;
    }
    std::shared_ptr<Runtime> rt;
    std::vector<std::unique_ptr<Mailbox>> mbs;
    bool ok = (!runtime || !Failed(state, Runtime::Create().MoveTo(&rt))) &&
              OpenAll(state, dir, n, rt, SyncPolicy::kNone, &mbs);
    if (!ok) {
      ::kill(sender, SIGKILL);
      ::close(go);
      ::waitpid(sender, nullptr, 0);
      break;
    }
    state.ResumeTiming();
    (void)!::write(go, "g", 1);
    // Stored, summed over the mailboxes: polled, cheaply enough not to matter.
    int st = 0;
    bool reaped = false, failed = false;
    while (true) {
      uint64_t stored = 0;
      for (auto& mb : mbs) stored += mb->Stats().stored;
      if (stored >= per_iteration) break;
      if (!reaped && ::waitpid(sender, &st, WNOHANG) == sender) {
        reaped = true;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
          failed = true;
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    state.PauseTiming();
    ::close(go);
    if (!reaped) ::waitpid(sender, &st, 0);
    if (failed) {
      state.SkipWithError("the sender process failed (connect or send)");
      break;
    }
    for (auto& mb : mbs) (void)mb->Close();
    mbs.clear();
    rt.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(per_iteration));
  state.counters["load_1min"] = Value(LoadAverage());
}

// MeasureIdle in a child process (forked while this one has no other
// thread), its figures back through a pipe.
void Idle(benchmark::State& state, IdleKind kind, long n) {
  RaiseDescriptorLimit();
  IdleCost c;
  for (auto _ : state) {
    ScratchDir dir;
    int fds[2];
    if (::pipe(fds) != 0) {
      state.SkipWithError("pipe");
      break;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      IdleCost got;
      std::string error;
      const bool ok = MeasureIdle(kind, n, dir.File("idle"), &got, &error);
      std::string msg(1, ok ? 'y' : 'n');
      msg += ok ? std::string(reinterpret_cast<const char*>(&got), sizeof(got)) : error;
      (void)!::write(fds[1], msg.data(), msg.size());
      ::_exit(ok ? 0 : 1);  // the stores are not closed: what they cost was measured
    }
    ::close(fds[1]);
    std::string msg;
    char buf[4096];
    ssize_t r;
    while (pid > 0 && (r = ::read(fds[0], buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(r));
    ::close(fds[0]);
    if (pid > 0) ::waitpid(pid, nullptr, 0);
    if (msg.size() != 1 + sizeof(IdleCost) || msg[0] != 'y') {
      state.SkipWithError(msg.size() > 1 ? msg.c_str() + 1 : "the measuring child failed");
      break;
    }
    std::memcpy(&c, msg.data() + 1, sizeof(c));
  }
  state.counters["rss"] = Value(c.rss_kb * 1024);
  state.counters["address_space"] = Value(c.vm_kb * 1024);
  state.counters["disk"] = Value(c.disk_kb * 1024);
  state.counters["disk_apparent"] = Value(c.apparent_kb * 1024);
  state.counters["fds"] = Value(c.fds);
  state.counters["threads"] = Value(c.threads);
  state.counters["open_us"] = Value(c.open_us);
}

// Three runs where opening the mailboxes is cheap, one from 100 up: at a
// load of 17 an open took 130-175 ms (its syncs), so three runs of 1,000
// took most of the 25 minutes the binary ran last time.
int Iterations(const Flags& f, size_t n) { return f.quick || n >= 100 ? 1 : 3; }

// Sized for a shared 2-core host: never more than ~50 threads (mailboxes
// with threads of their own have 2-3 each, so at most 16 of them), and a
// few minutes in all. On 2026-12-07, 1,000 mailboxes with threads of their
// own (sync=batch: 3,001 threads, a flusher each waking every
// batch_interval) took the load average from 15 to 676 and the run was
// killed. The 1,000-mailbox figures are on one runtime (5 threads).
void RegisterAll(const Flags& f) {
  // First, while this process has no thread but its own (Idle forks).
  const long on_runtime = f.quick ? 100 : 1000;
  const std::vector<std::pair<IdleKind, long>> idle = {
      {IdleKind::kStore, f.quick ? 16 : 100}, {IdleKind::kMailbox, 16}, {IdleKind::kMailboxRuntime, on_runtime}};
  for (const auto& [kind, idle_n] : idle) {
    const std::string name =
        std::string("runtime-idle/mq/kind=") + IdleKindName(kind) + "/mailboxes=" + std::to_string(idle_n);
    benchmark::RegisterBenchmark(name.c_str(), [kind = kind, idle_n = idle_n](benchmark::State& st) {
      Idle(st, kind, idle_n);
    })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  }
  // Open: 1, 10, 100 on one runtime, 1 and 10 with threads of their own
  // (the runtime-idle row has the open time of 1,000 on one runtime).
  // Ingest: 1 to 1,000 on one runtime, against one mailbox with threads of
  // its own.
  const std::vector<size_t> counts = f.quick ? std::vector<size_t>{1, 10, 100} : std::vector<size_t>{1, 10, 100, 1000};
  const uint64_t messages = IngestMessages(f.quick);
  for (bool runtime : {true, false}) {
    const std::string mode = runtime ? "runtime" : "threads";
    for (size_t n : {size_t{1}, size_t{10}, size_t{100}}) {
      if (!runtime && n > 16) continue;
      const std::string name = "runtime-open/mq/mode=" + mode + "/mailboxes=" + std::to_string(n);
      benchmark::RegisterBenchmark(name.c_str(), [runtime, n](benchmark::State& st) { Open(st, runtime, n); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond)
          ->Iterations(Iterations(f, n));
    }
  }
  for (size_t n : counts) {
    const std::string name = "runtime-ingest/mq/mode=runtime/mailboxes=" + std::to_string(n);
    benchmark::RegisterBenchmark(name.c_str(),
                                 [n, messages](benchmark::State& st) { Ingest(st, true, n, messages); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(Iterations(f, n));
  }
  benchmark::RegisterBenchmark("runtime-ingest/mq/mode=threads/mailboxes=1",
                               [messages](benchmark::State& st) { Ingest(st, false, 1, messages); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(f.quick ? 1 : 3);
}

}  // namespace
}  // namespace mq::bench

int main(int argc, char** argv) { return mq::bench::RunMain(argc, argv, mq::bench::RegisterAll); }
