// What a child of `mqsup run` starts with, whatever the supervisor's own
// signal state (docs/supervision.md, "Then the children start in order"):
// the spawn (supervisor/src/spawn.cc, clone with CLONE_VM | CLONE_VFORK)
// blocks every signal around the clone, and mqsup itself ignores SIGPIPE and
// blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD for its signalfd; none of that
// may leak into the child.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>

#include "mqsup_testing.h"

namespace mq::test {
namespace {

TEST(MqsupSpawnTest, AChildStartsWithNoSignalBlockedNorIgnoredInAProcessGroupOfItsOwn) {
  MqsupRun run;
  const std::string file = run.dir().File("described");
  run.Configure("", {run.Child("d", {"describe", file})});
  run.Start();
  ASSERT_TRUE(WaitUntil([&] { return FileExists(file); }, std::chrono::seconds(20))) << run.Stderr();
  std::ifstream in(file);
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str(), "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\npgrp-is-pid yes\n");
  ASSERT_EQ(::kill(run.pid(), SIGTERM), 0);
  EXPECT_EQ(run.Wait(), 0) << run.Stderr();
}

}  // namespace
}  // namespace mq::test
