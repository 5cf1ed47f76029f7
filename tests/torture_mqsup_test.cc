// The supervised kill torture through the real supervisor (issue 18's goal;
// docs/supervision.md, "Zero loss under a supervisor"; ctest label
// `torture`).
//
// `mqsup run` supervises one child, tests/torture_supervised_actor.cc, on a
// socket and queue it binds and hands over (MQ_SOCKET_FD), restart
// "transient", no backoff. This test only kills: it reads the running
// actor's pid from the ready FIFO (the actor writes it once its mailbox is
// open), sends it SIGKILL after 2 to 40 ms of uptime, and waits for the
// next actor's pid, which `mqsup` started (reaped, recorded the exit in its
// fsync'd history, clone3, exec, the actor opened its queue and adopted the
// socket). Meanwhile a thread streams plain blocking sendto datagrams with
// unique IDs. After MQ_TORTURE_KILLS kills (100 by default) END is sent, the
// last actor delivers everything and exits 0, and the transient child stays
// down. From the delivery file it counts, per ID, how often it was
// delivered:
//   - take + ack: 0 lost;
//   - auto-consume: at most one lost per kill (docs/mailbox.md, "What
//     survives", one receiving thread).
// It also checks what the supervisor says: `kills` restarts, last exit
// exit:0, state down, and `mqsup` exits 0 on SIGTERM. It prints kills, sent,
// delivered, duplicates, lost and the restart latency (SIGKILL sent -> the
// next actor's mailbox open: median, p90, max), and the supervisor's own
// part of it (its exit seen -> the next child exec'd, from its log), and the
// restart split into its parts (below, RestartParts). MQ_TORTURE_ACTOR=PATH
// runs another build of the actor (a dynamically linked one against the
// MQ_STATIC_TOOLS one, in the same run).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "mqsup_testing.h"
#include "torture_supervised.h"

namespace mq::test {
namespace {

using namespace torture;  // NOLINT: the shared torture helpers
using std::chrono::milliseconds;

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

// The supervisor's "started actor (pid N) U us after its exit" lines: U in ms.
std::vector<double> SupervisorRestartMs(const std::string& log) {
  std::vector<double> v;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    const size_t after = line.find(" us after its exit");
    if (line.find("started actor (pid ") == std::string::npos || after == std::string::npos) continue;
    const size_t from = line.rfind(' ', after - 1) + 1;
    v.push_back(std::strtod(line.substr(from, after - from).c_str(), nullptr) / 1000.0);
  }
  std::sort(v.begin(), v.end());
  return v;
}

// mqsup's "started actor (pid N) U us after its exit; spawn to exec S us"
// lines: pid -> {U, S} in ms.
std::map<pid_t, std::pair<double, double>> SupervisorSpawns(const std::string& log) {
  std::map<pid_t, std::pair<double, double>> m;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find("started actor (pid "), u = line.find(" us after its exit; spawn to exec ");
    if (at == std::string::npos || u == std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atoi(line.c_str() + at + 19));
    const double us = std::strtod(line.c_str() + line.rfind(' ', u - 1) + 1, nullptr);
    const double spawn = std::strtod(line.c_str() + u + 34, nullptr);
    m[pid] = {us / 1000.0, spawn / 1000.0};
  }
  return m;
}

// One restart, in CLOCK_MONOTONIC ns: the SIGKILL, the killed actor's pidfd
// readable here (it is dead), the next actor's main() and its mailbox open.
struct RestartTimes {
  pid_t next = 0;
  int64_t kill = 0, dead = 0, main = 0, open = 0;
};

int64_t Ns(Clock::time_point t) { return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(); }

// Prints the median and p90 of each part of the restarts (ms): kill -> dead;
// dead -> mqsup's clone (its reap, the history record and the log; mqsup's
// own wake taken as this test's); clone -> exec done (mqsup's log); exec ->
// the actor's main() (the loader, static initialisation); main -> mailbox
// open; open -> first message taken (MQ_TORTURE_FIRST); and the whole.
void PrintRestartParts(const std::string& mode, const std::vector<RestartTimes>& times, const std::string& log,
                       const std::string& first_file) {
  const auto spawns = SupervisorSpawns(log);
  std::map<pid_t, int64_t> firsts;
  {
    std::ifstream in(first_file);
    for (std::string line; std::getline(in, line);) {
      std::istringstream l(line);
      pid_t p = 0;
      int64_t ns = 0;
      if (l >> p >> ns) firsts[p] = ns;
    }
  }
  std::vector<double> dead, before_clone, clone_exec, exec_main, main_open, open_first, total_open, total_first;
  for (const RestartTimes& r : times) {
    const auto sp = spawns.find(r.next);
    if (sp == spawns.end() || r.main == 0) continue;
    const double ms_dead = static_cast<double>(r.dead - r.kill) / 1e6;
    const double exec_done = static_cast<double>(r.dead) / 1e6 + sp->second.first;
    dead.push_back(ms_dead);
    before_clone.push_back(sp->second.first - sp->second.second);
    clone_exec.push_back(sp->second.second);
    exec_main.push_back(static_cast<double>(r.main) / 1e6 - exec_done);
    main_open.push_back(static_cast<double>(r.open - r.main) / 1e6);
    total_open.push_back(static_cast<double>(r.open - r.kill) / 1e6);
    if (const auto f = firsts.find(r.next); f != firsts.end()) {
      open_first.push_back(static_cast<double>(f->second - r.open) / 1e6);
      total_first.push_back(static_cast<double>(f->second - r.kill) / 1e6);
    }
  }
  for (auto* v : {&dead, &before_clone, &clone_exec, &exec_main, &main_open, &open_first, &total_open, &total_first})
    std::sort(v->begin(), v->end());
  auto part = [](const char* name, const std::vector<double>& v) {
    std::printf("  %-44s median %7.2f  p90 %7.2f  p99 %7.2f  (n=%zu)\n", name, Quantile(v, 0.5), Quantile(v, 0.9),
                Quantile(v, 0.99), v.size());
  };
  double load[3] = {0, 0, 0};
  (void)::getloadavg(load, 3);
  std::printf("mqsup torture (%s): restart parts in ms, load average %.2f %.2f %.2f\n", mode.c_str(), load[0], load[1],
              load[2]);
  part("kill -> killed actor dead (pidfd readable)", dead);
  part("dead -> mqsup's clone (reap, record, log)", before_clone);
  part("clone -> exec done (mqsup's spawn)", clone_exec);
  part("exec -> actor's main() (loader, init)", exec_main);
  part("main() -> Mailbox::Open done", main_open);
  part("open -> first message taken", open_first);
  part("whole: kill -> mailbox open", total_open);
  part("whole: kill -> first message taken", total_first);
}

class MqsupTortureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(MqsupTortureTest, PlainSendtoAcrossKillsOfAnMqsupChildLosesNothingUnderAckAndAtMostOnePerKillUnderAuto) {
  const std::string mode = GetParam();
  const int kills = KillsPerRun();
  MqsupRun run;
  const std::string sock = run.dir().File("actor.sock"), queue = run.dir().File("actor.q");
  const std::string delivered = run.dir().File("delivered"), ready = run.dir().File("ready");
  const std::string first_file = run.dir().File("first");
  ASSERT_EQ(::mkfifo(ready.c_str(), 0600), 0) << std::strerror(errno);
  const int fifo = ::open(ready.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(fifo, 0);
  // The actor: MQ_TORTURE_ACTOR names another build of it (to compare a
  // dynamically linked actor with a static one in the same run).
  const char* actor_env = std::getenv("MQ_TORTURE_ACTOR");
  const std::string actor = actor_env != nullptr && *actor_env == '/' ? actor_env : MQ_TORTURE_SUPERVISED_ACTOR;
  // No backoff (the restart latency is what is measured) and an intensity
  // no torture reaches.
  WriteFileOrDie(run.config(), "[supervisor]\ncontrol = " + Quote(run.control()) +
                                   "\nintensity = 1000000\nperiod = \"1s\"\n"
                                   "backoff = { first = \"0ms\", cap = \"0ms\", jitter = 0.0 }\n\n"
                                   "[[child]]\nname = \"actor\"\ncommand = [" +
                                   Quote(actor) + ", " + Quote(mode) + ", " + Quote(delivered) +
                                   "]\nenv = { MQ_TORTURE_READY = " + Quote(ready) +
                                   ", MQ_TORTURE_FIRST = " + Quote(first_file) + " }\nrestart = \"transient\"\nsocket = " + Quote(sock) +
                                   "\nqueue = " + Quote(queue) + "\n");
  ASSERT_GT(run.Start(), 0);
  pid_t pid = ReadReadyPid(fifo, std::chrono::seconds(20));
  ASSERT_GT(pid, 0) << "the first actor did not start: " << run.Stderr();

  std::atomic<bool> stop{false};
  uint64_t sent = 0;
  std::thread sender([&] { sent = StreamPlainSendto(sock, stop); });
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  std::uniform_int_distribution<int> uptime_ms(2, 40);
  std::vector<double> restart_ms;
  std::vector<RestartTimes> times;
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(milliseconds(uptime_ms(rng)));  // the kill schedule, not a synchronisation
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    RestartTimes rt;
    const auto t0 = Clock::now();
    rt.kill = Ns(t0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0) << "actor " << pid << ": " << std::strerror(errno);
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      if (::poll(&p, 1, 10000) == 1) rt.dead = Ns(Clock::now());
      ::close(pidfd);
    }
    std::string line;
    const pid_t next = ReadReadyPid(fifo, std::chrono::seconds(10), &line);
    if (next <= 0 || next == pid) {
      ADD_FAILURE() << "mqsup did not start actor " << k + 2 << " within 10 s: " << run.Stderr();
      break;
    }
    restart_ms.push_back(Ms(Clock::now() - t0));
    rt.next = next;
    if (rt.dead != 0 && std::sscanf(line.c_str(), "%*d %lld %lld", reinterpret_cast<long long*>(&rt.main),
                                    reinterpret_cast<long long*>(&rt.open)) == 2)
      times.push_back(rt);
    pid = next;
  }
  stop = true;
  sender.join();
  SendEnd(sock);
  EXPECT_TRUE(WaitUntil([&] { return run.Row("actor").state == "down"; }, std::chrono::seconds(60)))
      << "the last actor did not deliver END and exit: " << run.Stderr();
  const StatusRow row = run.Row("actor");
  EXPECT_EQ(row.restarts, restart_ms.size()) << "mqsup restarted the actor once per kill";
  EXPECT_EQ(row.last_exit, "exit:0");
  ASSERT_EQ(::kill(run.pid(), SIGTERM), 0);
  EXPECT_EQ(run.Wait(), 0) << run.Stderr();
  ::close(fifo);

  const Tally t = Count(delivered, sent);
  std::sort(restart_ms.begin(), restart_ms.end());
  const std::vector<double> sup_ms = SupervisorRestartMs(run.Stderr());
  std::printf("mqsup torture (%s): kills %zu, sent %llu, delivered %llu, duplicates %llu, lost %llu, torn %llu; "
              "restart ms (SIGKILL -> next mailbox open): median %.2f, p90 %.2f, max %.2f; "
              "of which mqsup (exit seen -> next child exec'd): median %.2f, p90 %.2f\n",
              mode.c_str(), restart_ms.size(), static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(t.delivered), static_cast<unsigned long long>(t.duplicates),
              static_cast<unsigned long long>(t.lost), static_cast<unsigned long long>(t.torn),
              Quantile(restart_ms, 0.5), Quantile(restart_ms, 0.9), restart_ms.empty() ? 0.0 : restart_ms.back(),
              Quantile(sup_ms, 0.5), Quantile(sup_ms, 0.9));
  ExpectTheLossBoundHolds(t, mode, kills, sent, restart_ms.size());
  PrintRestartParts(mode, times, run.Stderr(), first_file);
  if (!LostIds(t).empty()) std::printf("lost:%s\n", LostIds(t).c_str());
}

INSTANTIATE_TEST_SUITE_P(Modes, MqsupTortureTest, ::testing::Values("ack", "auto"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param) == "ack" ? "TakeAck" : "AutoConsume";
                         });

}  // namespace
}  // namespace mq::test
