// A supervision tree of two levels: an `mqsup run` whose child is another
// `mqsup run` (handed its control socket like any actor). A leaf killed is
// restarted by the inner supervisor alone; the inner supervisor killed is
// restarted by the outer, and starts its leaf again.
#include <gtest/gtest.h>
#include <signal.h>

#include "mq/run.h"
#include "mqsup_testing.h"

namespace mq::test {
namespace {

TEST(MqsupTree, TwoLevelsEachRestartsItsOwnChildren) {
  MqsupRun outer;
  const std::string inner_cfg = outer.dir().File("inner.toml");
  const std::string inner_control = outer.dir().File("inner.sock");
  WriteFileOrDie(inner_cfg, "[supervisor]\ncontrol = \"" + inner_control +
                                "\"\nbackoff = { first = \"1ms\", cap = \"1ms\" }\n\n" +
                                outer.Child("leaf", {"ready"}, "ready = \"notify\"\n"));
  outer.Configure("intensity = 10\n",
                  {"[[child]]\nname = \"inner\"\ncommand = [\"" + MqsupPath() + "\", \"run\", \"" + inner_cfg +
                   "\"]\nready = \"notify\"\nsocket = \"" + inner_control + "\"\nmonitors = [\"" + outer.watch() +
                   "\"]\n"});
  outer.Start();
  ASSERT_TRUE(outer.WaitRunning(1)) << outer.Stderr();  // the inner one said READY: its leaf is up
  const pid_t inner = outer.Row("inner").pid;
  auto leaf = [&] {
    StatusRow row;
    auto body = supervisor::AskSupervisor(inner_control, "status-json", std::chrono::seconds(5));
    if (body.ok() && body->find("\"state\":\"running\"") != std::string::npos) {
      const size_t at = body->find("\"pid\":");
      row.pid = static_cast<pid_t>(std::stol(body->substr(at + 6)));
    }
    return row.pid;
  };
  const pid_t leaf1 = leaf();
  ASSERT_GT(leaf1, 0);

  // Level 1: the inner supervisor restarts its leaf; the outer sees nothing.
  ASSERT_EQ(::kill(leaf1, SIGKILL), 0);
  EXPECT_NE(outer.NextDown().find("pid=" + std::to_string(leaf1) + " name=leaf reason=signal:KILL"),
            std::string::npos);
  pid_t leaf2 = 0;
  ASSERT_TRUE(WaitUntil([&] { return (leaf2 = leaf()) > 0 && leaf2 != leaf1; }));
  EXPECT_EQ(outer.Row("inner").pid, inner);
  EXPECT_EQ(outer.Row("inner").restarts, 0u);

  // Level 2: the outer restarts the inner, which starts a new leaf (the old
  // one died with its supervisor: PR_SET_PDEATHSIG).
  ASSERT_EQ(::kill(inner, SIGKILL), 0);
  EXPECT_NE(outer.NextDown().find("pid=" + std::to_string(inner) + " name=inner reason=signal:KILL"),
            std::string::npos);
  ASSERT_TRUE(WaitUntil([&] {
    const StatusRow r = outer.Row("inner");
    return r.pid != inner && r.pid > 0 && r.state == "running";
  }, std::chrono::seconds(20))) << outer.Stderr();
  pid_t leaf3 = 0;
  ASSERT_TRUE(WaitUntil([&] { return (leaf3 = leaf()) > 0; }));
  EXPECT_NE(leaf3, leaf2);
  // (It may be a zombie for an instant, until the outer supervisor reaps it.)
  EXPECT_TRUE(WaitUntil([&] { return ::kill(leaf2, 0) == -1; })) << "the leaf of the killed supervisor still runs";

  // SIGTERM to the root stops the whole tree, leaf first.
  ASSERT_EQ(::kill(outer.pid(), SIGTERM), 0);
  EXPECT_EQ(outer.Wait(), 0) << outer.Stderr();
  EXPECT_EQ(::kill(leaf3, 0), -1);
}

}  // namespace
}  // namespace mq::test
