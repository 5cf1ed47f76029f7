// The LMDB index is derived data (docs/design.md, "The index", "When the
// index is trusted"): a missing, unreadable, foreign, stale or outdated index
// is rebuilt from the log and then holds exactly what a fresh build holds; an
// index that is merely behind catches up; sequence numbers never change.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include <lmdb.h>

#include "fault_env.h"
#include "index/index.h"
#include "mq/inspect.h"
#include "mq/store.h"
#include "format/record.h"
#include "store_testing.h"
#include "test_util.h"

namespace mq {
namespace {

// One entry of the index's seq table, as it is stored.
struct Entry {
  uint64_t seq, msg_offset;
  uint32_t size;
  bool framed;
  std::string key;
  bool operator==(const Entry& o) const {
    return std::tie(seq, msg_offset, size, framed, key) == std::tie(o.seq, o.msg_offset, o.size, o.framed, o.key);
  }
};
std::ostream& operator<<(std::ostream& os, const Entry& e) {
  return os << "{" << e.seq << " @" << e.msg_offset << " +" << e.size << (e.framed ? " framed" : "") << " '" << e.key
            << "'}";
}

// Reads every entry of a closed store's index.
std::vector<Entry> DumpIndex(const std::string& log_path) {
  std::vector<Entry> out;
  std::unique_ptr<Index> idx;
  Status st = Index::Open(IndexPathFor(log_path), true, 0, &idx);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return out;
  Index::Read r(idx.get());
  EXPECT_TRUE(r.Begin().ok());
  EXPECT_TRUE(r.Seek(0).ok());
  while (r.Valid()) {
    out.push_back(Entry{r.seq(), r.loc().msg_offset, r.loc().size, r.loc().framed, std::string(r.key())});
    EXPECT_TRUE(r.Next().ok());
  }
  return out;
}

std::vector<std::string> VerifyProblems(const std::string& log_path) {
  std::vector<std::string> problems;
  Status st = VerifyIndex(log_path, InspectOptions{}).MoveTo(&problems);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return problems;
}

// An Env that claims another boot of the machine.
class OtherBootEnv final : public Env {
 public:
  Result<std::unique_ptr<Directory>> OpenDirectory(const std::string& d) override {
    return base_->OpenDirectory(d);
  }
  std::string BootId() override { return "another-boot"; }
  uint64_t NowMicros() override { return base_->NowMicros(); }

 private:
  Env* base_ = Env::Default();
};

class StoreIndexTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }

  StoreOptions Opts() {
    StoreOptions o;
    o.sync = SyncPolicy::kNone;
    o.key = KeyExtractor::UntilDelimiter(':');
    o.auto_compact = false;
    return o;
  }

  std::unique_ptr<Store> OpenOrDie(const StoreOptions& o) {
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, o).MoveTo(&s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }

  // Appends keyed messages k<i%5>:<i> for i in [from, to), consuming every third.
  void Workload(const std::string& path, int from, int to) {
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path, Opts()).MoveTo(&s).ok());
    for (int i = from; i < to; ++i) {
      uint64_t seq = 0;
      ASSERT_TRUE(s->Append("k" + std::to_string(i % 5) + ":" + std::to_string(i)).MoveTo(&seq).ok());
      if (i % 3 == 0) {
        ASSERT_TRUE(s->Consume(seq).ok());
      }
    }
    ASSERT_TRUE(s->Close().ok());
  }

  // Everything a reader can see: pending messages and the oldest of each key.
  std::map<std::string, std::string> Visible(Store* s) {
    std::map<std::string, std::string> v;
    EXPECT_TRUE(s->ScanPending(0, [&](const MessageView& m) {
      v["seq " + std::to_string(m.seq)] = std::string(m.payload);
      return true;
    }).ok());
    for (int k = 0; k < 6; ++k) {
      Message m;
      Status st = s->FirstByKey("k" + std::to_string(k), &m);
      v["key k" + std::to_string(k)] = st.ok() ? std::to_string(m.seq) : st.IsNotFound() ? "none" : st.ToString();
    }
    return v;
  }

  // Opens, checks the index action, and compares entries and reads with the
  // reference taken from an index that was never disturbed.
  void ExpectRebuiltLikeTheOriginal(const std::string& reason_prefix) {
    auto s = OpenOrDie(Opts());
    EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt) << mq::DescribeIndexAction(s->open_report());
    EXPECT_EQ(s->open_report().index_reason.rfind(reason_prefix, 0), 0u) << s->open_report().index_reason;
    EXPECT_EQ(Visible(s.get()), visible_);
    ASSERT_TRUE(s->Close().ok());
    EXPECT_EQ(DumpIndex(path_), entries_);
    EXPECT_EQ(VerifyProblems(path_), std::vector<std::string>{});
  }

  void Reference() {
    entries_ = DumpIndex(path_);
    auto s = OpenOrDie(Opts());
    ASSERT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
    visible_ = Visible(s.get());
    ASSERT_TRUE(s->Close().ok());
    ASSERT_FALSE(entries_.empty());
  }

  void RemoveIndex() {
    std::filesystem::remove(path_ + ".idx");
    std::filesystem::remove(path_ + ".idx-lock");
  }

  test::TempDir dir_;
  std::string path_;
  std::vector<Entry> entries_;
  std::map<std::string, std::string> visible_;
};

TEST_F(StoreIndexTest, DeletedIndexIsRebuiltWithExactlyTheOldEntries) {
  Workload(path_, 0, 60);
  Reference();
  EXPECT_EQ(entries_.size(), 40u);
  RemoveIndex();
  ExpectRebuiltLikeTheOriginal("there was no index");
}

TEST_F(StoreIndexTest, UnreadableIndexIsMovedAsideAndRebuilt) {
  Workload(path_, 0, 30);
  Reference();
  for (size_t size : {std::size_t{100}, std::size_t{4096}, std::size_t{3 * 4096 + 7}}) {
    SCOPED_TRACE("random index file of " + std::to_string(size) + " bytes");
    std::mt19937 rng(static_cast<unsigned>(size));
    std::string junk(size, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    RemoveIndex();
    std::filesystem::remove(path_ + ".idx.unreadable");
    test::WriteFileOrDie(path_ + ".idx", junk);
    ExpectRebuiltLikeTheOriginal("");
    ASSERT_TRUE(test::FileExists(path_ + ".idx.unreadable"));
    EXPECT_TRUE(test::ReadFileOrDie(path_ + ".idx.unreadable") == junk) << "the unreadable index is kept as it was";
  }
}

TEST_F(StoreIndexTest, EmptyIndexFileIsRebuilt) {
  Workload(path_, 0, 30);
  Reference();
  RemoveIndex();
  test::WriteFileOrDie(path_ + ".idx", "");
  ExpectRebuiltLikeTheOriginal("");
}

TEST_F(StoreIndexTest, IndexOfAnotherQueueIsRecognisedAndRebuilt) {
  Workload(path_, 0, 30);
  Reference();
  const std::string other = dir_.File("other");
  Workload(other, 100, 140);
  std::filesystem::copy_file(other + ".idx", path_ + ".idx", std::filesystem::copy_options::overwrite_existing);
  ExpectRebuiltLikeTheOriginal("it was built for another log file");
}

TEST_F(StoreIndexTest, IndexOfAnotherOriginalFormatFileIsRecognisedAndRebuilt) {
  // Original-format files have no log id; their identity is device and inode.
  std::string legacy;
  for (const char* p : {"k1:a", "k2:b", "k1:c"}) {
    legacy += std::string("\0\0\0\0", 4);
    legacy.push_back(static_cast<char>(std::strlen(p)));
    legacy += std::string("\0\0\0", 3) + p;
  }
  test::WriteFileOrDie(path_, legacy);
  Workload(path_, 0, 10);
  Reference();
  // The same bytes in a new file (a restored copy) are another file.
  const std::string copy = dir_.File("copy");
  std::filesystem::copy_file(path_, copy);
  std::filesystem::rename(copy, path_);
  ExpectRebuiltLikeTheOriginal("it was built for another log file");
}

TEST_F(StoreIndexTest, IndexCatchesUpWithMessagesAppendedBehindItsBack) {
  Workload(path_, 0, 20);
  // Another writer appends framed records (the index does not see them; a
  // store with another index would raise the session stamp, which makes this
  // index stale: docs/design.md, "Proving the used flags").
  {
    std::string b = test::ReadFileOrDie(path_);
    for (int i = 20; i < 35; ++i) log::AppendFramed(&b, static_cast<uint64_t>(i + 1), "k" + std::to_string(i % 5) + ":" + std::to_string(i));
    test::WriteFileOrDie(path_, b);
  }
  auto s = OpenOrDie(Opts());
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kCaughtUp);
  EXPECT_EQ(s->open_report().messages_indexed, 15u);
  const auto seen = Visible(s.get());
  ASSERT_TRUE(s->Close().ok());
  const auto caught_up = DumpIndex(path_);
  EXPECT_EQ(VerifyProblems(path_), std::vector<std::string>{});
  RemoveIndex();
  s = OpenOrDie(Opts());
  EXPECT_EQ(Visible(s.get()), seen);
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(DumpIndex(path_), caught_up) << "catching up gives what a full build gives";
}

TEST_F(StoreIndexTest, ConsumeBehindTheIndexsBackIsNoticedWhenTheMessageIsRead) {
  Workload(path_, 0, 10);
  StoreOptions o = Opts();
  o.index_path = dir_.File("elsewhere.idx");
  {
    auto s = OpenOrDie(o);
    ASSERT_TRUE(s->Consume(2).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = OpenOrDie(Opts());
  Message m;
  EXPECT_TRUE(s->Get(2, &m).IsNotFound());
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
    seqs.push_back(v.seq);
    return true;
  }).ok());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{3, 5, 6, 8, 9}));
  EXPECT_TRUE(s->Consume(2).IsNotFound());
}

TEST_F(StoreIndexTest, KeyExtractorChangeRebuildsTheKeyIndex) {
  StoreOptions plain = Opts();
  plain.key = KeyExtractor::None();
  {
    auto s = OpenOrDie(plain);
    uint64_t seq = 0;
    for (const char* p : {"ab:1", "cd:2", "ab:3", "ax:4"}) ASSERT_TRUE(s->Append(p).MoveTo(&seq).ok());
    Message m;
    EXPECT_EQ(s->FirstByKey("ab", &m).code(), Status::Code::kInvalidArgument);
    ASSERT_TRUE(s->Close().ok());
  }
  StoreOptions keyed = Opts();
  keyed.key = KeyExtractor::UntilDelimiter(':');
  {
    auto s = OpenOrDie(keyed);
    EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt);
    EXPECT_EQ(s->open_report().index_reason, "key extractor changed from none to until::");
    Message m;
    ASSERT_TRUE(s->FirstByKey("ab", &m).ok());
    EXPECT_EQ(m.seq, 1u);
    ASSERT_TRUE(s->Consume(1).ok());
    ASSERT_TRUE(s->FirstByKey("ab", &m).ok());
    EXPECT_EQ(m.seq, 3u);
    ASSERT_TRUE(s->Close().ok());
  }
  keyed.key = KeyExtractor::FirstBytes(1);
  keyed.rekey = true;  // a recorded extractor changes only when asked to (store_key_record_test)
  auto s = OpenOrDie(keyed);
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt);
  EXPECT_EQ(s->open_report().index_reason.rfind("key extractor changed", 0), 0u);
  Message m;
  ASSERT_TRUE(s->FirstByKey("a", &m).ok());
  EXPECT_EQ(m.seq, 3u);
  EXPECT_TRUE(s->FirstByKey("ab", &m).IsNotFound());
}

TEST_F(StoreIndexTest, IndexCoveringMoreThanTheLogIsRebuilt) {
  Workload(path_, 0, 10);
  const std::string short_log = test::ReadFileOrDie(path_);
  Workload(path_, 10, 20);
  // The log goes back to an older copy of itself; the index is ahead of it.
  test::WriteFileOrDie(path_, short_log);
  auto s = OpenOrDie(Opts());
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt);
  EXPECT_EQ(s->open_report().index_reason.rfind("it covers", 0), 0u) << mq::DescribeIndexAction(s->open_report());
  const auto seen = Visible(s.get());
  ASSERT_TRUE(s->Close().ok());
  EXPECT_EQ(VerifyProblems(path_), std::vector<std::string>{});
  const auto entries = DumpIndex(path_);
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries.back().seq, 9u);  // 10 is consumed
}

TEST_F(StoreIndexTest, IndexWhoseLastMessageIsNoLongerInTheLogIsRebuilt) {
  Workload(path_, 0, 5);  // seqs 1..5; 1 and 4 consumed
  // Rewrite the last message with another sequence number, same length.
  std::string b = test::ReadFileOrDie(path_);
  const size_t last = b.size() - (28 + 4);
  std::string replaced;
  log::AppendFramed(&replaced, 9, "k9:9");
  b.replace(last, replaced.size(), replaced);
  test::WriteFileOrDie(path_, b);
  auto s = OpenOrDie(Opts());
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt);
  EXPECT_EQ(s->open_report().index_reason,
            "its last indexed message at offset " + std::to_string(last) + " does not match the log");
  Message m;
  ASSERT_TRUE(s->Get(9, &m).ok());
  EXPECT_EQ(m.payload, "k9:9");
  EXPECT_TRUE(s->Get(5, &m).IsNotFound());
}

TEST_F(StoreIndexTest, UncleanIndexIsTrustedWithinTheSameBootButRebuiltAfterARestart) {
  Workload(path_, 0, 10);
  // A writer that dies without closing leaves its index unclean; its last
  // commit, a flush under sync=none, claims no synced log (an index that
  // does is kept after a restart: store_index_survives_power_cut_test.cc).
  pid_t pid = ::fork();
  if (pid == 0) {
    std::unique_ptr<Store> s;
    StoreOptions w = Opts();
    w.index_tail_flush = 1;
    if (!Store::Open(path_, w).MoveTo(&s).ok()) ::_exit(1);
    uint64_t seq = 0;
    if (!s->Append("k1:after").MoveTo(&seq).ok()) ::_exit(1);
    (void)s->Stats();  // waits for the flush in flight
    ::_exit(0);  // no Close: the index stays marked in use
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string log_bytes = test::ReadFileOrDie(path_);
  const std::string idx_bytes = test::ReadFileOrDie(path_ + ".idx");

  OtherBootEnv other_boot;
  StoreOptions o = Opts();
  o.env = &other_boot;
  {
    auto s = OpenOrDie(o);
    EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt);
    EXPECT_EQ(s->open_report().index_reason, "the machine restarted since it was last written unsynced");
    Message m;
    ASSERT_TRUE(s->Get(11, &m).ok());
    EXPECT_EQ(m.payload, "k1:after");
  }
  RemoveIndex();
  test::WriteFileOrDie(path_, log_bytes);
  test::WriteFileOrDie(path_ + ".idx", idx_bytes);
  auto s = OpenOrDie(Opts());
  const mq::IndexAction action = s->open_report().index_action;
  EXPECT_TRUE(action == mq::IndexAction::kTrusted || action == mq::IndexAction::kCaughtUp)
      << mq::DescribeIndexAction(s->open_report());
  Message m;
  ASSERT_TRUE(s->Get(11, &m).ok());
}

TEST_F(StoreIndexTest, SequenceNumbersAreStableAcrossReopenRebuildCompactionAndRecovery) {
  std::map<uint64_t, std::string> want;
  {
    auto s = OpenOrDie(Opts());
    for (int i = 0; i < 30; ++i) {
      uint64_t seq = 0;
      std::string p = "k" + std::to_string(i % 5) + ":" + std::to_string(i);
      ASSERT_TRUE(s->Append(p).MoveTo(&seq).ok());
      if (i % 2 == 0) {
        ASSERT_TRUE(s->Consume(seq).ok());
      } else {
        want[seq] = p;
      }
    }
    ASSERT_TRUE(s->Close().ok());
  }
  auto pending = [](Store* s) { return test::PendingMessages(s); };
  auto s = OpenOrDie(Opts());
  EXPECT_EQ(pending(s.get()), want) << "reopen";
  ASSERT_TRUE(s->RebuildIndex().ok());
  EXPECT_EQ(pending(s.get()), want) << "rebuild";
  CompactionResult r;
  ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
  EXPECT_EQ(pending(s.get()), want) << "compaction";
  ASSERT_TRUE(s->Close().ok());
  RemoveIndex();
  s = OpenOrDie(Opts());
  EXPECT_EQ(pending(s.get()), want) << "rebuild after compaction";
  ASSERT_TRUE(s->Close().ok());
  // Recovery: a torn tail after them costs none of their numbers.
  {
    std::string b = test::ReadFileOrDie(path_);
    std::string torn;
    log::AppendFramed(&torn, 31, "k1:torn");
    test::WriteFileOrDie(path_, b + torn.substr(0, torn.size() - 2));
  }
  s = OpenOrDie(Opts());
  EXPECT_EQ(s->open_report().side_files.size(), 1u);
  EXPECT_EQ(pending(s.get()), want) << "recovery";
  // Everything consumed, compacted away, index lost: numbering still goes on.
  for (const auto& [seq, p] : want) ASSERT_TRUE(s->Consume(seq).ok());
  ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
  ASSERT_TRUE(s->Close().ok());
  RemoveIndex();
  s = OpenOrDie(Opts());
  uint64_t next = 0;
  ASSERT_TRUE(s->Append("k0:next").MoveTo(&next).ok());
  EXPECT_EQ(next, 31u);
}

// Every entry of a closed store's key table, per key, in stored order.
std::map<std::string, std::vector<uint64_t>> DumpKeyTable(const std::string& log_path,
                                                          const std::vector<std::string>& keys) {
  std::map<std::string, std::vector<uint64_t>> out;
  std::unique_ptr<Index> idx;
  EXPECT_TRUE(Index::Open(IndexPathFor(log_path), true, 0, &idx).ok());
  if (idx == nullptr) return out;
  Index::Read r(idx.get());
  EXPECT_TRUE(r.Begin().ok());
  for (const std::string& k : keys) {
    EXPECT_TRUE(r.SeekKey(k).ok());
    while (r.Valid()) {
      out[k].push_back(r.seq());
      EXPECT_TRUE(r.NextKey().ok());
    }
  }
  return out;
}

TEST_F(StoreIndexTest, KeysThatShareTheirFirst400BytesShareKeyBlocksInSeqOrderAndAreToldApartOnReceive) {
  // The key table keeps 400 bytes of a key (kMaxIndexKey): two longer keys
  // with the same first 400 land on the same blocks. An index write gets
  // their items as two runs, interleaved in seq order.
  const std::string a = std::string(400, 'x') + std::string(50, 'A');
  const std::string b = std::string(400, 'x') + std::string(50, 'B');
  std::vector<std::string> msgs;
  for (int i = 0; i < 200; ++i) msgs.push_back((i % 2 == 0 ? a : b) + ":" + std::to_string(i + 1));
  std::vector<std::string_view> views(msgs.begin(), msgs.end());
  {
    auto s = OpenOrDie(Opts());
    uint64_t first = 0;
    ASSERT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
    ASSERT_TRUE(s->Close().ok());  // writes the tail: both keys' runs
  }
  std::vector<uint64_t> all;
  for (uint64_t seq = 1; seq <= 200; ++seq) all.push_back(seq);
  EXPECT_EQ(DumpKeyTable(path_, {a}).at(a), all);
  auto s = OpenOrDie(Opts());
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
  for (uint64_t want = 1; want <= 200; want += 2) {
    Message m;
    ASSERT_TRUE(s->FirstByKey(b, &m).ok());
    EXPECT_EQ(m.seq, 2u);  // b's oldest, while a's are consumed one by one
    ASSERT_TRUE(s->FirstByKey(a, &m).ok());
    EXPECT_EQ(m.seq, want);
    ASSERT_TRUE(s->Consume(want).ok());
  }
  Message m;
  EXPECT_TRUE(s->FirstByKey(a, &m).IsNotFound());
  ASSERT_TRUE(s->FirstByKey(b, &m).ok());
  EXPECT_EQ(m.seq, 2u);
}

TEST_F(StoreIndexTest, KeyTableHoldsExactlyThePendingMessagesOfEachKeyInSeqOrder) {
  // More than one index flush (65,536 messages) so that runs of one key are
  // appended behind entries LMDB already has, then consumes spread over keys.
  constexpr uint64_t kN = 150000;
  std::map<std::string, std::vector<uint64_t>> want;
  {
    auto s = OpenOrDie(Opts());
    std::vector<std::string> msgs;
    for (uint64_t i = 1; i <= kN; ++i) msgs.push_back("k" + std::to_string(i % 7) + ":" + std::to_string(i));
    std::vector<std::string_view> views(msgs.begin(), msgs.end());
    uint64_t first = 0;
    for (size_t i = 0; i < views.size(); i += 1000)
      ASSERT_TRUE(s->AppendBatch(std::span(views).subspan(i, std::min<size_t>(1000, views.size() - i))).MoveTo(&first).ok());
    for (uint64_t seq = 1; seq <= kN; ++seq) {
      if (seq % 3 == 0 || (seq > 70000 && seq < 70100)) {
        ASSERT_TRUE(s->Consume(seq).ok());
      } else {
        want["k" + std::to_string(seq % 7)].push_back(seq);
      }
    }
    ASSERT_TRUE(s->Close().ok());
  }
  std::vector<std::string> keys;
  for (int k = 0; k < 8; ++k) keys.push_back("k" + std::to_string(k));  // k7 has none
  EXPECT_EQ(DumpKeyTable(path_, keys), want);
  // And receive by key agrees after a reopen.
  auto s = OpenOrDie(Opts());
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
  Message m;
  ASSERT_TRUE(s->FirstByKey("k4", &m).ok());
  EXPECT_EQ(m.seq, want["k4"].front());
}

// Turns a closed store's index into what an older format wrote: meta version
// `version`, keys in a table `table` (LMDB flags `flags`, one stray entry),
// no "kblocks".
void MakeOlderIndex(const std::string& log_path, uint32_t version, const char* table, unsigned flags) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 8);
  mdb_env_set_mapsize(env, size_t{1} << 30);
  ASSERT_EQ(mdb_env_open(env, IndexPathFor(log_path).c_str(), MDB_NOSUBDIR, 0600), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi meta, blocks, old;
  ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "kblocks", 0, &blocks), 0);
  ASSERT_EQ(mdb_drop(txn, blocks, 1), 0);
  ASSERT_EQ(mdb_dbi_open(txn, table, MDB_CREATE | flags, &old), 0);
  MDB_val k{5, const_cast<char*>("stray")}, v{5, const_cast<char*>("entry")};
  ASSERT_EQ(mdb_put(txn, old, &k, &v, 0), 0);
  MDB_val mk{10, const_cast<char*>("index-meta")}, mv;
  ASSERT_EQ(mdb_get(txn, meta, &mk, &mv), 0);
  std::string m(static_cast<const char*>(mv.mv_data), mv.mv_size);
  m[0] = static_cast<char>(version), m[1] = m[2] = m[3] = 0;  // version, u32 LE
  mv = MDB_val{m.size(), m.data()};
  ASSERT_EQ(mdb_put(txn, meta, &mk, &mv, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

// True if the index file has a table of that name.
bool IndexHasTable(const std::string& log_path, const char* table) {
  MDB_env* env = nullptr;
  EXPECT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 8);
  EXPECT_EQ(mdb_env_open(env, IndexPathFor(log_path).c_str(), MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
  MDB_txn* txn = nullptr;
  EXPECT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
  MDB_dbi dbi;
  const bool has = mdb_dbi_open(txn, table, 0, &dbi) == 0;
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return has;
}

TEST_F(StoreIndexTest, IndexesOfFormatVersions1And2AreRebuiltAndTheirOldKeyTablesDropped) {
  struct Older {
    uint32_t version;
    const char* table;
    unsigned flags;
  };
  for (const Older& o : {Older{1, "key", 0u}, Older{2, "keys", unsigned{MDB_DUPSORT | MDB_DUPFIXED}}}) {
    SCOPED_TRACE("format version " + std::to_string(o.version));
    RemoveIndex();
    std::filesystem::remove(path_);
    Workload(path_, 0, 20);
    const std::vector<Entry> fresh = DumpIndex(path_);
    MakeOlderIndex(path_, o.version, o.table, o.flags);
    ASSERT_TRUE(IndexHasTable(path_, o.table));
    {
      auto s = OpenOrDie(Opts());
      EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt);
      EXPECT_EQ(s->open_report().index_reason, "index format version " + std::to_string(o.version));
      Message m;
      ASSERT_TRUE(s->FirstByKey("k2", &m).ok());
      EXPECT_EQ(m.payload, "k2:2");
      ASSERT_TRUE(s->Close().ok());
    }
    EXPECT_EQ(DumpIndex(path_), fresh);
    EXPECT_FALSE(IndexHasTable(path_, o.table));
    EXPECT_TRUE(IndexHasTable(path_, "kblocks"));
  }
}

TEST_F(StoreIndexTest, ReceiveByKeyFromTheIndexTailSkipsConsumedAndTakenAndSeesReleasedAgain) {
  // All of these stay in the in-memory index tail (far fewer than a flush).
  auto s = OpenOrDie(Opts());
  uint64_t seq = 0;
  for (int i = 1; i <= 6; ++i) ASSERT_TRUE(s->Append("k:" + std::to_string(i)).MoveTo(&seq).ok());
  ASSERT_TRUE(s->Append("other:7").MoveTo(&seq).ok());
  Message m;
  ASSERT_TRUE(s->FirstByKey("k", &m).ok());
  EXPECT_EQ(m.seq, 1u);
  ASSERT_TRUE(s->Take(1).ok());
  ASSERT_TRUE(s->Consume(2).ok());
  ASSERT_TRUE(s->Consume(3).ok());
  ASSERT_TRUE(s->FirstByKey("k", &m).ok());
  EXPECT_EQ(m.seq, 4u);  // 1 taken, 2 and 3 consumed
  ASSERT_TRUE(s->Release(1).ok());
  ASSERT_TRUE(s->FirstByKey("k", &m).ok());
  EXPECT_EQ(m.seq, 1u);  // released: visible again, though consumed ones lay after it
  ASSERT_TRUE(s->Consume(1).ok());
  ASSERT_TRUE(s->Consume(4).ok());
  ASSERT_TRUE(s->FirstByKey("k", &m).ok());
  EXPECT_EQ(m.seq, 5u);
  ASSERT_TRUE(s->Consume(5).ok());
  ASSERT_TRUE(s->Consume(6).ok());
  EXPECT_TRUE(s->FirstByKey("k", &m).IsNotFound());
  ASSERT_TRUE(s->FirstByKey("other", &m).ok());
  EXPECT_EQ(m.seq, 7u);
}

TEST_F(StoreIndexTest, WalksOverTheIndexTailSkipConsumedRunsInAnyOrderOfConsumption) {
  auto s = OpenOrDie(Opts());
  uint64_t seq = 0;
  for (int i = 1; i <= 40; ++i) ASSERT_TRUE(s->Append("k" + std::to_string(i % 3) + ":" + std::to_string(i)).MoveTo(&seq).ok());
  // Consume 2..30 out of order, so that runs of consumed entries join up
  // from both ends.
  std::vector<uint64_t> order;
  for (uint64_t q = 2; q <= 30; ++q) order.push_back(q);
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  for (uint64_t q : order) {
    ASSERT_TRUE(s->Consume(q).ok());
    std::vector<uint64_t> seen;  // a full walk sees exactly the pending ones
    ASSERT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
      seen.push_back(v.seq);
      return true;
    }).ok());
    std::vector<uint64_t> want{1};
    for (uint64_t r = 2; r <= 40; ++r)
      if (r > 30 || std::find(order.begin(), order.end(), r) > std::find(order.begin(), order.end(), q)) want.push_back(r);
    ASSERT_EQ(seen, want) << "after consuming " << q;
  }
  Message m;
  ASSERT_TRUE(s->Take(31).ok());
  uint64_t scanned = 0;
  ASSERT_TRUE(s->FindFirst(2, [](std::string_view p) { return p.rfind("k", 0) == 0; }, &m, &scanned).ok());
  EXPECT_EQ(m.seq, 32u);  // 2..30 consumed, 31 taken
  ASSERT_TRUE(s->Release(31).ok());
  ASSERT_TRUE(s->FindFirst(2, [](std::string_view p) { return p.rfind("k", 0) == 0; }, &m, &scanned).ok());
  EXPECT_EQ(m.seq, 31u);
  ASSERT_TRUE(s->FirstPending(&m).ok());
  EXPECT_EQ(m.seq, 1u);
}

// Random takes, releases and consumes among messages [1, n] of a store,
// recorded in *taken and *consumed, with check(when) after every tenth step.
struct ChurnPlan {
  unsigned seed;
  int steps;
  int take_every;     // a step divisible by this takes (if not taken yet)
  int release_every;  // else one divisible by this releases (if taken); else consume
};
void Churn(Store* s, uint64_t n, const ChurnPlan& plan, std::set<uint64_t>* taken, std::set<uint64_t>* consumed,
           const std::function<void(const std::string&)>& check) {
  std::mt19937 rng(plan.seed);
  for (int step = 0; step < plan.steps; ++step) {
    const uint64_t q = 1 + rng() % n;
    if (consumed->count(q) != 0) continue;
    if (step % plan.take_every == 0 && taken->count(q) == 0) {
      ASSERT_TRUE(s->Take(q).ok());
      taken->insert(q);
    } else if (step % plan.release_every == 0 && taken->count(q) != 0) {
      ASSERT_TRUE(s->Release(q).ok());
      taken->erase(q);
    } else {
      ASSERT_TRUE(s->Consume(q).ok()) << q;
      taken->erase(q);
      consumed->insert(q);
    }
    if (step % 10 == 0) check("after step " + std::to_string(step));
  }
}

// Walks through LMDB read runs of back-to-back messages from the log itself
// and step the B-tree only where a run ends (docs/design.md, "Reading"). What
// they visit must still be exactly what the index lists as visible: never a
// consumed message (by this store or behind its back), never a taken one.
TEST_F(StoreIndexTest, WalksThroughTheIndexInLogRunsVisitExactlyTheVisibleMessagesInOrder) {
  StoreOptions o = Opts();
  o.auto_compact = false;
  constexpr uint64_t kN = 300;
  {
    auto s = OpenOrDie(o);
    std::vector<std::string> msgs;
    for (uint64_t i = 1; i <= kN; ++i) msgs.push_back((i % 7 == 0 ? "w:" : "k:") + std::to_string(i));
    std::vector<std::string_view> views(msgs.begin(), msgs.end());
    uint64_t first = 0;
    ASSERT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
    ASSERT_TRUE(s->Close().ok());  // everything into LMDB, an empty tail
  }
  std::set<uint64_t> consumed;
  {  // consumed behind the index's back: LMDB still lists these
    StoreOptions elsewhere = o;
    elsewhere.index_path = dir_.File("elsewhere.idx");
    auto s = OpenOrDie(elsewhere);
    for (uint64_t q : {5, 6, 40, 150, 151, 152, 299}) {
      ASSERT_TRUE(s->Consume(q).ok());
      consumed.insert(q);
    }
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = OpenOrDie(o);
  std::set<uint64_t> taken;
  auto visible = [&](uint64_t from) {
    std::vector<uint64_t> v;
    for (uint64_t q = std::max<uint64_t>(from, 1); q <= kN; ++q)
      if (consumed.count(q) == 0 && taken.count(q) == 0) v.push_back(q);
    return v;
  };
  auto check = [&](const std::string& when) {
    for (uint64_t from : {0, 1, 5, 7, 100, 151, 299}) {
      std::vector<uint64_t> seen;
      ASSERT_TRUE(s->ScanPending(from, [&](const MessageView& v) {
        EXPECT_EQ(std::string(v.payload), (v.seq % 7 == 0 ? "w:" : "k:") + std::to_string(v.seq));
        seen.push_back(v.seq);
        return true;
      }).ok());
      ASSERT_EQ(seen, visible(from)) << when << ", scan from " << from;
      // FindFirst for the first "w:" message at or after `from`.
      std::vector<uint64_t> want = visible(from);
      auto w = std::find_if(want.begin(), want.end(), [](uint64_t q) { return q % 7 == 0; });
      Message m;
      uint64_t scanned = 0;
      Status st = s->FindFirst(from, [](std::string_view p) { return p.rfind("w:", 0) == 0; }, &m, &scanned);
      if (w == want.end()) {
        ASSERT_TRUE(st.IsNotFound()) << when << ": " << st.ToString();
      } else {
        ASSERT_TRUE(st.ok()) << when << ": " << st.ToString();
        ASSERT_EQ(m.seq, *w) << when << ", find from " << from;
      }
    }
  };
  check("after reopen");
  Churn(s.get(), kN, {11, 120, 5, 11}, &taken, &consumed, check);
  ASSERT_FALSE(HasFatalFailure());
  check("at the end");
  ASSERT_TRUE(s->Close().ok());
  // The key table lost exactly the consumed ones (some adjacent within their
  // key, some not), and kept the taken ones.
  std::map<std::string, std::vector<uint64_t>> want;
  for (uint64_t q = 1; q <= kN; ++q)
    if (consumed.count(q) == 0) want[q % 7 == 0 ? "w" : "k"].push_back(q);
  EXPECT_EQ(DumpKeyTable(path_, {"k", "w"}), want);
}

// The same for messages still in the index's tail (appended since the last
// index flush): a walk runs through the log there too, and must still skip
// every taken and consumed one and visit the rest in order.
TEST_F(StoreIndexTest, WalksThroughTheIndexTailInLogRunsVisitExactlyTheVisibleMessagesInOrder) {
  StoreOptions o = Opts();
  o.auto_compact = false;
  constexpr uint64_t kN = 400;
  auto s = OpenOrDie(o);
  std::vector<std::string> msgs;
  for (uint64_t i = 1; i <= kN; ++i) msgs.push_back((i % 7 == 0 ? "w:" : "k:") + std::to_string(i));
  for (size_t i = 0; i < msgs.size(); i += 100) {  // four batches, back to back in the log
    std::vector<std::string_view> views(msgs.begin() + static_cast<long>(i), msgs.begin() + static_cast<long>(i + 100));
    uint64_t first = 0;
    ASSERT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
  }
  ASSERT_EQ(s->Stats().pending, kN);
  std::set<uint64_t> gone, taken;
  auto check = [&](const std::string& when) {
    for (uint64_t from : {0, 1, 7, 99, 100, 101, 250, 399, 400}) {
      std::vector<uint64_t> want, seen;
      for (uint64_t q = std::max<uint64_t>(from, 1); q <= kN; ++q)
        if (gone.count(q) == 0 && taken.count(q) == 0) want.push_back(q);
      ASSERT_TRUE(s->ScanPending(from, [&](const MessageView& v) {
        EXPECT_EQ(std::string(v.payload), msgs[v.seq - 1]);
        seen.push_back(v.seq);
        return true;
      }).ok());
      ASSERT_EQ(seen, want) << when << ", scan from " << from;
      seen.clear();
      Message m;
      uint64_t scanned = 0;
      Status st = s->FindFirst(from, [&](std::string_view p) {
        seen.push_back(std::stoull(std::string(p.substr(2))));
        return false;
      }, &m, &scanned);
      ASSERT_TRUE(st.IsNotFound()) << st.ToString();
      ASSERT_EQ(seen, want) << when << ", predicate from " << from;
      auto w = std::find_if(want.begin(), want.end(), [](uint64_t q) { return q % 7 == 0; });
      st = s->FindFirst(from, [](std::string_view p) { return p.rfind("w:", 0) == 0; }, &m, &scanned);
      if (w == want.end()) {
        ASSERT_TRUE(st.IsNotFound()) << when;
      } else {
        ASSERT_TRUE(st.ok()) << when << ": " << st.ToString();
        ASSERT_EQ(m.seq, *w) << when << ", find from " << from;
      }
    }
  };
  check("as appended");
  Churn(s.get(), kN, {7, 150, 4, 9}, &taken, &gone, check);
  ASSERT_FALSE(HasFatalFailure());
  check("at the end");
  ASSERT_TRUE(s->Close().ok());
}

// A selective receive behind a backlog walks the same unmatched messages
// every time. After the first walk the store serves them from memory (its
// read window grows up to read_cache_bytes): later receives read nothing from
// the log. With read_cache_bytes = 0 every receive reads the backlog again.
TEST_F(StoreIndexTest, RepeatedPredicateReceivesBehindABacklogReadTheLogOnlyOnTheFirstWalk) {
  for (size_t cache : {size_t{16} << 20, size_t{0}}) {
    SCOPED_TRACE("read_cache_bytes " + std::to_string(cache));
    test::FaultEnv env(Env::Default());
    StoreOptions o = Opts();
    o.env = &env;
    o.read_cache_bytes = cache;
    const std::string path = dir_.File("grow-" + std::to_string(cache));
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path, o).MoveTo(&s).ok());
    std::vector<std::string> msgs;
    for (int i = 0; i < 40000; ++i) msgs.push_back("other:" + std::to_string(i) + std::string(60, 'x'));
    for (int i = 0; i < 8; ++i) msgs.push_back("wanted:" + std::to_string(i));
    std::vector<std::string_view> views(msgs.begin(), msgs.end());
    uint64_t first = 0;
    ASSERT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());  // ~3.9 MB, larger than two windows
    auto wanted = [](std::string_view p) { return p.starts_with("wanted:"); };
    std::vector<uint64_t> reads;
    for (int i = 0; i < 8; ++i) {
      const uint64_t before = env.reads();
      Message m;
      uint64_t scanned = 0;
      ASSERT_TRUE(s->FindFirst(0, wanted, &m, &scanned).ok());
      EXPECT_EQ(m.payload, "wanted:" + std::to_string(i));
      ASSERT_TRUE(s->Consume(m.seq).ok());
      reads.push_back(env.reads() - before);
    }
    ASSERT_TRUE(s->Close().ok());
    if (cache != 0) {
      EXPECT_GT(reads[0], 0u) << "the appends outran the window: the first walk reads";
      for (size_t i = 1; i < reads.size(); ++i) EXPECT_EQ(reads[i], 0u) << "receive " << i;
    } else {
      for (size_t i = 1; i < reads.size(); ++i) EXPECT_GE(reads[i], 10u) << "receive " << i;
    }
  }
}

// A log run keeps its place in one read window and moves to the next where
// a window ends; a record larger than a window is read whole. The walk must
// visit every message across those seams, and a predicate must see each
// payload whole: a few megabytes of small messages with messages of 300 KB
// and 600 KB (larger than the 256 KB window) among them.
TEST_F(StoreIndexTest, WalksAcrossReadWindowsAndPastMessagesLargerThanAWindowSeeEveryPayloadWhole) {
  StoreOptions o = Opts();
  o.auto_compact = false;
  std::map<uint64_t, std::string> want;
  auto payload = [](uint64_t i) {
    const std::string head = std::to_string(i) + ":";
    if (i % 5000 == 1234) return "big:" + head + std::string(300 << 10, static_cast<char>('a' + i % 26));
    if (i % 5000 == 4321) return "big:" + head + std::string(600 << 10, static_cast<char>('A' + i % 26));
    return "k:" + head + std::string(80 + i % 90, 'x');
  };
  {
    auto s = OpenOrDie(o);
    std::vector<std::string> msgs;
    for (uint64_t i = 1; i <= 20000; ++i) msgs.push_back(payload(i));
    for (size_t i = 0; i < msgs.size(); i += 3000) {
      std::vector<std::string_view> views(msgs.begin() + static_cast<long>(i),
                                          msgs.begin() + static_cast<long>(std::min(msgs.size(), i + 3000)));
      uint64_t first = 0;
      ASSERT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
    }
    for (uint64_t i = 1; i <= 20000; ++i) want[i] = msgs[i - 1];
    ASSERT_TRUE(s->Close().ok());  // everything into LMDB: one long run per batch
  }
  auto s = OpenOrDie(o);
  // Consume a few, so that runs also end and start again mid-window.
  for (uint64_t q : {2u, 3000u, 3001u, 6234u, 9999u, 14321u}) {
    ASSERT_TRUE(s->Consume(q).ok());
    want.erase(q);
  }
  std::vector<uint64_t> seen;
  ASSERT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
    EXPECT_EQ(v.payload, want[v.seq]) << v.seq;
    seen.push_back(v.seq);
    return true;
  }).ok());
  std::vector<uint64_t> all;
  for (const auto& [q, p] : want) all.push_back(q);
  EXPECT_EQ(seen, all);
  // A predicate sees every pending payload whole, in order, and FindFirst
  // returns the first it accepts.
  seen.clear();
  Message m;
  uint64_t scanned = 0;
  Status st = s->FindFirst(
      0,
      [&](std::string_view p) {
        const uint64_t q = std::stoull(std::string(p.substr(p.find(':') + 1, 6)));
        EXPECT_EQ(p, want[q]) << q;
        seen.push_back(q);
        return false;
      },
      &m, &scanned);
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  EXPECT_EQ(seen, all);
  for (uint64_t target : {1234u, 4321u, 11234u, 19999u}) {
    const std::string prefix = "big:" + std::to_string(target) + ":";
    const std::string plain = "k:" + std::to_string(target) + ":";
    ASSERT_TRUE(s->FindFirst(0, [&](std::string_view p) { return p.rfind(prefix, 0) == 0 || p.rfind(plain, 0) == 0; },
                             &m, &scanned).ok())
        << target;
    EXPECT_EQ(m.seq, target);
    EXPECT_EQ(m.payload, want[target]);
  }
  ASSERT_TRUE(s->Close().ok());
}

}  // namespace
}  // namespace mq
