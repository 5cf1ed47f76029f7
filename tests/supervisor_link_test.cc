// Links (mq/monitor.h, Monitors::Link) with real processes, both ways: the
// end of the linked process reaches this one as an EXIT message (trapping)
// or SIGTERM, and the end of this one (kill -9 included) reaches the linked
// process the same way, through the keeper process.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailbox_testing.h"
#include "mq/monitor.h"

namespace mq::supervisor {
namespace {

pid_t Sleeper() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (;;) ::pause();
  }
  return pid;
}

// How a child of the test ended: "signal:TERM", "exit:0"...
std::string Ended(pid_t pid) {
  int st = 0;
  if (::waitpid(pid, &st, 0) != pid) return "(not waited)";
  return WIFSIGNALED(st) ? ExitReason::Signal(WTERMSIG(st)).ToString() : ExitReason::Exit(WEXITSTATUS(st)).ToString();
}

// A process that links itself to `peer` with `o`, says so on a pipe, and
// waits (SIGTERM, by default, ends it).
pid_t Linker(pid_t peer, const LinkOptions& o) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    std::unique_ptr<Monitors> m;
    const bool ok = Monitors::Start().MoveTo(&m).ok() && m->Link(peer, o).ok();
    (void)!::write(p[1], ok ? "1" : "0", 1);
    for (;;) ::pause();
  }
  ::close(p[1]);
  char c = '0';
  (void)!::read(p[0], &c, 1);
  ::close(p[0]);
  EXPECT_EQ(c, '1') << "the linker could not link";
  return pid;
}

class LinkTest : public ::testing::Test {
 protected:
  void SetUp() override { mb_ = test::OpenMailboxOrDie(test::OptionsIn(dir_)); }
  std::string NextExit() {
    Message m;
    Status s = mb_->Receive(Pattern::Prefix("EXIT "), std::chrono::seconds(10), &m);
    return s.ok() ? m.payload : "(" + s.ToString() + ")";
  }
  test::TempDir dir_;
  std::unique_ptr<Mailbox> mb_;
};

TEST_F(LinkTest, TheEndOfTheLinkedProcessIsAnExitMessageWhenTrapping) {
  std::unique_ptr<Monitors> m;
  ASSERT_TRUE(Monitors::Start().MoveTo(&m).ok());
  const pid_t peer = Sleeper();
  LinkOptions o;
  o.trap_exit = true;
  o.notify_socket = mb_->options().socket_path;
  o.name = "peer";
  auto ref = m->Link(peer, o);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  ASSERT_EQ(::kill(peer, SIGKILL), 0);
  EXPECT_EQ(NextExit(), "EXIT ref=" + std::to_string(*ref) + " pid=" + std::to_string(peer) +
                            " name=peer reason=signal:KILL");
  EXPECT_EQ(Ended(peer), "signal:KILL");
  m.reset();
}

TEST_F(LinkTest, TheEndOfTheLinkedProcessIsSigtermWhenNotTrapping) {
  const pid_t peer = Sleeper();
  const pid_t linker = Linker(peer, LinkOptions{});
  ASSERT_EQ(::kill(peer, SIGKILL), 0);
  EXPECT_EQ(Ended(peer), "signal:KILL");  // reaped, so the linker learns of it
  EXPECT_EQ(Ended(linker), "signal:TERM");
}

TEST_F(LinkTest, AKillMinus9OfTheLinkingProcessSigtermsTheLinkedOne) {
  const pid_t peer = Sleeper();
  const pid_t linker = Linker(peer, LinkOptions{});
  ASSERT_EQ(::kill(linker, SIGKILL), 0);
  EXPECT_EQ(Ended(linker), "signal:KILL");
  EXPECT_EQ(Ended(peer), "signal:TERM");
}

TEST_F(LinkTest, AKillMinus9OfTheLinkingProcessIsAnExitMessageToATrappingPeer) {
  const pid_t peer = Sleeper();
  LinkOptions o;
  o.peer_notify_socket = mb_->options().socket_path;
  o.self_name = "linker";
  const pid_t linker = Linker(peer, o);
  ASSERT_EQ(::kill(linker, SIGKILL), 0);
  EXPECT_EQ(Ended(linker), "signal:KILL");
  const std::string exit = NextExit();
  EXPECT_EQ(exit.substr(exit.find(" pid=")), " pid=" + std::to_string(linker) + " name=linker reason=signal:KILL");
  ASSERT_EQ(::kill(peer, SIGKILL), 0);  // the peer itself was left running
  EXPECT_EQ(Ended(peer), "signal:KILL");
}

TEST_F(LinkTest, AnUnlinkedProcessSendsNoExit) {
  std::unique_ptr<Monitors> m;
  ASSERT_TRUE(Monitors::Start().MoveTo(&m).ok());
  LinkOptions o;
  o.trap_exit = true;
  o.notify_socket = mb_->options().socket_path;
  const pid_t quiet = Sleeper(), marker = Sleeper();
  auto q = m->Link(quiet, o);
  o.name = "marker";
  auto k = m->Link(marker, o);
  ASSERT_TRUE(q.ok() && k.ok());
  ASSERT_TRUE(m->Unlink(*q).ok());
  ASSERT_EQ(::kill(quiet, SIGKILL), 0);
  EXPECT_EQ(Ended(quiet), "signal:KILL");
  ASSERT_EQ(::kill(marker, SIGKILL), 0);
  // The marker's EXIT comes; the unlinked one's never does (it would be
  // ready at the same poll, or earlier).
  EXPECT_NE(NextExit().find("name=marker"), std::string::npos);
  EXPECT_EQ(Ended(marker), "signal:KILL");
  Message extra;
  EXPECT_TRUE(mb_->Receive(Pattern::Prefix("EXIT "), Mailbox::kPoll, &extra).IsTimedOut()) << extra.payload;
  EXPECT_EQ(m->Unlink(*q).code(), Status::Code::kNotFound);
}

TEST(LinkFormat, ExitMessageHasTheFieldsOfDown) {
  EXPECT_EQ(ExitMessage(3, 42, "db", ExitReason::Signal(SIGKILL)), "EXIT ref=3 pid=42 name=db reason=signal:KILL");
}

}  // namespace
}  // namespace mq::supervisor
