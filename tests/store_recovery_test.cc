// Recovery modes (docs/log-format.md, "Recovery modes"; docs/design.md,
// "Recovery"): tolerate-tail refuses damage in the middle and says how to
// salvage; absolute refuses any damage; salvage keeps every intact message,
// moves damaged bytes to side files first and keeps sequence numbers. A
// refused open or recovery changes nothing in the log.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "mq/inspect.h"
#include "mq/store.h"
#include "store_testing.h"
#include "test_util.h"

namespace mq {
namespace {

// A log's bytes without the header's session stamp and checksum (record bytes
// 48..55), which every writable open rewrites (docs/log-format.md, "File header").
std::string NoStamp(std::string b) {
  if (b.size() >= 56) b.replace(48, 8, 8, '\0');
  return b;
}

struct Msg {
  std::string payload;
  uint64_t start = 0, msg_offset = 0, end = 0;
};

StoreOptions Opts(RecoveryMode mode, Reporter* reporter = nullptr) {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.recovery = mode;
  o.reporter = reporter;
  return o;
}

std::vector<std::string> DirNames(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class StoreRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("q");
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kTolerateTornTail)).MoveTo(&s).ok());
    uint64_t seq = 0;
    for (int i = 1; i <= 12; ++i) ASSERT_TRUE(s->Append("message " + std::to_string(i) + std::string(static_cast<size_t>(i), '.')).MoveTo(&seq).ok());
    ASSERT_TRUE(s->Consume(6).ok());
    ASSERT_TRUE(s->Close().ok());
    good_ = test::ReadFileOrDie(path_);
    LogSummary sum;
    ASSERT_TRUE(ScanLog(path_, InspectOptions{}, [&](const LogMessage& r) {
      msgs_[r.seq] = Msg{std::string(r.payload), r.start, r.msg_offset, r.end};
      return true;
    }).MoveTo(&sum).ok());
    ASSERT_EQ(msgs_.size(), 12u);
    std::filesystem::remove(path_ + ".idx");  // so that opening scans the whole log
    std::filesystem::remove(path_ + ".idx-lock");
  }

  // Flips one payload byte of each listed message (never a flag).
  std::string Damage(std::initializer_list<uint64_t> seqs) {
    std::string b = good_;
    for (uint64_t seq : seqs) b[msgs_[seq].msg_offset + 8] ^= 0x40;
    return b;
  }

  std::map<uint64_t, std::string> Pending(Store* s) { return test::PendingMessages(s); }

  std::map<uint64_t, std::string> PendingExcept(std::set<uint64_t> gone) {
    std::map<uint64_t, std::string> out;
    for (const auto& [seq, m] : msgs_)
      if (seq != 6 && !gone.count(seq)) out.emplace(seq, m.payload);
    return out;
  }

  // Opens in `mode`, expects a refusal whose message holds every `needle`, and
  // checks that the log and the directory are as they were.
  void ExpectRefused(RecoveryMode mode, const std::vector<std::string>& needles) {
    const std::string before = test::ReadFileOrDie(path_);
    std::vector<std::string> names = DirNames(dir_.path());
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, Opts(mode)).MoveTo(&s);
    ASSERT_TRUE(st.IsCorruption()) << st.ToString();
    for (const std::string& n : needles) EXPECT_NE(st.message().find(n), std::string::npos) << st.ToString();
    EXPECT_EQ(test::ReadFileOrDie(path_), before);
    std::vector<std::string> after = DirNames(dir_.path());
    std::erase(after, "q.lock");  // the writer lock file is never deleted (design.md)
    std::erase(names, "q.lock");
    EXPECT_EQ(after, names) << "a refused open left files behind";
  }

  test::TempDir dir_;
  std::string path_;
  std::string good_;
  std::map<uint64_t, Msg> msgs_;
};

TEST_F(StoreRecoveryTest, TolerateTailRefusesDamageInTheMiddleNamingTheOffsetAndTheSalvageCommand) {
  test::WriteFileOrDie(path_, Damage({4}));
  ExpectRefused(RecoveryMode::kTolerateTornTail,
                {path_ + ": offset " + std::to_string(msgs_[4].start) + ":", "checksum mismatch",
                 "intact messages follow at offset " + std::to_string(msgs_[5].start),
                 "mqtool recover --mode salvage " + path_});
}

TEST_F(StoreRecoveryTest, AbsoluteRefusesDamageInTheMiddle) {
  test::WriteFileOrDie(path_, Damage({4}));
  ExpectRefused(RecoveryMode::kAbsoluteConsistency, {path_ + ": offset " + std::to_string(msgs_[4].start) + ":"});
}

TEST_F(StoreRecoveryTest, AbsoluteRefusesATornTail) {
  test::WriteFileOrDie(path_, good_.substr(0, good_.size() - 3));
  ExpectRefused(RecoveryMode::kAbsoluteConsistency,
                {path_ + ": offset " + std::to_string(msgs_[12].start) + ": torn tail of " +
                 std::to_string(msgs_[12].end - 3 - msgs_[12].start) + " bytes"});
}

TEST_F(StoreRecoveryTest, AbsoluteRefusesAUsedFlagThatIsNeitherZeroNorOne) {
  std::string b = good_;
  b[msgs_[3].msg_offset + 2] = 0x7f;
  test::WriteFileOrDie(path_, b);
  ExpectRefused(RecoveryMode::kAbsoluteConsistency, {path_ + ": offset " + std::to_string(msgs_[3].msg_offset) + ":"});
}

TEST_F(StoreRecoveryTest, AbsoluteOpensAnUndamagedLogAndChangesNothing) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kAbsoluteConsistency)).MoveTo(&s).ok());
  EXPECT_EQ(Pending(s.get()), PendingExcept({}));
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(NoStamp(test::ReadFileOrDie(path_)), NoStamp(good_)) << "only the session stamp changes";
}

TEST_F(StoreRecoveryTest, SalvageOfAnUndamagedLogChangesNothing) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kSalvage)).MoveTo(&s).ok());
  EXPECT_TRUE(s->open_report().side_files.empty());
  EXPECT_EQ(Pending(s.get()), PendingExcept({}));
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(NoStamp(test::ReadFileOrDie(path_)), NoStamp(good_)) << "only the session stamp changes";
}

TEST_F(StoreRecoveryTest, SalvageKeepsEveryIntactMessageAndMovesEachDamagedRegionToASideFile) {
  // Damage in 3, in 8 and 9 (neighbours: one region), and a torn tail in 12.
  std::string damaged = Damage({3, 8, 9}).substr(0, msgs_[12].end - 4);
  test::WriteFileOrDie(path_, damaged);
  ::chmod(path_.c_str(), 0640);
  struct Collect : Reporter {
    void Corruption(const std::string& file, uint64_t offset, uint64_t bytes, const std::string&) override {
      regions.emplace_back(file, offset, bytes);
    }
    std::vector<std::tuple<std::string, uint64_t, uint64_t>> regions;
  } reporter;
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts(RecoveryMode::kSalvage, &reporter)).MoveTo(&s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const OpenReport& r = s->open_report();
  uint64_t old_id = 0;
  for (int i = 7; i >= 0; --i) old_id = (old_id << 8) | static_cast<uint8_t>(good_[24 + static_cast<size_t>(i)]);
  EXPECT_NE(s->Stats().log_id, old_id) << "a salvaged log is a new file, with a new log id";
  EXPECT_EQ(r.damaged_regions, 2u);
  EXPECT_EQ(r.damaged_bytes, (msgs_[4].start - msgs_[3].start) + (msgs_[10].start - msgs_[8].start));
  const std::vector<std::pair<uint64_t, uint64_t>> regions = {
      {msgs_[3].start, msgs_[4].start}, {msgs_[8].start, msgs_[10].start}, {msgs_[12].start, damaged.size()}};
  ASSERT_EQ(r.side_files.size(), regions.size());
  for (size_t i = 0; i < regions.size(); ++i) {
    auto [from, to] = regions[i];
    EXPECT_EQ(r.side_files[i], path_ + ".damaged-" + std::to_string(from));
    EXPECT_EQ(test::ReadFileOrDie(r.side_files[i]), damaged.substr(from, to - from)) << r.side_files[i];
  }
  ASSERT_GE(reporter.regions.size(), 2u);
  EXPECT_EQ(reporter.regions[0], std::make_tuple(path_, msgs_[3].start, msgs_[4].start - msgs_[3].start));
  EXPECT_EQ(reporter.regions[1], std::make_tuple(path_, msgs_[8].start, msgs_[10].start - msgs_[8].start));

  const auto want = PendingExcept({3, 8, 9, 12});
  EXPECT_EQ(Pending(s.get()), want);
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("after salvage").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 12u) << "the next number follows the last message the log still holds";
  ASSERT_TRUE(s->Close().ok());

  struct stat st_buf;
  ASSERT_EQ(::stat(path_.c_str(), &st_buf), 0);
  EXPECT_EQ(st_buf.st_mode & 07777, 0640u) << "the rewritten log keeps the file's mode";
  // The salvaged log is clean: absolute mode opens it, from scratch.
  std::filesystem::remove(path_ + ".idx");
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kAbsoluteConsistency)).MoveTo(&s).ok());
  auto again = want;
  again.emplace(12, "after salvage");
  EXPECT_EQ(Pending(s.get()), again);
}

TEST_F(StoreRecoveryTest, ADamagedHeaderIsRefusedUnlessSalvageWhichKeepsItInASideFileAndEveryMessage) {
  std::string bad = good_;
  bad[8 + 20] ^= 0x01;  // a byte of the log id: the header's checksum fails
  test::WriteFileOrDie(path_, bad);
  ExpectRefused(RecoveryMode::kTolerateTornTail, {path_, "offset 0"});
  ExpectRefused(RecoveryMode::kAbsoluteConsistency, {path_, "offset 0"});
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kSalvage)).MoveTo(&s).ok());
  EXPECT_EQ(Pending(s.get()), PendingExcept({}));
  EXPECT_EQ(test::ReadFileOrDie(path_ + ".damaged-0"), bad.substr(0, 56));
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("after salvage").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 13u) << "sequence numbers continue after the damaged header's";
  ASSERT_TRUE(s->Close().ok());
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kAbsoluteConsistency)).MoveTo(&s).ok());
  auto want = PendingExcept({});
  want.emplace(13, "after salvage");
  EXPECT_EQ(Pending(s.get()), want);
}

TEST_F(StoreRecoveryTest, SequenceNumbersOfSurvivorsAreTheSameAfterSalvageCompactionAndReopen) {
  test::WriteFileOrDie(path_, Damage({2}));
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kSalvage)).MoveTo(&s).ok());
  const auto want = PendingExcept({2});
  EXPECT_EQ(Pending(s.get()), want);
  ASSERT_TRUE(s->Consume(7).ok());
  CompactionResult cr;
  ASSERT_TRUE(s->Compact().MoveTo(&cr).ok());
  auto after = want;
  after.erase(7);
  EXPECT_EQ(Pending(s.get()), after);
  for (const auto& [seq, payload] : after) {
    Message m;
    ASSERT_TRUE(s->Get(seq, &m).ok()) << seq;
    EXPECT_EQ(m.payload, payload);
  }
  ASSERT_TRUE(s->Close().ok());
  std::filesystem::remove(path_ + ".idx");
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kTolerateTornTail)).MoveTo(&s).ok());
  EXPECT_EQ(Pending(s.get()), after);
}

TEST_F(StoreRecoveryTest, RebuildIndexInSalvageModeRepairsDamageTheTrustedIndexHid) {
  // A clean index is trusted at open, so the damage shows only when the log
  // is read again from the start: RebuildIndex, as `mqtool recover` calls it.
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kTolerateTornTail)).MoveTo(&s).ok());
  ASSERT_TRUE(s->Close().ok());
  std::string damaged = Damage({5});
  damaged.replace(48, 8, test::ReadFileOrDie(path_).substr(48, 8));  // the stamp the index describes
  test::WriteFileOrDie(path_, damaged);
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kSalvage)).MoveTo(&s).ok());
  ASSERT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
  ASSERT_TRUE(s->RebuildIndex().ok());
  EXPECT_EQ(s->open_report().damaged_regions, 1u);
  ASSERT_EQ(s->open_report().side_files.size(), 1u);
  EXPECT_EQ(s->open_report().side_files[0], path_ + ".damaged-" + std::to_string(msgs_[5].start));
  EXPECT_EQ(Pending(s.get()), PendingExcept({5}));
}

TEST_F(StoreRecoveryTest, RebuildIndexThatMeetsDamageInTolerateModeRefusesAndLaterAppendsOverwriteNothing) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kTolerateTornTail)).MoveTo(&s).ok());
  ASSERT_TRUE(s->Close().ok());
  std::string damaged = Damage({5});
  damaged.replace(48, 8, test::ReadFileOrDie(path_).substr(48, 8));  // the stamp the index describes
  test::WriteFileOrDie(path_, damaged);
  ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kTolerateTornTail)).MoveTo(&s).ok());
  damaged = test::ReadFileOrDie(path_);  // with this open's stamp
  Status st = s->RebuildIndex();
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("offset " + std::to_string(msgs_[5].start)), std::string::npos) << st.ToString();
  EXPECT_EQ(test::ReadFileOrDie(path_), damaged);
  // Whatever the store does next, it must not write over the log's bytes.
  uint64_t seq = 0;
  Status a = s->Append("later").MoveTo(&seq);
  (void)s->Close();
  const std::string now = test::ReadFileOrDie(path_);
  ASSERT_GE(now.size(), damaged.size());
  EXPECT_EQ(now.substr(0, damaged.size()), damaged) << "append status: " << a.ToString();
}

TEST_F(StoreRecoveryTest, SalvageOfAnOriginalFormatFileWithMqAppendsKeepsEverySequenceNumber) {
  // a0 a1 (bare records, seqs 1 and 2), then framed 3 4 5; 4 gets damaged.
  std::string legacy;
  for (const char* p : {"a0", "a1"}) legacy += std::string("\0\0\0\0\x02\0\0\0", 8) + p;
  const std::string path = dir_.File("legacy");
  test::WriteFileOrDie(path, legacy);
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path, Opts(RecoveryMode::kTolerateTornTail)).MoveTo(&s).ok());
  uint64_t seq = 0;
  for (const char* p : {"c3", "d4", "e5"}) ASSERT_TRUE(s->Append(p).MoveTo(&seq).ok());
  Message m;
  ASSERT_TRUE(s->Get(4, &m).ok());
  ASSERT_TRUE(s->Close().ok());
  std::string b = test::ReadFileOrDie(path);
  b[m.offset + 8] ^= 0x01;
  test::WriteFileOrDie(path, b);
  std::filesystem::remove(path + ".idx");
  ASSERT_TRUE(Store::Open(path, Opts(RecoveryMode::kSalvage)).MoveTo(&s).ok());
  EXPECT_EQ(s->open_report().damaged_regions, 1u);
  const std::map<uint64_t, std::string> want = {{1, "a0"}, {2, "a1"}, {3, "c3"}, {5, "e5"}};
  EXPECT_EQ(Pending(s.get()), want);
  EXPECT_EQ(s->Stats().format_version, 1u) << "the rewritten log has a header";
  ASSERT_TRUE(s->Append("f6").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 6u);
  ASSERT_TRUE(s->Close().ok());
  std::filesystem::remove(path + ".idx");
  ASSERT_TRUE(Store::Open(path, Opts(RecoveryMode::kAbsoluteConsistency)).MoveTo(&s).ok());
  auto again = want;
  again.emplace(6, "f6");
  EXPECT_EQ(Pending(s.get()), again);
}

}  // namespace
}  // namespace mq
