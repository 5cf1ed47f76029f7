// mqtool and the key extractor the queue's log records (docs/mqtool.md,
// "recv"): recv without --key uses it even after the index is deleted, a
// different --key is refused unless --rekey is given, and dump/check treat
// the record as metadata (never a message).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

class MqtoolKeyRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    MakeQueue(q_, {"ab:1", "ac:2", "ab:3", "ad:4"}, {}, "until::");
  }
  void DeleteIndex() {
    std::filesystem::remove(q_ + ".idx");
    std::filesystem::remove(q_ + ".idx-lock");
  }
  TempDir dir_;
  std::string q_;
};

TEST_F(MqtoolKeyRecordTest, RecvWithoutKeyUsesTheLogsExtractorAfterTheIndexIsDeleted) {
  DeleteIndex();
  ToolRun r = RunTool({"recv", q_, "--match", "key:ac"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ac:2\n");
}

TEST_F(MqtoolKeyRecordTest, RecvWithAnotherKeyIsRefusedAndChangesNothing) {
  auto before = Snapshot(dir_.path());
  ToolRun r = RunTool({"recv", q_, "--key", "first:1", "--match", "key:a"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("the queue's key extractor is until:: (recorded in its log), not first:1; nothing was "
                       "changed"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--rekey"), std::string::npos) << r.err;
  EXPECT_EQ(Snapshot(dir_.path()), before);
}

TEST_F(MqtoolKeyRecordTest, RecvWithRekeyRecordsTheNewExtractorWhichSurvivesAnIndexRebuild) {
  ToolRun r = RunTool({"recv", q_, "--key", "first:1", "--rekey", "--match", "key:a"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ab:1\n");
  DeleteIndex();
  r = RunTool({"recv", q_, "--match", "key:a"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ac:2\n");
  ToolRun rec = RunTool({"recover", q_});
  EXPECT_EQ(rec.exit_code, 0) << rec.err;
  r = RunTool({"recv", q_, "--match", "key:a"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ab:3\n");
}

TEST_F(MqtoolKeyRecordTest, RekeyWithoutKeyIsAUsageError) {
  auto before = Snapshot(dir_.path());
  ToolRun r = RunTool({"recv", q_, "--rekey"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--rekey needs --key SPEC"), std::string::npos) << r.err;
  EXPECT_EQ(Snapshot(dir_.path()), before);
}

TEST_F(MqtoolKeyRecordTest, CompactKeepsTheExtractor) {
  ToolRun c = RunTool({"compact", q_});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  DeleteIndex();
  ToolRun r = RunTool({"recv", q_, "--match", "key:ad"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ad:4\n");
}

TEST_F(MqtoolKeyRecordTest, CompactDryRunCountsTheKeyRecordTheRewriteKeeps) {
  ToolRun rc = RunTool({"recv", q_, "--count", "1"});
  ASSERT_EQ(rc.exit_code, 0) << rc.err;
  ToolRun dry = RunTool({"compact", q_, "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  ToolRun c = RunTool({"compact", q_});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  const std::string size = std::to_string(ReadFileOrDie(q_).size());
  EXPECT_NE(dry.out.find(", " + size + " after"), std::string::npos) << dry.out << "file: " << size;
  EXPECT_NE(c.out.find(", " + size + " after"), std::string::npos) << c.out << "file: " << size;
}

TEST_F(MqtoolKeyRecordTest, DumpAndCheckTreatTheRecordAsMetadataNotAMessage) {
  ToolRun rk = RunTool({"recv", q_, "--key", "first:1", "--rekey", "--count", "0"});
  ASSERT_EQ(rk.exit_code, 0) << rk.err;
  ToolRun d = RunTool({"dump", q_, "--all", "--format", "raw"});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(d.out, "ab:1\nac:2\nab:3\nad:4\n");
  ToolRun c = RunTool({"check", q_});
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  ToolRun rec = RunTool({"recover", q_});
  EXPECT_EQ(rec.exit_code, 0) << rec.err;
  EXPECT_NE(rec.out.find("no damage found"), std::string::npos) << rec.out;
}

}  // namespace
}  // namespace mq::test
