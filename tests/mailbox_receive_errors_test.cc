// Receive calls that cannot succeed say why at once, with their own code
// (mq/mailbox.h): a predicate pattern without a callable is
// kInvalidArgument (not a wait until the timeout), and every call on a
// closed mailbox is kClosed.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"

namespace mq {
namespace {

using std::chrono::seconds;

using MailboxReceiveErrorsTest = test::MailboxTest;

TEST_F(MailboxReceiveErrorsTest, PredicateWithoutACallableIsInvalidArgumentNotATimeout) {
  auto mb = test::OpenMailboxOrDie(opt_);
  ASSERT_TRUE(Send(opt_.socket_path, "pending").ok());
  ASSERT_TRUE(test::WaitUntil([&] { return mb->Stats().stored == 1; }));
  Message m;
  // A timeout long enough that a wait would show as kTimedOut, short enough
  // that the old behaviour fails the test in seconds.
  Status r = mb->Receive(Pattern::Predicate(nullptr), seconds(2), &m);
  EXPECT_EQ(r.code(), Status::Code::kInvalidArgument) << r.ToString();
  EXPECT_NE(r.ToString().find("callable"), std::string::npos) << r.ToString();
  Status t = mb->Take(Pattern::Predicate(Pattern::Fn{}), seconds(2), &m);
  EXPECT_EQ(t.code(), Status::Code::kInvalidArgument) << t.ToString();
  // Nothing was consumed or taken.
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), 1), (std::vector<std::string>{"pending"}));
}

TEST_F(MailboxReceiveErrorsTest, ReceiveTakeAckAndReleaseOnAClosedMailboxReturnClosed) {
  auto mb = test::OpenMailboxOrDie(opt_);
  ASSERT_TRUE(Send(opt_.socket_path, "a").ok());
  ASSERT_TRUE(Send(opt_.socket_path, "b").ok());
  Message taken;
  ASSERT_TRUE(mb->Take(Pattern::Any(), seconds(5), &taken).ok());
  ASSERT_TRUE(test::WaitUntil([&] { return mb->Stats().stored == 2; }));
  ASSERT_TRUE(mb->Close().ok());
  Message m;
  EXPECT_EQ(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).code(), Status::Code::kClosed);
  EXPECT_EQ(mb->Receive(Pattern::Prefix("b"), seconds(1), &m).code(), Status::Code::kClosed);
  EXPECT_EQ(mb->Take(Pattern::Any(), seconds(1), &m).code(), Status::Code::kClosed);
  EXPECT_EQ(mb->Ack(taken.seq).code(), Status::Code::kClosed);
  EXPECT_EQ(mb->Release(taken.seq).code(), Status::Code::kClosed);
}

TEST_F(MailboxReceiveErrorsTest, ReceiverBlockedWhenTheMailboxClosesReturnsClosed) {
  auto mb = test::OpenMailboxOrDie(opt_);
  Status got;
  std::thread receiver([&] {
    Message m;
    got = mb->Receive(Pattern::Prefix("never"), Mailbox::kForever, &m);
  });
  // Close waits for the receiver to leave; the receiver may enter before or
  // after Close starts: either way it returns kClosed.
  ASSERT_TRUE(mb->Close().ok());
  receiver.join();
  EXPECT_EQ(got.code(), Status::Code::kClosed) << got.ToString();
}

}  // namespace
}  // namespace mq
