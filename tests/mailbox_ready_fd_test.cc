// Mailbox::ReadyFd (mq/mailbox.h, docs/mailbox.md "Waiting in an event
// loop"): the eventfd becomes readable after an append, a release and Close,
// and a loop that drains it before it looks misses no message.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <thread>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"

namespace mq {
namespace {

using std::chrono::seconds;

bool Readable(int fd, int wait_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, wait_ms) == 1 && (p.revents & POLLIN) != 0;
}

void Drain(int fd) {
  uint64_t n = 0;
  (void)!::read(fd, &n, sizeof(n));
}

using MailboxReadyFdTest = test::MailboxTest;

TEST_F(MailboxReadyFdTest, StartsReadableSoThatWhatWasStoredBeforeIsLookedFor) {
  auto mb = test::OpenMailboxOrDie(opt_);
  ASSERT_TRUE(Send(opt_.socket_path, "before").ok());
  ASSERT_TRUE(test::WaitUntil([&] { return mb->Stats().stored == 1; }));
  Result<int> fd = mb->ReadyFd();
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  EXPECT_TRUE(Readable(*fd, 0));
}

TEST_F(MailboxReadyFdTest, BecomesReadableWhenAMessageIsStoredAndNotBefore) {
  auto mb = test::OpenMailboxOrDie(opt_);
  Result<int> fd = mb->ReadyFd();
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  Drain(*fd);  // it starts readable
  EXPECT_FALSE(Readable(*fd, 0));
  ASSERT_TRUE(Send(opt_.socket_path, "hello").ok());
  ASSERT_TRUE(Readable(*fd, 10000));
  Drain(*fd);
  EXPECT_FALSE(Readable(*fd, 0));
  Message m;
  ASSERT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).ok());
  EXPECT_EQ(m.payload, "hello");
  Result<int> again = mb->ReadyFd();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *fd);  // one descriptor per mailbox
}

TEST_F(MailboxReadyFdTest, BecomesReadableWhenATakenMessageIsReleasedAndWhenTheMailboxCloses) {
  auto mb = test::OpenMailboxOrDie(opt_);
  Result<int> fd = mb->ReadyFd();
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(Send(opt_.socket_path, "x").ok());
  Message m;
  ASSERT_TRUE(mb->Take(Pattern::Any(), seconds(10), &m).ok());
  ASSERT_TRUE(test::WaitUntil([&] { return Readable(*fd, 0); }));
  Drain(*fd);
  ASSERT_TRUE(mb->Release(m.seq).ok());
  EXPECT_TRUE(Readable(*fd, 0));
  Drain(*fd);
  ASSERT_TRUE(mb->Close().ok());
  EXPECT_TRUE(Readable(*fd, 0));
  // Closed: the descriptor stays open until the mailbox is destroyed, and
  // asking for it now is kClosed.
  EXPECT_EQ(::fcntl(*fd, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(mb->ReadyFd().status().code(), Status::Code::kClosed);
}

TEST_F(MailboxReadyFdTest, ALoopThatDrainsBeforeItLooksReceivesEveryMessageWithoutWaitingOutItsTimeout) {
  auto mb = test::OpenMailboxOrDie(opt_);
  Result<int> fd = mb->ReadyFd();
  ASSERT_TRUE(fd.ok());
  constexpr int kMessages = 2000;
  std::thread sender([&] {
    // The socket holds a few datagrams (net.unix.max_dgram_qlen): a send
    // waits for the ingest thread rather than fail.
    SendOptions so;
    so.retry_for = seconds(10);
    for (int i = 0; i < kMessages; ++i) {
      Status s = Send(opt_.socket_path, std::to_string(i), so);
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (!s.ok()) return;
      if (i % 7 == 0) std::this_thread::yield();
    }
  });
  int got = 0;
  bool lost = false;
  while (got < kMessages) {
    Message m;
    // Look until nothing is found, then wait for the descriptor. A lost
    // wakeup shows as a wait that runs out with messages still to come.
    while (mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).ok()) ++got;
    if (got == kMessages) break;
    if (!Readable(*fd, 10000)) {
      lost = true;
      break;
    }
    Drain(*fd);
  }
  sender.join();
  EXPECT_FALSE(lost) << "waited 10 s on the descriptor with " << got << " of " << kMessages << " received";
  EXPECT_EQ(got, kMessages);
}

}  // namespace
}  // namespace mq
