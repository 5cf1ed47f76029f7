// dump and replay share one record selection and one damage report
// (tools/selection.h, tools/damage.h): replay now does what dump did where
// their copies had drifted apart.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "mq/store.h"
#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

// A queue that this process holds open for writing (as a mailbox would), with
// `tail` appended to its log after two messages: to a reader in another
// process that is a message whose writing has not finished.
class LiveTornTailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    StoreOptions opt;
    opt.sync = SyncPolicy::kAlways;
    ASSERT_TRUE(Store::Open(q_, opt).MoveTo(&store_).ok());
    uint64_t seq = 0;
    ASSERT_TRUE(store_->Append("live one").MoveTo(&seq).ok());
    ASSERT_TRUE(store_->Append("live two").MoveTo(&seq).ok());
    const int fd = ::open(q_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "partial!", 8), 8);  // a torn tail of 8 bytes
    ::close(fd);
  }
  void TearDown() override { store_.reset(); }
  TempDir dir_;
  std::string q_;
  std::unique_ptr<Store> store_;
};

TEST_F(LiveTornTailTest, ReplayCallsATornTailUnderALiveWriterAWriteInProgressAndExitsZero) {
  ToolRun r = RunTool({"replay", q_, "--to", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "live one\nlive two\n");
  EXPECT_NE(r.err.find("mqtool: " + q_ + ": offset "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the last 8 bytes do not form a complete message"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pid " + std::to_string(::getpid()) + " holds the queue, so this is probably a write in "
                       "progress. Run replay again with --from 3 to send it"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("skipped"), std::string::npos) << r.err;
}

TEST_F(LiveTornTailTest, DumpCallsATornTailUnderALiveWriterAWriteInProgressAndExitsZero) {
  ToolRun r = RunTool({"dump", q_, "--format", "raw"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "live one\nlive two\n");
  EXPECT_NE(r.err.find("pid " + std::to_string(::getpid()) + " holds the queue, so this is probably a write in "
                       "progress. Run dump again to see it"),
            std::string::npos)
      << r.err;
}

TEST(MqtoolReplayDamageTest, TornTailWithNoWriterIsSkippedAndNamedInTheSameWordsAsDumpWithExitOne) {
  TempDir dir;
  const std::string q = dir.File("q");
  MakeQueue(q, {"first", "second"});
  const std::string torn = ReadFileOrDie(q) + "garbage!";  // a torn tail of 8 bytes at offset 123
  WriteFileOrDie(q, torn);
  const ToolRun dump = RunTool({"dump", q, "--format", "raw"});
  const ToolRun replay = RunTool({"replay", q, "--to", "-"});
  EXPECT_EQ(replay.exit_code, 1) << replay.err;
  EXPECT_EQ(replay.out, dump.out);
  EXPECT_EQ(replay.err, dump.err);
  EXPECT_EQ(replay.err.rfind("mqtool: " + q + ": offset 123: skipped 8 damaged bytes at the end of the log (", 0), 0u)
      << replay.err;
  EXPECT_EQ(ReadFileOrDie(q), torn);
}

TEST(MqtoolReplayKeyTest, KeyOnAQueueWithoutAnIndexSaysThereIsNoIndexToTakeAnExtractorFrom) {
  TempDir dir;
  std::string q = dir.File("old");
  WriteFileOrDie(q, LegacyBytes({{false, "ab1"}}));  // the original design's format: no index
  ToolRun r = RunTool({"replay", q, "--to", "-", "--key", "ab"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(q + ": --key needs a key extractor and there is no readable index to take one from"),
            std::string::npos)
      << r.err;
}

TEST(MqtoolReplayKeyTest, KeyWithAnIndexItMayNotReadFailsNamingThePermissionProblem) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run mqtool as another user (CI runs as root)";
  TempDir dir;
  std::string q = dir.File("q");
  MakeQueue(q, {"red:1", "blue:2"}, {}, "until::");
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(q.c_str(), 0644), 0);
  ASSERT_EQ(::chmod((q + ".idx").c_str(), 0700), 0);
  RunOptions o;
  o.as_user = 65534;  // nobody
  for (const char* command : {"dump", "replay"}) {
    std::vector<std::string> args = {command, q, "--key", "red"};
    if (std::string(command) == "replay") args.insert(args.end(), {"--to", "-"});
    ToolRun r = RunTool(args, o);
    EXPECT_EQ(r.exit_code, 3) << command << ": " << r.err;
    EXPECT_EQ(r.out, "") << command;
    EXPECT_NE(r.err.find("this is a permission problem, not damage"), std::string::npos) << command << ": " << r.err;
  }
}

}  // namespace
}  // namespace mq::test
