// Round trips through the Store API: append, read, consume, reopen, compact.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

class StoreBasicTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }
  std::unique_ptr<Store> OpenOrDie(StoreOptions opt = {}) {
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, opt).MoveTo(&s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }
  std::vector<std::string> Pending(Store* s) {
    std::vector<std::string> out;
    Status st = s->ScanPending(0, [&](const MessageView& v) {
      out.emplace_back(v.payload);
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  test::TempDir dir_;
  std::string path_;
};

TEST_F(StoreBasicTest, AppendedMessagesAreReadBackInOrderWithIncreasingSeqs) {
  auto s = OpenOrDie();
  uint64_t a = 0, b = 0;
  ASSERT_TRUE(s->Append("hello").MoveTo(&a).ok());
  ASSERT_TRUE(s->Append("world").MoveTo(&b).ok());
  EXPECT_EQ(a, 1u);
  EXPECT_EQ(b, 2u);
  EXPECT_EQ(Pending(s.get()), (std::vector<std::string>{"hello", "world"}));
  Message m;
  ASSERT_TRUE(s->Get(2, &m).ok());
  EXPECT_EQ(m.payload, "world");
}

TEST_F(StoreBasicTest, ConsumedMessagesStayConsumedAcrossReopen) {
  {
    auto s = OpenOrDie();
    uint64_t seq;
    std::vector<std::string_view> batch = {"a0", "a1", "a2"};
    ASSERT_TRUE(s->AppendBatch(batch).MoveTo(&seq).ok());
    ASSERT_TRUE(s->Consume(2).ok());
    EXPECT_TRUE(s->Consume(2).IsNotFound());
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = OpenOrDie();
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
  EXPECT_EQ(Pending(s.get()), (std::vector<std::string>{"a0", "a2"}));
  uint64_t seq;
  ASSERT_TRUE(s->Append("a3").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 4u);
}

TEST_F(StoreBasicTest, ConsumeFirstReturnsTheOldestVisibleMessageAndConsumesItForGood) {
  {
    auto s = OpenOrDie();
    uint64_t seq;
    std::vector<std::string_view> batch = {"a0", "a1", "a2", "a3"};
    ASSERT_TRUE(s->AppendBatch(batch).MoveTo(&seq).ok());
    ASSERT_TRUE(s->Take(1).ok());  // taken: not visible, so not consumed
    Message m;
    ASSERT_TRUE(s->ConsumeFirst(&m).ok());
    EXPECT_EQ(m.seq, 2u);
    EXPECT_EQ(m.payload, "a1");
    EXPECT_TRUE(s->Consume(2).IsNotFound()) << "already consumed";
    ASSERT_TRUE(s->ConsumeFirst(&m).ok());
    EXPECT_EQ(m.payload, "a2");
    ASSERT_TRUE(s->Release(1).ok());
    ASSERT_TRUE(s->ConsumeFirst(&m).ok());
    EXPECT_EQ(m.payload, "a0") << "a released message is the oldest again";
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = OpenOrDie();
  EXPECT_EQ(Pending(s.get()), (std::vector<std::string>{"a3"}));
  Message m;
  ASSERT_TRUE(s->ConsumeFirst(&m).ok());
  EXPECT_EQ(m.payload, "a3");
  const Status none = s->ConsumeFirst(&m);
  EXPECT_TRUE(none.IsNotFound()) << none.ToString();
  EXPECT_TRUE(Pending(s.get()).empty());
}

TEST_F(StoreBasicTest, KeyLookupFindsOldestPendingWithThatKey) {
  StoreOptions opt;
  opt.key = KeyExtractor::UntilDelimiter(':');
  auto s = OpenOrDie(opt);
  uint64_t seq;
  for (const char* p : {"x:1", "y:1", "x:2", "y:2"}) ASSERT_TRUE(s->Append(p).MoveTo(&seq).ok());
  Message m;
  ASSERT_TRUE(s->FirstByKey("y", &m).ok());
  EXPECT_EQ(m.payload, "y:1");
  ASSERT_TRUE(s->Consume(m.seq).ok());
  ASSERT_TRUE(s->FirstByKey("y", &m).ok());
  EXPECT_EQ(m.payload, "y:2");
  EXPECT_TRUE(s->FirstByKey("z", &m).IsNotFound());
}

TEST_F(StoreBasicTest, CompactionDropsConsumedAndKeepsSeqs) {
  auto s = OpenOrDie();
  uint64_t seq;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(s->Append("m" + std::to_string(i)).MoveTo(&seq).ok());
  for (uint64_t i = 1; i <= 100; ++i)
    if (i % 10 != 0) {
      ASSERT_TRUE(s->Consume(i).ok());
    }
  CompactionResult r;
  ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
  EXPECT_EQ(r.messages_kept, 10u);
  EXPECT_EQ(r.messages_dropped, 90u);
  EXPECT_LT(r.bytes_after, r.bytes_before);
  Message m;
  ASSERT_TRUE(s->Get(50, &m).ok());
  EXPECT_EQ(m.payload, "m49");
  ASSERT_TRUE(s->Close().ok());
  auto s2 = OpenOrDie();
  ASSERT_TRUE(s2->Append("next").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 101u);
  EXPECT_EQ(Pending(s2.get()).size(), 11u);
}

}  // namespace
}  // namespace mq
