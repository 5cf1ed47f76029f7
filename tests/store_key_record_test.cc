// The queue's key extractor lives in the log, as key extractor records
// (docs/log-format.md, "Key extractor records"): an index rebuild and a
// compaction keep it, a different one is refused unless StoreOptions::rekey
// asks for it, and the original reader still sees exactly the messages.
// One test per "must" of that section.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "util/crc32c.h"
#include "mq/store.h"
#include "store_testing.h"
#include "test_util.h"

namespace mq {
namespace {

using test::Le32;

constexpr size_t kHeader = 56;  // the file header record


// The record as docs/log-format.md specifies it, built here independently.
std::string KeyRecord(const std::string& spec) {
  std::string r = std::string("mqK\x01", 4) + Le32(static_cast<uint32_t>(spec.size() + 4)) + spec;
  return r + Le32(crc32c::Mask(crc32c::Value(r.data(), r.size())));
}

// The original design's iter_queue (as in store_compat_test.cc).
std::vector<std::string> SeedIterQueue(const std::string& file) {
  std::vector<std::string> out;
  int64_t pos = 0;
  const auto end = static_cast<int64_t>(file.size());
  while (end - pos >= 8) {
    int32_t used = 0, size = 0;
    std::memcpy(&used, file.data() + pos, 4);
    std::memcpy(&size, file.data() + pos + 4, 4);
    pos += 8;
    if (used != 0) {
      pos += size;
      if (pos < 0) break;
      continue;
    }
    if (size < 0 || end - pos < size) break;
    out.emplace_back(file.substr(static_cast<size_t>(pos), static_cast<size_t>(size)));
    pos += size;
  }
  return out;
}

class StoreKeyRecordTest : public ::testing::Test {
 protected:
  void SetUp() override { q_ = dir_.File("q"); }

  static StoreOptions Opts(KeyExtractor key = KeyExtractor::None(), bool rekey = false) {
    StoreOptions o;
    o.sync = SyncPolicy::kNone;
    o.auto_compact = false;
    o.key = key;
    o.rekey = rekey;
    return o;
  }
  std::unique_ptr<Store> Open(const StoreOptions& o) {
    std::unique_ptr<Store> s;
    Status st = Store::Open(q_, o).MoveTo(&s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }
  // A queue created with until:':' holding ab:1 ac:2 ab:3.
  void MakeKeyed() {
    auto s = Open(Opts(KeyExtractor::UntilDelimiter(':')));
    ASSERT_NE(s, nullptr);
    for (const char* p : {"ab:1", "ac:2", "ab:3"}) {
      uint64_t seq = 0;
      ASSERT_TRUE(s->Append(p).MoveTo(&seq).ok());
    }
    ASSERT_TRUE(s->Close().ok());
  }
  void DeleteIndex() {
    std::filesystem::remove(q_ + ".idx");
    std::filesystem::remove(q_ + ".idx-lock");
  }
  // The seq FirstByKey finds for `key`, 0 for kNotFound; fails on any other error.
  static uint64_t FirstSeqByKey(Store* s, const std::string& key) {
    Message m;
    Status st = s->FirstByKey(key, &m);
    if (st.code() == Status::Code::kNotFound) return 0;
    EXPECT_TRUE(st.ok()) << st.ToString();
    return st.ok() ? m.seq : 0;
  }

  test::TempDir dir_;
  std::string q_;
};

// Must: a store created with a key extractor records it right after the
// header, in exactly the documented bytes.
TEST_F(StoreKeyRecordTest, CreatingWithAnExtractorWritesTheDocumentedRecordAfterTheHeader) {
  MakeKeyed();
  std::string log = test::ReadFileOrDie(q_);
  const std::string want = KeyRecord("until::");
  ASSERT_GE(log.size(), kHeader + want.size());
  EXPECT_EQ(log.substr(kHeader, want.size()), want);
  EXPECT_EQ(want.size(), 19u);  // 8 + 7 spec bytes + 4 checksum
}

// Must: rebuilding the index (here: it was deleted) takes the extractor
// from the log, with no key given at open.
TEST_F(StoreKeyRecordTest, DeletedIndexIsRebuiltWithTheExtractorTheLogRecords) {
  MakeKeyed();
  DeleteIndex();
  auto s = Open(Opts());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(FirstSeqByKey(s.get(), "ab"), 1u);
  EXPECT_EQ(FirstSeqByKey(s.get(), "ac"), 2u);
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt) << mq::DescribeIndexAction(s->open_report());
  EXPECT_EQ(test::PendingMessages(s.get()).size(), 3u);  // the record is not a message
}

// Must: compaction copies the current extractor into the new log, once,
// right after the header.
TEST_F(StoreKeyRecordTest, CompactionKeepsTheExtractorAcrossAnIndexRebuild) {
  MakeKeyed();
  {
    auto s = Open(Opts());
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->Consume(1).ok());
    CompactionResult r;
    ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  std::string log = test::ReadFileOrDie(q_);
  EXPECT_EQ(log.substr(kHeader, 19), KeyRecord("until::"));
  EXPECT_EQ(log.find("mqK\x01", kHeader + 1), std::string::npos) << "more than one key record after compaction";
  DeleteIndex();
  auto s = Open(Opts());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(FirstSeqByKey(s.get(), "ab"), 3u);
  EXPECT_EQ(FirstSeqByKey(s.get(), "ac"), 2u);
}

// Must: a writer never changes the recorded extractor unless asked to: a
// different one is refused, naming both and the option, and nothing on
// disk changes.
TEST_F(StoreKeyRecordTest, DifferentExtractorWithoutRekeyIsRefusedAndChangesNothing) {
  MakeKeyed();
  const std::string log_before = test::ReadFileOrDie(q_);
  const std::string idx_before = test::ReadFileOrDie(q_ + ".idx");
  std::unique_ptr<Store> s;
  Status st = Store::Open(q_, Opts(KeyExtractor::FirstBytes(1))).MoveTo(&s);
  ASSERT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("until::"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("first:1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("rekey"), std::string::npos) << st.message();
  EXPECT_EQ(test::ReadFileOrDie(q_), log_before);
  EXPECT_EQ(test::ReadFileOrDie(q_ + ".idx"), idx_before);
  DeleteIndex();
  s = Open(Opts());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(FirstSeqByKey(s.get(), "ab"), 1u);
}

// Must: the last key extractor record in the log wins; rekey appends one,
// and a rebuild keeps it.
TEST_F(StoreKeyRecordTest, RekeyRecordsTheNewExtractorAndARebuildKeepsIt) {
  MakeKeyed();
  {
    auto s = Open(Opts(KeyExtractor::FirstBytes(1), /*rekey=*/true));
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(FirstSeqByKey(s.get(), "a"), 1u);
    EXPECT_EQ(FirstSeqByKey(s.get(), "ab"), 0u);
    ASSERT_TRUE(s->Close().ok());
  }
  std::string log = test::ReadFileOrDie(q_);
  const std::string rec = KeyRecord("first:1");
  ASSERT_GE(log.size(), rec.size());
  EXPECT_EQ(log.substr(log.size() - rec.size()), rec);
  DeleteIndex();
  auto s = Open(Opts());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(FirstSeqByKey(s.get(), "a"), 1u);
  EXPECT_EQ(FirstSeqByKey(s.get(), "ab"), 0u);
  // Appending after the record and reopening keeps both (the index is trusted
  // across a key record that follows its last message).
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("zz:4").MoveTo(&seq).ok());
  ASSERT_TRUE(s->Close().ok());
  s = Open(Opts());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
  EXPECT_EQ(FirstSeqByKey(s.get(), "z"), 4u);
}

// The index stays trusted when key records follow its last message (a rekey
// with no message after it; a keyed queue with no message at all): a key
// record is not a message, so it cannot be the index's tail.
TEST_F(StoreKeyRecordTest, IndexIsTrustedWhenKeyRecordsFollowItsLastMessage) {
  MakeKeyed();
  { ASSERT_NE(Open(Opts(KeyExtractor::FirstBytes(1), true)), nullptr); }
  auto s = Open(Opts());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
  EXPECT_EQ(FirstSeqByKey(s.get(), "a"), 1u);
  s.reset();
  q_ = dir_.File("empty");
  { ASSERT_NE(Open(Opts(KeyExtractor::UntilDelimiter(':'))), nullptr); }
  s = Open(Opts());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
}

// A queue that records none takes the first extractor given (as creation
// does) and records it.
TEST_F(StoreKeyRecordTest, QueueWithoutExtractorTakesTheFirstOneGivenAndRecordsIt) {
  {
    auto s = Open(Opts());
    uint64_t seq = 0;
    ASSERT_TRUE(s->Append("ab:1").MoveTo(&seq).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  { ASSERT_NE(Open(Opts(KeyExtractor::UntilDelimiter(':'))), nullptr); }
  DeleteIndex();
  auto s = Open(Opts());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(FirstSeqByKey(s.get(), "ab"), 1u);
}

// Must: a key record whose checksum does not match is damage, never used.
TEST_F(StoreKeyRecordTest, KeyRecordWithBadChecksumIsRefusedAsDamage) {
  MakeKeyed();
  DeleteIndex();
  std::string log = test::ReadFileOrDie(q_);
  log[kHeader + 8] ^= 0x01;  // 'u' of "until::"
  test::WriteFileOrDie(q_, log);
  std::unique_ptr<Store> s;
  Status st = Store::Open(q_, Opts()).MoveTo(&s);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("offset 56: checksum mismatch in key extractor record"), std::string::npos)
      << st.message();
  EXPECT_EQ(test::ReadFileOrDie(q_), log);
}

// Must: a spec this mq does not know is damage, never taken for "none".
TEST_F(StoreKeyRecordTest, UnknownExtractorSpecIsRefusedAsDamage) {
  MakeKeyed();
  DeleteIndex();
  std::string log = test::ReadFileOrDie(q_);
  log.replace(kHeader, 19, KeyRecord("regex:a"));  // same length as "until::"
  test::WriteFileOrDie(q_, log);
  std::unique_ptr<Store> s;
  Status st = Store::Open(q_, Opts()).MoveTo(&s);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("offset 56: key extractor record holds 'regex:a', which is not a key extractor"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(test::ReadFileOrDie(q_), log);
}

// Must: a key record cut short at the end of the log is a torn tail (a
// writer died appending it): cut, and the extractor before it stays.
TEST_F(StoreKeyRecordTest, TornKeyRecordAtTheEndIsCutAndTheEarlierExtractorStays) {
  MakeKeyed();
  DeleteIndex();
  std::string log = test::ReadFileOrDie(q_);
  const size_t size = log.size();
  log += KeyRecord("first:1").substr(0, 12);
  test::WriteFileOrDie(q_, log);
  auto s = Open(Opts());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->open_report().tail_cut_offset, size);
  EXPECT_EQ(FirstSeqByKey(s.get(), "ab"), 1u);
}

// Must: the original reader skips key records and yields exactly the
// pending messages (creation, rekey and compaction each wrote one).
TEST_F(StoreKeyRecordTest, OriginalReaderStillReadsExactlyThePendingMessages) {
  MakeKeyed();
  {
    auto s = Open(Opts(KeyExtractor::FirstBytes(1), true));
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->Consume(2).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  const std::vector<std::string> want = {"ab:1", "ab:3"};
  EXPECT_EQ(SeedIterQueue(test::ReadFileOrDie(q_)), want);
#ifdef MQ_PYTHON3
  std::string cmd = std::string("'") + MQ_PYTHON3 + "' '" + MQ_SEED_READER_PY + "' '" + q_ + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << cmd;
  EXPECT_EQ(out, "61623a31\n61623a33\n");  // hex of ab:1, ab:3
#endif
  {
    auto s = Open(Opts());
    CompactionResult r;
    ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  EXPECT_EQ(SeedIterQueue(test::ReadFileOrDie(q_)), want);
}

}  // namespace
}  // namespace mq
