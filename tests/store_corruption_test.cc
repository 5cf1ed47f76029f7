// Random damage: bytes of a good log are flipped (fixed seeds, a bounded
// number of trials) and the log is opened in every recovery mode and scanned
// with mq::ScanLog. Nothing may crash, no payload other than the original one
// of its sequence number may come out, and a message whose own bytes were not
// touched must survive wherever the store opens at all (docs/log-format.md,
// "Checksums": damage costs only the messages whose own bytes it touches).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "mq/inspect.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

struct Original {
  std::string payload;
  bool consumed = false;
  uint64_t start = 0, msg_offset = 0, end = 0;
};

StoreOptions Opts(RecoveryMode mode) {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.recovery = mode;
  o.auto_compact = false;
  return o;
}

class StoreCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("q");
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kTolerateTornTail)).MoveTo(&s).ok());
    uint64_t seq = 0;
    for (int i = 1; i <= 40; ++i) {
      std::string p = "m" + std::to_string(i) + "-" + std::string(static_cast<size_t>(i * 13 % 90), static_cast<char>('a' + i % 26));
      if (i % 10 == 5) p.clear();
      payloads_.push_back(p);
    }
    for (int i = 0; i < 25; ++i) ASSERT_TRUE(s->Append(payloads_[static_cast<size_t>(i)]).MoveTo(&seq).ok());
    std::vector<std::string_view> batch(payloads_.begin() + 25, payloads_.end());
    ASSERT_TRUE(s->AppendBatch(batch).MoveTo(&seq).ok());
    for (uint64_t q = 4; q <= 40; q += 4) ASSERT_TRUE(s->Consume(q).ok());
    ASSERT_TRUE(s->Close().ok());
    good_log_ = test::ReadFileOrDie(path_);
    good_index_ = test::ReadFileOrDie(path_ + ".idx");
    LogSummary sum;
    ASSERT_TRUE(ScanLog(path_, InspectOptions{}, [&](const LogMessage& r) {
      originals_[r.seq] = Original{std::string(r.payload), r.consumed, r.start, r.msg_offset, r.end};
      return true;
    }).MoveTo(&sum).ok());
    ASSERT_EQ(originals_.size(), 40u);
    ASSERT_TRUE(sum.damage.empty());
  }

  bool Touched(const std::vector<uint64_t>& flips, uint64_t from, uint64_t to) const {
    for (uint64_t f : flips)
      if (f >= from && f < to) return true;
    return false;
  }

  // Opens the damaged log in `mode` and checks what the store then serves.
  void CheckOpen(const std::string& damaged, const std::vector<uint64_t>& flips, RecoveryMode mode, bool with_index) {
    SCOPED_TRACE(std::string("mode ") + RecoveryModeName(mode) + (with_index ? ", good index" : ", no index"));
    dir_.Clear();
    test::WriteFileOrDie(path_, damaged);
    if (with_index) test::WriteFileOrDie(path_ + ".idx", good_index_);
    const bool header_touched = Touched(flips, 0, 56);
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, Opts(mode)).MoveTo(&s);
    ++outcomes_[std::string(RecoveryModeName(mode)) + (st.ok() ? " opened" : " refused")];
    if (st.ok() && s->open_report().tail_cut_bytes > 0) ++outcomes_["tail cut"];
    if (st.ok() && s->open_report().damaged_regions > 0) ++outcomes_["salvaged"];
    if (st.ok() && header_touched) ++outcomes_["salvage gave a new header"];
    if (!st.ok()) {
      EXPECT_TRUE(st.IsCorruption() || st.code() == Status::Code::kNotALog) << st.ToString();
      EXPECT_NE(st.message().find(path_), std::string::npos) << st.ToString();
      EXPECT_EQ(test::ReadFileOrDie(path_), damaged) << "a refused open changed the log";
      if (mode == RecoveryMode::kSalvage) {
        EXPECT_TRUE(header_touched) << "salvage refused: " << st.ToString();
      }
      return;
    }
    if (mode != RecoveryMode::kSalvage) {
      EXPECT_FALSE(header_touched) << "opened a log whose header was damaged";
    }
    std::set<uint64_t> seen;
    ASSERT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
      seen.insert(v.seq);
      auto it = originals_.find(v.seq);
      if (it == originals_.end()) {
        ADD_FAILURE() << "delivered seq " << v.seq << ", which was never written";
        return true;
      }
      EXPECT_EQ(v.payload, it->second.payload) << "seq " << v.seq;
      // A consumed message comes back only if its (unchecksummed) flag was hit.
      if (it->second.consumed) {
        EXPECT_TRUE(Touched(flips, it->second.msg_offset, it->second.msg_offset + 4)) << "seq " << v.seq;
      }
      return true;
    }).ok());
    for (const auto& [seq, o] : originals_) {
      Message m;
      Status g = s->Get(seq, &m);
      if (g.ok()) {
        EXPECT_EQ(m.payload, o.payload) << "seq " << seq;
      }
      if (o.consumed || Touched(flips, o.start, o.end)) continue;
      EXPECT_TRUE(seen.count(seq)) << "untouched pending seq " << seq << " is gone";
      EXPECT_TRUE(g.ok()) << g.ToString();
    }
    // Cut or salvaged bytes went to side files; untouched messages stay in the log.
    ASSERT_TRUE(s->Close().ok());
  }

  void CheckScanLog(const std::vector<uint64_t>& flips) {
    LogSummary sum;
    std::set<uint64_t> seen;
    Status st = ScanLog(path_, InspectOptions{}, [&](const LogMessage& r) {
      auto it = originals_.find(r.seq);
      if (it == originals_.end()) {
        ADD_FAILURE() << "ScanLog visited seq " << r.seq << ", which was never written";
        return true;
      }
      EXPECT_TRUE(r.framed);
      EXPECT_EQ(r.payload, it->second.payload) << "seq " << r.seq;
      seen.insert(r.seq);
      return true;
    }).MoveTo(&sum);
    if (Touched(flips, 0, 56)) {
      EXPECT_FALSE(st.ok()) << "ScanLog read a log whose header was damaged";
      return;
    }
    ASSERT_TRUE(st.ok()) << st.ToString();
    for (const auto& [seq, o] : originals_)
      if (!Touched(flips, o.start, o.end)) {
        EXPECT_TRUE(seen.count(seq)) << "ScanLog lost untouched seq " << seq;
      }
  }

  test::FastTempDir dir_;  // about a thousand opens: fsyncs would dominate
  std::string path_;
  std::vector<std::string> payloads_;
  std::string good_log_, good_index_;
  std::map<uint64_t, Original> originals_;
  std::map<std::string, int> outcomes_;  // what the trials ran into
};

TEST_F(StoreCorruptionTest, RandomByteFlipsNeverCrashNeverYieldAWrongPayloadAndSpareUntouchedMessages) {
  // MQ_FLIP_TRIALS raises the count for a soak run by hand; ctest runs 300.
  const char* env = std::getenv("MQ_FLIP_TRIALS");
  const int trials = env != nullptr ? std::atoi(env) : 300;
  for (int trial = 0; trial < trials; ++trial) {
    std::mt19937_64 rng(static_cast<uint64_t>(trial) * 7919 + 1);
    std::string damaged = good_log_;
    std::vector<uint64_t> flips;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < n; ++k) {
      // Half the trials hit the messages only, so salvage has work to show.
      uint64_t lo = trial % 2 == 0 ? 56 : 0;
      uint64_t off = lo + rng() % (damaged.size() - lo);
      damaged[off] = static_cast<char>(damaged[off] ^ static_cast<char>(1 + rng() % 255));
      flips.push_back(off);
    }
    SCOPED_TRACE("trial " + std::to_string(trial) + ", flips at " + [&] {
      std::string s;
      for (uint64_t f : flips) s += std::to_string(f) + " ";
      return s;
    }());
    dir_.Clear();
    test::WriteFileOrDie(path_, damaged);
    CheckScanLog(flips);
    for (RecoveryMode mode :
         {RecoveryMode::kTolerateTornTail, RecoveryMode::kAbsoluteConsistency, RecoveryMode::kSalvage}) {
      CheckOpen(damaged, flips, mode, /*with_index=*/trial % 3 == 0);
      if (HasFatalFailure()) return;
    }
  }
  // The trials met every case above, not just the easy ones.
  for (const char* c : {"tolerate-tail opened", "tolerate-tail refused", "absolute opened", "absolute refused",
                        "salvage opened", "salvage gave a new header", "tail cut", "salvaged"})
    EXPECT_GT(outcomes_[c], 0) << c;
  for (const auto& [what, n] : outcomes_) std::printf("%s: %d\n", what.c_str(), n);
}

// One flip in each of several messages (2 and 3 are neighbours): each costs
// only its own message, whether salvage finds the damage while opening (no
// index) or while rebuilding the index (the recovery call mqtool uses).
void DamageSome(std::string* log, const std::map<uint64_t, Original>& originals) {
  for (uint64_t seq : {2u, 3u, 17u, 26u, 39u}) {
    const Original& o = originals.at(seq);
    uint64_t off = o.start + (seq * 5) % (o.end - o.start);
    if (off >= o.msg_offset && off < o.msg_offset + 4) off += 4;  // not the flag
    (*log)[off] = static_cast<char>((*log)[off] ^ 0x10);
  }
}

TEST_F(StoreCorruptionTest, SalvageKeepsEveryUntouchedMessageWhateverTheDamageInTheBody) {
  std::string damaged = good_log_;
  DamageSome(&damaged, originals_);
  std::map<uint64_t, std::string> want;
  for (const auto& [seq, o] : originals_)
    if (!o.consumed && seq != 2 && seq != 3 && seq != 17 && seq != 26 && seq != 39) want.emplace(seq, o.payload);
  for (bool rebuild : {false, true}) {
    SCOPED_TRACE(rebuild ? "salvaged by RebuildIndex" : "salvaged by Open");
    dir_.Clear();
    test::WriteFileOrDie(path_, damaged);
    if (rebuild) test::WriteFileOrDie(path_ + ".idx", good_index_);
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kSalvage)).MoveTo(&s).ok());
    if (rebuild) {
      EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted) << "the damage is not seen at open";
      ASSERT_TRUE(s->RebuildIndex().ok());
    }
    std::map<uint64_t, std::string> got;
    ASSERT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
      got.emplace(v.seq, std::string(v.payload));
      return true;
    }).ok());
    EXPECT_EQ(got, want);
    EXPECT_EQ(s->open_report().damaged_regions, 4u) << "2 and 3 are adjacent: one region";
    EXPECT_EQ(s->open_report().side_files.size(), 4u);
    ASSERT_TRUE(s->Close().ok());
    // The salvaged log reopens cleanly, even with its index rebuilt.
    std::filesystem::remove(path_ + ".idx");
    ASSERT_TRUE(Store::Open(path_, Opts(RecoveryMode::kAbsoluteConsistency)).MoveTo(&s).ok());
    got.clear();
    ASSERT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
      got.emplace(v.seq, std::string(v.payload));
      return true;
    }).ok());
    EXPECT_EQ(got, want);
  }
}

TEST_F(StoreCorruptionTest, PayloadDamagedAfterOpenIsNeverDelivered) {
  struct Collect : Reporter {
    void Corruption(const std::string&, uint64_t offset, uint64_t, const std::string& why) override {
      offsets.push_back(offset);
      reasons.push_back(why);
    }
    std::vector<uint64_t> offsets;
    std::vector<std::string> reasons;
  } reporter;
  StoreOptions opt = Opts(RecoveryMode::kTolerateTornTail);
  opt.reporter = &reporter;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, opt).MoveTo(&s).ok());
  ASSERT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
  // Damage seq 10's payload behind the store's back.
  const Original& o = originals_[10];
  int fd = ::open(path_.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  char bad = static_cast<char>(o.payload[1] ^ 0x01);
  ASSERT_EQ(::pwrite(fd, &bad, 1, static_cast<off_t>(o.msg_offset + 9)), 1);
  ::close(fd);

  Message m;
  Status st = s->Get(10, &m);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("offset " + std::to_string(o.msg_offset)), std::string::npos) << st.ToString();
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
    seqs.push_back(v.seq);
    EXPECT_EQ(v.payload, originals_[v.seq].payload);
    return true;
  }).ok());
  EXPECT_EQ(std::count(seqs.begin(), seqs.end(), 10u), 0);
  EXPECT_EQ(seqs.size(), 29u);
  ASSERT_FALSE(reporter.offsets.empty());
  EXPECT_EQ(reporter.offsets[0], o.start);
  EXPECT_NE(reporter.reasons[0].find("checksum mismatch"), std::string::npos) << reporter.reasons[0];
}

}  // namespace
}  // namespace mq
