// Batched consumes (issue 21 item 2): Store::ConsumeBatch makes many
// consumes durable with one sync under sync=always, where Consume syncs
// each; it stops at the first message that is not pending and says how many
// went. (Mailbox::AckBatch: mailbox_ack_batch_test.cc.)
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "fault_env.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

class ConsumeBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.SetObserver([this](uint64_t, const std::string& what) {
      if (what == "sync " + dir_.File("q")) ++log_syncs_;  // the log's fdatasync
    });
  }
  std::unique_ptr<Store> OpenOrDie() {
    StoreOptions o;
    o.sync = SyncPolicy::kAlways;
    o.auto_compact = false;
    o.env = &env_;
    std::unique_ptr<Store> s;
    Status st = Store::Open(dir_.File("q"), o).MoveTo(&s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }
  test::TempDir dir_;
  test::FaultEnv env_;
  std::atomic<int> log_syncs_{0};
};

TEST_F(ConsumeBatchTest, ConsumeBatchSyncsOnceForManyConsumesUnderAlwaysAndTheyStayConsumed) {
  auto s = OpenOrDie();
  ASSERT_TRUE(s);
  const std::vector<std::string_view> payloads(100, "m");
  ASSERT_TRUE(s->AppendBatch(payloads).ok());
  std::vector<uint64_t> seqs;
  for (uint64_t q = 1; q <= 64; ++q) seqs.push_back(q);
  const int before = log_syncs_.load();
  size_t done = 0;
  Status st = s->ConsumeBatch(seqs, &done);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(done, 64u);
  EXPECT_EQ(log_syncs_.load() - before, 1) << "syncs of the log for one batch of 64 consumes";
  // The reference: Consume syncs each one.
  const int mid = log_syncs_.load();
  ASSERT_TRUE(s->Consume(65).ok());
  ASSERT_TRUE(s->Consume(66).ok());
  EXPECT_EQ(log_syncs_.load() - mid, 2);
  ASSERT_TRUE(s->Close().ok());
  s = OpenOrDie();
  ASSERT_TRUE(s);
  Message m;
  ASSERT_TRUE(s->FirstPending(&m).ok());
  EXPECT_EQ(m.seq, 67u) << "a consume of the batch did not last past a reopen";
  EXPECT_EQ(s->Stats().pending, 34u);
}

TEST_F(ConsumeBatchTest, ConsumeBatchStopsAtTheFirstMessageNotPendingAndSaysHowManyWent) {
  auto s = OpenOrDie();
  ASSERT_TRUE(s);
  const std::vector<std::string_view> payloads(10, "m");
  ASSERT_TRUE(s->AppendBatch(payloads).ok());
  ASSERT_TRUE(s->Consume(3).ok());
  const std::vector<uint64_t> seqs = {1, 2, 3, 4};
  size_t done = 99;
  Status st = s->ConsumeBatch(seqs, &done);
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  EXPECT_EQ(done, 2u);
  Message m;
  ASSERT_TRUE(s->FirstPending(&m).ok());
  EXPECT_EQ(m.seq, 4u) << "4 came after the failure: it must stay pending";
  EXPECT_EQ(s->Stats().pending, 7u);
}

}  // namespace
}  // namespace mq
