// mqtool stat, run as a real process on small known queues.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "mq/store.h"
#include "mqtool_harness.h"
#include "format/record.h"
#include "test_util.h"

namespace mq::test {
namespace {

class MqtoolStatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    // 56-byte header + framed messages of 28 + 5, 9, 8 and 3 bytes: 193 bytes,
    // of which message 2 (37 bytes) is consumed.
    MakeQueue(q_, {"hello", "two words", "tab\there", std::string("\0\xff\n", 3)}, {2});
  }
  TempDir dir_;
  std::string q_;
};

TEST_F(MqtoolStatTest, TextFormatListsCountsBytesSeqsFormatIndexAndLock) {
  ToolRun r = RunTool({"stat", q_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(ReplaceAll(r.out, q_, "Q"),
            "queue:              Q\n"
            "format version:     1\n"
            "messages pending:   3\n"
            "messages consumed:  1\n"
            "bytes in file:      193\n"
            "bytes live:         100\n"
            "bytes reclaimable:  37\n"
            "bytes damaged:      0\n"
            "first seq:          1\n"
            "last seq:           4\n"
            "first pending seq:  1\n"
            "index:              current\n"
            "lock holder:        none\n");
}

TEST_F(MqtoolStatTest, JsonFormatHasTheSameFieldsOnOneLine) {
  ToolRun r = RunTool({"stat", q_, "--format", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReplaceAll(r.out, q_, "Q"),
            "{\"queue\":\"Q\",\"format_version\":1,\"pending\":3,\"consumed\":1,\"file_bytes\":193,"
            "\"live_bytes\":100,\"reclaimable_bytes\":37,\"damaged_bytes\":0,\"damaged_regions\":0,"
            "\"first_seq\":1,\"last_seq\":4,\"first_pending_seq\":1,"
            "\"index\":{\"state\":\"current\",\"behind_bytes\":0,\"entries\":3,\"extractor\":\"none\",\"detail\":\"\"},"
            "\"lock_holder_pid\":0}\n");
}

TEST_F(MqtoolStatTest, IndexBehindTheLogIsReportedWithItsByteCount) {
  std::string bytes = ReadFileOrDie(q_);
  log::AppendFramed(&bytes, 5, "late");  // written after the index last saw the log
  WriteFileOrDie(q_, bytes);
  ToolRun r = RunTool({"stat", q_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\nmessages pending:   4\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nindex:              behind by 32 bytes\n"), std::string::npos) << r.out;
}

TEST_F(MqtoolStatTest, LockHolderPidIsShownWhileAMailboxHoldsTheQueue) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(q_, StoreOptions{}).MoveTo(&s).ok());
  ToolRun r = RunTool({"stat", q_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\nlock holder:        pid " + std::to_string(::getpid()) + "\n"), std::string::npos)
      << r.out;
  ASSERT_TRUE(s->Close().ok());
}

TEST(MqtoolStatLegacyTest, OriginalFormatShowsVersionZeroAndNoIndex) {
  TempDir dir;
  std::string q = dir.File("old");
  WriteFileOrDie(q, LegacyBytes({{false, "a0"}, {true, "a1"}, {false, "b22"}}));
  ToolRun r = RunTool({"stat", q});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReplaceAll(r.out, q, "Q"),
            "queue:              Q\n"
            "format version:     0 (the original format, without header)\n"
            "messages pending:   2\n"
            "messages consumed:  1\n"
            "bytes in file:      31\n"
            "bytes live:         21\n"
            "bytes reclaimable:  10\n"
            "bytes damaged:      0\n"
            "first seq:          1\n"
            "last seq:           3\n"
            "first pending seq:  1\n"
            "index:              missing\n"
            "lock holder:        none\n");
}

TEST(MqtoolStatFormatTest, UnknownFormatIsAUsageError) {
  TempDir dir;
  ToolRun r = RunTool({"stat", dir.File("q"), "--format", "xml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--format: 'xml' is not one of: text, json"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mq::test
