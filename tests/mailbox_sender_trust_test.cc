// Who may confirm a message (docs/mailbox.md, "Who may answer"): another
// local user can neither forge a ConfirmedSender's answers nor stand in for
// its mailbox. Each attack runs as uid nobody in a forked child; the tests
// run as root (they skip otherwise).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "mailbox_testing.h"
#include "test_util.h"
#include "mq/sender.h"
#include "reply_format.h"

namespace mq {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::ForkAsNobody;
using test::kNobody;
using test::WaitExitCode;

constexpr uint64_t kForgedSeq = 424242;

sockaddr_un PathAddress(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  return a;
}

// A datagram socket bound at `path` by the calling process.
int BindAt(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a = PathAddress(path);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return -1;
  return fd;
}

// Reads exactly n bytes from fd (each wait bounded by 20 s); false if not.
bool ReadBytes(int fd, size_t n) {
  char c;
  for (size_t i = 0; i < n; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1 || ::read(fd, &c, 1) != 1) return false;
  }
  return true;
}

// The abstract reply names of process `pid` listed in /proc/net/unix, which
// any user can read.
std::vector<std::string> ReplyNamesOf(pid_t pid) {
  std::ifstream in("/proc/net/unix");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    for (const char* prefix : {"@mq-reply/batch/", "@mq-reply/chan/"}) {
      size_t at = line.find(prefix + std::to_string(pid) + "/");
      if (at != std::string::npos) names.push_back(line.substr(at + 1));
    }
  }
  return names;
}

// One forged answer ("stored as seq 424242") and a batch of 64 of them.
std::vector<std::string> ForgedAnswers() {
  char one[reply::kSize];
  reply::Encode(reply::Code::kOk, kForgedSeq, one);
  std::string batch;
  for (size_t i = 0; i < reply::kMaxBatch; ++i) batch.append(one, reply::kSize);
  return {std::string(one, reply::kSize), batch};
}

class SenderTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as nobody";
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0777), 0);  // nobody may bind in it
    path_ = dir_.File("sock");
  }
  test::TempDir dir_;
  std::string path_;
};

// The forger, as uid nobody: until `stop` is readable, looks for the
// parent's reply socket in /proc/net/unix and sends it forged answers,
// writing one byte to `scans` per look. Exits with the number of forged
// datagrams the kernel took (at most 100).
int Forger(pid_t victim, int scans, int stop) {
  const std::vector<std::string> forged = ForgedAnswers();
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd < 0) return 101;
  // The test reads only the first scans; a full pipe must not stop the
  // forger from seeing `stop` (it blocked there once mqtool sent faster).
  if (::fcntl(scans, F_SETFL, ::fcntl(scans, F_GETFL) | O_NONBLOCK) != 0) return 102;
  int taken = 0;
  while (true) {
    pollfd p{stop, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) break;
    for (const std::string& name : ReplyNamesOf(victim)) {
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::memcpy(a.sun_path + 1, name.data(), std::min(name.size(), sizeof(a.sun_path) - 1));
      const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
      for (const std::string& f : forged)
        if (::sendto(fd, f.data(), f.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&a), len) ==
            static_cast<ssize_t>(f.size()))
          ++taken;
    }
    if (::write(scans, ".", 1) != 1 && errno != EAGAIN) break;
  }
  return std::min(taken, 100);
}

TEST_F(SenderTrustTest, ForgedAnswersOfAnotherUidWhileTheSenderWaitsForItsMailboxConfirmNothing) {
  int scans[2], stop[2];
  ASSERT_EQ(::pipe(scans), 0);
  ASSERT_EQ(::pipe(stop), 0);
  const pid_t me = ::getpid();
  const pid_t forger = ForkAsNobody([&] { return Forger(me, scans[1], stop[0]); });
  ASSERT_GT(forger, 0);
  ::close(scans[1]);
  // The sender waits for a mailbox that is not up yet ...
  ConfirmedSenderOptions o;
  o.connect_retry = seconds(30);
  std::unique_ptr<ConfirmedSender> cs;
  Status opened;
  std::thread opener([&] { opened = ConfirmedSender::Open(path_, o).MoveTo(&cs); });
  // ... while the forger looks for its reply socket 50 times and sends to
  // whatever it finds.
  EXPECT_TRUE(ReadBytes(scans[0], 50));
  const int mailbox = BindAt(path_);  // a mailbox that never answers
  ASSERT_GE(mailbox, 0);
  opener.join();
  ASSERT_TRUE(opened.ok()) << opened.ToString();
  // The forger now sees the connected reply socket and keeps sending.
  EXPECT_TRUE(ReadBytes(scans[0], 50));
  uint64_t seq = 0;
  Status s = cs->SendConfirmed("hello", milliseconds(300)).MoveTo(&seq);
  EXPECT_TRUE(s.IsTimedOut()) << "confirmed as seq " << seq << ": " << s.ToString();
  uint64_t ticket = 0;
  ASSERT_TRUE(cs->SendAsync("again").MoveTo(&ticket).ok());
  EXPECT_TRUE(ReadBytes(scans[0], 50));
  std::vector<Confirmation> got;
  EXPECT_TRUE(cs->Collect(milliseconds(0), &got).IsTimedOut());
  EXPECT_TRUE(got.empty()) << "confirmed as seq " << got[0].seq;
  ASSERT_EQ(::write(stop[1], "x", 1), 1);
  // No forged datagram ever got into the reply socket: it is bound only
  // once it is connected to the mailbox.
  EXPECT_EQ(WaitExitCode(forger), 0) << "forged datagrams the kernel queued for the sender";
  char buf[64];
  EXPECT_EQ(::recv(mailbox, buf, sizeof(buf), MSG_DONTWAIT), 5);  // "hello" did reach the mailbox
  ::close(mailbox);
  ::close(scans[0]);
  ::close(stop[0]);
  ::close(stop[1]);
}

TEST_F(SenderTrustTest, ForgedAnswersWhileTheMailboxNeverComesUpConfirmNothingAndOpenFails) {
  int scans[2], stop[2];
  ASSERT_EQ(::pipe(scans), 0);
  ASSERT_EQ(::pipe(stop), 0);
  const pid_t me = ::getpid();
  const pid_t forger = ForkAsNobody([&] { return Forger(me, scans[1], stop[0]); });
  ASSERT_GT(forger, 0);
  ::close(scans[1]);
  ASSERT_TRUE(ReadBytes(scans[0], 1));  // the forger is looking
  ConfirmedSenderOptions o;
  o.connect_retry = milliseconds(300);
  std::unique_ptr<ConfirmedSender> cs;
  Status s = ConfirmedSender::Open(path_, o).MoveTo(&cs);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_EQ(cs, nullptr);
  ASSERT_EQ(::write(stop[1], "x", 1), 1);
  EXPECT_EQ(WaitExitCode(forger), 0) << "forged datagrams the kernel queued for the sender";
  ::close(scans[0]);
  ::close(stop[0]);
  ::close(stop[1]);
}

TEST_F(SenderTrustTest, AnswerFromAProcessOfAnotherUidOnTheMailboxSocketIsDropped) {
  // Root's socket file, but the process answering on it runs as nobody (as
  // after a swap between the sender's check and its connect).
  const int mailbox = BindAt(path_);
  ASSERT_GE(mailbox, 0);
  int answered[2];
  ASSERT_EQ(::pipe(answered), 0);
  const pid_t fake = ForkAsNobody([&] {
    char buf[64];
    sockaddr_un from{};
    // Answers through the answer channel that came with the message, as a
    // mailbox does (or to the sender's address if none came).
    iovec iov{buf, sizeof(buf)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr m{};
    m.msg_name = &from;
    m.msg_namelen = sizeof(from);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    if (::recvmsg(mailbox, &m, 0) < 0) return 1;
    int channel = -1;
    if (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(&channel, CMSG_DATA(c), sizeof(int));
    char a[reply::kSize];
    reply::Encode(reply::Code::kOk, 777, a);
    const ssize_t sent =
        channel >= 0 ? ::send(channel, a, sizeof(a), 0)
                     : ::sendto(mailbox, a, sizeof(a), 0, reinterpret_cast<sockaddr*>(&from), m.msg_namelen);
    if (sent != sizeof(a)) return 2;
    return ::write(answered[1], "a", 1) == 1 ? 0 : 3;
  });
  ASSERT_GT(fake, 0);
  ::close(mailbox);
  ::close(answered[1]);
  std::unique_ptr<ConfirmedSender> cs;
  Status s = ConfirmedSender::Open(path_, {}).MoveTo(&cs);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(cs->SendAsync("to root's mailbox").ok());
  ASSERT_TRUE(ReadBytes(answered[0], 1));  // the answer is queued now
  EXPECT_EQ(WaitExitCode(fake), 0);
  std::vector<Confirmation> got;
  EXPECT_TRUE(cs->Collect(milliseconds(0), &got).IsTimedOut());
  EXPECT_TRUE(got.empty()) << "confirmed as seq " << got[0].seq;
  EXPECT_EQ(cs->dropped_answers(), 1u);
  EXPECT_EQ(cs->in_flight(), 1u);
  ::close(answered[0]);
}

// A child as nobody binds the mailbox's path and reports (exit code) whether
// anything reached it by the time `done` is readable: 0 nothing, 1 something.
struct Impostor {
  pid_t pid = -1;
  int done[2] = {-1, -1};
  explicit Impostor(const std::string& path) {
    int ready[2];
    if (::pipe(ready) != 0 || ::pipe(done) != 0) return;
    pid = ForkAsNobody([&] {
      const int fd = BindAt(path);
      if (fd < 0 || ::write(ready[1], "r", 1) != 1) return 10;
      char c;
      if (::read(done[0], &c, 1) != 1) return 11;
      char buf[64];
      return ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0 ? 1 : 0;
    });
    ::close(ready[1]);
    if (!ReadBytes(ready[0], 1)) pid = -1;
    ::close(ready[0]);
  }
  // The child's verdict: 0 if nothing reached it.
  int Finish() {
    (void)!::write(done[1], "d", 1);
    ::close(done[0]);
    ::close(done[1]);
    return WaitExitCode(pid);
  }
};

TEST_F(SenderTrustTest, MailboxPathBoundByAnotherUidIsRefusedNamingTheUidAndNothingIsSent) {
  Impostor impostor(path_);
  ASSERT_GT(impostor.pid, 0);
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  ASSERT_EQ(st.st_uid, kNobody);
  std::unique_ptr<ConfirmedSender> cs;
  Status s = ConfirmedSender::Open(path_, {}).MoveTo(&cs);
  EXPECT_EQ(s.code(), Status::Code::kDenied) << s.ToString();
  EXPECT_NE(s.message().find("owned by uid 65534"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("root, uid 0"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("expected_uid"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("nothing was sent"), std::string::npos) << s.message();
  if (s.ok()) {
    uint64_t seq = 0;
    (void)cs->SendConfirmed("secret", milliseconds(100)).MoveTo(&seq);
  }
  EXPECT_EQ(impostor.Finish(), 0) << "a message reached the impostor";
}

TEST_F(SenderTrustTest, MqtoolSendConfirmToAPathBoundByAnotherUidFailsAndSendsNothing) {
  const std::string mqtool = test::MqtoolPath();
  if (mqtool.empty()) GTEST_SKIP() << "mqtool is not built";
  Impostor impostor(path_);
  ASSERT_GT(impostor.pid, 0);
  test::ProcResult r = test::RunProcess({mqtool, "send", path_, "secret", "--confirm", "--timeout", "1"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("owned by uid 65534"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--expect-uid 65534"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(impostor.Finish(), 0) << "a message reached the impostor";
}

TEST_F(SenderTrustTest, MailboxOfAnotherUidIsUsedWhenItIsTheExpectedUid) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const std::string path = path_;
  const pid_t mailbox = ForkAsNobody([&] {
    const int fd = BindAt(path);
    if (fd < 0 || ::write(ready[1], "r", 1) != 1) return 10;
    char buf[64];
    sockaddr_un from{};
    socklen_t len = sizeof(from);
    if (::recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len) != 5) return 11;
    char a[reply::kSize];
    reply::Encode(reply::Code::kOk, 5, a);
    return ::sendto(fd, a, sizeof(a), 0, reinterpret_cast<sockaddr*>(&from), len) == sizeof(a) ? 0 : 12;
  });
  ASSERT_GT(mailbox, 0);
  ::close(ready[1]);
  ASSERT_TRUE(ReadBytes(ready[0], 1));
  ConfirmedSenderOptions o;
  o.expected_uid = kNobody;
  std::unique_ptr<ConfirmedSender> cs;
  Status s = ConfirmedSender::Open(path_, o).MoveTo(&cs);
  ASSERT_TRUE(s.ok()) << s.ToString();
  uint64_t seq = 0;
  s = cs->SendConfirmed("hello", seconds(10)).MoveTo(&seq);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(seq, 5u);
  EXPECT_EQ(cs->dropped_answers(), 0u);
  EXPECT_EQ(WaitExitCode(mailbox), 0);
  ::close(ready[0]);
}

TEST_F(SenderTrustTest, MqtoolSendConfirmWithRetryPrintsNoForgedSeqWhileItWaitsForTheMailbox) {
  const std::string mqtool = test::MqtoolPath();
  if (mqtool.empty()) GTEST_SKIP() << "mqtool is not built";
  // The reproduction: root's `mqtool send SOCK hello --confirm
  // --retry` waits for a mailbox while nobody sends forged answers.
  const std::string out = dir_.File("out");
  const pid_t send = test::SpawnProcess(
      {mqtool, "send", path_, "hello", "--confirm", "--retry", "30", "--timeout", "1"}, out);
  ASSERT_GT(send, 0);
  int scans[2], stop[2];
  ASSERT_EQ(::pipe(scans), 0);
  ASSERT_EQ(::pipe(stop), 0);
  const pid_t forger = ForkAsNobody([&] { return Forger(send, scans[1], stop[0]); });
  ASSERT_GT(forger, 0);
  ::close(scans[1]);
  EXPECT_TRUE(ReadBytes(scans[0], 50));
  const int mailbox = BindAt(path_);  // a mailbox that never answers
  ASSERT_GE(mailbox, 0);
  EXPECT_EQ(test::WaitProcess(send), 1) << "mqtool send should time out waiting for the answer";
  EXPECT_EQ(test::ReadFileOrDie(out), "");
  ASSERT_EQ(::write(stop[1], "x", 1), 1);
  EXPECT_EQ(WaitExitCode(forger), 0) << "forged datagrams the kernel queued for mqtool";
  ::close(mailbox);
  ::close(scans[0]);
  ::close(stop[0]);
  ::close(stop[1]);
}

}  // namespace
}  // namespace mq
