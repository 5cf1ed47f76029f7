// mqtool's command line agrees with itself and with docs/mqtool.md (issue 16,
// item 11), run as a real process: one escape grammar for dump's output and
// --match, replay --format text, help texts with exit codes and every option,
// --version, and what salvage does with a torn tail.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "mqtool_harness.h"
#include "test_util.h"

#ifndef MQ_PROJECT_VERSION
#error "MQ_PROJECT_VERSION must be CMake's PROJECT_VERSION (tests/CMakeLists.txt sets it)"
#endif

namespace mq::test {
namespace {

class MqtoolCliTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(MqtoolCliTest, MatchAcceptsTheEscapesDumpWrites) {
  const std::string q = dir_.File("q");
  MakeQueue(q, {"other", "a\rb\"c"});
  ToolRun d = RunTool({"dump", q});
  ASSERT_NE(d.out.find("payload=a\\rb\"c"), std::string::npos) << d.out;
  // dump writes \r; --match takes it back, and \" too (send --escaped's grammar).
  ToolRun r = RunTool({"recv", q, "--match", "prefix:a\\rb\\\"c"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a\rb\"c\n");
}

TEST_F(MqtoolCliTest, MatchWithABadEscapeNamesMatch) {
  const std::string q = dir_.File("q");
  MakeQueue(q, {"a"});
  ToolRun r = RunTool({"recv", q, "--match", "prefix:\\q"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--match has an unknown escape \\q at byte 7"), std::string::npos) << r.err;
}

TEST_F(MqtoolCliTest, ReplayFormatTextPrintsWhatDumpPrints) {
  const std::string q = dir_.File("q");
  MakeQueue(q, {"m1", std::string("b\0\n", 3), "m3"}, {1});
  ToolRun d = RunTool({"dump", q});
  ToolRun r = RunTool({"replay", q, "--to", "-", "--format", "text"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, d.out);
  EXPECT_EQ(r.out.rfind("seq=2 offset=", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(" state=pending size=3 payload=b\\x00\\n\nseq=3 "), std::string::npos) << r.out;
}

TEST_F(MqtoolCliTest, SendAndRecvHelpHaveExitCodeLines) {
  for (const char* cmd : {"send", "recv"}) {
    ToolRun r = RunTool({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("\nExit: 0 "), std::string::npos) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("2 usage error, 3 any other error"), std::string::npos) << cmd << ": " << r.out;
  }
}

// Every option a command takes is in its usage line.
TEST_F(MqtoolCliTest, UsageLinesNameEveryOption) {
  struct Case {
    const char* cmd;
    std::vector<std::string> options;
  };
  const Case cases[] = {
      {"recv", {"--socket", "--match", "--count", "--follow", "--timeout", "--ack-after-print", "--format", "--sync",
                "--key"}},
      {"send", {"--confirm", "--timeout", "--retry", "--escaped"}},
      {"dump", {"--all", "--from", "--until", "--key", "--key-extractor", "--format"}},
      {"replay", {"--to", "--from", "--until", "--key", "--key-extractor", "--include-consumed", "--rate", "--confirm",
                  "--format"}},
  };
  for (const Case& c : cases) {
    ToolRun r = RunTool({c.cmd, "--help"});
    const std::string usage = r.out.substr(0, r.out.find('\n'));
    for (const auto& opt : c.options)
      EXPECT_TRUE(usage.find(opt + " ") != std::string::npos || usage.find(opt + "]") != std::string::npos)
          << c.cmd << " usage lacks " << opt << ": " << usage;
  }
}

TEST_F(MqtoolCliTest, VersionPrintsTheProjectVersion) {
  ToolRun r = RunTool({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("mqtool ") + MQ_PROJECT_VERSION + "\n");
}

// docs/mqtool.md, recover: salvage cuts a torn tail alone into QUEUE.cut-N
// without rewriting the log, so consumed messages stay.
TEST_F(MqtoolCliTest, SalvageOfATornTailAloneCutsItIntoCutNAndKeepsConsumedMessages) {
  const std::string q = dir_.File("q");
  MakeQueue(q, {"m1", "m2"}, {1});
  const size_t size = std::filesystem::file_size(q);
  WriteFileOrDie(q, ReadFileOrDie(q) + "half a rec");
  ToolRun r = RunTool({"recover", q, "--mode", "salvage"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string side = q + ".cut-" + std::to_string(size);
  EXPECT_TRUE(std::filesystem::exists(side)) << r.out;
  EXPECT_EQ(ReadFileOrDie(side), "half a rec");
  EXPECT_FALSE(std::filesystem::exists(q + ".damaged-" + std::to_string(size)));
  ToolRun d = RunTool({"dump", q, "--all", "--format", "jsonl"});
  EXPECT_NE(d.out.find("\"seq\":1,"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("\"state\":\"consumed\""), std::string::npos) << d.out;
}

}  // namespace
}  // namespace mq::test
