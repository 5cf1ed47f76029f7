// mqsup status, restart and stop as processes, talking to `mqsup run`
// through its control mailbox; the restart history kept across a restart
// of the supervisor; and who may ask and who may answer.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../supervisor/src/control.h"
#include "mq/run.h"
#include "mq/sender.h"
#include "mq/store.h"
#include "mqsup_testing.h"

namespace mq::test {
namespace {

class MqsupControlTest : public ::testing::Test {
 protected:
  std::string Ready(const std::string& name) { return run_.Child(name, {"ready"}, "ready = \"notify\"\n"); }
  ProcResult Mqsup(const std::vector<std::string>& args) {
    std::vector<std::string> argv{MqsupPath()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv);
  }
  MqsupRun run_;
};

TEST_F(MqsupControlTest, StatusRestartAndStopThroughTheControlSocket) {
  // b ignores SIGTERM: stopping it takes its 300 ms shutdown, then a is
  // stopped.
  run_.Configure("", {Ready("a"), run_.Child("b", {"ignore-term"}, "shutdown = \"300ms\"\n")});
  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(2)) << run_.Stderr();
  ASSERT_TRUE(WaitUntil([&] { return run_.Events().size() == 2; }));  // b ignores SIGTERM by now
  const pid_t a = run_.Row("a").pid;

  ProcResult text = Mqsup({"status", run_.config()});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out.substr(0, 4), "NAME");
  EXPECT_NE(text.out.find("\na "), std::string::npos);
  EXPECT_NE(text.out.find(std::to_string(a) + " running"), std::string::npos) << text.out;

  ProcResult json = Mqsup({"status", run_.config(), "--json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_EQ(json.out.find("{\"name\":\"a\",\"pid\":" + std::to_string(a) + ",\"state\":\"running\",\"restarts\":0,"),
            0u)
      << json.out;

  ProcResult restart = Mqsup({"restart", run_.config(), "a"});
  EXPECT_EQ(restart.exit_code, 0) << restart.err;
  EXPECT_NE(run_.NextDown().find("pid=" + std::to_string(a) + " name=a reason=exit:0"), std::string::npos);
  ASSERT_TRUE(WaitUntil([&] {
    const StatusRow r = run_.Row("a");
    return r.pid != a && r.pid > 0 && r.state == "running" && r.restarts == 1;
  }));

  ProcResult unknown = Mqsup({"restart", run_.config(), "zz"});
  EXPECT_EQ(unknown.exit_code, 7);
  EXPECT_EQ(unknown.err, "mqsup: " + run_.config() + ": no child named 'zz'; the children are: a, b\n");

  ProcResult stop = Mqsup({"stop", run_.config()});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  // stop answered once both were stopped: b (killed after 300 ms), then a.
  const auto ev = run_.Events();
  EXPECT_EQ(run_.Wait(), 0);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back(), "term a");
  EXPECT_NE(run_.Stderr().find("b (pid"), std::string::npos);
  EXPECT_FALSE(FileExists(run_.control()));

  ProcResult none = Mqsup({"status", run_.config()});
  EXPECT_EQ(none.exit_code, 6);
  EXPECT_NE(none.err.find("no supervisor answered at " + run_.control()), std::string::npos) << none.err;
}

TEST_F(MqsupControlTest, RestartHistorySurvivesARestartOfTheSupervisor) {
  run_.Configure("", {Ready("a")});
  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(1)) << run_.Stderr();
  const pid_t a = run_.Row("a").pid;
  ASSERT_GT(a, 0);
  ASSERT_EQ(::kill(a, SIGKILL), 0);
  EXPECT_NE(run_.NextDown().find("reason=signal:KILL"), std::string::npos);
  ASSERT_TRUE(WaitUntil([&] { return run_.Row("a").restarts == 1 && run_.Row("a").state == "running"; }));
  ASSERT_EQ(::kill(run_.pid(), SIGTERM), 0);
  ASSERT_EQ(run_.Wait(), 0);

  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(1)) << run_.Stderr();
  const StatusRow r = run_.Row("a");
  EXPECT_EQ(r.restarts, 1u);
  EXPECT_EQ(r.last_exit, "exit:0");  // the stop that ended the first run (SIGTERM, logged, exit 0)
}

TEST_F(MqsupControlTest, AStopRequestFromAnotherUidIsNotObeyed) {
  run_.Configure("", {Ready("a")});
  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(1)) << run_.Stderr();
  // Open the socket file to everyone, so that the datagram reaches the
  // mailbox and only its uid check stands between nobody and the request.
  ASSERT_EQ(::chmod(run_.dir().path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(run_.control().c_str(), 0666), 0);
  // nobody's mq::Send, from mailbox_helper started by posix_spawn: this
  // process runs run_'s watch mailbox's threads, so a forked child must not
  // run library code (a lock one of them held at the fork stays held).
  const ProcResult sent = RunProcess({HelperPath(), "send", "--uid", std::to_string(kNobody), run_.control(),
                                      "CTL mqsup-answer/1/0000000000000000 stop"});
  EXPECT_EQ(sent.exit_code, 0) << sent.err;
  // A request sent after it is answered: the stop was dropped, not queued.
  auto body = supervisor::AskSupervisor(run_.control(), "status-json");
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_NE(body->find("\"state\":\"running\""), std::string::npos);
  EXPECT_EQ(run_.Events(), std::vector<std::string>{"start a"});
}

TEST_F(MqsupControlTest, AStopStoredByAnEarlierRunIsDroppedNotObeyed) {
  // A stop request that reached the control queue of a supervisor that
  // then crashed before handling it.
  {
    std::unique_ptr<Store> q;
    ASSERT_TRUE(Store::Open(run_.control() + ".q", StoreOptions{}).MoveTo(&q).ok());
    uint64_t seq = 0;
    ASSERT_TRUE(q->Append("CTL mqsup-answer/1/0000000000000000 stop").MoveTo(&seq).ok());
    ASSERT_TRUE(q->Close().ok());
  }
  run_.Configure("", {Ready("a")});
  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(1)) << run_.Stderr();
  EXPECT_NE(run_.Stderr().find("dropped 1 control requests of an earlier run"), std::string::npos) << run_.Stderr();
  EXPECT_EQ(run_.Events(), std::vector<std::string>{"start a"});
}

TEST(MqsupAnswer, AnAnswerFromAnotherUidIsIgnored) {
  auto answer = supervisor::AnswerSocket::Open();
  ASSERT_TRUE(answer.ok());
  const std::string name = (*answer)->name();
  // nobody forges an answer first (the address is visible in /proc/net/unix).
  EXPECT_EQ(AsNobody([&] { return supervisor::SendAnswer(name, "ok\nforged\n").ok() ? 0 : 1; }), 0);
  ASSERT_TRUE(supervisor::SendAnswer(name, "ok\ngenuine\n").ok());
  auto got = (*answer)->Read(std::chrono::seconds(5));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "ok\ngenuine\n");
  EXPECT_EQ((*answer)->dropped(), 1u);
}

TEST(MqsupAnswer, ARequestNamingAnAddressOutsideTheAnswerPrefixIsRefused) {
  supervisor::ControlRequest r;
  EXPECT_TRUE(supervisor::ParseControlRequest("CTL mqsup-answer/9/ab status", &r));
  EXPECT_EQ(r.verb, "status");
  // The supervisor must not be made to send into another program's socket.
  EXPECT_FALSE(supervisor::ParseControlRequest("CTL mq-reply/chan/9/ab status", &r));
  EXPECT_FALSE(supervisor::ParseControlRequest("READY a 1", &r));
}

}  // namespace
}  // namespace mq::test
