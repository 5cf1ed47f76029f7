// The units dump and replay share (tools/selection.h, tools/record_format.h,
// tools/json.h), tested directly.
#include <gtest/gtest.h>

#include <string>

#include "common.h"

namespace mqtool {
namespace {

mq::LogMessage Record(uint64_t seq, std::string_view payload, bool consumed = false) {
  mq::LogMessage r;
  r.seq = seq;
  r.msg_offset = seq * 100;
  r.consumed = consumed;
  r.payload = payload;
  return r;
}

TEST(SelectionTest, KeepsPendingMessagesInTheInclusiveRangeByDefault) {
  Selection s;
  s.from = 2;
  s.until = 4;
  EXPECT_FALSE(s.Selects(Record(1, "a")));
  EXPECT_TRUE(s.Selects(Record(2, "a")));
  EXPECT_TRUE(s.Selects(Record(4, "a")));
  EXPECT_FALSE(s.Selects(Record(5, "a")));
  EXPECT_FALSE(s.Selects(Record(3, "a", /*consumed=*/true)));
  s.consumed = true;
  EXPECT_TRUE(s.Selects(Record(3, "a", /*consumed=*/true)));
}

TEST(SelectionTest, KeyKeepsOnlyMessagesWhoseExtractedKeyIsEqual) {
  Selection s;
  s.key = "red";
  s.extractor = mq::KeyExtractor::Parse("until::").value();
  EXPECT_TRUE(s.Selects(Record(1, "red:1")));
  EXPECT_FALSE(s.Selects(Record(2, "blue:2")));
  EXPECT_FALSE(s.Selects(Record(3, "redder:3")));
  EXPECT_FALSE(s.Selects(Record(4, "rex:4")));
}

TEST(RecordFormatTest, JsonlLineHasEveryFieldInOrderWithTheBinaryPayloadInBase64) {
  EXPECT_EQ(RecordJson(Record(7, std::string_view("\0\xff\n", 3), true)),
            "{\"seq\":7,\"offset\":700,\"state\":\"consumed\",\"size\":3,\"payload_b64\":\"AP8K\"}");
  EXPECT_EQ(RecordText(Record(7, "a\tb")), "seq=7 offset=700 state=pending size=3 payload=a\\tb");
}

TEST(RecordFormatTest, UnknownFormatIsAUsageErrorListingTheChoicesAsGiven) {
  EXPECT_EQ(ParseRecordFormat("jsonl", "raw, text, jsonl"), RecordFormat::kJsonl);
  try {
    (void)ParseRecordFormat("xml", "raw, text, jsonl");
    FAIL() << "no UsageError";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--format: 'xml' is not one of: raw, text, jsonl");
  }
}

TEST(JsonObjectTest, EscapesStringsAndSeparatesFieldsWithCommas) {
  EXPECT_EQ(JsonObject().str(), "{}");
  EXPECT_EQ(JsonObject().Number("n", 18446744073709551615u).String("s", "a\"b\n").Bytes("b", "hi").str(),
            "{\"n\":18446744073709551615,\"s\":\"a\\\"b\\n\",\"b\":\"aGk=\"}");
  EXPECT_EQ(JsonObject().Number("a", 1).Object("o", JsonObject().Number("b", 2)).Number("c", 3).str(),
            "{\"a\":1,\"o\":{\"b\":2},\"c\":3}");
}

}  // namespace
}  // namespace mqtool
