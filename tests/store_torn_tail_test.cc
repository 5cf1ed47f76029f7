// A torn tail: the writer died inside its last write. For every byte offset
// of that write the log is cut there and reopened; the store must open, keep
// every message that was complete before the cut, and keep the cut bytes in
// the side file it names (docs/log-format.md, "Recovery modes"; docs/design.md,
// "Recovery").
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/log_format.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

// A log's bytes without the header's session stamp and checksum (record bytes
// 48..55), which every writable open rewrites (docs/log-format.md, "File header").
std::string NoStamp(std::string b) {
  constexpr size_t kStampAt = log::kRecordHeaderSize + log::kHeaderSessionOffset;  // stamp, then checksum
  if (b.size() >= log::kHeaderRecordSize) b.replace(kStampAt, log::kHeaderRecordSize - kStampAt, log::kHeaderRecordSize - kStampAt, '\0');
  return b;
}

struct Stored {
  uint64_t seq;
  std::string payload;
  uint64_t start;  // first byte of its frame
  uint64_t end;    // one past its payload
};

class StoreTornTailTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }

  StoreOptions Opts(RecoveryMode mode = RecoveryMode::kTolerateTornTail) {
    StoreOptions o;
    o.sync = SyncPolicy::kNone;
    o.recovery = mode;
    return o;
  }

  // Writes `before` as one append each, closes (clean index), then appends
  // `last` as one batch write. Remembers the log and index after the first
  // close, the whole log after the batch, and where each message lies.
  void Prepare(const std::vector<std::string>& before, const std::vector<std::string>& last) {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&s).ok());
    uint64_t seq = 0;
    for (const std::string& p : before) ASSERT_TRUE(s->Append(p).MoveTo(&seq).ok());
    ASSERT_TRUE(s->Close().ok());
    log_before_ = test::ReadFileOrDie(path_);
    index_before_ = test::ReadFileOrDie(path_ + ".idx");
    ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&s).ok());
    std::vector<std::string_view> views(last.begin(), last.end());
    ASSERT_TRUE(s->AppendBatch(views).MoveTo(&seq).ok());
    ASSERT_TRUE(s->Close().ok());
    log_after_ = test::ReadFileOrDie(path_);
    messages_.clear();
    uint64_t pos = log::kHeaderRecordSize;
    uint64_t n = 1;
    for (const auto* list : {&before, &last})
      for (const std::string& p : *list) {
        messages_.push_back(Stored{n++, p, pos, pos + log::kFramedOverhead + p.size()});
        pos += log::kFramedOverhead + p.size();
      }
    ASSERT_EQ(pos, log_after_.size());
  }

  // Cuts the log at `cut`, reopens, and checks everything a torn tail promises.
  void CheckCutAt(uint64_t cut, bool keep_index) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + (keep_index ? ", index kept" : ", index lost"));
    dir_.Clear();
    test::WriteFileOrDie(path_, log_after_.substr(0, cut));
    if (keep_index) test::WriteFileOrDie(path_ + ".idx", index_before_);

    // The last message boundary at or before the cut: everything before it is intact.
    uint64_t boundary = log::kHeaderRecordSize;
    std::map<uint64_t, std::string> want;
    for (const Stored& m : messages_)
      if (m.end <= cut) {
        boundary = m.end;
        want.emplace(m.seq, m.payload);
      }

    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, Opts()).MoveTo(&s);
    ASSERT_TRUE(st.ok()) << st.ToString();
    const OpenReport& r = s->open_report();
    std::map<uint64_t, std::string> got;
    ASSERT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
      got.emplace(v.seq, std::string(v.payload));
      return true;
    }).ok());
    EXPECT_EQ(got, want);
    for (const auto& [seq, payload] : want) {
      Message m;
      ASSERT_TRUE(s->Get(seq, &m).ok()) << seq;
      EXPECT_EQ(m.payload, payload);
    }
    EXPECT_EQ(r.damaged_regions, 0u);
    if (boundary == cut) {
      EXPECT_EQ(r.tail_cut_bytes, 0u);
      EXPECT_TRUE(r.side_files.empty());
    } else {
      EXPECT_EQ(r.tail_cut_offset, boundary);
      EXPECT_EQ(r.tail_cut_bytes, cut - boundary);
      ASSERT_EQ(r.side_files.size(), 1u);
      EXPECT_EQ(r.side_files[0], path_ + ".cut-" + std::to_string(boundary));
      EXPECT_EQ(test::ReadFileOrDie(r.side_files[0]), log_after_.substr(boundary, cut - boundary));
    }
    // The store goes on from the intact prefix.
    uint64_t seq = 0;
    ASSERT_TRUE(s->Append("after").MoveTo(&seq).ok());
    EXPECT_GT(seq, want.empty() ? 0 : want.rbegin()->first);
    ASSERT_TRUE(s->Close().ok());
    const std::string now = test::ReadFileOrDie(path_);
    EXPECT_EQ(NoStamp(now.substr(0, boundary)), NoStamp(log_after_.substr(0, boundary)));
    EXPECT_EQ(now.size(), boundary + log::kFramedOverhead + 5);
  }

  test::FastTempDir dir_;  // hundreds of opens: fsyncs would dominate
  std::string path_;
  std::string log_before_, index_before_, log_after_;
  std::vector<Stored> messages_;
};

TEST_F(StoreTornTailTest, TornSingleAppendIsCutIntoSideFileAtEveryByteOffset) {
  Prepare({"first", "", "third message"}, {"the last append, torn somewhere"});
  for (uint64_t cut = log_before_.size(); cut <= log_after_.size(); ++cut) {
    CheckCutAt(cut, /*keep_index=*/cut % 2 == 0);
    if (HasFatalFailure()) return;
  }
}

TEST_F(StoreTornTailTest, TornBatchAppendKeepsEveryMessageCompletedBeforeTheCut) {
  std::vector<std::string> batch;
  for (int i = 0; i < 8; ++i) batch.push_back(std::string(static_cast<size_t>(i * 3 % 11), static_cast<char>('a' + i)));
  Prepare({"x", "y"}, batch);
  for (uint64_t cut = log_before_.size(); cut <= log_after_.size(); ++cut) {
    CheckCutAt(cut, /*keep_index=*/cut % 2 == 1);
    if (HasFatalFailure()) return;
  }
}

TEST_F(StoreTornTailTest, TornTailIsCutTheSameWayInSalvageMode) {
  Prepare({"a", "b"}, {"torn"});
  const uint64_t cut = log_after_.size() - 2;
  test::WriteFileOrDie(path_, log_after_.substr(0, cut));
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kSalvage)).MoveTo(&s).ok());
  ASSERT_EQ(s->open_report().side_files.size(), 1u);
  EXPECT_EQ(s->open_report().side_files[0], path_ + ".cut-" + std::to_string(log_before_.size()));
  EXPECT_EQ(test::ReadFileOrDie(s->open_report().side_files[0]), log_after_.substr(log_before_.size(), cut - log_before_.size()));
  EXPECT_EQ(s->open_report().damaged_regions, 0u);
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(NoStamp(test::ReadFileOrDie(path_)), NoStamp(log_before_));
}

TEST_F(StoreTornTailTest, AbsoluteModeRefusesATornTailAndLeavesItInPlace) {
  Prepare({"a", "b"}, {"torn"});
  const std::string torn = log_after_.substr(0, log_after_.size() - 1);
  test::WriteFileOrDie(path_, torn);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts(RecoveryMode::kAbsoluteConsistency)).MoveTo(&s);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find(path_ + ": offset " + std::to_string(log_before_.size()) + ": torn tail"),
            std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("mqtool recover"), std::string::npos) << st.ToString();
  EXPECT_EQ(test::ReadFileOrDie(path_), torn);
  EXPECT_FALSE(test::FileExists(path_ + ".cut-" + std::to_string(log_before_.size())));
}

TEST_F(StoreTornTailTest, SideFileNameThatIsTakenGetsANumberAndTheOldFileIsKept) {
  Prepare({"a"}, {"torn twice"});
  const uint64_t boundary = log_before_.size();
  const std::string taken = path_ + ".cut-" + std::to_string(boundary);
  test::WriteFileOrDie(taken, "from an earlier crash");
  test::WriteFileOrDie(path_, log_after_.substr(0, log_after_.size() - 3));
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&s).ok());
  ASSERT_EQ(s->open_report().side_files.size(), 1u);
  EXPECT_EQ(s->open_report().side_files[0], taken + ".1");
  EXPECT_EQ(test::ReadFileOrDie(taken), "from an earlier crash");
  EXPECT_EQ(test::ReadFileOrDie(taken + ".1"), log_after_.substr(boundary, log_after_.size() - 3 - boundary));
}

}  // namespace
}  // namespace mq
