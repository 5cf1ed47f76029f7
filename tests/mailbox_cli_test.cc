// mqtool's actor commands, run as real processes: send (plain, confirmed,
// from stdin) and recv (with and without the socket, patterns, formats,
// exit codes).
#include <gtest/gtest.h>
#include <signal.h>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/store.h"

namespace mq {
namespace {

using test::MqtoolPath;
using test::ProcResult;
using test::RunProcess;

class MailboxCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (MqtoolPath().empty()) GTEST_SKIP() << "mqtool is not built";
    queue_ = dir_.File("queue");
    socket_ = dir_.File("sock");
  }
  ProcResult Tool(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), MqtoolPath());
    return RunProcess(args, input);
  }
  void StoreMessages(const std::vector<std::string>& payloads, const std::string& key = "") {
    StoreOptions o;
    if (!key.empty()) o.key = KeyExtractor::Parse(key).value();
    std::unique_ptr<mq::Store> s;
    ASSERT_TRUE(mq::Store::Open(queue_, o).MoveTo(&s).ok());
    std::vector<std::string_view> v(payloads.begin(), payloads.end());
    uint64_t first = 0;
    ASSERT_TRUE(s->AppendBatch(v).MoveTo(&first).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  test::TempDir dir_;
  std::string queue_, socket_;
};

TEST_F(MailboxCliTest, SendThenRecvWithSocketReceivesInPatternOrder) {
  const std::string out = dir_.File("out");
  pid_t recv = test::SpawnProcess({MqtoolPath(), "recv", queue_, "--socket", socket_, "--match", "prefix:b",
                                   "--count", "2", "--timeout", "20"},
                                  out);
  ASSERT_TRUE(test::WaitUntil([&] { return test::FileExists(socket_); }));
  ProcResult s = Tool({"send", socket_, "a0", "a1", "b0", "b1"});
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(test::WaitProcess(recv), 0);
  EXPECT_EQ(test::ReadFileOrDie(out), "b0\nb1\n");
  EXPECT_FALSE(test::FileExists(socket_)) << "recv left its socket behind";
  ProcResult r = Tool({"recv", queue_, "--count", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a0\na1\n");
}

TEST_F(MailboxCliTest, RecvWithoutSocketExitsOneWhenFewerMessagesAreStored) {
  StoreMessages({"only"});
  ProcResult r = Tool({"recv", queue_, "--count", "3"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "only\n");
  r = Tool({"recv", queue_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
}

TEST_F(MailboxCliTest, RecvJsonlGivesSeqAndBase64Payload) {
  StoreMessages({"skip", std::string("x\ny\0", 4)});
  ProcResult r = Tool({"recv", queue_, "--match", "prefix:x", "--format", "jsonl"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"seq\":2,\"payload_b64\":\"eAp5AA==\"}\n");
}

TEST_F(MailboxCliTest, RecvByKeyUsesTheQueuesKeyExtractor) {
  StoreMessages({"a:1", "b:1", "a:2"}, "until::");
  ProcResult r = Tool({"recv", queue_, "--match", "key:b"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "b:1\n");
}

TEST_F(MailboxCliTest, RecvWithAckAfterPrintConsumesWhatItPrinted) {
  StoreMessages({"m1", "m2"});
  ProcResult r = Tool({"recv", queue_, "--ack-after-print"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "m1\n");
  r = Tool({"recv", queue_, "--count", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "m2\n");
}

TEST_F(MailboxCliTest, RecvOfAMissingQueueFailsWithExitThreeAndCreatesNothing) {
  ProcResult r = Tool({"recv", queue_});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(queue_), std::string::npos) << r.err;
  EXPECT_FALSE(test::FileExists(queue_));
}

TEST_F(MailboxCliTest, MalformedMatchIsAUsageErrorNamingTheByte) {
  StoreMessages({"m"});
  ProcResult r = Tool({"recv", queue_, "--match", "prefix:\\q"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("at byte 7"), std::string::npos) << r.err;
  r = Tool({"recv", queue_, "--count", "2", "--follow"});
  EXPECT_EQ(r.exit_code, 2);
  r = Tool({"recv", queue_, "--match", "key:x"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("key extractor"), std::string::npos) << r.err;
}

TEST_F(MailboxCliTest, ConfirmedSendOfStdinLinesPrintsEachSeq) {
  MailboxOptions o;
  o.socket_path = socket_;
  o.queue_path = queue_;
  o.store.sync = SyncPolicy::kAlways;
  auto mb = test::OpenMailboxOrDie(o);
  ProcResult r = Tool({"send", socket_, "--confirm"}, "l1\nl2\nl3\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n2\n3\n");
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), 3), (std::vector<std::string>{"l1", "l2", "l3"}));
}

TEST_F(MailboxCliTest, ConfirmedSendOfAnOversizeMessageFailsWithExitThree) {
  MailboxOptions o;
  o.socket_path = socket_;
  o.queue_path = queue_;
  o.max_message_size = 4;
  auto mb = test::OpenMailboxOrDie(o);
  ProcResult r = Tool({"send", socket_, "--confirm", "ok", "too long"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "1\n");
  EXPECT_NE(r.err.find("message 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("maximum"), std::string::npos) << r.err;
}

TEST_F(MailboxCliTest, EscapedSendDecodesEscapes) {
  MailboxOptions o;
  o.socket_path = socket_;
  o.queue_path = queue_;
  auto mb = test::OpenMailboxOrDie(o);
  ProcResult r = Tool({"send", socket_, "--escaped", "a\\nb\\x00"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), 1), (std::vector<std::string>{std::string("a\nb\0", 4)}));
}

TEST_F(MailboxCliTest, SendToAMissingSocketFailsWithExitThreeNamingIt) {
  ProcResult r = Tool({"send", socket_, "x"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(socket_), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no such socket"), std::string::npos) << r.err;
}

TEST_F(MailboxCliTest, FollowingRecvStopsCleanlyOnSigterm) {
  const std::string out = dir_.File("out");
  pid_t recv = test::SpawnProcess({MqtoolPath(), "recv", queue_, "--socket", socket_, "--follow"}, out);
  ASSERT_TRUE(test::WaitUntil([&] { return test::FileExists(socket_); }));
  ProcResult s = Tool({"send", socket_, "--confirm", "f1", "f2"});
  EXPECT_EQ(s.exit_code, 0) << s.err;
  ASSERT_TRUE(test::WaitUntil([&] { return test::ReadFileOrDie(out) == "f1\nf2\n"; }));
  ASSERT_EQ(::kill(recv, SIGTERM), 0);
  EXPECT_EQ(test::WaitProcess(recv), 0);
  EXPECT_FALSE(test::FileExists(socket_));
}

}  // namespace
}  // namespace mq
