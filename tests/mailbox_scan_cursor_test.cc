// Mailbox::ScanCursor: a caller that looks again and again with the same
// predicate (the Python binding's receive, which waits in 50 ms slices; a
// batch of receives) has each pending message checked once, not once per
// look; a Release sends the cursor back to the oldest message.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"

namespace mq {
namespace {

using test::OpenMailboxOrDie;

class MailboxScanCursorTest : public ::testing::Test {
 protected:
  void SetUp() override { opt_ = test::OptionsIn(dir_); }
  void SendAllAndWait(Mailbox* mb, const std::vector<std::string>& payloads) {
    // The store's last seq, not Stats().stored: that counts a batch before
    // its append makes it receivable.
    const uint64_t want = mb->store()->Stats().last_seq + payloads.size();
    SendOptions o;
    o.retry_for = std::chrono::seconds(20);  // the socket queues a few datagrams at a time
    for (const std::string& p : payloads) {
      Status s = Send(opt_.socket_path, p, o);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    ASSERT_TRUE(test::WaitUntil([&] { return mb->store()->Stats().last_seq >= want; }))
        << "last seq " << mb->store()->Stats().last_seq;
  }
  // A predicate matching payloads that start with `want`, counting its calls.
  Pattern Counting(const std::string& want) {
    return Pattern::Predicate([this, want](std::string_view p) {
      ++calls_[std::string(p)];
      return p.starts_with(want);
    });
  }
  int MaxCalls() const {
    int m = 0;
    for (const auto& [p, n] : calls_) m = std::max(m, n);
    return m;
  }
  test::TempDir dir_;
  MailboxOptions opt_;
  std::map<std::string, int> calls_;
};

TEST_F(MailboxScanCursorTest, RepeatedLooksWithOneCursorCheckEachPendingMessageOnce) {
  auto mb = OpenMailboxOrDie(opt_);
  std::vector<std::string> backlog;
  for (int i = 0; i < 100; ++i) backlog.push_back("x" + std::to_string(i));
  SendAllAndWait(mb.get(), backlog);
  const Pattern p = Counting("a");
  Mailbox::ScanCursor cursor;
  Message m;
  for (int look = 0; look < 5; ++look) EXPECT_TRUE(mb->Receive(p, Mailbox::kPoll, &m, &cursor).IsTimedOut());
  EXPECT_EQ(calls_.size(), 100u);
  EXPECT_EQ(MaxCalls(), 1);
  // A new message: the next look checks it alone.
  SendAllAndWait(mb.get(), {"a1"});
  ASSERT_TRUE(mb->Receive(p, Mailbox::kPoll, &m, &cursor).ok());
  EXPECT_EQ(m.payload, "a1");
  EXPECT_EQ(calls_.size(), 101u);
  EXPECT_EQ(MaxCalls(), 1);
}

TEST_F(MailboxScanCursorTest, ABatchOfTakesGoesOnFromTheLastMatch) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAllAndWait(mb.get(), {"x0", "a0", "x1", "a1", "x2", "a2"});
  const Pattern p = Counting("a");
  Mailbox::ScanCursor cursor;
  std::vector<std::string> got;
  Message m;
  while (mb->Take(p, Mailbox::kPoll, &m, &cursor).ok()) got.push_back(m.payload);
  EXPECT_EQ(got, (std::vector<std::string>{"a0", "a1", "a2"}));
  EXPECT_EQ(calls_.size(), 6u);
  EXPECT_EQ(MaxCalls(), 1);
}

TEST_F(MailboxScanCursorTest, AReleaseSendsTheCursorBackToTheOldest) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAllAndWait(mb.get(), {"x0", "b0", "x1"});
  Message taken;
  ASSERT_TRUE(mb->Take(Pattern::Prefix("b"), Mailbox::kPoll, &taken).ok());
  const Pattern p = Counting("b");
  Mailbox::ScanCursor cursor;
  Message m;
  EXPECT_TRUE(mb->Receive(p, Mailbox::kPoll, &m, &cursor).IsTimedOut());  // past b0's place
  ASSERT_TRUE(mb->Release(taken.seq).ok());
  ASSERT_TRUE(mb->Receive(p, Mailbox::kPoll, &m, &cursor).ok());
  EXPECT_EQ(m.payload, "b0");
}

TEST_F(MailboxScanCursorTest, WithoutACursorEveryLookStartsAtTheOldest) {
  auto mb = OpenMailboxOrDie(opt_);
  SendAllAndWait(mb.get(), {"x0", "x1"});
  const Pattern p = Counting("a");
  Message m;
  for (int look = 0; look < 3; ++look) EXPECT_TRUE(mb->Receive(p, Mailbox::kPoll, &m).IsTimedOut());
  EXPECT_EQ(calls_["x0"], 3);
  EXPECT_EQ(calls_["x1"], 3);
}

}  // namespace
}  // namespace mq
