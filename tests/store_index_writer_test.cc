// The index writer thread (docs/design.md, "The index tail"): a full tail is
// frozen and written to LMDB in the background while appends go on. Reads,
// consumes and receives by key see the frozen tail's messages as if LMDB had
// them already, and what LMDB ends up with equals a fresh build.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "mq/inspect.h"
#include "mq/store.h"
#include "store_testing.h"
#include "test_util.h"

extern char** environ;

namespace mq {
namespace {

constexpr uint64_t kOneFlush = 65536;  // a full tail (store_write.cc, kTailFlush)

std::string Msg(uint64_t i) { return "k" + std::to_string(i % 5) + ":" + std::to_string(i); }
std::string KeyOf(uint64_t i) { return "k" + std::to_string(i % 5); }

// Holds LMDB's write lock on an index from a child process, so that the
// store's index writer blocks in its transaction until Release(). Release()
// returns how many entries the seq table had while the lock was held. The
// child is a program (index_write_blocker_helper) started by posix_spawn: a
// child forked from this process, whose store runs threads, must not run
// LMDB (it allocates) before an exec.
class IndexWriteBlocker {
 public:
  explicit IndexWriteBlocker(const std::string& index_path) {
    int to_child[2], to_parent[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(to_parent, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&fa, to_parent[1], 1);
    std::string helper = MQ_INDEX_WRITE_BLOCKER_HELPER, path = index_path;
    char* argv[] = {helper.data(), path.data(), nullptr};
    if (::posix_spawn(&pid_, argv[0], &fa, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    ::close(to_child[0]);
    ::close(to_parent[1]);
    to_child_ = to_child[1];
    from_child_ = to_parent[0];
    char c = 0;
    locked_ = pid_ > 0 && ::read(from_child_, &c, 1) == 1 && c == 'L';
  }
  ~IndexWriteBlocker() { (void)Release(); }
  bool locked() const { return locked_; }

  long Release() {
    if (pid_ <= 0) return -1;
    char c = 'R';
    long entries = -1;
    if (::write(to_child_, &c, 1) != 1 || ::read(from_child_, &entries, sizeof entries) != sizeof entries)
      entries = -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ::close(to_child_);
    ::close(from_child_);
    pid_ = -1;
    return entries;
  }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  bool locked_ = false;
};

class StoreIndexWriterTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }

  static StoreOptions Opts() {
    StoreOptions o;
    o.sync = SyncPolicy::kNone;
    o.key = KeyExtractor::UntilDelimiter(':');
    o.auto_compact = false;
    return o;
  }

  // Appends messages Msg(i) for i in [from, to) in batches of 1000.
  static void AppendRange(Store* s, uint64_t from, uint64_t to) {
    std::vector<std::string> msgs;
    for (uint64_t i = from; i < to; ++i) msgs.push_back(Msg(i));
    std::vector<std::string_view> views(msgs.begin(), msgs.end());
    for (size_t i = 0; i < views.size(); i += 1000) {
      uint64_t first = 0;
      ASSERT_TRUE(s->AppendBatch(std::span(views).subspan(i, std::min<size_t>(1000, views.size() - i))).MoveTo(&first).ok());
    }
  }

  static std::map<uint64_t, std::string> Pending(Store* s) { return test::PendingMessages(s); }

  // After the store is closed: the index has no problem, a reopen trusts it
  // and finds exactly `want` pending.
  void ExpectSoundAfterReopen(const std::map<uint64_t, std::string>& want) {
    std::vector<std::string> problems;
    ASSERT_TRUE(VerifyIndex(path_, InspectOptions{}).MoveTo(&problems).ok());
    EXPECT_TRUE(problems.empty()) << problems.front();
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&s).ok());
    EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kTrusted);
    EXPECT_EQ(Pending(s.get()), want);
  }

  test::TempDir dir_;
  std::string path_;
};

TEST_F(StoreIndexWriterTest, MessagesOfAnIndexWriteInFlightAreReadConsumedAndReceivedByKey) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&s).ok());
  std::map<uint64_t, std::string> want;
  IndexWriteBlocker blocker(IndexPathFor(path_));
  ASSERT_TRUE(blocker.locked());
  // Seqs 1..kOneFlush fill the tail: it is frozen and its write blocks on the lock.
  AppendRange(s.get(), 1, kOneFlush + 1);
  AppendRange(s.get(), kOneFlush + 1, kOneFlush + 101);  // a new tail behind it
  for (uint64_t i = 1; i <= kOneFlush + 100; ++i) want[i] = Msg(i);

  Message m;
  ASSERT_TRUE(s->Get(7, &m).ok());
  EXPECT_EQ(m.payload, Msg(7));
  ASSERT_TRUE(s->FirstByKey("k3", &m).ok());
  EXPECT_EQ(m.seq, 3u);
  ASSERT_TRUE(s->Consume(3).ok());
  want.erase(3);
  ASSERT_TRUE(s->FirstByKey("k3", &m).ok());
  EXPECT_EQ(m.seq, 8u);
  // Consume every frozen message of key k2 and one of the new tail's.
  for (uint64_t i = 2; i <= kOneFlush; i += 5) {
    ASSERT_TRUE(s->Consume(i).ok()) << i;
    want.erase(i);
  }
  ASSERT_TRUE(s->FirstByKey("k2", &m).ok());
  EXPECT_EQ(m.seq, kOneFlush + 1);  // the new tail's first k2
  EXPECT_TRUE(s->Get(2, &m).IsNotFound());
  EXPECT_TRUE(s->Consume(2).IsNotFound());
  uint64_t scanned = 0;
  ASSERT_TRUE(s->FindFirst(0, [](std::string_view p) { return p == "k1:65536"; }, &m, &scanned).ok());
  EXPECT_EQ(m.seq, kOneFlush);
  EXPECT_EQ(Pending(s.get()), want);

  const long entries_while_blocked = blocker.Release();
  EXPECT_EQ(entries_while_blocked, 0) << "the frozen tail reached LMDB before the reads above: they did not test it";
  const StoreStats st = s->Stats();  // waits for the write
  EXPECT_EQ(st.pending, want.size());
  EXPECT_EQ(st.first_pending_seq, 1u);
  EXPECT_EQ(Pending(s.get()), want);
  EXPECT_TRUE(s->Get(2, &m).IsNotFound());
  ASSERT_TRUE(s->Close().ok());
  ExpectSoundAfterReopen(want);
}

TEST_F(StoreIndexWriterTest, ACompactionDuringAnIndexWriteInFlightKeepsEveryPendingMessage) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&s).ok());
  std::map<uint64_t, std::string> want;
  {
    IndexWriteBlocker blocker(IndexPathFor(path_));
    ASSERT_TRUE(blocker.locked());
    AppendRange(s.get(), 1, kOneFlush + 51);
    for (uint64_t i = 1; i <= kOneFlush + 50; ++i)
      if (i % 4 == 0) {
        ASSERT_TRUE(s->Consume(i).ok());
      } else {
        want[i] = Msg(i);
      }
    Status compacted;
    std::thread t([&] {
      CompactionResult r;
      compacted = s->Compact().MoveTo(&r);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // most likely waiting for the lock by now
    (void)blocker.Release();
    t.join();
    ASSERT_TRUE(compacted.ok()) << compacted.ToString();
  }
  EXPECT_EQ(Pending(s.get()), want);
  Message m;
  ASSERT_TRUE(s->FirstByKey("k4", &m).ok());
  EXPECT_EQ(m.seq, 9u);
  ASSERT_TRUE(s->Close().ok());
  ExpectSoundAfterReopen(want);
}

TEST_F(StoreIndexWriterTest, RandomAppendsConsumesAndReceivesAcrossManyIndexWritesAgreeWithAModel) {
  std::mt19937_64 rng(20261128);
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&s).ok());
  std::map<uint64_t, std::string> want;              // pending
  std::map<std::string, std::set<uint64_t>> by_key;  // pending, per key
  uint64_t next = 1;
  auto consume = [&](uint64_t seq) {
    ASSERT_TRUE(s->Consume(seq).ok()) << seq;
    by_key[KeyOf(seq)].erase(seq);
    want.erase(seq);
  };
  while (next <= 5 * kOneFlush) {
    const uint64_t n = 1 + rng() % 3000;
    AppendRange(s.get(), next, next + n);
    for (uint64_t i = next; i < next + n; ++i) {
      want[i] = Msg(i);
      by_key[KeyOf(i)].insert(i);
    }
    next += n;
    for (int op = 0; op < 40 && !want.empty(); ++op) {
      Message m;
      switch (rng() % 4) {
        case 0: {  // the oldest of a key
          const std::string key = "k" + std::to_string(rng() % 6);  // k5 never occurs
          Status st = s->FirstByKey(key, &m);
          if (by_key[key].empty()) {
            ASSERT_TRUE(st.IsNotFound()) << key;
          } else {
            ASSERT_TRUE(st.ok()) << st.ToString();
            ASSERT_EQ(m.seq, *by_key[key].begin()) << key;
            consume(m.seq);
          }
          break;
        }
        case 1: {  // the oldest of all
          ASSERT_TRUE(s->FirstPending(&m).ok());
          ASSERT_EQ(m.seq, want.begin()->first);
          consume(m.seq);
          break;
        }
        default: {  // anywhere, pending or not
          const uint64_t seq = 1 + rng() % (next - 1);
          Status st = s->Get(seq, &m);
          if (want.count(seq) == 0) {
            ASSERT_TRUE(st.IsNotFound()) << seq;
          } else {
            ASSERT_TRUE(st.ok()) << st.ToString();
            ASSERT_EQ(m.payload, want[seq]);
            consume(seq);
          }
        }
      }
    }
  }
  EXPECT_EQ(Pending(s.get()), want);
  EXPECT_EQ(s->Stats().pending, want.size());
  ASSERT_TRUE(s->Close().ok());
  ExpectSoundAfterReopen(want);
}

}  // namespace
}  // namespace mq
