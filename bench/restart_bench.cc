// The restart of a supervised actor, piece by piece (docs/benchmarks.md,
// "Restart under a supervisor"; the whole restart is timed by
// tests/torture_supervised_test.cc, which prints its distribution).
//
//   restart/open-adopted/backlog=K   Mailbox::Open on a socket bound here and handed over
//                                    (inherit_socket) of a queue holding K pending messages, then
//                                    Close: what the actor's library does at each start
//   restart/spawn-exec               posix_spawn of /bin/true and waitpid: what starting any process
//                                    costs here (fork/exec, the dynamic loader, the exit and the reap)
//   restart/mqsup-kill-to-stored     the whole restart under the real supervisor: `mqsup run` (beside
//                                    $MQ_TOOL) supervises `mqtool recv --follow` on a socket it hands
//                                    over, no backoff; the time from SIGKILL to the actor until a
//                                    confirmed send is stored by the next actor (the kill, mqsup's reap,
//                                    its fsync'd history record, clone3, exec, the store's open, the
//                                    ingest). Median, p90, p99 and max of the kills are counters (ms).
//                                    The actor's sync policy is mqtool's default, batch: the
//                                    confirmation waits for the group commit, up to batch_interval
//                                    (10 ms) after the ingest's append.
//   restart/mqsup-kill-to-stored/sync=always   the same with `mqtool recv --sync always`: the
//                                    confirmation follows the first message's own fdatasync, so
//                                    the figure is the restart plus one sync, without the batch wait.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "mq/mailbox.h"
#include "mq/run.h"
#include "mq/sender.h"
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

// The running actor's pid, from `mqsup status --json` (0 if none runs).
pid_t ActorPid(const std::string& control) {
  auto body = supervisor::AskSupervisor(control, "status-json", std::chrono::seconds(5));
  if (!body.ok()) return 0;
  const size_t at = body->find("\"pid\":");
  return at == std::string::npos ? 0 : static_cast<pid_t>(std::atoi(body->c_str() + at + 6));
}

void MqsupKillToStored(benchmark::State& state, const std::string& sync) {
  const char* tool = std::getenv("MQ_TOOL");
  if (tool == nullptr) {
    state.SkipWithError("set MQ_TOOL to the mqtool binary, with mqsup beside it (bench/run does)");
    return;
  }
  const std::string mqtool = tool;
  const std::string mqsup = mqtool.substr(0, mqtool.rfind('/') + 1) + "mqsup";
  if (::access(mqsup.c_str(), X_OK) != 0) {
    state.SkipWithError(("no mqsup beside MQ_TOOL: " + mqsup).c_str());
    return;
  }
  ScratchDir dir;
  const std::string sock = dir.File("a.sock"), queue = dir.File("a.q"), control = dir.File("c.sock");
  const std::string config = dir.File("sup.toml");
  {
    std::ofstream c(config);
    c << "[supervisor]\ncontrol = \"" << control << "\"\nintensity = 1000000\nperiod = \"1s\"\n"
      << "backoff = { first = \"0ms\", cap = \"0ms\", jitter = 0.0 }\n\n[[child]]\nname = \"actor\"\n"
      << "command = [\"" << mqtool << "\", \"recv\", \"" << queue << "\", \"--socket\", \"" << sock
      << "\", \"--follow\", \"--sync\", \"" << sync << "\"]\nsocket = \"" << sock << "\"\nqueue = \"" << queue
      << "\"\n";
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, dir.File("mqsup.err").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  std::string run = "run";
  char* argv[] = {const_cast<char*>(mqsup.c_str()), run.data(), const_cast<char*>(config.c_str()), nullptr};
  pid_t sup = -1;
  if (::posix_spawn(&sup, mqsup.c_str(), &fa, nullptr, argv, environ) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    state.SkipWithError("spawning mqsup");
    return;
  }
  posix_spawn_file_actions_destroy(&fa);
  auto stop_sup = [&] {
    ::kill(sup, SIGTERM);
    int st = 0;
    ::waitpid(sup, &st, 0);
  };
  std::unique_ptr<ConfirmedSender> sender;
  for (int i = 0; i < 200 && sender == nullptr; ++i) {
    if (!ConfirmedSender::Open(sock, ConfirmedSenderOptions{}).MoveTo(&sender).ok()) {
      sender.reset();
      ::usleep(20 * 1000);  // until mqsup has bound the socket (setup, not timed)
    }
  }
  if (sender == nullptr || !sender->SendConfirmed("warm", std::chrono::seconds(10)).ok()) {
    stop_sup();
    state.SkipWithError("the supervised actor did not come up");
    return;
  }
  std::vector<double> ms;
  for (auto _ : state) {
    const pid_t actor = ActorPid(control);
    const int pidfd = actor > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, actor, 0)) : -1;
    if (pidfd < 0) {
      state.SkipWithError("no actor pid from mqsup status");
      break;
    }
    // A sender per kill: its answer channel goes to the mailbox instance
    // with its first message, so a new instance needs a new sender.
    std::unique_ptr<ConfirmedSender> next;
    if (Failed(state, ConfirmedSender::Open(sock, ConfirmedSenderOptions{}).MoveTo(&next))) {
      ::close(pidfd);
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    ::kill(actor, SIGKILL);
    pollfd p{pidfd, POLLIN, 0};
    ::poll(&p, 1, 10000);  // it has ended: the next send cannot reach it
    ::close(pidfd);
    auto seq = next->SendConfirmed("after a kill", std::chrono::seconds(10));
    const double d = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!seq.ok()) {
      state.SkipWithError(("the confirmed send after a kill: " + seq.status().ToString()).c_str());
      break;
    }
    state.SetIterationTime(d);
    ms.push_back(d * 1000);
  }
  stop_sup();
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) {
    state.counters["median_ms"] = ms[ms.size() / 2];
    state.counters["p90_ms"] = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
    state.counters["p99_ms"] = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
    state.counters["max_ms"] = ms.back();
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
  benchmark::RegisterBenchmark("restart/mqsup-kill-to-stored", [](benchmark::State& st) { MqsupKillToStored(st, "batch"); })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(f.quick ? 20 : 100);
  benchmark::RegisterBenchmark("restart/mqsup-kill-to-stored/sync=always",
                               [](benchmark::State& st) { MqsupKillToStored(st, "always"); })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(f.quick ? 20 : 100);
}

}  // namespace
}  // namespace mq::bench

int main(int argc, char** argv) { return mq::bench::RunMain(argc, argv, mq::bench::RegisterAll); }
