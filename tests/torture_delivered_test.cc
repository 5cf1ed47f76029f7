// The kill torture's reader of its delivery file (torture_delivered.h): a
// record cut by a kill is counted, never taken for corruption, and a record
// that is complete but wrong still fails.
#include "torture_delivered.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "torture_payload.h"

namespace mq::torture {
namespace {

constexpr int kSenders = 3;

std::string Rec(uint64_t seq, int k, uint64_t i) { return std::to_string(seq) + " " + Payload(k, i) + "\n"; }

bool Parse(const std::string& text, std::vector<ProcessRun>* runs, std::string* err) {
  runs->clear();
  return ParseDelivered(text, kSenders, runs, err);
}

TEST(TortureDeliveredTest, CompleteRecordsAreReadRunByRun) {
  std::vector<ProcessRun> runs;
  std::string err;
  ASSERT_TRUE(Parse("#start 10\n" + Rec(1, 0, 0) + Rec(2, 1, 0) + "#start 11\n" + Rec(3, 2, 7), &runs, &err)) << err;
  ASSERT_EQ(runs.size(), 2u);
  ASSERT_EQ(runs[0].d.size(), 2u);
  EXPECT_EQ(runs[0].d[1].seq, 2u);
  EXPECT_EQ(runs[0].d[1].k, 1);
  EXPECT_EQ(runs[1].d[0].i, 7u);
  EXPECT_FALSE(runs[0].torn || runs[1].torn);
}

// The CI failure of issue 16: "SEQ s0-2002-hga" cut short, then the next
// process's "#start" on the same line.
TEST(TortureDeliveredTest, RecordCutByAKillBeforeTheNextStartIsCountedAsTorn) {
  const std::string whole = Rec(12, 0, 2002);
  const std::string cut = whole.substr(0, whole.find('-', 4) + 4);  // "12 s0-2002-xyz"
  std::vector<ProcessRun> runs;
  std::string err;
  ASSERT_TRUE(Parse("#start 1\n" + Rec(11, 1, 5) + cut + "#start 2\n" + whole, &runs, &err)) << err;
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_TRUE(runs[0].torn);
  EXPECT_TRUE(runs[0].torn_seq_known);
  EXPECT_EQ(runs[0].torn_seq, 12u);
  EXPECT_EQ(runs[0].d.size(), 1u);
  ASSERT_EQ(runs[1].d.size(), 1u);
  EXPECT_EQ(runs[1].d[0].seq, 12u);
}

TEST(TortureDeliveredTest, EveryCutOfTheLastRecordIsTorn) {
  const std::string whole = Rec(123, 2, 99);
  for (size_t n = 1; n < whole.size(); ++n) {  // every length short of the '\n'
    std::vector<ProcessRun> runs;
    std::string err;
    ASSERT_TRUE(Parse("#start 1\n" + whole.substr(0, n), &runs, &err)) << n << ": " << err;
    EXPECT_TRUE(runs[0].torn) << n;
    ASSERT_TRUE(Parse("#start 1\n" + whole.substr(0, n) + "#start 2\n", &runs, &err)) << n << ": " << err;
    EXPECT_TRUE(runs[0].torn) << n;
    EXPECT_EQ(runs.size(), 2u);
  }
}

TEST(TortureDeliveredTest, CutStartRecordIsARunThatDeliveredNothing) {
  std::vector<ProcessRun> runs;
  std::string err;
  ASSERT_TRUE(Parse("#start 1\n" + Rec(1, 0, 0) + "#sta" + "#start 3\n" + Rec(2, 0, 1), &runs, &err)) << err;
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_TRUE(runs[1].torn);
  EXPECT_TRUE(runs[1].d.empty());
  EXPECT_EQ(runs[2].d.size(), 1u);
}

TEST(TortureDeliveredTest, CompleteRecordWithAWrongPayloadIsCorrupt) {
  std::string bad = Rec(5, 1, 3);
  bad[bad.size() - 2] = bad[bad.size() - 2] == 'a' ? 'b' : 'a';  // one letter of the body
  std::vector<ProcessRun> runs;
  std::string err;
  EXPECT_FALSE(Parse("#start 1\n" + bad, &runs, &err));
  EXPECT_NE(err.find("corrupt payload"), std::string::npos) << err;
  // A short payload with its '\n' is not a cut record: the write ended.
  const std::string whole = Rec(5, 1, 3);
  EXPECT_FALSE(Parse("#start 1\n" + whole.substr(0, whole.size() - 5) + "\n", &runs, &err));
  // A payload never sent (sender 7 of 3).
  EXPECT_FALSE(Parse("#start 1\n5 " + Payload(7, 0) + "\n", &runs, &err));
  // No seq.
  EXPECT_FALSE(Parse("#start 1\n" + Payload(1, 0) + "\n", &runs, &err));
}

TEST(TortureDeliveredTest, CutRecordThatIsNoPrefixOfARealOneIsCorrupt) {
  const std::string whole = Rec(7, 0, 4);
  std::string wrong = whole.substr(0, whole.size() - 3);
  wrong.back() = wrong.back() == 'z' ? 'y' : 'z';
  std::vector<ProcessRun> runs;
  std::string err;
  EXPECT_FALSE(Parse("#start 1\n" + wrong + "#start 2\n", &runs, &err));
  EXPECT_NE(err.find("no prefix"), std::string::npos) << err;
  EXPECT_FALSE(Parse("#start 1\n" + wrong, &runs, &err));
  EXPECT_FALSE(Parse("#start 1\n7 x0-4#start 2\n", &runs, &err));
}

TEST(TortureDeliveredTest, CutRecordInTheMiddleOfARunIsCorrupt) {
  // Cut bytes followed by another delivery of the same process: no kill can
  // leave that, so the two run together into one wrong record.
  const std::string whole = Rec(7, 0, 4);
  std::vector<ProcessRun> runs;
  std::string err;
  EXPECT_FALSE(Parse("#start 1\n" + whole.substr(0, 10) + Rec(8, 0, 5), &runs, &err));
  // A cut "#start" followed by a delivery of that same run.
  EXPECT_FALSE(Parse("#start 1\n#sta" + Rec(8, 0, 5), &runs, &err));
}

TEST(TortureDeliveredTest, DeliveryBeforeTheFirstStartIsCorrupt) {
  std::vector<ProcessRun> runs;
  std::string err;
  EXPECT_FALSE(Parse(Rec(1, 0, 0), &runs, &err));
  EXPECT_NE(err.find("before the first #start"), std::string::npos) << err;
}

}  // namespace
}  // namespace mq::torture
