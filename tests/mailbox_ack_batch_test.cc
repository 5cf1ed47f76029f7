// Mailbox::AckBatch (issue 21 item 2): taken messages acknowledged together
// with one sync (Store::ConsumeBatch) are consumed for good.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/store.h"

namespace mq {
namespace {

TEST(MailboxAckBatchTest, AckBatchAcknowledgesTakenMessagesSoTheyAreNotRedeliveredAfterReopen) {
  test::TempDir dir;
  MailboxOptions o = test::OptionsIn(dir);
  o.socket_path.clear();
  o.store.sync = SyncPolicy::kAlways;
  {
    StoreOptions so;
    so.sync = SyncPolicy::kNone;
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(o.queue_path, so).MoveTo(&s).ok());
    const std::vector<std::string_view> payloads = {"a", "b", "c", "d"};
    ASSERT_TRUE(s->AppendBatch(payloads).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  {
    auto mb = test::OpenMailboxOrDie(o);
    std::vector<uint64_t> seqs;
    Message m;
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(mb->Take(Pattern::Any(), Mailbox::kPoll, &m).ok());
      seqs.push_back(m.seq);
    }
    size_t done = 0;
    ASSERT_TRUE(mb->AckBatch(seqs, &done).ok());
    EXPECT_EQ(done, 3u);
    ASSERT_TRUE(mb->Close().ok());
  }
  auto mb = test::OpenMailboxOrDie(o);
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), 1), std::vector<std::string>{"d"});
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).IsTimedOut()) << "an acknowledged message came back";
}

}  // namespace
}  // namespace mq
