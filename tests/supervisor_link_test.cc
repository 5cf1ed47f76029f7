// Links (mq/monitor.h, Monitors::Link) with real processes, both ways: the
// end of the linked process reaches this one as an EXIT message (trapping)
// or SIGTERM, and the end of this one (kill -9 included) reaches the linked
// process the same way, through the keeper process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "mailbox_testing.h"
#include "mq/monitor.h"

extern char** environ;

namespace mq::supervisor {
namespace {

pid_t Sleeper() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (;;) ::pause();
  }
  return pid;
}

// How a child of the test ended: "signal:TERM", "exit:0"... A child still
// running after 60 s is killed, and the answer says so.
std::string Ended(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int st = 0;
  while (true) {
    const pid_t w = ::waitpid(pid, &st, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return "(not waited)";
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return "(still running after 60 s)";
    }
    ::usleep(1000);
  }
  return WIFSIGNALED(st) ? ExitReason::Signal(WTERMSIG(st)).ToString() : ExitReason::Exit(WEXITSTATUS(st)).ToString();
}

// A process that links itself to `peer` (with the peer's notify socket and
// its own name, when given), says so on a pipe, and waits (SIGTERM, by
// default, ends it). It is spawned, not forked: see supervisor_linker_helper.cc.
pid_t Linker(pid_t peer, const std::string& peer_notify_socket = "", const std::string& self_name = "") {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return -1;
  std::vector<std::string> args = {MQ_LINKER_HELPER, std::to_string(peer)};
  if (!peer_notify_socket.empty()) {
    args.push_back(peer_notify_socket);
    args.push_back(self_name);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  char c = '0';
  pollfd pfd{p[0], POLLIN, 0};
  if (rc == 0 && ::poll(&pfd, 1, 30000) == 1) (void)!::read(p[0], &c, 1);
  ::close(p[0]);
  EXPECT_EQ(rc, 0) << "spawning " << argv[0];
  EXPECT_EQ(c, '1') << "the linker could not link";
  return rc == 0 ? pid : -1;
}

class LinkTest : public ::testing::Test {
 protected:
  // The Monitors (and its keeper) start while this process has one thread:
  // see mq/monitor.h on allocators after fork.
  void SetUp() override {
    ASSERT_TRUE(Monitors::Start().MoveTo(&m_).ok());
    mb_ = test::OpenMailboxOrDie(test::OptionsIn(dir_));
  }
  std::string NextExit() {
    Message m;
    Status s = mb_->Receive(Pattern::Prefix("EXIT "), std::chrono::seconds(10), &m);
    return s.ok() ? m.payload : "(" + s.ToString() + ")";
  }
  test::TempDir dir_;
  std::unique_ptr<Monitors> m_;
  std::unique_ptr<Mailbox> mb_;
};

TEST_F(LinkTest, TheEndOfTheLinkedProcessIsAnExitMessageWhenTrapping) {
  const pid_t peer = Sleeper();
  LinkOptions o;
  o.trap_exit = true;
  o.notify_socket = mb_->options().socket_path;
  o.name = "peer";
  auto ref = m_->Link(peer, o);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  ASSERT_EQ(::kill(peer, SIGKILL), 0);
  EXPECT_EQ(NextExit(), "EXIT ref=" + std::to_string(*ref) + " pid=" + std::to_string(peer) +
                            " name=peer reason=signal:KILL");
  EXPECT_EQ(Ended(peer), "signal:KILL");
  m_.reset();
}

TEST_F(LinkTest, TheEndOfTheLinkedProcessIsSigtermWhenNotTrapping) {
  const pid_t peer = Sleeper();
  const pid_t linker = Linker(peer);
  ASSERT_EQ(::kill(peer, SIGKILL), 0);
  EXPECT_EQ(Ended(peer), "signal:KILL");  // reaped, so the linker learns of it
  EXPECT_EQ(Ended(linker), "signal:TERM");
}

TEST_F(LinkTest, AKillMinus9OfTheLinkingProcessSigtermsTheLinkedOne) {
  const pid_t peer = Sleeper();
  const pid_t linker = Linker(peer);
  ASSERT_EQ(::kill(linker, SIGKILL), 0);
  EXPECT_EQ(Ended(linker), "signal:KILL");
  EXPECT_EQ(Ended(peer), "signal:TERM");
}

TEST_F(LinkTest, AKillMinus9OfTheLinkingProcessIsAnExitMessageToATrappingPeer) {
  const pid_t peer = Sleeper();
  const pid_t linker = Linker(peer, mb_->options().socket_path, "linker");
  ASSERT_EQ(::kill(linker, SIGKILL), 0);
  EXPECT_EQ(Ended(linker), "signal:KILL");
  const std::string exit = NextExit();
  EXPECT_EQ(exit.substr(exit.find(" pid=")), " pid=" + std::to_string(linker) + " name=linker reason=signal:KILL");
  ASSERT_EQ(::kill(peer, SIGKILL), 0);  // the peer itself was left running
  EXPECT_EQ(Ended(peer), "signal:KILL");
}

TEST_F(LinkTest, AnUnlinkedProcessSendsNoExit) {
  LinkOptions o;
  o.trap_exit = true;
  o.notify_socket = mb_->options().socket_path;
  const pid_t quiet = Sleeper(), marker = Sleeper();
  auto q = m_->Link(quiet, o);
  o.name = "marker";
  auto k = m_->Link(marker, o);
  ASSERT_TRUE(q.ok() && k.ok());
  ASSERT_TRUE(m_->Unlink(*q).ok());
  ASSERT_EQ(::kill(quiet, SIGKILL), 0);
  EXPECT_EQ(Ended(quiet), "signal:KILL");
  ASSERT_EQ(::kill(marker, SIGKILL), 0);
  // The marker's EXIT comes; the unlinked one's never does (it would be
  // ready at the same poll, or earlier).
  EXPECT_NE(NextExit().find("name=marker"), std::string::npos);
  EXPECT_EQ(Ended(marker), "signal:KILL");
  Message extra;
  EXPECT_TRUE(mb_->Receive(Pattern::Prefix("EXIT "), Mailbox::kPoll, &extra).IsTimedOut()) << extra.payload;
  EXPECT_EQ(m_->Unlink(*q).code(), Status::Code::kNotFound);
}

TEST(LinkFormat, ExitMessageHasTheFieldsOfDown) {
  EXPECT_EQ(ExitMessage(3, 42, "db", ExitReason::Signal(SIGKILL)), "EXIT ref=3 pid=42 name=db reason=signal:KILL");
}

}  // namespace
}  // namespace mq::supervisor
