// The mailbox's socket front end: who owns the path, who may send, and what
// size a datagram may be. Senders of another uid run as a child process that
// switches to `nobody` (the tests run as root in CI; as another user those
// tests are skipped).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"

namespace mq {
namespace {

using test::OpenMailboxOrDie;
using test::ReceivePayloads;
constexpr uid_t kNobody = 65534;

// A socket file with nobody bound to it, as a crashed mailbox leaves.
void MakeStaleSocket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
  ::close(fd);
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

using MailboxSocketTest = test::MailboxTest;

TEST_F(MailboxSocketTest, StaleSocketFileIsReplaced) {
  MakeStaleSocket(opt_.socket_path);
  auto mb = OpenMailboxOrDie(opt_);
  ASSERT_TRUE(Send(opt_.socket_path, "after replace").ok());
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 1), (std::vector<std::string>{"after replace"}));
}

TEST_F(MailboxSocketTest, LiveSocketIsRefusedAndKeepsWorking) {
  auto first = OpenMailboxOrDie(opt_);
  MailboxOptions second = opt_;
  second.queue_path = dir_.File("other-queue");
  std::unique_ptr<Mailbox> mb;
  Status s = Mailbox::Open(second).MoveTo(&mb);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.sys_errno(), EADDRINUSE) << s.ToString();
  EXPECT_NE(s.message().find(opt_.socket_path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("another mailbox"), std::string::npos) << s.message();
  EXPECT_FALSE(test::FileExists(second.queue_path)) << "a failed open created the queue";
  ASSERT_TRUE(Send(opt_.socket_path, "still mine").ok());
  EXPECT_EQ(ReceivePayloads(first.get(), Pattern::Any(), 1), (std::vector<std::string>{"still mine"}));
}

TEST_F(MailboxSocketTest, PathThatIsNotASocketIsNeverUnlinked) {
  test::WriteFileOrDie(opt_.socket_path, "precious");
  std::unique_ptr<Mailbox> mb;
  Status s = Mailbox::Open(opt_).MoveTo(&mb);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("not a socket"), std::string::npos) << s.message();
  EXPECT_EQ(test::ReadFileOrDie(opt_.socket_path), "precious");
  EXPECT_FALSE(test::FileExists(opt_.queue_path)) << "a failed open created the queue";
}

TEST_F(MailboxSocketTest, SecondMailboxOnTheSameQueueGetsAClearErrorAndBindsNothing) {
  auto first = OpenMailboxOrDie(opt_);
  MailboxOptions second = opt_;
  second.socket_path = dir_.File("sock2");
  std::unique_ptr<Mailbox> mb;
  Status s = Mailbox::Open(second).MoveTo(&mb);
  EXPECT_TRUE(s.IsBusy()) << s.ToString();
  EXPECT_NE(s.message().find(std::to_string(::getpid())), std::string::npos) << s.message();
  EXPECT_FALSE(test::FileExists(second.socket_path));
}

TEST_F(MailboxSocketTest, SocketModeIsSetIndependentlyOfTheUmask) {
  mode_t old = ::umask(0);
  {
    auto mb = OpenMailboxOrDie(opt_);
    EXPECT_EQ(ModeOf(opt_.socket_path), 0600u);
  }
  ::umask(0077);
  {
    MailboxOptions o = opt_;
    o.socket_mode = 0660;
    auto mb = OpenMailboxOrDie(o);
    EXPECT_EQ(ModeOf(opt_.socket_path), 0660u);
  }
  ::umask(old);
}

TEST_F(MailboxSocketTest, CloseRemovesTheSocketFile) {
  auto mb = OpenMailboxOrDie(opt_);
  EXPECT_TRUE(test::FileExists(opt_.socket_path));
  ASSERT_TRUE(mb->Close().ok());
  EXPECT_FALSE(test::FileExists(opt_.socket_path));
}

TEST_F(MailboxSocketTest, DatagramsQueuedInTheSocketAtCloseAreStored) {
  {
    auto mb = OpenMailboxOrDie(opt_);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(Send(opt_.socket_path, "m" + std::to_string(i)).ok());
    ASSERT_TRUE(mb->Close().ok());
  }
  MailboxOptions o = opt_;
  o.socket_path.clear();
  auto mb = OpenMailboxOrDie(o);
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 5), (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4"}));
}

TEST_F(MailboxSocketTest, ASenderThatSendsTheInstantThePathAppearsIsAdmitted) {
  // A sender waiting for a (re)starting mailbox sends as soon as the path
  // exists. Its datagram must carry credentials, so the socket has to ask for
  // them before it is bound, not after.
  for (int round = 0; round < 40; ++round) {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> sent{0};
    std::thread sender([&] {
      int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, opt_.socket_path.c_str(), sizeof(a.sun_path) - 1);
      while (!stop.load()) {
        if (::sendto(fd, "x", 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 1) sent.fetch_add(1);
      }
      ::close(fd);
    });
    std::unique_ptr<Mailbox> mb;
    Status s = Mailbox::Open(opt_).MoveTo(&mb);
    ASSERT_TRUE(test::WaitUntil([&] { return sent.load() > 0; }));
    stop.store(true);
    sender.join();
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(mb->Close().ok());
    EXPECT_EQ(mb->Stats().rejected_not_admitted, 0u) << "round " << round;
    if (HasFailure()) break;
  }
}

class OtherUidTest : public MailboxSocketTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a sender as nobody";
    MailboxSocketTest::SetUp();
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);  // let nobody reach the socket
  }
  test::ProcResult SendAsNobody(const std::string& mode, const std::string& payload) {
    return test::RunProcess({test::HelperPath(), mode, "--uid", std::to_string(kNobody), opt_.socket_path, payload});
  }
};

TEST_F(OtherUidTest, SenderOfAnotherUidIsRefusedCountedAndReportedEvenIfTheModeAdmitsIt) {
  opt_.socket_mode = 0666;
  std::mutex mu;
  std::vector<Rejection> seen;
  opt_.on_reject = [&](const Rejection& r) {
    std::lock_guard<std::mutex> g(mu);
    seen.push_back(r);
  };
  auto mb = OpenMailboxOrDie(opt_);
  test::ProcResult r = SendAsNobody("send", "from nobody");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(Send(opt_.socket_path, "from root").ok());
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 1), (std::vector<std::string>{"from root"}));
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).IsTimedOut());
  EXPECT_EQ(mb->Stats().rejected_not_admitted, 1u);
  // The stored counter moves just after the append that made the message visible.
  EXPECT_TRUE(test::WaitUntil([&] { return mb->Stats().stored == 1; })) << mb->Stats().stored;
  std::lock_guard<std::mutex> g(mu);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].reason, Rejection::Reason::kNotAdmitted);
  EXPECT_EQ(seen[0].uid, kNobody);
  EXPECT_EQ(seen[0].size, std::string("from nobody").size());
  EXPECT_NE(seen[0].describe.find("uid 65534"), std::string::npos) << seen[0].describe;
}

// Nobody who is not admitted ever gets an answer (docs/mailbox.md, "Who
// gets an answer"): the sender learns nothing and runs out of time.
TEST_F(OtherUidTest, ConfirmingSenderOfAnotherUidGetsNoAnswerAndTimesOut) {
  opt_.socket_mode = 0666;
  auto mb = OpenMailboxOrDie(opt_);
  test::ProcResult r = SendAsNobody("send-confirmed", "from nobody");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("TimedOut"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("not admitted"), std::string::npos) << r.err;
  EXPECT_EQ(mb->Stats().rejected_not_admitted, 1u);
  EXPECT_EQ(mb->Stats().confirmations, 0u);
  EXPECT_EQ(mb->Stats().store.pending, 0u);
}

TEST_F(OtherUidTest, AdmittedUidListLetsThatUidIn) {
  opt_.socket_mode = 0666;
  opt_.admitted_uids = {kNobody};
  auto mb = OpenMailboxOrDie(opt_);
  test::ProcResult r = SendAsNobody("send-confirmed", "from nobody");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok 1\n");
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 1), (std::vector<std::string>{"from nobody"}));
}

TEST_F(OtherUidTest, DefaultSocketModeRefusesOtherUsersAtTheSocket) {
  auto mb = OpenMailboxOrDie(opt_);
  test::ProcResult r = SendAsNobody("send", "from nobody");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
  EXPECT_EQ(mb->Stats().datagrams, 0u);
}

TEST_F(MailboxSocketTest, DatagramOfExactlyTheMaximumIsStoredAndOneByteMoreIsRejected) {
  opt_.max_message_size = 1000;
  std::mutex mu;
  std::vector<uint64_t> sizes;
  opt_.on_reject = [&](const Rejection& r) {
    std::lock_guard<std::mutex> g(mu);
    sizes.push_back(r.size);
    EXPECT_EQ(r.reason, Rejection::Reason::kTooLarge);
    EXPECT_NE(r.describe.find("maximum of 1000"), std::string::npos) << r.describe;
  };
  auto mb = OpenMailboxOrDie(opt_);
  const std::string exact(1000, 'x'), over(1001, 'y'), way_over(70000, 'z');
  ASSERT_TRUE(Send(opt_.socket_path, over).ok());
  ASSERT_TRUE(Send(opt_.socket_path, way_over).ok());
  ASSERT_TRUE(Send(opt_.socket_path, exact).ok());
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 1), std::vector<std::string>{exact});
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).IsTimedOut());
  EXPECT_EQ(mb->Stats().rejected_too_large, 2u);
  std::lock_guard<std::mutex> g(mu);
  EXPECT_EQ(sizes, (std::vector<uint64_t>{1001, 70000}));
}

TEST_F(MailboxSocketTest, DefaultMaximumIs64KiB) {
  auto mb = OpenMailboxOrDie(opt_);
  const std::string exact(64 * 1024, 'x'), over(64 * 1024 + 1, 'y');
  ASSERT_TRUE(Send(opt_.socket_path, over).ok());
  ASSERT_TRUE(Send(opt_.socket_path, exact).ok());
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 1), std::vector<std::string>{exact});
  EXPECT_EQ(mb->Stats().rejected_too_large, 1u);
}

TEST_F(MailboxSocketTest, MaximumCanBeRaisedToAMegabyte) {
  opt_.max_message_size = 1 << 20;
  auto mb = OpenMailboxOrDie(opt_);
  std::string big(1 << 20, 'b');
  big[0] = 'B';
  Status s = Send(opt_.socket_path, big);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 1), std::vector<std::string>{big});
}

TEST_F(MailboxSocketTest, ConfirmingSenderOfAnOversizeMessageIsToldItIsTooLarge) {
  opt_.max_message_size = 100;
  auto mb = OpenMailboxOrDie(opt_);
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, {}).MoveTo(&cs).ok());
  uint64_t seq = 0;
  Status s = cs->SendConfirmed(std::string(101, 'x'), std::chrono::seconds(5)).MoveTo(&seq);
  EXPECT_EQ(s.code(), Status::Code::kTooLarge) << s.ToString();
  s = cs->SendConfirmed("small", std::chrono::seconds(5)).MoveTo(&seq);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(seq, 1u);
}

TEST_F(MailboxSocketTest, SendToAMissingSocketIsNotFoundNamingThePath) {
  Status s = Send(opt_.socket_path, "x");
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find(opt_.socket_path), std::string::npos) << s.message();
}

TEST_F(MailboxSocketTest, SendToAStaleSocketSaysNoMailboxIsBound) {
  MakeStaleSocket(opt_.socket_path);
  Status s = Send(opt_.socket_path, "x");
  EXPECT_EQ(s.sys_errno(), ECONNREFUSED) << s.ToString();
  EXPECT_NE(s.message().find("no mailbox is bound"), std::string::npos) << s.message();
}

TEST_F(MailboxSocketTest, SendToAFileThatIsNotASocketSaysSo) {
  test::WriteFileOrDie(opt_.socket_path, "");
  Status s = Send(opt_.socket_path, "x");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("not a socket"), std::string::npos) << s.message();
}

TEST_F(MailboxSocketTest, SendToAFullSocketBufferFailsWithEagainAfterItsRetryTime) {
  // A socket that nobody reads: its queue fills after max_dgram_qlen datagrams.
  MakeStaleSocket(opt_.socket_path);
  ::unlink(opt_.socket_path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, opt_.socket_path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  std::unique_ptr<Sender> sender;
  SendOptions so;
  so.retry_for = std::chrono::milliseconds(30);
  ASSERT_TRUE(Sender::Open(opt_.socket_path, so).MoveTo(&sender).ok());
  Status s;
  int sent = 0;
  for (; sent < 10000; ++sent) {
    s = sender->Send("x");
    if (!s.ok()) break;
  }
  ::close(fd);
  EXPECT_EQ(s.sys_errno(), EAGAIN) << s.ToString() << " after " << sent;
  EXPECT_NE(s.message().find("buffer is full"), std::string::npos) << s.message();
}

TEST_F(MailboxSocketTest, DatagramLargerThanTheKernelAllowsIsTooLarge) {
  auto mb = OpenMailboxOrDie(opt_);
  Status s = Send(opt_.socket_path, std::string(64u << 20, 'x'));
  EXPECT_EQ(s.code(), Status::Code::kTooLarge) << s.ToString();
  EXPECT_NE(s.message().find("wmem_max"), std::string::npos) << s.message();
}

TEST_F(MailboxSocketTest, OverlongSocketPathIsAnInvalidArgument) {
  MailboxOptions o = opt_;
  o.socket_path = dir_.path() + "/" + std::string(200, 's');
  std::unique_ptr<Mailbox> mb;
  Status s = Mailbox::Open(o).MoveTo(&mb);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("at most 107"), std::string::npos) << s.message();
  EXPECT_FALSE(test::FileExists(o.queue_path)) << "a failed open created the queue";
  EXPECT_EQ(Send(o.socket_path, "x").code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace mq

namespace mq {
namespace {

TEST(MailboxOptionsTest, OutOfRangeOptionsAreInvalidArgumentsAndCreateNothing) {
  test::TempDir dir;
  for (int which = 0; which < 4; ++which) {
    MailboxOptions o = test::OptionsIn(dir);
    if (which == 0) o.max_message_size = 0;
    if (which == 1) o.max_message_size = (64u << 20) + 1;
    if (which == 2) o.ingest_batch = 0;
    if (which == 3) o.queue_path.clear();
    std::unique_ptr<Mailbox> mb;
    Status s = Mailbox::Open(o).MoveTo(&mb);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << which << ": " << s.ToString();
    EXPECT_FALSE(test::FileExists(o.socket_path));
    EXPECT_FALSE(test::FileExists(dir.File("queue")));
  }
}

}  // namespace
}  // namespace mq
