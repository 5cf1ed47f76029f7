// The no-channel notice (docs/mailbox.md, "After a restart: the no-channel
// notice"): a mailbox that holds no answer channel for a confirming sender
// (a supervised actor restarted on the same socket) tells it so, within
// bounds, and the sender reports what was in flight at once and reconnects,
// instead of waiting for its reply_timeout. Only a trusted uid's notice
// counts.
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"
#include "reply_format.h"
#include "reply_outbox.h"
#include "test_util.h"

namespace mq {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

sockaddr_un AbstractAddress(const std::string& name, socklen_t* len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, name.data(), name.size());  // name starts with '\0'
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  return a;
}

// A datagram socket bound at the abstract `name`, or -1.
int BindAbstract(const std::string& name) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  socklen_t len;
  sockaddr_un a = AbstractAddress(name, &len);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) return -1;
  return fd;
}

// The answers (code, seq) waiting at fd now, one per 16 bytes.
std::vector<reply::Answer> Waiting(int fd) {
  std::vector<reply::Answer> got;
  char b[reply::kSize * reply::kMaxBatch];
  ssize_t n;
  while ((n = ::recv(fd, b, sizeof(b), MSG_DONTWAIT)) >= 0)
    if (!reply::DecodeBatch(std::string_view(b, static_cast<size_t>(n)), &got))
      got.push_back(reply::Answer{reply::Code::kStoreError, ~uint64_t{0}});  // undecodable: shows as such
  return got;
}

// --- The mailbox side: the outbox ---------------------------------------

class NoticeOutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string tag = std::to_string(::getpid());
    mailbox_ = BindAbstract(std::string("\0mq-test-notice-mailbox/", 24) + tag);
    ASSERT_GE(mailbox_, 0);
    // A sender's reply socket, connected to the mailbox, then bound under
    // the channel prefix (as ConfirmedSender does).
    reply_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len;
    sockaddr_un m = AbstractAddress(std::string("\0mq-test-notice-mailbox/", 24) + tag, &len);
    ASSERT_EQ(::connect(reply_, reinterpret_cast<sockaddr*>(&m), len), 0);
    reply_name_ = std::string(reply::kChannelPrefix) + "notice-test/" + tag;
    sockaddr_un r = AbstractAddress(reply_name_, &len);
    ASSERT_EQ(::bind(reply_, reinterpret_cast<sockaddr*>(&r), len), 0);
  }
  void TearDown() override {
    ::close(mailbox_);
    ::close(reply_);
  }
  PendingReply Answer(uint64_t seq, int channel = -1) {
    PendingReply p;
    p.addr = AbstractAddress(reply_name_, &p.addr_len);
    p.seq = seq;
    p.channel = channel;
    return p;
  }
  int mailbox_ = -1, reply_ = -1;
  std::string reply_name_;
  std::atomic<uint64_t> sent_{0}, dropped_{0};
};

TEST_F(NoticeOutboxTest, AChannelAddressWithoutAChannelGetsOneNoChannelNoticeAndNoAnswer) {
  ReplyOutbox out(mailbox_, &sent_, &dropped_);
  out.Send({Answer(1), Answer(2)});
  out.Send({Answer(3)});  // within the second: no second notice
  const std::vector<reply::Answer> got = Waiting(reply_);
  ASSERT_EQ(got.size(), 1u) << "one notice, and no answer from the mailbox socket";
  EXPECT_EQ(got[0].code, reply::Code::kNoChannel);
  EXPECT_EQ(got[0].seq, 0u);
  EXPECT_EQ(out.notices(), 1u);
  EXPECT_EQ(sent_.load(), 0u);
  EXPECT_EQ(dropped_.load(), 3u) << "the answers themselves are still dropped and counted";
}

TEST_F(NoticeOutboxTest, AnAddressWithItsChannelGetsAnswersAndNoNotice) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair), 0);
  ReplyOutbox out(mailbox_, &sent_, &dropped_);
  out.Send({Answer(1, pair[1]), Answer(2)});
  EXPECT_TRUE(Waiting(reply_).empty());
  const std::vector<reply::Answer> got = Waiting(pair[0]);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 1u);
  EXPECT_EQ(got[1].seq, 2u);
  EXPECT_EQ(out.notices(), 0u);
  ::close(pair[0]);
}

TEST_F(NoticeOutboxTest, NoNoticeWhileTheMailboxSocketHoldsMoreThanItsLimitUnread) {
  // Fill what the mailbox socket has sent and nobody read past the limit:
  // answers to an older sender (no channel) that does not read.
  const std::string tag = std::to_string(::getpid());
  int old_sender = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  socklen_t len;
  sockaddr_un m = AbstractAddress(std::string("\0mq-test-notice-mailbox/", 24) + tag, &len);
  ASSERT_EQ(::connect(old_sender, reinterpret_cast<sockaddr*>(&m), len), 0);
  sockaddr_un o = AbstractAddress(std::string(reply::kAddressPrefix) + "notice-test-old/" + tag, &len);
  ASSERT_EQ(::bind(old_sender, reinterpret_cast<sockaddr*>(&o), len), 0);
  int sndbuf = 8 << 20;
  (void)::setsockopt(mailbox_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
  char a[reply::kSize];
  reply::Encode(reply::Code::kOk, 1, a);
  int queued = 0;
  for (int i = 0; i < 100000 && queued <= ReplyOutbox::kNoticeOutqLimit; ++i) {
    ASSERT_EQ(::sendto(mailbox_, a, sizeof(a), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&o), len), 16)
        << "the send buffer filled before the notice limit: " << std::strerror(errno);
    ASSERT_EQ(::ioctl(mailbox_, SIOCOUTQ, &queued), 0);
  }
  ASSERT_GT(queued, ReplyOutbox::kNoticeOutqLimit);
  ReplyOutbox out(mailbox_, &sent_, &dropped_);
  out.Send({Answer(1)});
  EXPECT_TRUE(Waiting(reply_).empty());
  EXPECT_EQ(out.notices(), 0u);
  ::close(old_sender);
}

// --- The sender side -----------------------------------------------------

class NoticeSenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("sock");
    mailbox_ = test::BindSupervisedSocket(path_);
  }
  void TearDown() override { ::close(mailbox_); }
  // Reads one message at the fake mailbox; its source address in *from, and
  // whether it carried a descriptor (closed).
  bool ReadMessage(sockaddr_un* from, socklen_t* from_len, bool* had_channel) {
    char buf[256];
    iovec iov{buf, sizeof(buf)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(ucred))];
    msghdr m{};
    m.msg_name = from;
    m.msg_namelen = sizeof(*from);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    pollfd p{mailbox_, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1 || ::recvmsg(mailbox_, &m, MSG_DONTWAIT) < 0) return false;
    *from_len = m.msg_namelen;
    *had_channel = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c), sizeof(fd));
        ::close(fd);  // as a restarted mailbox that never saw it: the channel is gone
        *had_channel = true;
      }
    return true;
  }
  test::TempDir dir_;
  std::string path_;
  int mailbox_ = -1;
};

TEST_F(NoticeSenderTest, TrustedNoticeReportsWhatWasInFlightAtOnceAndTheNextSendPassesAFreshChannel) {
  ConfirmedSenderOptions o;
  o.reply_timeout = std::chrono::seconds(60);
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(path_, o).MoveTo(&cs).ok());
  ASSERT_TRUE(cs->SendAsync("a").ok());
  ASSERT_TRUE(cs->SendAsync("b").ok());
  sockaddr_un from{};
  socklen_t from_len = 0;
  bool had_channel = false;
  ASSERT_TRUE(ReadMessage(&from, &from_len, &had_channel));
  EXPECT_TRUE(had_channel);
  ASSERT_TRUE(ReadMessage(&from, &from_len, &had_channel));
  const std::string first_name = cs->reply_name();
  char n[reply::kSize];
  reply::Encode(reply::Code::kNoChannel, 0, n);
  ASSERT_EQ(::sendto(mailbox_, n, sizeof(n), 0, reinterpret_cast<sockaddr*>(&from), from_len), 16);

  std::vector<Confirmation> got;
  const Clock::time_point t0 = Clock::now();
  ASSERT_TRUE(cs->Collect(milliseconds(5000), &got).ok());
  EXPECT_LT(Clock::now() - t0, milliseconds(5000));
  ASSERT_EQ(got.size(), 2u);
  for (const Confirmation& c : got) {
    EXPECT_EQ(c.status.code(), Status::Code::kIOError) << c.status.ToString();
    EXPECT_EQ(c.status.sys_errno(), ECONNRESET);
  }
  EXPECT_EQ(cs->in_flight(), 0u);
  EXPECT_EQ(cs->dropped_answers(), 0u);
  // Reconnected: a new name, and the first message carries a new channel.
  ASSERT_TRUE(cs->SendAsync("a again").ok());
  ASSERT_TRUE(ReadMessage(&from, &from_len, &had_channel));
  EXPECT_TRUE(had_channel);
  EXPECT_NE(cs->reply_name(), first_name);
}

TEST_F(NoticeSenderTest, ForgedNoticeFromAProcessOfAnotherUidOnTheMailboxSocketFailsNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as nobody";
  // Root's socket file, but the process holding its socket (and sending the
  // notice) runs as nobody: as after a swap, or a leaked descriptor.
  ConfirmedSenderOptions o;
  o.reply_timeout = std::chrono::seconds(60);
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(path_, o).MoveTo(&cs).ok());
  ASSERT_TRUE(cs->SendAsync("a").ok());
  const std::string name = cs->reply_name();
  const int mailbox = mailbox_;
  const pid_t forger = test::ForkAsNobody([&] {
    char n[reply::kSize];
    reply::Encode(reply::Code::kNoChannel, 0, n);
    socklen_t len;
    sockaddr_un a = AbstractAddress(std::string(1, '\0') + name, &len);
    return ::sendto(mailbox, n, sizeof(n), 0, reinterpret_cast<sockaddr*>(&a), len) == 16 ? 0 : 1;
  });
  ASSERT_EQ(test::WaitExitCode(forger), 0) << "the forged notice did not reach the sender";
  std::vector<Confirmation> got;
  EXPECT_TRUE(cs->Collect(milliseconds(0), &got).IsTimedOut());
  EXPECT_TRUE(got.empty()) << got[0].status.ToString();
  EXPECT_EQ(cs->in_flight(), 1u) << "a forged notice must not report the message";
  EXPECT_EQ(cs->dropped_answers(), 1u);
  EXPECT_EQ(cs->reply_name(), name) << "a forged notice must not make the sender reconnect";
}

// --- End to end: a supervised actor killed mid-stream --------------------

// An actor in a child process: adopts the supervisor's socket (a dup of
// `owner`) and stores what comes, until killed.
pid_t StartActor(const MailboxOptions& base, int owner) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  MailboxOptions o = base;
  o.inherit_socket = ::dup(owner);
  std::unique_ptr<Mailbox> mb;
  if (!Mailbox::Open(o).MoveTo(&mb).ok()) ::_exit(1);
  while (true) ::pause();
}

TEST(RestartNoticeTest, ConfirmedSenderGetsEveryMessageConfirmedAcrossActorKillsWithoutWaitingForItsReplyTimeout) {
  test::TempDir dir;
  MailboxOptions opt = test::OptionsIn(dir);
  const int owner = test::BindSupervisedSocket(opt.socket_path);
  ASSERT_GE(owner, 0);
  constexpr size_t kMessages = 3000;
  constexpr int kKills = 3;
  // Large, so that "no wait reached it" is not a timing assertion: a stall
  // that waits for the timeout is the bug, anything below is not.
  constexpr milliseconds kReplyTimeout(20000);
  ConfirmedSenderOptions so;
  so.window = 32;
  so.reply_timeout = kReplyTimeout;
  pid_t actor = StartActor(opt, owner);
  ASSERT_GT(actor, 0);
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt.socket_path, so).MoveTo(&cs).ok());

  std::vector<bool> confirmed(kMessages, false);
  std::map<uint64_t, size_t> ticket_to_msg;
  std::vector<size_t> resend;
  size_t next = 0, n_confirmed = 0, timed_out = 0, reported = 0;
  int kills = 0;
  Clock::time_point killed_at{};
  bool stalled = false;
  milliseconds worst_stall(0);
  const Clock::time_point deadline = Clock::now() + 3 * kReplyTimeout;
  std::vector<Confirmation> got;
  while (n_confirmed < kMessages && timed_out == 0 && Clock::now() < deadline) {
    if (kills < kKills && n_confirmed >= (kills + 1) * kMessages / (kKills + 1)) {
      ASSERT_EQ(::kill(actor, SIGKILL), 0);
      int st;
      ASSERT_EQ(::waitpid(actor, &st, 0), actor);
      actor = StartActor(opt, owner);
      ASSERT_GT(actor, 0);
      ++kills;
      killed_at = Clock::now();
      stalled = true;
      if (std::getenv("MQ_TEST_VERBOSE")) std::printf("kill %d at %zu confirmed, %zu in flight, next %zu\n", kills, n_confirmed, cs->in_flight(), next);
    }
    // Keep the window full: resends first, then new messages. (SendAsync
    // reads the answers that wait, so in_flight alone does not bound this.)
    for (size_t k = 0; k < so.window && cs->in_flight() < so.window && (!resend.empty() || next < kMessages);
         ++k) {
      size_t m;
      if (!resend.empty()) {
        m = resend.back();
        resend.pop_back();
      } else {
        m = next++;
      }
      uint64_t ticket = 0;
      Status s = cs->SendAsync("message " + std::to_string(m)).MoveTo(&ticket);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ticket_to_msg[ticket] = m;
    }
    got.clear();
    Status s = cs->Collect(milliseconds(100), &got);
    ASSERT_TRUE(s.ok() || s.IsTimedOut()) << s.ToString();
    for (const Confirmation& c : got) {
      const size_t m = ticket_to_msg.at(c.ticket);
      ticket_to_msg.erase(c.ticket);
      if (c.status.ok()) {
        if (!confirmed[m]) ++n_confirmed;
        confirmed[m] = true;
        if (stalled) {
          worst_stall = std::max(worst_stall, std::chrono::duration_cast<milliseconds>(Clock::now() - killed_at));
          stalled = false;
        }
        continue;
      }
      if (c.status.IsTimedOut()) ++timed_out;
      ++reported;  // "may or may not have been stored": send it again
      if (!confirmed[m]) resend.push_back(m);
    }
  }
  ::kill(actor, SIGKILL);
  ::waitpid(actor, nullptr, 0);
  ::close(owner);
  std::printf("kills %d, messages %zu, confirmed %zu, reported and resent %zu, worst kill-to-confirmed %lld ms\n",
              kills, kMessages, n_confirmed, reported, static_cast<long long>(worst_stall.count()));
  EXPECT_EQ(timed_out, 0u) << "a confirmation waited for the reply_timeout of " << kReplyTimeout.count() << " ms";
  EXPECT_EQ(kills, kKills);
  EXPECT_EQ(n_confirmed, kMessages);
  EXPECT_LT(worst_stall, kReplyTimeout);
}

}  // namespace
}  // namespace mq
