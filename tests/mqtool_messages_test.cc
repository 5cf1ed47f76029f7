// mqtool's error and report texts that used to mislead (issue 16, item 10),
// run as a real process: each test asserts the new text, and that the old
// misleading one is gone.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "format/log_format.h"
#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

using test::Le32;

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}


class MqtoolMessagesTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(MqtoolMessagesTest, RecordWithSizeMinusOneAtOffset0IsReportedAsANegativeSizeNotABadUsedFlag) {
  const std::string q = dir_.File("q");
  WriteFileOrDie(q, Le32(0) + Le32(0xffffffffu));
  ToolRun r = RunTool({"stat", q});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("(used flag 0) whose size -1 is negative"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("holds 0x00000000"), std::string::npos) << r.err;
}

TEST_F(MqtoolMessagesTest, SizeOf0x7fffffffAtOffset0IsOutOfRange) {
  const std::string q = dir_.File("q");
  WriteFileOrDie(q, Le32(0) + Le32(0x7fffffffu) + "abc");
  ToolRun r = RunTool({"stat", q});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("whose size 2147483647 is out of range: the file has only 3 bytes after the record header"),
            std::string::npos)
      << r.err;
}

TEST_F(MqtoolMessagesTest, SizeOf0x7fffffffInALegacyLogIsOutOfRangeNotCutShort) {
  const std::string q = dir_.File("q");
  WriteFileOrDie(q, LegacyBytes({{false, "ab"}}) + Le32(0) + Le32(0x7fffffffu) + "xyz");
  ToolRun r = RunTool({"check", q});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("offset 10: torn tail of 11 bytes (message size 2147483647 is out of range"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("cut short"), std::string::npos) << r.out;
}

TEST_F(MqtoolMessagesTest, SizeOf0x7fffffffInAFramedLogIsOutOfRangeNotCutShort) {
  const std::string q = dir_.File("q");
  MakeQueue(q, {"ab"});
  std::string bytes = ReadFileOrDie(q);
  const size_t at = bytes.size();
  // A meta record (seq 2, any checksum) and a message header of size 0x7fffffff.
  bytes += Le32(static_cast<uint32_t>(log::kMetaKind)) + Le32(log::kMetaPayloadSize) + Le32(2) + Le32(0) + Le32(0) +
           Le32(0) + Le32(0x7fffffffu) + "xyz";
  WriteFileOrDie(q, bytes);
  ToolRun r = RunTool({"check", q});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("offset " + std::to_string(at) + ": torn tail of 31 bytes (message size 2147483647 is out of "
                       "range"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("cut short"), std::string::npos) << r.out;
}

TEST_F(MqtoolMessagesTest, MissingSocketDirectoryIsNamedOnceWithoutPermissionAdvice) {
  const std::string q = dir_.File("q");
  MakeQueue(q, {"a"});
  ToolRun r = RunTool({"recv", q, "--socket", dir_.File("no/such/dir/sock"), "--timeout", "0"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(Count(r.err, "No such file or directory"), 1u) << r.err;
  EXPECT_NE(r.err.find("create that directory first"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("run as a user who may write there"), std::string::npos) << r.err;
}

TEST_F(MqtoolMessagesTest, RecoverOnAGarbageIndexNamesItsPathOnce) {
  const std::string q = dir_.File("q");
  MakeQueue(q, {"a"});
  WriteFileOrDie(q + ".idx", std::string(16384, 'x'));
  ToolRun r = RunTool({"recover", q});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string all = r.out + r.err;
  const size_t at = all.find("; moved to " + q + ".idx.unreadable");
  ASSERT_NE(at, std::string::npos) << all;
  const size_t line = all.rfind('\n', at) == std::string::npos ? 0 : all.rfind('\n', at) + 1;
  EXPECT_EQ(Count(all.substr(line, at - line), q + ".idx"), 1u) << all;
}

TEST_F(MqtoolMessagesTest, BadEscapeInDumpKeyNamesKeyNotPayload) {
  const std::string q = dir_.File("q");
  MakeQueue(q, {"a"});
  ToolRun r = RunTool({"dump", q, "--key", "a\\q", "--key-extractor", "first:1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--key has an unknown escape \\q at byte 1"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("payload"), std::string::npos) << r.err;
}

TEST_F(MqtoolMessagesTest, OneOfACountIsSingular) {
  const std::string q = dir_.File("q");
  MakeQueue(q, {"a", "b"}, {1});
  ToolRun c = RunTool({"check", q});
  EXPECT_NE(c.out.find(": ok: 2 messages (1 pending, 1 consumed)"), std::string::npos) << c.out;
  ToolRun r = RunTool({"recover", q});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("index rebuilt: 1 pending message indexed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 pending, 1 consumed message, "), std::string::npos) << r.out;
  ToolRun d = RunTool({"compact", q, "--dry-run"});
  EXPECT_NE(d.out.find("; 1 message kept, 1 consumed dropped"), std::string::npos) << d.out;
  const std::string q1 = dir_.File("q1");
  MakeQueue(q1, {"only"});
  ToolRun c1 = RunTool({"check", q1});
  EXPECT_NE(c1.out.find(": ok: 1 message (1 pending, 0 consumed)"), std::string::npos) << c1.out;
}

TEST_F(MqtoolMessagesTest, OneDamagedRegionIsSingularInStat) {
  const std::string q = dir_.File("q");
  WriteFileOrDie(q, LegacyBytes({{false, "ab"}}) + "zzzzzzzzz");
  ToolRun r = RunTool({"stat", q});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(" in 1 region; run mqtool check"), std::string::npos) << r.out;
}

TEST_F(MqtoolMessagesTest, CheckByAUserWhoCannotReadTheIndexReportsPermissionNotDamage) {
  const std::string q = dir_.File("q");
  MakeQueue(q, {"a"});
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(q.c_str(), 0644), 0);  // the log is readable; the index stays 0600 (root's)
  ASSERT_EQ(::chmod((q + ".idx").c_str(), 0600), 0);
  RunOptions o;
  o.as_user = 65534;  // nobody
  ToolRun r = RunTool({"check", q}, o);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find(q + ".idx: cannot open the index: Permission denied; run as the queue's owner or root"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out.find("unreadable"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("recover would"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mq::test
