// The bytes the store writes, checked against docs/log-format.md with an
// independent CRC-32C and hand-built records: the file header, meta records,
// message records, the used flag, the worked example, and the grammar rules
// a reader applies (header only at offset 0, framed-only after a frame,
// increasing sequence numbers, damaged flags).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "format/log_format.h"
#include "mq/inspect.h"
#include "mq/store.h"
#include "format/record.h"
#include "test_util.h"

namespace mq {
namespace {

using test::Le32;
using test::Le64;

// ---- An independent reading of the spec (not the store's own code) ----

uint32_t RefCrc32c(std::string_view data) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}
uint32_t RefMask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

uint32_t Get32(const std::string& b, size_t off) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[off + i]);
  return v;
}
uint64_t Get64(const std::string& b, size_t off) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[off + i]);
  return v;
}
std::string FromHex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) continue;  // spaces and line breaks
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

// A framed message as the spec describes it, built field by field.
std::string RefFramed(uint64_t seq, std::string_view payload, int32_t used = 0) {
  std::string meta = Le32(0x014d716du) + Le32(12) + Le64(seq);
  std::string size_and_payload = Le32(static_cast<uint32_t>(payload.size())) + std::string(payload);
  uint32_t crc = RefCrc32c(meta + size_and_payload);
  return meta + Le32(RefMask(crc)) + Le32(static_cast<uint32_t>(used)) + size_and_payload;
}

StoreOptions Opts(RecoveryMode mode = RecoveryMode::kTolerateTornTail, Reporter* reporter = nullptr) {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.recovery = mode;
  o.reporter = reporter;
  return o;
}

class StoreFormatTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }
  std::unique_ptr<Store> OpenOrDie(StoreOptions opt = {}) {
    opt.sync = SyncPolicy::kNone;
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, opt).MoveTo(&s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }
  std::map<uint64_t, std::string> Pending(Store* s) {
    std::map<uint64_t, std::string> out;
    Status st = s->ScanPending(0, [&](const MessageView& v) {
      out.emplace(v.seq, std::string(v.payload));
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  // Writes a log made of a header (seq floor `floor`) and the given records.
  void WriteFramedLog(const std::string& records, uint64_t floor = 1) {
    std::string bytes;
    log::EncodeHeader(log::Header{1, 0, 0x1234, floor, 0}, &bytes);
    test::WriteFileOrDie(path_, bytes + records);
  }
  test::TempDir dir_;
  std::string path_;
};

TEST(ReferenceCrc32c, MatchesTheCastagnoliCheckValue) {
  EXPECT_EQ(RefCrc32c("123456789"), 0xe3069283u);
}

TEST_F(StoreFormatTest, NewLogIsOnlyA56ByteHeaderRecordWithTheSpecifiedFields) {
  auto s = OpenOrDie();
  const uint64_t log_id = s->Stats().log_id;
  ASSERT_TRUE(s->Close().ok());
  std::string b = test::ReadFileOrDie(path_);
  ASSERT_EQ(b.size(), 56u);
  EXPECT_EQ(b.substr(0, 4), FromHex("6d714801"));
  EXPECT_EQ(Get32(b, 4), 48u);
  EXPECT_EQ(b.substr(8, 8), std::string("mq-log\0\0", 8));
  EXPECT_EQ(Get32(b, 16), 1u) << "format version";
  EXPECT_EQ(Get32(b, 20), 0u) << "flags";
  EXPECT_EQ(Get64(b, 24), log_id);
  EXPECT_NE(log_id, 0u);
  EXPECT_EQ(Get64(b, 32), 1u) << "seq floor";
  EXPECT_NE(Get64(b, 40), 0u) << "creation time";
  EXPECT_EQ(Get32(b, 48), 1u) << "session stamp: raised by the creating open";
  EXPECT_EQ(Get32(b, 52), RefMask(RefCrc32c(b.substr(0, 48) + std::string(4, '\0'))))
      << "header checksum, the session stamp read as 0";
}

TEST_F(StoreFormatTest, EveryNewLogFileGetsItsOwnLogId) {
  auto a = OpenOrDie();
  std::unique_ptr<Store> b;
  ASSERT_TRUE(Store::Open(dir_.File("other"), StoreOptions{}).MoveTo(&b).ok());
  EXPECT_NE(a->Stats().log_id, b->Stats().log_id);
  const uint64_t before = a->Stats().log_id;
  CompactionResult r;
  ASSERT_TRUE(a->Compact().MoveTo(&r).ok());
  EXPECT_NE(a->Stats().log_id, before) << "a compacted log is a new file";
  EXPECT_EQ(Get64(test::ReadFileOrDie(path_), 24), a->Stats().log_id);
}

TEST_F(StoreFormatTest, AppendWritesAMetaRecordThenThePendingMessageRecord) {
  auto s = OpenOrDie();
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("hello").MoveTo(&seq).ok());
  ASSERT_TRUE(s->Close().ok());
  std::string b = test::ReadFileOrDie(path_);
  ASSERT_EQ(b.size(), 56u + 28u + 5u);
  EXPECT_EQ(b.substr(56), RefFramed(1, "hello"));
}

TEST_F(StoreFormatTest, BatchAppendWritesOneFramedMessagePerPayloadBackToBack) {
  auto s = OpenOrDie();
  std::vector<std::string_view> batch = {"x", "", "yz"};
  uint64_t first = 0;
  ASSERT_TRUE(s->AppendBatch(batch).MoveTo(&first).ok());
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(test::ReadFileOrDie(path_).substr(56), RefFramed(1, "x") + RefFramed(2, "") + RefFramed(3, "yz"));
}

TEST_F(StoreFormatTest, WorkedExampleOfTheSpecIsWhatTheStoreWrites) {
  auto s = OpenOrDie();
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("a0").MoveTo(&seq).ok());
  ASSERT_TRUE(s->Append("b1").MoveTo(&seq).ok());
  ASSERT_TRUE(s->Consume(2).ok());
  ASSERT_TRUE(s->Close().ok());
  std::string b = test::ReadFileOrDie(path_);
  // docs/log-format.md, "Worked example", from offset 0x38 (the header's log
  // id and creation time differ per file; its layout is checked above).
  const std::string from_spec = FromHex(
      "6d71 4d01 0c00 0000"
      "0100 0000 0000 0000 1c89 57a2 0000 0000"
      "0200 0000 6130 6d71 4d01 0c00 0000 0200"
      "0000 0000 0000 27d6 f7f9 0100 0000 0200"
      "0000 6231");
  ASSERT_EQ(b.size(), 0x74u);
  EXPECT_EQ(b.substr(0x38), from_spec);
  EXPECT_EQ(b.substr(0x38), RefFramed(1, "a0") + RefFramed(2, "b1", 1));
}

TEST_F(StoreFormatTest, WorkedExampleHeaderOfTheSpecChecksOut) {
  const std::string header = FromHex(
      "6d71 4801 3000 0000 6d71 2d6c 6f67 0000"
      "0100 0000 0000 0000 ee88 e811 febe 0b7f"
      "0100 0000 0000 0000 0954 3bc8 4561 0600"
      "0000 0000 6039 828e");
  ASSERT_EQ(header.size(), 56u);
  EXPECT_EQ(Get32(header, 52), RefMask(RefCrc32c(header.substr(0, 52))));
  log::Header h;
  Status st = log::DecodeHeader(header.data(), header.size(), "spec", &h);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(h.version, 1u);
  EXPECT_EQ(h.seq_floor, 1u);
  EXPECT_EQ(h.log_id, 0x7f0bbefe11e888eeu);
}

TEST_F(StoreFormatTest, ConsumeRewritesOnlyTheFirstByteOfTheUsedFlag) {
  auto s = OpenOrDie();
  uint64_t seq = 0;
  for (const char* p : {"one", "two", "three"}) ASSERT_TRUE(s->Append(p).MoveTo(&seq).ok());
  ASSERT_TRUE(s->Sync().ok());
  const std::string before = test::ReadFileOrDie(path_);
  Message m;
  ASSERT_TRUE(s->Get(2, &m).ok());
  ASSERT_TRUE(s->Consume(2).ok());
  ASSERT_TRUE(s->Close().ok());
  const std::string after = test::ReadFileOrDie(path_);
  ASSERT_EQ(after.size(), before.size());
  std::vector<size_t> changed;
  for (size_t i = 0; i < after.size(); ++i)
    if (after[i] != before[i]) changed.push_back(i);
  ASSERT_EQ(changed, std::vector<size_t>{m.offset});
  EXPECT_EQ(after.substr(m.offset, 4), FromHex("01000000"));
}

TEST_F(StoreFormatTest, ConsumedMessagesStillVerifyBecauseTheChecksumExcludesTheUsedFlag) {
  {
    auto s = OpenOrDie();
    uint64_t seq = 0;
    for (const char* p : {"one", "two", "three"}) ASSERT_TRUE(s->Append(p).MoveTo(&seq).ok());
    ASSERT_TRUE(s->Consume(1).ok());
    ASSERT_TRUE(s->Consume(3).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  std::vector<std::pair<uint64_t, bool>> seen;
  LogSummary sum;
  Status st = ScanLog(path_, InspectOptions{}, [&](const LogMessage& r) {
    EXPECT_TRUE(r.framed);
    seen.emplace_back(r.seq, r.consumed);
    return true;
  }).MoveTo(&sum);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(sum.damage.empty());
  EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, bool>>{{1, true}, {2, false}, {3, true}}));
  std::filesystem::remove(path_ + ".idx");  // a rebuild re-verifies every message
  auto s = OpenOrDie();
  EXPECT_EQ(s->open_report().damaged_regions, 0u);
  EXPECT_EQ(Pending(s.get()), (std::map<uint64_t, std::string>{{2, "two"}}));
}

TEST_F(StoreFormatTest, EmptyAndLargePayloadsRoundTripThroughReopenAndIndexRebuild) {
  std::string big(3u << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) >> 3);
  const std::map<uint64_t, std::string> want = {{1, ""}, {2, big}, {3, std::string("\0\n\x01", 3)}, {4, ""}};
  {
    auto s = OpenOrDie();
    uint64_t seq = 0;
    for (const auto& [k, p] : want) {
      ASSERT_TRUE(s->Append(p).MoveTo(&seq).ok());
      ASSERT_EQ(seq, k);
    }
    EXPECT_EQ(Pending(s.get()), want);
    ASSERT_TRUE(s->Close().ok());
  }
  EXPECT_EQ(test::ReadFileOrDie(path_).size(), 56u + 4 * 28u + big.size() + 3u);
  {
    auto s = OpenOrDie();
    EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
    EXPECT_EQ(Pending(s.get()), want);
    ASSERT_TRUE(s->RebuildIndex().ok());
    EXPECT_EQ(Pending(s.get()), want);
    Message m;
    ASSERT_TRUE(s->Get(2, &m).ok());
    EXPECT_EQ(m.payload, big);
  }
}

// Walks a log by the record grammar alone and returns (offset, used, size).
std::vector<std::tuple<size_t, int32_t, int32_t>> Records(const std::string& b) {
  std::vector<std::tuple<size_t, int32_t, int32_t>> out;
  size_t pos = 0;
  while (pos + 8 <= b.size()) {
    auto used = static_cast<int32_t>(Get32(b, pos));
    auto size = static_cast<int32_t>(Get32(b, pos + 4));
    out.emplace_back(pos, used, size);
    if (size < 0) break;
    pos += 8 + static_cast<size_t>(size);
  }
  EXPECT_EQ(pos, b.size()) << "records must end exactly at the end of the file";
  return out;
}

TEST_F(StoreFormatTest, EveryRecordTheStoreWritesHasAKnownKindANonNegativeSizeAndTheHeaderOnlyAtZero) {
  auto s = OpenOrDie();
  uint64_t seq = 0;
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(s->Append(std::string(static_cast<size_t>(i % 37), 'p')).MoveTo(&seq).ok());
  for (uint64_t i = 1; i <= 200; i += 3) ASSERT_TRUE(s->Consume(i).ok());
  auto check = [&](const char* when) {
    EXPECT_TRUE(s->Sync().ok());
    int metas = 0;
    for (auto [off, used, size] : Records(test::ReadFileOrDie(path_))) {
      SCOPED_TRACE(std::string(when) + " at offset " + std::to_string(off));
      EXPECT_GE(size, 0);
      if (off == 0) {
        EXPECT_EQ(used, log::kHeaderKind);
        EXPECT_EQ(size, 48);
      } else if (used == log::kMetaKind) {
        EXPECT_EQ(size, 12);
        ++metas;
      } else {
        EXPECT_TRUE(used == 0 || used == 1) << used;
      }
    }
    return metas;
  };
  EXPECT_EQ(check("after appends and consumes"), 200);
  CompactionResult r;
  ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
  EXPECT_EQ(check("after compaction"), 133);
}

TEST_F(StoreFormatTest, EmptyFileOpensAsAnEmptyQueueAndGetsAHeader) {
  test::WriteFileOrDie(path_, "");
  StoreOptions no_create;
  no_create.create_if_missing = false;
  auto s = OpenOrDie(no_create);
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->open_report().legacy);
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("m").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 1u);
  ASSERT_TRUE(s->Close().ok());
  std::string b = test::ReadFileOrDie(path_);
  ASSERT_EQ(b.size(), 56u + 29u);
  EXPECT_EQ(b.substr(0, 4), FromHex("6d714801"));
}

TEST_F(StoreFormatTest, SeqFloorOfTheHeaderSetsTheNextSequenceNumberOfAnEmptyLog) {
  WriteFramedLog("", 1000);
  auto s = OpenOrDie();
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("m").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 1000u);
}

TEST_F(StoreFormatTest, SequenceGapsAreAllowedAndTheNextNumberFollowsTheLargest) {
  WriteFramedLog(RefFramed(3, "c") + RefFramed(10, "j") + RefFramed(11, "k", 1));
  auto s = OpenOrDie();
  EXPECT_EQ(s->open_report().damaged_regions, 0u);
  EXPECT_EQ(Pending(s.get()), (std::map<uint64_t, std::string>{{3, "c"}, {10, "j"}}));
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("l").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 12u);
}

// Damage in the middle: tolerate-tail refuses; salvage keeps the neighbours.
void ExpectMiddleDamage(const std::string& path, uint64_t offset, const std::map<uint64_t, std::string>& kept) {
  const std::string before = test::ReadFileOrDie(path);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path, Opts()).MoveTo(&s);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("offset " + std::to_string(offset) + ":"), std::string::npos) << st.ToString();
  EXPECT_EQ(test::ReadFileOrDie(path), before);
  st = Store::Open(path, Opts(RecoveryMode::kSalvage)).MoveTo(&s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(s->open_report().damaged_regions, 1u);
  std::map<uint64_t, std::string> got;
  ASSERT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
    got.emplace(v.seq, std::string(v.payload));
    return true;
  }).ok());
  EXPECT_EQ(got, kept);
}

TEST_F(StoreFormatTest, HeaderRecordAfterOffsetZeroIsDamage) {
  std::string stray;
  log::EncodeHeader(log::Header{1, 0, 7, 1, 0}, &stray);
  WriteFramedLog(RefFramed(1, "a") + stray + RefFramed(2, "b"));
  ExpectMiddleDamage(path_, 56 + 29, {{1, "a"}, {2, "b"}});
}

TEST_F(StoreFormatTest, BareMessageRecordAfterAFrameIsDamage) {
  std::string bare = Le32(0) + Le32(1) + "x";
  WriteFramedLog(RefFramed(1, "a") + bare + RefFramed(3, "c"));
  ExpectMiddleDamage(path_, 56 + 29, {{1, "a"}, {3, "c"}});
}

TEST_F(StoreFormatTest, SequenceNumberThatDoesNotIncreaseIsDamage) {
  WriteFramedLog(RefFramed(1, "a") + RefFramed(5, "e") + RefFramed(5, "E") + RefFramed(6, "f"));
  ExpectMiddleDamage(path_, 56 + 2 * 29, {{1, "a"}, {5, "e"}, {6, "f"}});
}

TEST_F(StoreFormatTest, UnknownRecordKindIsDamage) {
  std::string unknown = Le32(0x12345678u) + Le32(3) + "zzz";
  WriteFramedLog(RefFramed(1, "a") + unknown + RefFramed(2, "b"));
  ExpectMiddleDamage(path_, 56 + 29, {{1, "a"}, {2, "b"}});
}

TEST_F(StoreFormatTest, UsedFlagOtherThanZeroOrOneIsReportedAndTheMessageStaysPending) {
  WriteFramedLog(RefFramed(1, "a") + RefFramed(2, "b", 7) + RefFramed(3, "c", 1));
  struct Collect : Reporter {
    void Corruption(const std::string&, uint64_t offset, uint64_t, const std::string& reason) override {
      offsets.push_back(offset);
      reasons.push_back(reason);
    }
    std::vector<uint64_t> offsets;
    std::vector<std::string> reasons;
  } reporter;
  const std::string before = test::ReadFileOrDie(path_);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts(RecoveryMode::kAbsoluteConsistency)).MoveTo(&s);
  EXPECT_TRUE(st.IsCorruption()) << "absolute mode refuses a damaged flag: " << st.ToString();
  EXPECT_EQ(test::ReadFileOrDie(path_), before);

  s = OpenOrDie(Opts(RecoveryMode::kTolerateTornTail, &reporter));
  EXPECT_EQ(s->open_report().bad_flags, 1u);
  ASSERT_EQ(reporter.offsets, std::vector<uint64_t>{56 + 29 + 20});
  EXPECT_NE(reporter.reasons[0].find("holds 7"), std::string::npos) << reporter.reasons[0];
  EXPECT_EQ(Pending(s.get()), (std::map<uint64_t, std::string>{{1, "a"}, {2, "b"}}));
  std::string now = test::ReadFileOrDie(path_);
  now.replace(48, 8, before.substr(48, 8));  // the open's session stamp (and the header checksum)
  EXPECT_EQ(now, before) << "a damaged flag is reported, not rewritten (RebuildIndex repairs it)";
  ASSERT_TRUE(s->Consume(2).ok());
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(Get32(test::ReadFileOrDie(path_), 56 + 29 + 20), 1u);
}

TEST_F(StoreFormatTest, OneByteFlipInAPayloadIsCaughtByItsChecksum) {
  WriteFramedLog(RefFramed(1, "abc") + RefFramed(2, "def"));
  std::string b = test::ReadFileOrDie(path_);
  b[56 + 28 + 1] ^= 0x20;  // "abc" -> "aBc"
  test::WriteFileOrDie(path_, b);
  LogSummary sum;
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(ScanLog(path_, InspectOptions{}, [&](const LogMessage& r) {
    seqs.push_back(r.seq);
    return true;
  }).MoveTo(&sum).ok());
  EXPECT_EQ(seqs, std::vector<uint64_t>{2});
  ASSERT_EQ(sum.damage.size(), 1u);
  EXPECT_EQ(sum.damage[0].offset, 56u);
  EXPECT_EQ(sum.damage[0].bytes, 31u);
  EXPECT_EQ(sum.damage[0].reason, "checksum mismatch in framed message");
}

}  // namespace
}  // namespace mq
