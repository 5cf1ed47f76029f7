// OpenReport's index action: a value code can decide on (IndexAction), with
// the reason for a rebuild kept apart as text for people, and
// DescribeIndexAction joining the two the way operators read them.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

class StoreOpenReportTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }
  std::unique_ptr<Store> OpenOrDie() {
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, StoreOptions{}).MoveTo(&s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }
  test::TempDir dir_;
  std::string path_;
};

TEST_F(StoreOpenReportTest, ANewQueueReportsItsIndexRebuiltBecauseThereWasNone) {
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->open_report().index_action, IndexAction::kRebuilt);
  EXPECT_EQ(s->open_report().index_reason, "there was no index");
  EXPECT_EQ(DescribeIndexAction(s->open_report()), "rebuilt: there was no index");
  ASSERT_TRUE(s->Close().ok());
}

TEST_F(StoreOpenReportTest, ACleanlyClosedQueueReopensWithItsIndexTrustedAndNoReason) {
  {
    auto s = OpenOrDie();
    ASSERT_NE(s, nullptr);
    uint64_t seq = 0;
    ASSERT_TRUE(s->Append("a").MoveTo(&seq).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->open_report().index_action, IndexAction::kTrusted);
  EXPECT_EQ(s->open_report().index_reason, "");
  EXPECT_EQ(DescribeIndexAction(s->open_report()), "trusted");
  ASSERT_TRUE(s->Close().ok());
}

TEST_F(StoreOpenReportTest, RebuildIndexReportsARebuildAskedFor) {
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->RebuildIndex().ok());
  EXPECT_EQ(s->open_report().index_action, IndexAction::kRebuilt);
  EXPECT_EQ(DescribeIndexAction(s->open_report()), "rebuilt: asked to");
  ASSERT_TRUE(s->Close().ok());
}

TEST(IndexActionName, NamesEveryActionAsOperatorsReadIt) {
  EXPECT_STREQ(IndexActionName(IndexAction::kNone), "none");
  EXPECT_STREQ(IndexActionName(IndexAction::kTrusted), "trusted");
  EXPECT_STREQ(IndexActionName(IndexAction::kCaughtUp), "caught up");
  EXPECT_STREQ(IndexActionName(IndexAction::kRebuilt), "rebuilt");
}

}  // namespace
}  // namespace mq
