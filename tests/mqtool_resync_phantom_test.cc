// Issue 17 item 7: a payload that holds a framed record ("seq 999, inner")
// must never come back as a message when the message around it is damaged.
// Before, resynchronisation took the first framed record that checked out,
// so `dump`, `check`, `replay` and a salvaging open returned seq 999 and
// called the intact messages after it a torn tail. docs/log-format.md,
// "Resynchronising".
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "format/log_format.h"
#include "format/record.h"
#include "mq/store.h"
#include "mqtool_harness.h"
#include "test_util.h"
#include "util/coding.h"

namespace mq::test {
namespace {

// A payload a sender controls: a few bytes, then a whole framed record.
std::string PhantomPayload() {
  std::string inner;
  log::AppendFramed(&inner, 999, "inner");
  return "pre:" + inner;
}

enum class Damage { kMessageSize, kMetaSize };

class MqtoolResyncPhantomTest : public ::testing::TestWithParam<Damage> {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    MakeQueue(q_, {"m1", "m2", PhantomPayload(), "m4", "m5"});
    std::string bytes = ReadFileOrDie(q_);
    const size_t inner = bytes.find(PhantomPayload());
    ASSERT_NE(inner, std::string::npos);
    const size_t meta = inner - log::kFramedOverhead;  // message 3's meta record
    ASSERT_EQ(DecodeFixed64(bytes.data() + meta + log::kMetaSeqOffset), 3u);
    if (GetParam() == Damage::kMessageSize) {
      char* size = bytes.data() + meta + log::kMetaRecordSize + 4;
      EncodeFixed32(size, DecodeFixed32(size) + 3);  // still in the file: a checksum mismatch
    } else {
      EncodeFixed32(bytes.data() + meta + 4, 13);  // a meta record whose size is not 12
    }
    damaged_at_ = meta;
    WriteFileOrDie(q_, bytes);
    // No index: every reader, the open included, reads the log itself.
    ASSERT_EQ(::unlink((q_ + ".idx").c_str()), 0);
  }
  TempDir dir_;
  std::string q_;
  size_t damaged_at_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Damages, MqtoolResyncPhantomTest,
                         ::testing::Values(Damage::kMessageSize, Damage::kMetaSize),
                         [](const ::testing::TestParamInfo<Damage>& p) {
                           return std::string(p.param == Damage::kMessageSize ? "MessageSize" : "MetaSize");
                         });

std::vector<std::string> SeqsIn(const std::string& jsonl) {
  std::vector<std::string> seqs;
  for (size_t at = jsonl.find("\"seq\":"); at != std::string::npos; at = jsonl.find("\"seq\":", at + 1))
    seqs.push_back(jsonl.substr(at + 6, jsonl.find(',', at) - at - 6));
  return seqs;
}

TEST_P(MqtoolResyncPhantomTest, DumpNeverShowsThePayloadsRecordAndKeepsTheIntactMessagesAfterIt) {
  ToolRun d = RunTool({"dump", q_, "--all", "--format", "jsonl"});
  EXPECT_EQ(d.exit_code, 1) << d.err;  // damaged bytes were skipped
  EXPECT_EQ(SeqsIn(d.out), (std::vector<std::string>{"1", "2", "4", "5"})) << d.out;
  EXPECT_EQ(d.err.find("torn tail"), std::string::npos) << d.err;
}

TEST_P(MqtoolResyncPhantomTest, CheckReportsDamageInTheMiddleNotATornTailAndNoSeq999) {
  ToolRun c = RunTool({"check", q_});
  EXPECT_EQ(c.exit_code, 1) << c.out << c.err;
  EXPECT_NE(c.out.find("offset " + std::to_string(damaged_at_)), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("torn tail"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("999"), std::string::npos) << c.out;
}

TEST_P(MqtoolResyncPhantomTest, ReplaySendsOnlyTheMessagesThatWereSent) {
  ToolRun r = RunTool({"replay", q_, "--to", "-"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "m1\nm2\nm4\nm5\n");
}

TEST_P(MqtoolResyncPhantomTest, SalvageKeepsEveryIntactMessageAndNeverSeq999) {
  StoreOptions o;
  o.recovery = RecoveryMode::kSalvage;
  std::unique_ptr<Store> s;
  Status st = Store::Open(q_, o).MoveTo(&s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::vector<uint64_t> seqs;
  std::vector<std::string> payloads;
  st = s->ScanPending(0, [&](const MessageView& m) {
    seqs.push_back(m.seq);
    payloads.emplace_back(m.payload);
    return true;
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2, 4, 5}));
  EXPECT_EQ(payloads, (std::vector<std::string>{"m1", "m2", "m4", "m5"}));
  ASSERT_TRUE(s->Close().ok());
}

}  // namespace
}  // namespace mq::test
