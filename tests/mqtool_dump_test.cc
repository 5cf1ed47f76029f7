// mqtool dump, run as a real process on small known queues.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "mq/store.h"
#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

class MqtoolDumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    // Offsets: a 56-byte file header, then per message a 20-byte meta record
    // and an 8-byte record header before the payload.
    MakeQueue(q_, {"hello", "two words", "tab\there", std::string("\0\xff\n", 3)}, {2});
  }
  TempDir dir_;
  std::string q_;
};

TEST_F(MqtoolDumpTest, TextFormatPrintsPendingMessagesWithEscapedPayloads) {
  ToolRun r = RunTool({"dump", q_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "seq=1 offset=76 state=pending size=5 payload=hello\n"
            "seq=3 offset=146 state=pending size=8 payload=tab\\there\n"
            "seq=4 offset=182 state=pending size=3 payload=\\x00\\xff\\n\n");
}

TEST_F(MqtoolDumpTest, AllWithJsonlIncludesConsumedMessagesAsBase64) {
  ToolRun r = RunTool({"dump", q_, "--all", "--format", "jsonl"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"seq\":1,\"offset\":76,\"state\":\"pending\",\"size\":5,\"payload_b64\":\"aGVsbG8=\"}\n"
            "{\"seq\":2,\"offset\":109,\"state\":\"consumed\",\"size\":9,\"payload_b64\":\"dHdvIHdvcmRz\"}\n"
            "{\"seq\":3,\"offset\":146,\"state\":\"pending\",\"size\":8,\"payload_b64\":\"dGFiCWhlcmU=\"}\n"
            "{\"seq\":4,\"offset\":182,\"state\":\"pending\",\"size\":3,\"payload_b64\":\"AP8K\"}\n");
}

TEST_F(MqtoolDumpTest, RawFormatPrintsEachPayloadFollowedByANewline) {
  ToolRun r = RunTool({"dump", q_, "--format", "raw"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("hello\ntab\there\n\0\xff\n\n", 19));
}

TEST_F(MqtoolDumpTest, FromAndUntilSelectAnInclusiveRangeOfSeqs) {
  ToolRun r = RunTool({"dump", q_, "--all", "--from", "2", "--until", "3", "--format", "raw"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "two words\ntab\there\n");
}

TEST_F(MqtoolDumpTest, UntilBelowFromIsAUsageError) {
  ToolRun r = RunTool({"dump", q_, "--from", "3", "--until", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("--until 2 is below --from 3"), std::string::npos) << r.err;
}

TEST(MqtoolDumpKeyTest, KeyUsesTheExtractorRecordedInTheIndex) {
  TempDir dir;
  std::string q = dir.File("q");
  MakeQueue(q, {"red:1", "blue:2", "red:3", "red:4"}, {4}, "until::");
  ToolRun r = RunTool({"dump", q, "--key", "red", "--format", "raw"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "red:1\nred:3\n");
}

TEST(MqtoolDumpKeyTest, KeyExtractorOptionWorksWithoutAnIndexedExtractor) {
  TempDir dir;
  std::string q = dir.File("q");
  MakeQueue(q, {"ab1", "cd2", "ab3"});
  ToolRun r = RunTool({"dump", q, "--key", "ab", "--key-extractor", "first:2", "--format", "raw"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ab1\nab3\n");
}

TEST(MqtoolDumpKeyTest, KeyWithoutAnyExtractorIsAUsageErrorNamingTheFile) {
  TempDir dir;
  std::string q = dir.File("q");
  MakeQueue(q, {"ab1"});
  ToolRun r = RunTool({"dump", q, "--key", "ab"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(q + ": --key needs a key extractor and the index records none"), std::string::npos) << r.err;
}

TEST(MqtoolDumpLegacyTest, OriginalFormatQueueIsNumberedFromOneWithBareOffsets) {
  TempDir dir;
  std::string q = dir.File("old");
  WriteFileOrDie(q, LegacyBytes({{false, "a0"}, {false, "a1"}, {true, "b1"}, {false, "b2"}}));
  ToolRun r = RunTool({"dump", q, "--all"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "seq=1 offset=0 state=pending size=2 payload=a0\n"
            "seq=2 offset=10 state=pending size=2 payload=a1\n"
            "seq=3 offset=20 state=consumed size=2 payload=b1\n"
            "seq=4 offset=30 state=pending size=2 payload=b2\n");
}

TEST(MqtoolDumpPipeTest, ClosedPipeEndsTheDumpQuietlyWithExitZero) {
  TempDir dir;
  std::string q = dir.File("q");
  // Far more output than a pipe buffer holds, so writes meet the closed pipe.
  MakeQueue(q, std::vector<std::string>(20000, std::string(100, 'x')));
  RunOptions o;
  o.close_stdout_after = 1;
  ToolRun r = RunTool({"dump", q}, o);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
}

TEST(MqtoolDumpDamageTest, DamagedBytesAreSkippedNamedOnStderrAndExitOne) {
  TempDir dir;
  std::string q = dir.File("q");
  MakeQueue(q, {"first", "second"});
  std::string bytes = ReadFileOrDie(q);
  bytes += "garbage!";  // a torn tail at offset 123
  WriteFileOrDie(q, bytes);
  ToolRun r = RunTool({"dump", q, "--format", "raw"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "first\nsecond\n");
  EXPECT_NE(r.err.find("mqtool: " + q + ": offset 123: skipped 8 damaged bytes at the end of the log"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(ReadFileOrDie(q), bytes);
}

TEST(MqtoolDumpLiveTest, WorksWhileAMailboxHoldsTheQueue) {
  TempDir dir;
  std::string q = dir.File("q");
  std::unique_ptr<Store> s;
  StoreOptions opt;
  opt.sync = SyncPolicy::kAlways;
  ASSERT_TRUE(Store::Open(q, opt).MoveTo(&s).ok());
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("live one").MoveTo(&seq).ok());
  ASSERT_TRUE(s->Append("live two").MoveTo(&seq).ok());
  ToolRun r = RunTool({"dump", q, "--format", "raw"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "live one\nlive two\n");
  ASSERT_TRUE(s->Close().ok());
}

}  // namespace
}  // namespace mq::test
