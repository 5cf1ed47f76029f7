// The outbox's answer channels (docs/mailbox.md, "Answer channels"): what a
// sender passes is kept only if it is one end of a socketpair, a full
// channel holds up only its own address, and a channel address without a
// channel is never answered from the mailbox socket.
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "reply_format.h"
#include "reply_outbox.h"

namespace mq {
namespace {

// An address under the channel prefix (nothing needs to be bound at it).
PendingReply ChannelAnswer(const std::string& tag, uint64_t seq, int channel = -1) {
  PendingReply r;
  const std::string name = std::string(reply::kChannelPrefix) + "test/" + std::to_string(::getpid()) + "/" + tag;
  r.addr.sun_family = AF_UNIX;
  std::memcpy(r.addr.sun_path, name.data(), name.size());
  r.addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  r.seq = seq;
  r.channel = channel;
  return r;
}

// Answers (sequence numbers) waiting at fd now.
std::vector<uint64_t> Drain(int fd) {
  std::vector<uint64_t> got;
  char b[reply::kSize * reply::kMaxBatch];
  ssize_t n;
  while ((n = ::recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0) {
    std::vector<reply::Answer> as;
    if (!reply::DecodeBatch(std::string_view(b, static_cast<size_t>(n)), &as)) as.push_back(reply::Answer{});
    for (const reply::Answer& a : as) got.push_back(a.seq);
  }
  return got;
}

int QueuedBytes(int fd) {
  int v = -1;
  return ::ioctl(fd, SIOCOUTQ, &v) == 0 ? v : -1;
}

struct Pair {
  Pair() { ok = ::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fd) == 0; }
  ~Pair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  int Give() {  // the end the outbox takes over
    const int f = fd[1];
    fd[1] = -1;
    return f;
  }
  int fd[2] = {-1, -1};
  bool ok = false;
};

class AnswerChannelTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(mailbox_, 0); }
  void TearDown() override { ::close(mailbox_); }
  int mailbox_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);  // stands in for the mailbox socket
  std::atomic<uint64_t> sent_{0}, dropped_{0};
};

TEST_F(AnswerChannelTest, AnswersGoThroughTheChannelThatCameWithTheFirstMessage) {
  Pair p;
  ASSERT_TRUE(p.ok);
  ReplyOutbox out(mailbox_, &sent_, &dropped_);
  out.Send({ChannelAnswer("a", 1, p.Give()), ChannelAnswer("a", 2)});
  out.Send({ChannelAnswer("a", 3)});
  EXPECT_EQ(Drain(p.fd[0]), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(sent_.load(), 3u);
  EXPECT_EQ(dropped_.load(), 0u);
  EXPECT_EQ(out.channels(), 1u);
}

TEST_F(AnswerChannelTest, AChannelAddressWithoutAChannelIsNeverAnsweredFromTheMailboxSocket) {
  ReplyOutbox out(mailbox_, &sent_, &dropped_);
  out.Send({ChannelAnswer("none", 1), ChannelAnswer("none", 2)});
  EXPECT_EQ(sent_.load(), 0u);
  EXPECT_EQ(dropped_.load(), 2u);
  EXPECT_EQ(QueuedBytes(mailbox_), 0);
  EXPECT_FALSE(out.HasBacklog());
}

TEST_F(AnswerChannelTest, ASocketConnectedToANamedSocketIsRefusedAsAChannel) {
  // A sender passes a socket connected to a third party's (unconnected,
  // named) socket, to aim the mailbox's answers at it.
  const int victim = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string name = std::string("\0answer-channel-victim/", 23) + std::to_string(::getpid());
  std::memcpy(a.sun_path, name.data(), name.size());
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  ASSERT_EQ(::bind(victim, reinterpret_cast<sockaddr*>(&a), len), 0);
  const int aimed = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(aimed, reinterpret_cast<sockaddr*>(&a), len), 0);
  int sp[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);  // not a datagram socket
  ReplyOutbox out(mailbox_, &sent_, &dropped_);
  out.Send({ChannelAnswer("aimed", 1, aimed)});
  out.Send({ChannelAnswer("stream", 1, sp[1])});
  EXPECT_EQ(out.channels(), 0u);
  EXPECT_TRUE(Drain(victim).empty()) << "the answer reached the third party";
  EXPECT_EQ(dropped_.load(), 2u);
  EXPECT_EQ(sent_.load(), 0u);
  ::close(victim);
  ::close(sp[0]);
}

TEST_F(AnswerChannelTest, AFullChannelHoldsUpOnlyItsOwnAddressAndNothingIsChargedToTheMailboxSocket) {
  Pair stuck, fine;
  ASSERT_TRUE(stuck.ok && fine.ok);
  ReplyOutbox out(mailbox_, &sent_, &dropped_);
  out.Send({ChannelAnswer("stuck", 1, stuck.Give()), ChannelAnswer("fine", 1, fine.Give())});
  // One answer per Send: one datagram each, until the stuck channel is full.
  uint64_t seq = 2;
  for (; seq < 5000 && !out.HasBacklog(); ++seq) out.Send({ChannelAnswer("stuck", seq)});
  ASSERT_TRUE(out.HasBacklog()) << "the stuck channel never filled";
  out.Send({ChannelAnswer("fine", 2), ChannelAnswer("stuck", seq)});
  out.Retry(false);
  EXPECT_EQ(Drain(fine.fd[0]), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(QueuedBytes(mailbox_), 0);
  // Once the stuck sender reads, its backlog follows in order.
  const std::vector<uint64_t> first = Drain(stuck.fd[0]);
  out.Retry(false);
  std::vector<uint64_t> all = first;
  for (uint64_t s : Drain(stuck.fd[0])) all.push_back(s);
  std::vector<uint64_t> want;
  for (uint64_t s = 1; s <= seq; ++s) want.push_back(s);
  EXPECT_EQ(all, want);
  EXPECT_EQ(dropped_.load(), 0u);
}

TEST_F(AnswerChannelTest, AStuckChannelIsDroppedAndCountedWhenTheOutboxGivesUp) {
  Pair stuck;
  ASSERT_TRUE(stuck.ok);
  ReplyOutbox out(mailbox_, &sent_, &dropped_, std::chrono::milliseconds(0));
  out.Send({ChannelAnswer("stuck", 1, stuck.Give())});
  uint64_t seq = 2;
  for (; seq < 5000 && !out.HasBacklog(); ++seq) out.Send({ChannelAnswer("stuck", seq)});
  ASSERT_TRUE(out.HasBacklog());
  out.Retry(false);  // give_up 0: the backlog is dropped, the channel closed
  EXPECT_FALSE(out.HasBacklog());
  EXPECT_EQ(out.channels(), 0u);
  EXPECT_EQ(sent_.load() + dropped_.load(), seq - 1);
  EXPECT_GE(dropped_.load(), 1u);
  out.Send({ChannelAnswer("stuck", seq)});  // later answers: dropped too
  EXPECT_EQ(sent_.load() + dropped_.load(), seq);
}

TEST_F(AnswerChannelTest, PastTheChannelLimitTheLeastRecentlyUsedChannelIsClosedAndItsAnswersDropped) {
  // The limit follows RLIMIT_NOFILE (a quarter, at least 16): with 64
  // descriptors, 16 channels.
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  ReplyOutbox out(mailbox_, &sent_, &dropped_);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_EQ(out.max_channels(), 16u);
  std::vector<Pair> pairs(17);
  for (size_t i = 0; i < 16; ++i) out.Send({ChannelAnswer("c" + std::to_string(i), 1, pairs[i].Give())});
  out.Send({ChannelAnswer("c0", 2)});  // c0 is used again: c1 is now the least recently used
  out.Send({ChannelAnswer("c16", 1, pairs[16].Give())});
  EXPECT_EQ(out.channels(), 16u);
  out.Send({ChannelAnswer("c1", 2), ChannelAnswer("c0", 3), ChannelAnswer("c16", 2)});
  EXPECT_EQ(Drain(pairs[1].fd[0]), (std::vector<uint64_t>{1}));  // its 2 was dropped
  EXPECT_EQ(Drain(pairs[0].fd[0]), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(Drain(pairs[16].fd[0]), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(dropped_.load(), 1u);
}

}  // namespace
}  // namespace mq
