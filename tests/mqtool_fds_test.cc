// mqtool started with closed standard descriptors (issue 16, item 5), run as
// a real process: fds 0, 1 and 2 are made valid first thing, a closed stdout
// is an error before anything is consumed or sent, and --ack-after-print never
// acks a message whose write failed.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "mq/mailbox.h"
#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

class MqtoolFdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    MakeQueue(q_, {"one", "two"});
  }
  // The pending payloads of q, as dump --format raw prints them.
  std::string Pending() {
    ToolRun d = RunTool({"dump", q_, "--format", "raw"});
    EXPECT_EQ(d.exit_code, 0) << d.err;
    return d.out;
  }
  void OpenMailbox() {
    MailboxOptions o;
    o.socket_path = dir_.File("sock");
    o.queue_path = dir_.File("mbq");
    Status s = Mailbox::Open(o).MoveTo(&mailbox_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  TempDir dir_;
  std::string q_;
  std::unique_ptr<Mailbox> mailbox_;
};

TEST_F(MqtoolFdsTest, RecvWithStdoutClosedConsumesNothingAndExits3) {
  RunOptions o;
  o.close_stdout = true;
  ToolRun r = RunTool({"recv", q_}, o);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("standard output is closed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was received"), std::string::npos) << r.err;
  EXPECT_EQ(Pending(), "one\ntwo\n");
  // The payload did not go into the lock file (the old fd 1).
  EXPECT_EQ(ReadFileOrDie(q_ + ".lock").find("one"), std::string::npos);
}

TEST_F(MqtoolFdsTest, RecvFollowWithStdoutClosedConsumesNothing) {
  RunOptions o;
  o.close_stdout = true;
  ToolRun r = RunTool({"recv", q_, "--follow", "--timeout", "0"}, o);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(Pending(), "one\ntwo\n");
}

TEST_F(MqtoolFdsTest, RecvWithStdinAndStderrClosedStillReceivesToStdout) {
  RunOptions o;
  o.close_stdin = true;
  o.close_stderr = true;
  ToolRun r = RunTool({"recv", q_}, o);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "one\n");
  EXPECT_EQ(Pending(), "two\n");
}

TEST_F(MqtoolFdsTest, DumpAndStatWithStdoutClosedExit3) {
  RunOptions o;
  o.close_stdout = true;
  for (const char* cmd : {"dump", "stat", "check"}) {
    ToolRun r = RunTool({cmd, q_}, o);
    EXPECT_EQ(r.exit_code, 3) << cmd;
    EXPECT_NE(r.err.find("standard output is closed"), std::string::npos) << cmd << ": " << r.err;
  }
}

TEST_F(MqtoolFdsTest, SendWithStdinClosedFailsInsteadOfReadingItsOwnSocket) {
  OpenMailbox();
  RunOptions o;
  o.close_stdin = true;
  ToolRun r = RunTool({"send", dir_.File("sock")}, o);  // the old code hung here (killed at 30 s)
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("standard input is closed"), std::string::npos) << r.err;
  EXPECT_EQ(mailbox_->Stats().stored, 0u);
}

TEST_F(MqtoolFdsTest, SendWithStdinClosedSendsItsArguments) {
  OpenMailbox();
  RunOptions o;
  o.close_stdin = true;
  ToolRun r = RunTool({"send", dir_.File("sock"), "hello", "--confirm"}, o);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
}

TEST_F(MqtoolFdsTest, SendConfirmWithStdoutClosedSendsNothing) {
  OpenMailbox();
  RunOptions o;
  o.close_stdout = true;
  ToolRun r = RunTool({"send", dir_.File("sock"), "hello", "--confirm"}, o);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("nothing was sent"), std::string::npos) << r.err;
  ASSERT_TRUE(mailbox_->Close().ok());
  EXPECT_EQ(mailbox_->Stats().stored, 0u);
}

TEST_F(MqtoolFdsTest, AckAfterPrintToAFullDeviceLeavesTheMessagePending) {
  RunOptions o;
  o.stdout_path = "/dev/full";
  ToolRun r = RunTool({"recv", q_, "--ack-after-print"}, o);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("seq 1 was not acked"), std::string::npos) << r.err;
  EXPECT_EQ(Pending(), "one\ntwo\n");
}

TEST_F(MqtoolFdsTest, AckAfterPrintToAPipeWhoseReaderClosedLeavesTheMessagePending) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ::close(p[0]);  // the reader is gone before mqtool writes
  RunOptions o;
  o.stdout_fd = p[1];
  ToolRun r = RunTool({"recv", q_, "--ack-after-print", "--count", "2"}, o);
  ::close(p[1]);
  EXPECT_EQ(r.exit_code, 0) << r.err;  // a reader that stops reading is not an error
  EXPECT_EQ(Pending(), "one\ntwo\n");
}

TEST_F(MqtoolFdsTest, RecvWithoutAckAfterPrintToAFullDeviceSaysTheMessageWasConsumed) {
  RunOptions o;
  o.stdout_path = "/dev/full";
  ToolRun r = RunTool({"recv", q_}, o);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("seq 1 was consumed"), std::string::npos) << r.err;
  EXPECT_EQ(Pending(), "two\n");
}

}  // namespace
}  // namespace mq::test
