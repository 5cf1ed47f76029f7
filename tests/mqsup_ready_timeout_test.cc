// `ready_timeout` (docs/supervision.md, "Readiness"): a child with
// ready = "notify" that sends no READY within it is stopped as at shutdown,
// its exit is handled as any other, and it no longer holds the next start.
#include <gtest/gtest.h>

#include "mq/supervisor.h"
#include "mqsup_testing.h"

namespace mq::test {
namespace {

TEST(MqsupReadyTimeoutTest, ANotifyChildSilentPastItsReadyTimeoutIsStoppedAndNoLongerHoldsTheNextStart) {
  MqsupRun run;
  run.Configure("", {run.Child("silent", {"run"},
                               "ready = \"notify\"\nready_timeout = \"300ms\"\nrestart = \"temporary\"\n"),
                     run.Child("next", {"run"})});
  run.Start();
  // SIGTERM ends the helper with exit 0 (it logs "term silent" first).
  EXPECT_NE(run.NextDown().find("name=silent reason=exit:0"), std::string::npos) << run.Stderr();
  EXPECT_TRUE(WaitUntil([&] { return run.Row("next").state == "running"; })) << run.Stderr();
  const StatusRow silent = run.Row("silent");
  EXPECT_EQ(silent.state, "down");
  EXPECT_EQ(silent.restarts, 0u);
  EXPECT_NE(run.Stderr().find("sent no READY within 300 ms (ready_timeout); stopping it"), std::string::npos)
      << run.Stderr();
  // "running" is mqsup's word once it has spawned the child; the child logs
  // its own start a moment later.
  EXPECT_TRUE(WaitUntil([&] { return run.Events().size() >= 3; })) << run.Stderr();
  EXPECT_EQ(run.Events(), (std::vector<std::string>{"start silent", "term silent", "start next"}));
}

TEST(MqsupReadyTimeoutTest, AReadyTimeoutWithoutNotifyIsRefusedNamingTheField) {
  auto spec = supervisor::ParseConfig(
      "[supervisor]\ncontrol = \"/run/x.sock\"\n[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\n"
      "ready = \"200ms\"\nready_timeout = \"1s\"\n",
      "sup.toml");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("sup.toml:7: child[0].ready_timeout: needs ready = \"notify\""),
            std::string::npos)
      << spec.status().message();
}

}  // namespace
}  // namespace mq::test
