// Supervised kill torture (issue 18's goal; docs/supervision.md, "Zero
// loss under a supervisor"; ctest label `torture`).
//
// This process plays the supervisor: it binds the actor's socket and keeps
// it, starts the actor (torture_supervised_actor) with the socket handed
// over (MQ_SOCKET_FD), and after each SIGKILL starts the next one on the
// same socket (RestartAfterKill; tests/torture_mqsup_test.cc is the same
// torture with `mqsup run` restarting the actor). Meanwhile a sender thread streams plain
// blocking sendto datagrams "t<ID>", IDs 0, 1, 2, ..., with no
// confirmation. After MQ_TORTURE_KILLS kills (100 by default) the sender
// stops, END is sent, and the last actor delivers everything and exits.
// From the actors' delivery file it counts, per ID, how often it was
// delivered, and prints kills, sent, delivered, duplicates, lost and the
// restart latency (SIGKILL sent -> the next actor's mailbox open): median,
// p90, max.
//   - take + ack: 0 lost (a message leaves the socket only once it is in
//     the log, and leaves the log only once acked);
//   - auto-consume: at most one lost per kill (the message Receive consumed
//     that the killed actor had not written down: docs/mailbox.md, "What
//     survives", one receiving thread).
// Duplicates are counted, not bounded here: a kill between an append and
// the discard of its batch stores that batch twice (at most ingest_batch
// datagrams per kill), and take + ack delivers a message taken but not
// acked again.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mailbox_testing.h"
#include "test_util.h"
#include "torture_supervised.h"

extern char** environ;

namespace mq {
namespace {

using std::chrono::milliseconds;
using namespace test::torture;  // NOLINT: the shared torture helpers

// The descriptor number the actor finds its socket at.
constexpr int kChildSocketFd = 3;

// What the supervisor part needs to start an actor.
struct ActorSpec {
  std::string mode;        // auto | ack
  std::string socket_path;
  std::string queue_path;
  std::string delivered;   // the delivery file
  std::string ready_fifo;  // the actor writes "PID\n" here once its mailbox is open
  int socket_fd = -1;      // the bound socket the supervisor keeps
};

// Starts the actor with the socket at descriptor 3 and the hand-off
// variables set. Returns its pid, or -1.
pid_t SpawnActor(const ActorSpec& a) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // socket_fd is never 3 (see the test), so dup2 clears close-on-exec.
  posix_spawn_file_actions_adddup2(&fa, a.socket_fd, kChildSocketFd);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> env_strings = {"MQ_SOCKET_FD=" + std::to_string(kChildSocketFd),
                                          "MQ_SOCKET=" + a.socket_path, "MQ_QUEUE=" + a.queue_path,
                                          "MQ_TORTURE_READY=" + a.ready_fifo};
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string v = *e;
    if (v.rfind("MQ_SOCKET", 0) == 0 || v.rfind("MQ_QUEUE", 0) == 0 || v.rfind("MQ_TORTURE_READY", 0) == 0) continue;
    env_strings.push_back(v);
  }
  std::vector<char*> envp;
  for (std::string& v : env_strings) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string prog = MQ_TORTURE_SUPERVISED_ACTOR;
  std::vector<char*> argv = {prog.data(), const_cast<char*>(a.mode.c_str()), const_cast<char*>(a.delivered.c_str()),
                             nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, prog.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// The supervisor's part, in one function: kills the running actor `*pid`
// with SIGKILL (0: none runs yet), reaps it, and starts the next one on the
// same socket. Returns the time from the SIGKILL to the next actor's mailbox
// being open (its ready line), and sets *pid to it; a negative duration if
// it did not come up within 10 s.
Clock::duration RestartAfterKill(const ActorSpec& a, int ready_fifo, pid_t* pid) {
  const auto t0 = Clock::now();
  if (*pid > 0) {
    ::kill(*pid, SIGKILL);
    int st = 0;
    while (::waitpid(*pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  *pid = SpawnActor(a);
  if (*pid <= 0) return Clock::duration(-1);
  const pid_t said = ReadReadyPid(ready_fifo, std::chrono::seconds(10));
  if (said != *pid) return Clock::duration(-1);
  return Clock::now() - t0;
}

class SupervisedTortureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SupervisedTortureTest, PlainSendtoAcrossKillsLosesNothingUnderAckAndAtMostOnePerKillUnderAuto) {
  const std::string mode = GetParam();
  const int kills = KillsPerRun();
  test::TempDir dir;
  ActorSpec a;
  a.mode = mode;
  a.socket_path = dir.File("actor.sock");
  a.queue_path = dir.File("actor.q");
  a.delivered = dir.File("delivered");
  a.ready_fifo = dir.File("ready");
  const int bound = test::BindSupervisedSocket(a.socket_path);
  ASSERT_GE(bound, 0);
  a.socket_fd = ::fcntl(bound, F_DUPFD_CLOEXEC, 10);  // never descriptor 3 (see SpawnActor)
  ::close(bound);
  ASSERT_EQ(::mkfifo(a.ready_fifo.c_str(), 0600), 0) << std::strerror(errno);
  const int fifo = ::open(a.ready_fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(fifo, 0);

  pid_t pid = 0;
  ASSERT_GE(RestartAfterKill(a, fifo, &pid).count(), 0) << "the first actor did not start";
  std::atomic<bool> stop{false};
  uint64_t sent = 0;
  std::thread sender([&] { sent = StreamPlainSendto(a.socket_path, stop); });

  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  std::uniform_int_distribution<int> uptime_ms(2, 40);
  std::vector<double> restart_ms;
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(milliseconds(uptime_ms(rng)));  // the kill schedule, not a synchronisation
    const Clock::duration d = RestartAfterKill(a, fifo, &pid);
    if (d.count() < 0) {
      ADD_FAILURE() << "actor " << k + 1 << " did not come up within 10 s";
      break;
    }
    restart_ms.push_back(Ms(d));
  }
  stop = true;
  sender.join();
  SendEnd(a.socket_path);  // after the last ID: the last actor delivers everything before it
  EXPECT_EQ(test::WaitProcess(pid, std::chrono::seconds(60)), 0) << "the last actor did not deliver END";
  ::close(fifo);
  ::close(a.socket_fd);

  const Tally t = Count(a.delivered, sent);
  std::sort(restart_ms.begin(), restart_ms.end());
  std::printf("supervised torture (%s): kills %zu, sent %llu, delivered %llu, duplicates %llu, lost %llu, torn %llu; "
              "restart ms: median %.2f, p90 %.2f, max %.2f\n",
              mode.c_str(), restart_ms.size(), static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(t.delivered), static_cast<unsigned long long>(t.duplicates),
              static_cast<unsigned long long>(t.lost), static_cast<unsigned long long>(t.torn), Quantile(restart_ms, 0.5), Quantile(restart_ms, 0.9),
              restart_ms.empty() ? 0.0 : restart_ms.back());
  ExpectTheLossBoundHolds(t, mode, kills, sent, restart_ms.size());
  if (!LostIds(t).empty()) std::printf("lost:%s\n", LostIds(t).c_str());
}

INSTANTIATE_TEST_SUITE_P(Modes, SupervisedTortureTest, ::testing::Values("ack", "auto"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param) == "ack" ? "TakeAck" : "AutoConsume";
                         });

}  // namespace
}  // namespace mq
