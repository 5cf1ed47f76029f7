// The restart of a supervised actor, piece by piece (docs/benchmarks.md,
// "Restart under a supervisor"; the whole restart is timed by
// tests/torture_supervised_test.cc, which prints its distribution).
//
//   restart/open-adopted/backlog=K   Mailbox::Open on a socket bound here and handed over
//                                    (inherit_socket) of a queue holding K pending messages, then
//                                    Close: what the actor's library does at each start
//   restart/spawn-exec               posix_spawn of /bin/true and waitpid: what starting any process
//                                    costs here (fork/exec, the dynamic loader, the exit and the reap)
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "mq/mailbox.h"
#include "mq/store.h"

extern char** environ;

namespace mq::bench {
namespace {

void OpenAdopted(benchmark::State& state, uint64_t backlog) {
  ScratchDir dir;
  const std::string path = dir.File("s");
  const std::string queue = dir.File("q");
  {
    StoreOptions so;
    so.sync = SyncPolicy::kNone;
    std::unique_ptr<Store> st;
    if (Failed(state, Store::Open(queue, so).MoveTo(&st))) return;
    const std::string payload(64, 'p');
    for (uint64_t i = 0; i < backlog; ++i) {
      uint64_t seq = 0;
      if (Failed(state, st->Append(payload).MoveTo(&seq))) return;
    }
    if (Failed(state, st->Close())) return;
  }
  // The supervisor's socket: SO_PASSCRED before bind, kept for every start.
  const int owner = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int one = 1;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (owner < 0 || ::setsockopt(owner, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0 ||
      ::bind(owner, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    FailedErrno(state, "binding the socket to hand over");
    return;
  }
  MailboxOptions o;
  o.socket_path = path;
  o.queue_path = queue;
  o.store.sync = SyncPolicy::kNone;
  for (auto _ : state) {
    o.inherit_socket = ::dup(owner);  // the mailbox closes its copy on Close
    std::unique_ptr<Mailbox> mb;
    if (Failed(state, Mailbox::Open(o).MoveTo(&mb))) break;
    if (Failed(state, mb->Close())) break;
  }
  ::close(owner);
}

void SpawnExec(benchmark::State& state) {
  char prog[] = "/bin/true";
  char* argv[] = {prog, nullptr};
  for (auto _ : state) {
    pid_t pid = -1;
    if (::posix_spawn(&pid, prog, nullptr, nullptr, argv, environ) != 0) {
      state.SkipWithError("posix_spawn /bin/true");
      break;
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
  }
}

void RegisterAll(const Flags& f) {
  const double min_time = f.MinTime(f.quick ? 0.2 : 1.0);
  const std::vector<uint64_t> backlogs = f.quick ? std::vector<uint64_t>{0, 10000} : std::vector<uint64_t>{0, 10000, 100000};
  for (uint64_t k : backlogs) {
    const std::string name = "restart/open-adopted/backlog=" + std::to_string(k);
    benchmark::RegisterBenchmark(name.c_str(), [k](benchmark::State& st) { OpenAdopted(st, k); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(min_time);
  }
  benchmark::RegisterBenchmark("restart/spawn-exec", [](benchmark::State& st) { SpawnExec(st); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->MinTime(min_time);
}

}  // namespace
}  // namespace mq::bench

int main(int argc, char** argv) { return mq::bench::RunMain(argc, argv, mq::bench::RegisterAll); }
