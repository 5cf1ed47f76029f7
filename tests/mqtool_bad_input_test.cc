// Bad input never crashes mqtool and never changes a file: every command
// (read-only and writing) against a missing path, a directory, random bytes,
// a truncated file, a future format version, an unreadable file, an unknown
// option and a malformed sequence number. Each case checks the exit code, the
// "mqtool: <file>: <reason>" message, and that the directory is unchanged.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "mqtool_harness.h"
#include "format/log_format.h"
#include "format/record.h"
#include "test_util.h"

namespace mq::test {
namespace {

std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> s;
  for (const auto& e : std::filesystem::directory_iterator(dir)) s.insert(e.path().filename().string());
  return s;
}

struct Cmd {
  std::vector<std::string> words;  // the command and its options; the queue goes after the first word
  int damaged_header_exit;         // check reports a damaged header as damage (1); the rest cannot read (3)
};

std::string Name(const Cmd& c) {
  std::string n;
  for (const auto& w : c.words)
    for (char ch : w)
      if (std::isalnum(static_cast<unsigned char>(ch))) n += ch;
  return n;
}

class MqtoolBadInputTest : public ::testing::TestWithParam<Cmd> {
 protected:
  std::vector<std::string> Args(const std::string& queue, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {GetParam().words[0], queue};
    a.insert(a.end(), GetParam().words.begin() + 1, GetParam().words.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Runs the command on `queue` and checks it failed with `code`, a message
  // that starts "mqtool: <queue>: " and contains `reason`, no crash, and an
  // unchanged directory.
  void ExpectRefused(const std::string& queue, int code, const std::string& reason, RunOptions o = {}) {
    auto names = Names(dir_.path());
    auto files = Snapshot(dir_.path());
    ToolRun r = RunTool(Args(queue), o);
    EXPECT_EQ(r.signal, 0);
    EXPECT_EQ(r.exit_code, code) << r.out << r.err;
    std::string err = code == 1 ? r.out : r.err;
    EXPECT_EQ(err.rfind((code == 1 ? "" : "mqtool: ") + queue + ": ", 0), 0u) << err;
    EXPECT_NE(err.find(reason), std::string::npos) << err;
    EXPECT_EQ(Names(dir_.path()), names);
    EXPECT_EQ(Snapshot(dir_.path()), files);
  }
  TempDir dir_;
};

TEST_P(MqtoolBadInputTest, MissingPathIsNamedAndNothingIsCreated) {
  ExpectRefused(dir_.File("absent"), 3, "no such queue file");
}

TEST_P(MqtoolBadInputTest, DirectoryIsRefused) {
  std::filesystem::create_directory(dir_.File("sub"));
  ExpectRefused(dir_.File("sub"), 3, "is a directory; give the path of a queue file");
}

TEST_P(MqtoolBadInputTest, RandomBytesAreNotAMessageLog) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 2654435761u) >> 13));
  WriteFileOrDie(dir_.File("junk"), junk);
  ExpectRefused(dir_.File("junk"), 3, "not an mq message log");
}

TEST_P(MqtoolBadInputTest, FileCutInsideItsHeaderIsRefusedUnchanged) {
  std::string q = dir_.File("q");
  MakeQueue(q, {"one", "two"});
  std::string bytes = ReadFileOrDie(q);
  WriteFileOrDie(q, bytes.substr(0, 30));
  ExpectRefused(q, GetParam().damaged_header_exit, "offset 0: the file header is cut short (30 of 56 bytes)");
}

TEST_P(MqtoolBadInputTest, FutureFormatVersionIsRefusedUnchanged) {
  std::string q = dir_.File("future");
  std::string bytes;
  log::Header h;
  h.version = log::kFormatVersion + 1;
  h.log_id = 42;
  log::EncodeHeader(h, &bytes);
  WriteFileOrDie(q, bytes);
  ExpectRefused(q, 3, "written in log format version 2; this mq reads versions up to 1: open it with a newer mq");
}

TEST_P(MqtoolBadInputTest, UnreadableFileIsRefusedUnchanged) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run mqtool as another user (CI runs as root)";
  std::string q = dir_.File("q");
  MakeQueue(q, {"secret"});
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(q.c_str(), 0600), 0);
  RunOptions o;
  o.as_user = 65534;  // nobody
  ExpectRefused(q, 3, "cannot read it: Permission denied; run as the queue's owner or root", o);
}

TEST_P(MqtoolBadInputTest, UnknownOptionIsAUsageErrorAndChangesNothing) {
  std::string q = dir_.File("q");
  MakeQueue(q, {"one"}, {1});
  auto files = Snapshot(dir_.path());
  ToolRun r = RunTool(Args(q, {"--frobnicate"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unrecognised option '--frobnicate'"), std::string::npos) << r.err;
  EXPECT_EQ(Snapshot(dir_.path()), files);
}

TEST_P(MqtoolBadInputTest, MissingQueueArgumentIsAUsageError) {
  ToolRun r = RunTool({GetParam().words[0]});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing QUEUE"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(EveryCommand, MqtoolBadInputTest,
                         ::testing::Values(Cmd{{"dump"}, 3}, Cmd{{"dump", "--format", "jsonl"}, 3}, Cmd{{"stat"}, 3},
                                           Cmd{{"check"}, 1}, Cmd{{"recover"}, 3},
                                           Cmd{{"recover", "--mode", "salvage"}, 3}, Cmd{{"compact"}, 3},
                                           Cmd{{"compact", "--dry-run"}, 3}, Cmd{{"replay", "--to", "-"}, 3}),
                         [](const auto& param_info) { return Name(param_info.param); });

class MqtoolBadSeqTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MqtoolBadSeqTest, MalformedSequenceNumberIsAUsageErrorNamingIt) {
  TempDir dir;
  std::string q = dir.File("q");
  MakeQueue(q, {"one"});
  auto files = Snapshot(dir.path());
  for (const char* opt : {"--from", "--until"}) {
    ToolRun r = RunTool({"dump", q, opt, GetParam()});
    EXPECT_EQ(r.exit_code, 2) << opt << " " << GetParam();
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find(std::string(opt) + ": '" + GetParam() + "' is not a sequence number"), std::string::npos)
        << r.err;
  }
  EXPECT_EQ(Snapshot(dir.path()), files);
}

INSTANTIATE_TEST_SUITE_P(Values, MqtoolBadSeqTest,
                         ::testing::Values("12x", "-1", "0", "1e3", " 7", "+5", "0x10", "18446744073709551616"));

}  // namespace
}  // namespace mq::test
