// mqtool replay, run as a real process: messages go, in order, to a second
// mailbox (plain or confirmed) or to stdout, and the source never changes.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mq/mailbox.h"
#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

const std::string kM3("m3\0bin\n", 7);  // a payload with a NUL and a newline

class MqtoolReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.File("src");
    // seqs 1..5; 2 and 4 consumed.
    MakeQueue(src_, {"m1", "m2 consumed", kM3, "m4 consumed", "m5"}, {2, 4});
  }
  void OpenTarget(SyncPolicy sync = SyncPolicy::kAlways) {
    MailboxOptions o;
    o.socket_path = dir_.File("dst.sock");
    o.queue_path = dir_.File("dst");
    o.store.sync = sync;
    Status s = Mailbox::Open(o).MoveTo(&mailbox_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // Waits (bounded) until the target mailbox has stored n datagrams, then closes it.
  void CloseTargetAfter(uint64_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (mailbox_->Stats().stored < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(mailbox_->Stats().stored, n);
    ASSERT_TRUE(mailbox_->Close().ok());
    mailbox_.reset();
  }
  std::string DumpRaw(const std::string& q) {
    ToolRun d = RunTool({"dump", q, "--format", "raw"});
    EXPECT_EQ(d.exit_code, 0) << d.err;
    return d.out;
  }
  TempDir dir_;
  std::string src_;
  std::unique_ptr<Mailbox> mailbox_;
};

TEST_F(MqtoolReplayTest, ReplayIntoASecondMailboxThenDumpShowsTheSamePayloadsInOrder) {
  OpenTarget();
  auto before = Snapshot(dir_.path());
  ToolRun r = RunTool({"replay", src_, "--to", dir_.File("dst.sock")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReplaceAll(r.out, dir_.path(), "D"),
            "D/src: sent 3 messages (seq 1..5) to D/dst.sock (not confirmed: add --confirm to wait until they "
            "are stored)\n");
  CloseTargetAfter(3);
  EXPECT_EQ(DumpRaw(dir_.File("dst")), "m1\n" + kM3 + "\nm5\n");
  EXPECT_EQ(DumpRaw(src_), DumpRaw(dir_.File("dst")));
  auto after = Snapshot(dir_.path());
  EXPECT_EQ(after["src"], before["src"]);
  EXPECT_EQ(after["src.idx"], before["src.idx"]);
}

TEST_F(MqtoolReplayTest, ConfirmedReplayReportsTheSeqsTheTargetAssigned) {
  OpenTarget(SyncPolicy::kBatch);
  ToolRun r = RunTool({"replay", src_, "--to", dir_.File("dst.sock"), "--confirm", "--include-consumed",
                       "--from", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReplaceAll(r.out, dir_.path(), "D"),
            "D/src: sent 4 messages (seq 2..5) to D/dst.sock; all confirmed stored (as seq 1..4)\n");
  // Confirmed: stored before the answer, so no waiting is needed here.
  EXPECT_EQ(mailbox_->Stats().stored, 4u);
  ASSERT_TRUE(mailbox_->Close().ok());
  mailbox_.reset();
  EXPECT_EQ(DumpRaw(dir_.File("dst")), "m2 consumed\n" + kM3 + "\nm4 consumed\nm5\n");
}

TEST_F(MqtoolReplayTest, RateLimitedReplayStillSendsEverythingInOrder) {
  OpenTarget();
  ToolRun r = RunTool({"replay", src_, "--to", dir_.File("dst.sock"), "--rate", "200"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  CloseTargetAfter(3);
  EXPECT_EQ(DumpRaw(dir_.File("dst")), DumpRaw(src_));
}

TEST_F(MqtoolReplayTest, ToStdoutWritesDumpsRawAndJsonlForms) {
  ToolRun raw = RunTool({"replay", src_, "--to", "-", "--until", "3"});
  EXPECT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_EQ(raw.out, "m1\n" + kM3 + "\n");
  ToolRun jsonl = RunTool({"replay", src_, "--to", "-", "--format", "jsonl", "--include-consumed"});
  ToolRun dump = RunTool({"dump", src_, "--format", "jsonl", "--all"});
  EXPECT_EQ(jsonl.exit_code, 0) << jsonl.err;
  EXPECT_EQ(jsonl.out, dump.out);
  EXPECT_EQ(jsonl.out.substr(0, jsonl.out.find('\n') + 1),
            "{\"seq\":1,\"offset\":76,\"state\":\"pending\",\"size\":2,\"payload_b64\":\"bTE=\"}\n");
}

TEST(MqtoolReplayKeyTest, KeySelectsMessagesByTheIndexedExtractor) {
  TempDir dir;
  std::string q = dir.File("q");
  MakeQueue(q, {"red:1", "blue:2", "red:3"}, {}, "until::");
  ToolRun r = RunTool({"replay", q, "--to", "-", "--key", "red"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "red:1\nred:3\n");
}

TEST(MqtoolReplayLegacyTest, OriginalFormatQueueReplaysInFileOrder) {
  TempDir dir;
  std::string q = dir.File("old");
  std::string bytes = LegacyBytes({{false, "a0"}, {true, "a1"}, {false, "b0"}});
  WriteFileOrDie(q, bytes);
  ToolRun r = RunTool({"replay", q, "--to", "-", "--include-consumed"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a0\na1\nb0\n");
  EXPECT_EQ(ReadFileOrDie(q), bytes);
}

TEST_F(MqtoolReplayTest, MissingSocketFailsNamingItAndSendsNothing) {
  ToolRun r = RunTool({"replay", src_, "--to", dir_.File("nobody.sock")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("mqtool: " + dir_.File("nobody.sock") + ": ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("no such socket"), std::string::npos) << r.err;
}

TEST_F(MqtoolReplayTest, ConfirmToStdoutIsAUsageError) {
  ToolRun r = RunTool({"replay", src_, "--to", "-", "--confirm"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--confirm needs a mailbox socket"), std::string::npos) << r.err;
}

TEST_F(MqtoolReplayTest, MissingToIsAUsageError) {
  ToolRun r = RunTool({"replay", src_});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing --to SOCKET|-"), std::string::npos) << r.err;
}

TEST_F(MqtoolReplayTest, MalformedRateIsAUsageError) {
  ToolRun r = RunTool({"replay", src_, "--to", "-", "--rate", "fast"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--rate: 'fast' is not a number"), std::string::npos) << r.err;
}

TEST_F(MqtoolReplayTest, BadSourceFailsBeforeConnecting) {
  std::string junk = dir_.File("junk");
  WriteFileOrDie(junk, std::string(100, '\x7f'));
  ToolRun r = RunTool({"replay", junk, "--to", dir_.File("nobody.sock")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err.rfind("mqtool: " + junk + ": not an mq message log", 0), 0u) << r.err;
  EXPECT_EQ(ReadFileOrDie(junk), std::string(100, '\x7f'));
}

}  // namespace
}  // namespace mq::test
