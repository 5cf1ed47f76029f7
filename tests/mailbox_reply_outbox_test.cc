// Answers to confirming senders: a sender matches answers to its messages by
// order alone, so an answer must never overtake another to the same socket,
// and once one is dropped every later one to that socket must be dropped too.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "reply_format.h"
#include "reply_outbox.h"

namespace mq {
namespace {

using std::chrono::milliseconds;

// A reply socket bound under the prefix the mailbox answers to; `batched`:
// under the prefix that takes several answers per datagram.
struct ReplySocket {
  explicit ReplySocket(const std::string& tag, bool batched = false) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    std::string name(batched ? reply::kBatchPrefix : reply::kAddressPrefix);
    name += "test/" + std::to_string(::getpid()) + "/" + tag;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  }
  ~ReplySocket() {
    if (fd >= 0) ::close(fd);
  }
  PendingReply Answer(uint64_t seq) const { return PendingReply{addr, len, reply::Code::kOk, seq}; }
  // Every answer waiting now, as sequence numbers (a datagram that does not
  // decode counts as answer 0, so a test sees it). *datagrams: how many.
  std::vector<uint64_t> Drain(size_t* datagrams = nullptr) const {
    std::vector<uint64_t> got;
    char b[reply::kSize * reply::kMaxBatch + 1];
    ssize_t n;
    while ((n = ::recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0) {
      if (datagrams != nullptr) ++*datagrams;
      std::vector<reply::Answer> as;
      if (!reply::DecodeBatch(std::string_view(b, static_cast<size_t>(n)), &as)) as.push_back(reply::Answer{});
      for (const reply::Answer& a : as) got.push_back(a.seq);
    }
    return got;
  }
  int fd = -1;
  sockaddr_un addr{};
  socklen_t len = 0;
  bool bound = false;
};

std::vector<uint64_t> Range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v;
  for (uint64_t s = from; s <= to; ++s) v.push_back(s);
  return v;
}

// Reads `s` and retries the outbox until nothing waits in a backlog, then
// reads once more; appends what arrived to *got (and counts datagrams).
void DrainUntilNoBacklog(ReplyOutbox& out, const ReplySocket& s, std::vector<uint64_t>* got,
                         size_t* datagrams = nullptr) {
  for (int round = 0; round < 1000 && out.HasBacklog(); ++round) {
    std::vector<uint64_t> more = s.Drain(datagrams);
    got->insert(got->end(), more.begin(), more.end());
    out.Retry(false);
  }
  std::vector<uint64_t> more = s.Drain(datagrams);
  got->insert(got->end(), more.begin(), more.end());
}

class ReplyOutboxTest : public ::testing::Test {
 protected:
  void SetUp() override { fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); }
  void TearDown() override { ::close(fd_); }
  int fd_ = -1;
  std::atomic<uint64_t> sent_{0}, dropped_{0};
};

TEST_F(ReplyOutboxTest, AnswersBeyondAFullQueueWaitAndArriveInOrderWithoutHoldingUpOthers) {
  ReplySocket slow("slow"), fast("fast");
  ASSERT_TRUE(slow.bound && fast.bound);
  ReplyOutbox out(fd_, &sent_, &dropped_);
  std::vector<PendingReply> rs;
  for (uint64_t s = 1; s <= 200; ++s) rs.push_back(s % 2 ? slow.Answer(s) : fast.Answer(s));
  out.Send(rs);
  EXPECT_TRUE(out.HasBacklog());  // the slow socket's queue holds far fewer than 100
  std::vector<uint64_t> fast_got = fast.Drain();
  std::vector<uint64_t> slow_got;
  for (int round = 0; round < 1000 && out.HasBacklog(); ++round) {
    std::vector<uint64_t> more = slow.Drain();
    slow_got.insert(slow_got.end(), more.begin(), more.end());
    out.Retry(false);
    more = fast.Drain();
    fast_got.insert(fast_got.end(), more.begin(), more.end());
  }
  std::vector<uint64_t> more = slow.Drain();
  slow_got.insert(slow_got.end(), more.begin(), more.end());
  std::vector<uint64_t> want_slow, want_fast;
  for (uint64_t s = 1; s <= 200; ++s) (s % 2 ? want_slow : want_fast).push_back(s);
  EXPECT_EQ(slow_got, want_slow);
  EXPECT_EQ(fast_got, want_fast);
  EXPECT_EQ(sent_.load(), 200u);
  EXPECT_EQ(dropped_.load(), 0u);
}

TEST_F(ReplyOutboxTest, ASocketUnderTheBatchPrefixGetsItsAnswersSixtyFourToADatagramInOrder) {
  ReplySocket batched("batched", true), plain("plain");
  ASSERT_TRUE(batched.bound && plain.bound);
  ReplyOutbox out(fd_, &sent_, &dropped_);
  std::vector<PendingReply> rs;
  for (uint64_t s = 1; s <= 260; ++s) rs.push_back(s % 13 == 0 ? plain.Answer(s) : batched.Answer(s));
  out.Send(rs);
  size_t batched_grams = 0, plain_grams = 0;
  std::vector<uint64_t> got_batched = batched.Drain(&batched_grams);
  std::vector<uint64_t> got_plain = plain.Drain(&plain_grams);
  std::vector<uint64_t> want_batched, want_plain;
  for (uint64_t s = 1; s <= 260; ++s) (s % 13 == 0 ? want_plain : want_batched).push_back(s);
  EXPECT_EQ(got_batched, want_batched);
  EXPECT_EQ(batched_grams, (want_batched.size() + reply::kMaxBatch - 1) / reply::kMaxBatch);
  EXPECT_EQ(plain_grams, got_plain.size());  // one answer per datagram; the kernel's queue fills
  EXPECT_TRUE(out.HasBacklog());
  DrainUntilNoBacklog(out, plain, &got_plain);
  EXPECT_EQ(got_plain, want_plain);
  EXPECT_EQ(sent_.load(), 260u);
}

TEST_F(ReplyOutboxTest, ABatchingSocketWhoseQueueIsFullGetsTheRestInOrderAndInBatches) {
  ReplySocket slow("slow-batched", true);
  ASSERT_TRUE(slow.bound);
  ReplyOutbox out(fd_, &sent_, &dropped_);
  // One Send per answer: each makes a datagram of its own, so the kernel's
  // queue (10 datagrams by default) fills and the rest wait in the backlog.
  for (uint64_t s = 1; s <= 200; ++s) out.Send({slow.Answer(s)});
  ASSERT_TRUE(out.HasBacklog());
  size_t grams = 0;
  std::vector<uint64_t> got = slow.Drain(&grams);
  const size_t before = grams;
  DrainUntilNoBacklog(out, slow, &got, &grams);
  EXPECT_EQ(got, Range(1, 200));
  EXPECT_LE(grams - before, (200 - before) / reply::kMaxBatch + 2) << "the backlog left one answer per datagram";
  EXPECT_EQ(dropped_.load(), 0u);
}

TEST_F(ReplyOutboxTest, NewAnswersQueueBehindAnEarlierBacklogOfTheSameSocket) {
  ReplySocket slow("behind");
  ASSERT_TRUE(slow.bound);
  ReplyOutbox out(fd_, &sent_, &dropped_);
  std::vector<PendingReply> first;
  for (uint64_t s = 1; s <= 50; ++s) first.push_back(slow.Answer(s));
  out.Send(first);
  ASSERT_TRUE(out.HasBacklog());
  std::vector<uint64_t> got = slow.Drain();  // room again, but the backlog has not moved yet
  out.Send({slow.Answer(51)});                 // must not overtake 11..50
  DrainUntilNoBacklog(out, slow, &got);
  EXPECT_EQ(got, Range(1, 51));
}

TEST_F(ReplyOutboxTest, ASocketThatStopsReadingLosesEveryLaterAnswerNotJustOne) {
  ReplySocket stuck("stuck");
  ASSERT_TRUE(stuck.bound);
  ReplyOutbox out(fd_, &sent_, &dropped_, milliseconds(20));
  std::vector<PendingReply> rs;
  for (uint64_t s = 1; s <= 50; ++s) rs.push_back(stuck.Answer(s));
  out.Send(rs);
  ASSERT_TRUE(out.HasBacklog());
  const uint64_t delivered = sent_.load();
  std::this_thread::sleep_for(milliseconds(40));
  out.Retry(false);  // stuck for longer than give_up: the backlog is dropped
  EXPECT_FALSE(out.HasBacklog());
  EXPECT_EQ(dropped_.load(), 50u - delivered);
  // The socket now has room, yet a later answer must not arrive after the gap.
  EXPECT_EQ(stuck.Drain(), Range(1, delivered));
  out.Send({stuck.Answer(51)});
  EXPECT_TRUE(stuck.Drain().empty());
  EXPECT_EQ(dropped_.load(), 51u - delivered);
}

TEST_F(ReplyOutboxTest, ABacklogThatOverflowsClosesItsSocketAndEveryLaterAnswerIsDropped) {
  for (bool batched : {false, true}) {
    SCOPED_TRACE(batched ? "batched" : "plain");
    ReplySocket never(batched ? "never-reads-b" : "never-reads", batched);
    ASSERT_TRUE(never.bound);
    sent_ = 0;
    dropped_ = 0;
    ReplyOutbox out(fd_, &sent_, &dropped_);
    // One Send: the kernel's queue takes a few, the backlog the next
    // kMaxBacklog, and then the socket is closed for the rest of this call
    // too, so no answer is parked (and later sent) after the gap.
    const uint64_t n = ReplyOutbox::kMaxBacklog + 5000;
    std::vector<PendingReply> rs;
    for (uint64_t s = 1; s <= n; ++s) rs.push_back(never.Answer(s));
    out.Send(rs);
    EXPECT_FALSE(out.HasBacklog());
    EXPECT_EQ(sent_.load() + dropped_.load(), n);
    std::vector<uint64_t> got = never.Drain();
    EXPECT_EQ(got, Range(1, got.size()));
    out.Send({never.Answer(n + 1)});
    out.Retry(false);
    EXPECT_TRUE(never.Drain().empty());
    EXPECT_EQ(sent_.load() + dropped_.load(), n + 1);
  }
}

TEST_F(ReplyOutboxTest, AnswersToAClosedReplySocketAreDroppedAndCounted) {
  ReplyOutbox out(fd_, &sent_, &dropped_);
  PendingReply gone;
  {
    ReplySocket s("gone");
    ASSERT_TRUE(s.bound);
    gone = s.Answer(1);
  }
  out.Send({gone, gone});
  EXPECT_FALSE(out.HasBacklog());
  EXPECT_EQ(sent_.load(), 0u);
  EXPECT_EQ(dropped_.load(), 2u);
}

TEST(MailboxReplies, ASenderThatReadsItsAnswersLateStillGetsEveryOneInOrder) {
  test::TempDir dir;
  MailboxOptions opt = test::OptionsIn(dir);
  auto mb = test::OpenMailboxOrDie(opt);
  ReplySocket me("late-reader");
  ASSERT_TRUE(me.bound);
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::strncpy(to.sun_path, opt.socket_path.c_str(), sizeof(to.sun_path) - 1);
  constexpr uint64_t kN = 100;  // ten times the kernel's default queue of 10 datagrams
  for (uint64_t i = 1; i <= kN; ++i) {
    std::string p = "m" + std::to_string(i);
    ASSERT_EQ(::sendto(me.fd, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
              static_cast<ssize_t>(p.size()));
  }
  ASSERT_TRUE(test::WaitUntil([&] { return mb->Stats().stored == kN; }));
  std::this_thread::sleep_for(milliseconds(200));  // longer than the old 50 ms drop
  std::vector<uint64_t> got;
  ASSERT_TRUE(test::WaitUntil([&] {
    std::vector<uint64_t> more = me.Drain();
    got.insert(got.end(), more.begin(), more.end());
    return got.size() >= kN;
  }));
  EXPECT_EQ(got, Range(1, kN));
  EXPECT_EQ(mb->Stats().replies_dropped, 0u);
}

}  // namespace
}  // namespace mq
