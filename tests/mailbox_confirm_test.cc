// Confirmed sends: the mailbox answers with the message's sequence number
// once it is durable under its sync policy; answers come in send order.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"
#include "reply_format.h"

namespace mq {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::OpenMailboxOrDie;

class MailboxConfirmTest : public ::testing::TestWithParam<SyncPolicy> {
 protected:
  void SetUp() override {
    opt_ = test::OptionsIn(dir_);
    opt_.store.sync = GetParam();
  }
  test::TempDir dir_;
  MailboxOptions opt_;
};

TEST_P(MailboxConfirmTest, ConfirmedSendReturnsTheSeqOfTheStoredMessageOnceDurable) {
  auto mb = OpenMailboxOrDie(opt_);
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, {}).MoveTo(&cs).ok());
  for (uint64_t want = 1; want <= 3; ++want) {
    uint64_t seq = 0;
    Status s = cs->SendConfirmed("m" + std::to_string(want), seconds(10)).MoveTo(&seq);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(seq, want);
    if (GetParam() != SyncPolicy::kNone) {
      EXPECT_GE(mb->store()->durable_seq(), seq);
    }
  }
  Message m;
  ASSERT_TRUE(mb->Receive(Pattern::Any(), seconds(5), &m).ok());
  EXPECT_EQ(m.seq, 1u);
  EXPECT_EQ(m.payload, "m1");
}

TEST_P(MailboxConfirmTest, PipelinedSendsAreConfirmedInSendOrderWithIncreasingSeqs) {
  auto mb = OpenMailboxOrDie(opt_);
  ConfirmedSenderOptions co;
  co.window = 16;
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, co).MoveTo(&cs).ok());
  constexpr uint64_t kCount = 300;
  std::vector<Confirmation> got;
  for (uint64_t i = 0; i < kCount; ++i) {
    uint64_t ticket = 0;
    Status s = cs->SendAsync("p" + std::to_string(i)).MoveTo(&ticket);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(ticket, i);
    EXPECT_LE(cs->in_flight(), co.window);
  }
  ASSERT_TRUE(cs->Flush(&got).ok());
  ASSERT_EQ(got.size(), kCount);
  for (uint64_t i = 0; i < kCount; ++i) {
    EXPECT_EQ(got[i].ticket, i);
    EXPECT_TRUE(got[i].status.ok()) << got[i].status.ToString();
    EXPECT_EQ(got[i].seq, i + 1);
  }
  if (GetParam() != SyncPolicy::kNone) {
    EXPECT_GE(mb->store()->durable_seq(), kCount);
  }
  // The counter moves just after the answers leave, so the last may lag.
  EXPECT_TRUE(test::WaitUntil([&] { return mb->Stats().confirmations == kCount; }))
      << mb->Stats().confirmations << " answers counted";
}

TEST_P(MailboxConfirmTest, ConcurrentConfirmingSendersEachGetTheirOwnAnswers) {
  auto mb = OpenMailboxOrDie(opt_);
  constexpr int kSenders = 4, kEach = 100;
  std::vector<std::vector<Confirmation>> results(kSenders);
  std::vector<std::thread> threads;
  for (int k = 0; k < kSenders; ++k) {
    threads.emplace_back([&, k] {
      ConfirmedSenderOptions co;
      co.window = 8;
      std::unique_ptr<ConfirmedSender> cs;
      ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, co).MoveTo(&cs).ok());
      for (int i = 0; i < kEach; ++i)
        ASSERT_TRUE(cs->SendAsync(std::to_string(k) + ":" + std::to_string(i)).ok());
      ASSERT_TRUE(cs->Flush(&results[k]).ok());
    });
  }
  for (auto& t : threads) t.join();
  for (int k = 0; k < kSenders; ++k) {
    ASSERT_EQ(results[k].size(), static_cast<size_t>(kEach));
    for (int i = 0; i < kEach; ++i) {
      const Confirmation& c = results[k][i];
      ASSERT_TRUE(c.status.ok()) << c.status.ToString();
      Message m;
      ASSERT_TRUE(mb->store()->Get(c.seq, &m).ok());
      EXPECT_EQ(m.payload, std::to_string(k) + ":" + std::to_string(i));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SyncPolicies, MailboxConfirmTest,
                         ::testing::Values(SyncPolicy::kAlways, SyncPolicy::kBatch, SyncPolicy::kNone),
                         [](const auto& p) { return std::string(SyncPolicyName(p.param)); });

using PlainSenderTest = test::MailboxTest;

TEST_F(PlainSenderTest, PlainSendersGetNoAnswer) {
  auto mb = OpenMailboxOrDie(opt_);
  // A sender bound to its own named socket (as an actor sending from its
  // mailbox would be) must not find confirmations in it.
  std::string own = dir_.File("own");
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, own.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::strncpy(to.sun_path, opt_.socket_path.c_str(), sizeof(to.sun_path) - 1);
  ASSERT_EQ(::sendto(fd, "hi", 2, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 2);
  ASSERT_TRUE(Send(opt_.socket_path, "unbound").ok());
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), 2), (std::vector<std::string>{"hi", "unbound"}));
  char buf[64];
  EXPECT_LT(::recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 0);
  ::close(fd);
  EXPECT_EQ(mb->Stats().confirmations, 0u);
}

TEST_F(PlainSenderTest, ReplyDatagramIsTheDocumentedSixteenBytes) {
  char b[reply::kSize];
  reply::Encode(reply::Code::kOk, 0x0102030405060708ull, b);
  const unsigned char want[16] = {'m', 'q', 'C', 'F', 1, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
  EXPECT_EQ(std::memcmp(b, want, 16), 0);
  reply::Code c;
  uint64_t seq = 0;
  ASSERT_TRUE(reply::Decode(std::string_view(b, 16), &c, &seq));
  EXPECT_EQ(c, reply::Code::kOk);
  EXPECT_EQ(seq, 0x0102030405060708ull);
  b[4] = 2;  // a future version
  EXPECT_FALSE(reply::Decode(std::string_view(b, 16), &c, &seq));
  EXPECT_FALSE(reply::Decode(std::string_view(b, 15), &c, &seq));
}

TEST_F(PlainSenderTest, ConfirmedSendWithoutAMailboxFailsNamingThePath) {
  std::unique_ptr<ConfirmedSender> cs;
  Status s = ConfirmedSender::Open(opt_.socket_path, {}).MoveTo(&cs);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find(opt_.socket_path), std::string::npos);
}

TEST_F(PlainSenderTest, ConfirmedSenderFollowsAMailboxThatRestarted) {
  ConfirmedSenderOptions co;
  co.connect_retry = seconds(5);
  std::unique_ptr<ConfirmedSender> cs;
  uint64_t seq = 0;
  {
    auto mb = OpenMailboxOrDie(opt_);
    ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, co).MoveTo(&cs).ok());
    ASSERT_TRUE(cs->SendConfirmed("before", seconds(5)).MoveTo(&seq).ok());
    EXPECT_EQ(seq, 1u);
  }
  auto mb = OpenMailboxOrDie(opt_);
  Status s = cs->SendConfirmed("after", seconds(5)).MoveTo(&seq);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(seq, 2u);
}

TEST_F(PlainSenderTest, UnansweredConfirmedSendTimesOutAndALaterOneIsNotConfusedByALateAnswer) {
  // A socket that takes datagrams but never answers stands in for a stuck mailbox.
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, opt_.socket_path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, {}).MoveTo(&cs).ok());
  uint64_t seq = 0;
  Status s = cs->SendConfirmed("one", milliseconds(50)).MoveTo(&seq);
  EXPECT_TRUE(s.IsTimedOut()) << s.ToString();
  // Now answer the first message late, from the "mailbox", to its reply socket.
  char buf[64];
  sockaddr_un from{};
  socklen_t from_len = sizeof(from);
  ASSERT_EQ(::recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len), 3);
  char ans[reply::kSize];
  reply::Encode(reply::Code::kOk, 77, ans);
  (void)::sendto(fd, ans, sizeof(ans), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  s = cs->SendConfirmed("two", milliseconds(100)).MoveTo(&seq);
  EXPECT_TRUE(s.IsTimedOut()) << "took the late answer for message one as message two's: " << s.ToString();
  ::close(fd);
}

TEST_F(PlainSenderTest, SendAsyncTicketsStayConsecutiveAcrossSendConfirmedCalls) {
  auto mb = OpenMailboxOrDie(opt_);
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, {}).MoveTo(&cs).ok());
  uint64_t t0 = 99, t1 = 99, seq = 0;
  ASSERT_TRUE(cs->SendAsync("a0").MoveTo(&t0).ok());
  ASSERT_TRUE(cs->SendConfirmed("sync", seconds(10)).MoveTo(&seq).ok());
  EXPECT_EQ(seq, 2u);
  ASSERT_TRUE(cs->SendAsync("a1").MoveTo(&t1).ok());
  EXPECT_EQ(t0, 0u);
  EXPECT_EQ(t1, 1u);
  std::vector<Confirmation> got;
  ASSERT_TRUE(cs->Flush(&got).ok());
  ASSERT_EQ(got.size(), 2u);  // SendConfirmed's answer is not Collect's
  EXPECT_EQ(got[0].ticket, 0u);
  EXPECT_EQ(got[0].seq, 1u);
  EXPECT_EQ(got[1].ticket, 1u);
  EXPECT_EQ(got[1].seq, 3u);
}

}  // namespace
}  // namespace mq
