// Selective receive through a real socket: Erlang's order, key and predicate
// patterns, timeouts, the two consumption modes, and restarts.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"

namespace mq {
namespace {

using std::chrono::milliseconds;
using test::OpenMailboxOrDie;
using test::ReceivePayloads;

class MailboxReceiveTest : public ::testing::Test {
 protected:
  void SetUp() override { opt_ = test::OptionsIn(dir_); }
  void SendAll(const std::vector<std::string>& payloads) {
    for (const std::string& p : payloads) {
      Status s = Send(opt_.socket_path, p);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }
  // Waits until the mailbox's new queue holds `n` messages, receivable (the
  // store's last seq; Stats().stored counts a batch before its append).
  void WaitStored(Mailbox* mb, uint64_t n) {
    ASSERT_TRUE(test::WaitUntil([&] { return mb->store()->Stats().last_seq >= n; }))
        << "last seq " << mb->store()->Stats().last_seq;
  }
  test::TempDir dir_;
  MailboxOptions opt_;
};

TEST_F(MailboxReceiveTest, AlternatingPrefixReceivesPickTheOriginalScenarioInPatternOrder) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAll({"a0", "a1", "a2", "b0", "b1", "b2"});
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    auto a = ReceivePayloads(mb.get(), Pattern::Prefix("a"), 1);
    auto b = ReceivePayloads(mb.get(), Pattern::Prefix("b"), 1);
    got.insert(got.end(), a.begin(), a.end());
    got.insert(got.end(), b.begin(), b.end());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"}));
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).IsTimedOut());
}

TEST_F(MailboxReceiveTest, EmptyDatagramIsAnEmptyMessage) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAll({"", "after"});
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 2), (std::vector<std::string>{"", "after"}));
}

TEST_F(MailboxReceiveTest, NonMatchingMessagesStayInArrivalOrder) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAll({"x1", "y1", "x2", "y2", "x3"});
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Prefix("y"), 2), (std::vector<std::string>{"y1", "y2"}));
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 3), (std::vector<std::string>{"x1", "x2", "x3"}));
}

TEST_F(MailboxReceiveTest, KeyPatternReturnsTheOldestMessageWithThatKey) {
  opt_.store.key = KeyExtractor::UntilDelimiter(':');
  auto mb = OpenMailboxOrDie(opt_);
  SendAll({"x:1", "y:1", "x:2", "xx:1", "y:2"});
  WaitStored(mb.get(), 5);
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Key("x"), 2), (std::vector<std::string>{"x:1", "x:2"}));
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Key("x"), Mailbox::kPoll, &m).IsTimedOut());
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Key("y"), 2), (std::vector<std::string>{"y:1", "y:2"}));
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Key("xx"), 1), (std::vector<std::string>{"xx:1"}));
}

TEST_F(MailboxReceiveTest, KeyPatternWithoutKeyExtractorIsAnInvalidArgument) {
  auto mb = OpenMailboxOrDie(opt_);
  Message m;
  Status s = mb->Receive(Pattern::Key("x"), Mailbox::kPoll, &m);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("key extractor"), std::string::npos) << s.message();
}

TEST_F(MailboxReceiveTest, PredicatePatternSeesEachPayload) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAll({"1", "22", "333", "4444"});
  auto even_length = Pattern::Predicate([](std::string_view p) { return p.size() % 2 == 0; });
  EXPECT_EQ(ReceivePayloads(mb.get(), even_length, 2), (std::vector<std::string>{"22", "4444"}));
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 2), (std::vector<std::string>{"1", "333"}));
}

TEST_F(MailboxReceiveTest, APredicatePatternWithoutACallableIsInvalidArgumentAndConsumesNothing) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAll({"a", "b"});
  WaitStored(mb.get(), 2);
  Message m;
  EXPECT_EQ(mb->Receive(Pattern::Predicate(nullptr), Mailbox::kPoll, &m).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 2), (std::vector<std::string>{"a", "b"}));
}

TEST_F(MailboxReceiveTest, WaitingPredicateReceiveChecksOnlyMessagesNewerThanItHasSeen) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAll({"n1", "n2", "n3"});
  WaitStored(mb.get(), 3);
  std::atomic<int> calls{0};
  auto wants_m = Pattern::Predicate([&](std::string_view p) {
    ++calls;
    return p.starts_with("m");
  });
  std::thread late([&] {
    std::this_thread::sleep_for(milliseconds(50));
    (void)Send(opt_.socket_path, "n4");
    std::this_thread::sleep_for(milliseconds(50));
    (void)Send(opt_.socket_path, "m1");
  });
  Message m;
  Status s = mb->Receive(wants_m, std::chrono::seconds(10), &m);
  late.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(m.payload, "m1");
  // n1..n3 once, n4 once, m1 once: nothing already checked is checked again.
  EXPECT_EQ(calls.load(), 5);
}

TEST_F(MailboxReceiveTest, PollOnAnEmptyMailboxTimesOutAtOnce) {
  auto mb = OpenMailboxOrDie(opt_);
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).IsTimedOut());
  EXPECT_TRUE(mb->Receive(Pattern::Any(), milliseconds(20), &m).IsTimedOut());
}

TEST_F(MailboxReceiveTest, ReceiveWithoutTimeoutWaitsForAMessageThatArrivesLater) {
  auto mb = OpenMailboxOrDie(opt_);
  std::thread late([&] {
    std::this_thread::sleep_for(milliseconds(50));
    (void)Send(opt_.socket_path, "later");
  });
  Message m;
  Status s = mb->Receive(Pattern::Any(), Mailbox::kForever, &m);
  late.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(m.payload, "later");
}

TEST_F(MailboxReceiveTest, CloseWakesAReceiverWaitingForever) {
  auto mb = OpenMailboxOrDie(opt_);
  Status s;
  std::thread waiter([&] {
    Message m;
    s = mb->Receive(Pattern::Any(), Mailbox::kForever, &m);
  });
  std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(mb->Close().ok());
  waiter.join();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("closed"), std::string::npos) << s.ToString();
}

TEST_F(MailboxReceiveTest, RestartKeepsEveryPendingMessageAndNeverReturnsConsumedOnes) {
  {
    auto mb = OpenMailboxOrDie(opt_);
    SendAll({"a0", "a1", "a2", "b0", "b1", "b2"});
    EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Prefix("b"), 2), (std::vector<std::string>{"b0", "b1"}));
    EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 1), (std::vector<std::string>{"a0"}));
    WaitStored(mb.get(), 6);
    ASSERT_TRUE(mb->Close().ok());
  }
  auto mb = OpenMailboxOrDie(opt_);
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 3), (std::vector<std::string>{"a1", "a2", "b2"}));
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).IsTimedOut());
}

TEST_F(MailboxReceiveTest, TakenMessageIsHiddenUntilReleased) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAll({"first", "second"});
  Message t;
  ASSERT_TRUE(mb->Take(Pattern::Any(), std::chrono::seconds(5), &t).ok());
  EXPECT_EQ(t.payload, "first");
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 1), (std::vector<std::string>{"second"}));
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).IsTimedOut());
  ASSERT_TRUE(mb->Release(t.seq).ok());
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 1), (std::vector<std::string>{"first"}));
}

TEST_F(MailboxReceiveTest, ReleasedMessageIsSeenByAPredicateReceiveAlreadyWaiting) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAll({"p1", "q1"});
  Message t;
  ASSERT_TRUE(mb->Take(Pattern::Prefix("p"), std::chrono::seconds(5), &t).ok());
  std::thread releaser([&] {
    std::this_thread::sleep_for(milliseconds(50));
    EXPECT_TRUE(mb->Release(t.seq).ok());
  });
  Message m;
  Status s = mb->Receive(Pattern::Prefix("p"), std::chrono::seconds(10), &m);
  releaser.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(m.payload, "p1");
}

TEST_F(MailboxReceiveTest, TakenButUnacknowledgedMessageIsDeliveredAgainAfterRestart) {
  uint64_t acked = 0;
  {
    auto mb = OpenMailboxOrDie(opt_);
    SendAll({"one", "two", "three"});
    Message m;
    ASSERT_TRUE(mb->Take(Pattern::Any(), std::chrono::seconds(5), &m).ok());
    ASSERT_EQ(m.payload, "one");
    acked = m.seq;
    ASSERT_TRUE(mb->Ack(m.seq).ok());
    ASSERT_TRUE(mb->Take(Pattern::Any(), std::chrono::seconds(5), &m).ok());
    ASSERT_EQ(m.payload, "two");  // taken, never acknowledged
    WaitStored(mb.get(), 3);
    ASSERT_TRUE(mb->Close().ok());
  }
  auto mb = OpenMailboxOrDie(opt_);
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 2), (std::vector<std::string>{"two", "three"}));
  EXPECT_TRUE(mb->Ack(acked).IsNotFound());
}

TEST_F(MailboxReceiveTest, MailboxWithoutSocketServesWhatTheQueueHolds) {
  {
    auto mb = OpenMailboxOrDie(opt_);
    SendAll({"kept1", "kept2"});
    WaitStored(mb.get(), 2);
    ASSERT_TRUE(mb->Close().ok());
  }
  MailboxOptions o = opt_;
  o.socket_path.clear();
  auto mb = OpenMailboxOrDie(o);
  EXPECT_FALSE(test::FileExists(opt_.socket_path));
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 2), (std::vector<std::string>{"kept1", "kept2"}));
}

TEST_F(MailboxReceiveTest, ManyMessagesFromSeveralSendersAreAllStoredInEachSendersOrder) {
  auto mb = OpenMailboxOrDie(opt_);
  constexpr int kSenders = 3, kEach = 500;
  std::vector<std::thread> senders;
  for (int k = 0; k < kSenders; ++k) {
    senders.emplace_back([&, k] {
      std::unique_ptr<Sender> s;
      SendOptions so;
      so.retry_for = std::chrono::seconds(10);
      ASSERT_TRUE(Sender::Open(opt_.socket_path, so).MoveTo(&s).ok());
      for (int i = 0; i < kEach; ++i) {
        Status st = s->Send(std::to_string(k) + ":" + std::to_string(i));
        ASSERT_TRUE(st.ok()) << st.ToString();
      }
    });
  }
  std::vector<int> next(kSenders, 0);
  for (int n = 0; n < kSenders * kEach; ++n) {
    Message m;
    Status s = mb->Receive(Pattern::Any(), std::chrono::seconds(10), &m);
    ASSERT_TRUE(s.ok()) << s.ToString() << " after " << n;
    int k = m.payload[0] - '0';
    EXPECT_EQ(m.payload, std::to_string(k) + ":" + std::to_string(next[k]));
    ++next[k];
  }
  for (auto& t : senders) t.join();
  const uint64_t want = kSenders * kEach;
  EXPECT_TRUE(test::WaitUntil([&] { return mb->Stats().stored == want; })) << mb->Stats().stored;
}

}  // namespace
}  // namespace mq
