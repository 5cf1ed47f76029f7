// `mqsup run` refuses bad input at start with a clear error, and leaves
// nothing half-started: no child running, no socket it bound, no control
// socket.
#include <gtest/gtest.h>
#include <unistd.h>

#include "mq/store.h"
#include "mqsup_testing.h"

namespace mq::test {
namespace {

class MqsupRefusalTest : public ::testing::Test {
 protected:
  std::string WithSocket(const std::string& name, const std::string& extra = "") {
    return run_.Child(name, {"ready"},
                      "ready = \"notify\"\nsocket = \"" + run_.dir().File(name + ".sock") + "\"\n" + extra);
  }
  // Exit 4, the error on stderr, and nothing of this run left.
  void ExpectRefusedCleanly(const std::string& error) {
    run_.Start();
    EXPECT_EQ(run_.Wait(), 4) << run_.Stderr();
    EXPECT_NE(run_.Stderr().find(error), std::string::npos) << run_.Stderr();
    EXPECT_NE(run_.Stderr().find("nothing was started"), std::string::npos) << run_.Stderr();
    EXPECT_FALSE(FileExists(run_.dir().File("a.sock"))) << "a socket the refused run bound was left behind";
    EXPECT_FALSE(FileExists(run_.control()));
    EXPECT_TRUE(run_.Events().empty());
  }
  MqsupRun run_;
};

TEST_F(MqsupRefusalTest, ASocketBoundByALiveProcessIsRefused) {
  run_.Configure("", {WithSocket("a"), WithSocket("b")});
  const int live = BindSupervisedSocket(run_.dir().File("b.sock"));
  ASSERT_GE(live, 0);
  ExpectRefusedCleanly("child b: " + run_.dir().File("b.sock") + ": a live process is bound to this socket");
  EXPECT_TRUE(FileExists(run_.dir().File("b.sock"))) << "the live process's socket is left alone";
  ::close(live);
}

TEST_F(MqsupRefusalTest, AQueueLockedByAnotherProcessIsRefused) {
  run_.Configure("", {WithSocket("a"), WithSocket("b", "queue = \"" + run_.dir().File("b.q") + "\"\n")});
  std::unique_ptr<Store> holder;
  ASSERT_TRUE(Store::Open(run_.dir().File("b.q"), StoreOptions{}).MoveTo(&holder).ok());
  ExpectRefusedCleanly("child b: queue " + run_.dir().File("b.q") + " is locked by pid " + std::to_string(::getpid()));
}

TEST_F(MqsupRefusalTest, AControlSocketInUseIsRefusedAndTheRunningSupervisorGoesOn) {
  run_.Configure("", {run_.Child("a", {"ready"}, "ready = \"notify\"\n")});
  MqsupRun other;  // a second supervisor, same control socket
  WriteFileOrDie(other.config(), ReadFileOrDie(run_.config()));
  run_.Start();
  ASSERT_TRUE(run_.WaitRunning(1)) << run_.Stderr();
  other.Start();
  EXPECT_EQ(other.Wait(), 4);
  EXPECT_NE(other.Stderr().find("control mailbox " + run_.control()), std::string::npos) << other.Stderr();
  EXPECT_NE(other.Stderr().find("nothing was started"), std::string::npos);
  EXPECT_TRUE(run_.WaitRunning(1)) << "the first supervisor still answers";
  EXPECT_EQ(run_.Events().size(), 1u);
}

TEST_F(MqsupRefusalTest, AChildThatCannotStartStopsThoseAlreadyStarted) {
  run_.Configure("", {WithSocket("a"), run_.Child("b", {"run"}, "cwd = \"" + run_.dir().File("missing") + "\"\n")});
  run_.Start();
  EXPECT_EQ(run_.Wait(), 4) << run_.Stderr();
  EXPECT_NE(run_.Stderr().find("child b: cannot run '" + SupChildPath() + "' in " + run_.dir().File("missing")),
            std::string::npos)
      << run_.Stderr();
  EXPECT_EQ(run_.Events(), (std::vector<std::string>{"start a", "term a"}));
  EXPECT_FALSE(FileExists(run_.dir().File("a.sock")));
  EXPECT_FALSE(FileExists(run_.control()));
}

TEST_F(MqsupRefusalTest, AnUnknownFieldIsRefusedBeforeAnythingIsCreated) {
  run_.Configure("", {run_.Child("a", {"run"}, "restrat = \"permanent\"\n")});
  run_.Start();
  EXPECT_EQ(run_.Wait(), 1);
  EXPECT_NE(run_.Stderr().find(run_.config() + ":"), std::string::npos);
  EXPECT_NE(run_.Stderr().find("child[0].restrat: unknown field"), std::string::npos) << run_.Stderr();
  EXPECT_FALSE(FileExists(run_.control()));
  EXPECT_FALSE(FileExists(run_.control() + ".log")) << "the history is not created";
  EXPECT_TRUE(run_.Events().empty());
}

}  // namespace
}  // namespace mq::test
