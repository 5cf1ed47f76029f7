// The index's LMDB map grows on demand (docs/design.md, "Growing the index
// map"): a store starts with a 1 MiB map, grows it while other threads and
// other processes read, stops at StoreOptions::max_index_bytes with an error
// that names the file and the option, loses nothing when killed while the
// map grows, and so thousands of stores fit in one process.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "index/index.h"
#include "mq/store.h"
#include "store_testing.h"
#include "test_util.h"

namespace mq {
namespace {
using namespace mq::test;

std::string Payload(uint64_t i) { return "message " + std::to_string(i) + std::string(40, 'x'); }

StoreOptions Options() {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.index_tail_flush = 512;  // many small index transactions: the map grows between them
  return o;
}

TEST(StoreIndexMapTest, AFreshStoreReservesOneMiBOfMap) {
  FastTempDir dir;
  auto st = Store::Open(dir.File("q"), Options());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  StoreStats s = (*st)->Stats();
  EXPECT_EQ(s.index_map_bytes, uint64_t{1} << 20);
  EXPECT_EQ(s.index_map_resizes, 0u);
}

// One thread appends until the index has grown its map several times; two
// others read (stats, first pending, scans, consumes) all along. Every
// message is then where it should be.
TEST(StoreIndexMapTest, MapGrowsThroughSeveralResizesWhileOtherThreadsRead) {
  FastTempDir dir;
  const std::string path = dir.File("q");
  const uint64_t n = 200000;  // about 6 MB of index: the map grows from 1 MiB several times (under a sanitizer too)
  uint64_t consumed = 0;
  {
    auto st = Store::Open(path, Options());
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    Store* store = st->get();
    std::atomic<bool> done{false};
    std::atomic<int> read_errors{0};
    std::atomic<uint64_t> consumes{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
      readers.emplace_back([&, r] {
        while (!done.load()) {
          Message m;
          Status s = r == 0 ? store->FirstPending(&m) : store->Get(1 + consumes.load() * 7 % 1000, &m);
          if (!s.ok() && !s.IsNotFound()) ++read_errors;
          if (r == 0 && s.ok() && m.seq % 3 == 0 && store->Consume(m.seq).ok()) ++consumes;
          (void)store->Stats();
          uint64_t seen = 0;
          if (!store->ScanPending(0, [&](const MessageView&) { return ++seen < 100; }).ok()) ++read_errors;
        }
      });
    }
    for (uint64_t i = 1; i <= n; i += 100) {
      std::vector<std::string> batch;
      for (uint64_t j = i; j < i + 100 && j <= n; ++j) batch.push_back(Payload(j));
      std::vector<std::string_view> views(batch.begin(), batch.end());
      auto r = store->AppendBatch(views);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
    done = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(read_errors.load(), 0);
    ASSERT_TRUE(store->Sync().ok());
    StoreStats s = store->Stats();
    EXPECT_GE(s.index_map_resizes, 3u) << "map " << s.index_map_bytes;
    EXPECT_GT(s.index_map_bytes, kInitialMapBytes);
    consumed = consumes.load();
    EXPECT_EQ(s.pending, n - consumed);
    ASSERT_TRUE(store->Close().ok());
  }
  auto st = Store::Open(path, Options());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ((*st)->open_report().index_action, IndexAction::kTrusted);
  auto pending = PendingMessages(st->get());
  EXPECT_EQ(pending.size(), n - consumed);
  for (const auto& [seq, payload] : pending) ASSERT_EQ(payload, Payload(seq));
}

// A flush whose transaction needs more than the room the store made ahead
// (long keys: about 1 KB of index per message, where the store reckons 128
// bytes) fills the map in the tail writer, with the store's snapshot held;
// the store's thread then grows the map and runs the same flush again.
TEST(StoreIndexMapTest, AFlushThatFillsTheMapGrowsItAndRunsAgain) {
  FastTempDir dir;
  const std::string path = dir.File("q");
  StoreOptions o = Options();
  o.key = KeyExtractor::UntilDelimiter(':');
  o.index_tail_flush = 4096;
  const uint64_t n = 3 * 4096;
  auto payload = [](uint64_t i) { return std::to_string(i) + std::string(390, 'k') + ":body"; };
  {
    auto st = Store::Open(path, o);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    Message m;
    for (uint64_t i = 1; i <= n; ++i) {
      auto r = (*st)->Append(payload(i));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (i % 1000 == 0) {
        ASSERT_TRUE((*st)->Get(i - 500, &m).ok());  // holds the store's snapshot
      }
    }
    StoreStats s = (*st)->Stats();
    EXPECT_EQ(s.pending, n);
    EXPECT_GE(s.index_map_resizes, 2u);
    ASSERT_TRUE((*st)->Close().ok());
  }
  auto st = Store::Open(path, o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ((*st)->open_report().index_action, IndexAction::kTrusted);
  auto pending = PendingMessages(st->get());
  ASSERT_EQ(pending.size(), n);
  for (const auto& [seq, p] : pending) ASSERT_EQ(p, payload(seq));
  Message m;
  ASSERT_TRUE((*st)->FirstByKey(payload(777).substr(0, payload(777).find(':')), &m).ok());
  EXPECT_EQ(m.seq, 777u);
}

// Another process holds the index open read-only, with the small map it had
// when it opened, and reads while this one writes the index well past that
// map: its transactions get MDB_MAP_RESIZED, take the file's size and go on.
TEST(StoreIndexMapTest, AnotherProcessReadsTheIndexWhileItGrows) {
  FastTempDir dir;
  const std::string path = dir.File("q.idx");
  const uint64_t n = 200000;  // about 6 MB of index: the map grows from 1 MiB several times (under a sanitizer too)
  {
    std::unique_ptr<Index> idx;
    ASSERT_TRUE(Index::Open(path, false, 0600, &idx).ok());
  }
  int ready[2], report[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(report), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ready[0]);
    ::close(report[0]);
    std::unique_ptr<Index> idx;
    Status s = Index::Open(path, true, 0, &idx);
    char c = s.ok() ? 'R' : 'E';
    if (::write(ready[1], &c, 1) != 1 || !s.ok()) ::_exit(2);
    uint64_t last = 0;
    Index::Read r(idx.get());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (last < n && std::chrono::steady_clock::now() < deadline) {
      s = r.Begin();
      if (!s.ok()) {
        std::string m = s.ToString();
        (void)!::write(report[1], m.data(), m.size());
        ::_exit(3);
      }
      const uint64_t e = r.Entries();
      Loc loc;
      if (e < last || (e > 0 && !r.Get(e, &loc).ok()) || (e > 0 && loc.msg_offset != e * 10)) ::_exit(4);
      last = e;
      r.Release();
    }
    const std::string m = std::to_string(idx->map_resizes()) + " " + std::to_string(last);
    (void)!::write(report[1], m.data(), m.size());
    ::_exit(last == n ? 0 : 5);
  }
  ::close(ready[1]);
  ::close(report[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'R');
  std::unique_ptr<Index> idx;
  ASSERT_TRUE(Index::Open(path, false, 0600, &idx).ok());
  for (uint64_t i = 1; i <= n;) {
    Index::Write w(idx.get());
    ASSERT_TRUE(w.Begin().ok());
    for (uint64_t j = 0; j < 1000 && i <= n; ++j, ++i)
      ASSERT_TRUE(w.PutSeq(i, Loc{i * 10, 5, true, false}, {}, false, true).ok());
    Status s = w.Commit();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_GE(idx->map_resizes(), 3u);
  std::string out(256, '\0');
  ssize_t got = ::read(report[0], out.data(), out.size());
  out.resize(got > 0 ? got : 0);
  EXPECT_EQ(WaitExitCode(pid), 0) << out;
  EXPECT_NE(out.rfind("0 ", 0), 0u) << "the reader never took a bigger map: " << out;
  ::close(ready[0]);
  ::close(report[0]);
}

// A store whose index reaches StoreOptions::max_index_bytes says so, naming
// the index file and the option; the log kept every message appended, and a
// reopen with a higher ceiling serves them all.
TEST(StoreIndexMapTest, IndexAtItsCeilingSaysSoNamingTheFileAndTheOption) {
  FastTempDir dir;
  const std::string path = dir.File("q");
  StoreOptions o = Options();
  o.max_index_bytes = 1 << 20;
  uint64_t appended = 0;
  Status failure;
  {
    auto st = Store::Open(path, o);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    for (uint64_t i = 1; i <= 200000 && failure.ok(); ++i) {
      auto r = (*st)->Append(Payload(i));
      if (r.ok()) {
        appended = *r;
      } else {
        failure = r.status();
      }
    }
    EXPECT_LE((*st)->Stats().index_map_bytes, uint64_t{1} << 20);
    (void)(*st)->Close();
  }
  ASSERT_FALSE(failure.ok()) << "200,000 messages fit an index of 1 MiB";
  EXPECT_NE(failure.message().find(path + ".idx"), std::string::npos) << failure.ToString();
  EXPECT_NE(failure.message().find("max_index_bytes"), std::string::npos) << failure.ToString();
  o.max_index_bytes = 0;
  auto st = Store::Open(path, o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  auto pending = PendingMessages(st->get());
  EXPECT_EQ(pending.size(), appended);
  for (const auto& [seq, payload] : pending) ASSERT_EQ(payload, Payload(seq));
}

// A child appends and syncs while its index map grows, reporting each synced
// count and its resizes; it is SIGKILLed at several points while the map is
// growing. A resize only remaps (it writes nothing), so every reopen finds
// every synced message, in order, with its payload.
TEST(StoreIndexMapTest, KilledWhileTheIndexMapGrowsReopensWithNothingLost) {
  FastTempDir dir;
  for (uint64_t kill_at : {2, 3, 4}) {
    SCOPED_TRACE("killed after " + std::to_string(kill_at) + " resizes");
    const std::string path = dir.File("q" + std::to_string(kill_at));
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(report[0]);
      auto st = Store::Open(path, Options());
      if (!st.ok()) ::_exit(2);
      // Bounded, should the map never grow: 1,000,000 messages, about 60 MB.
      for (uint64_t i = 1; i < 1000000; i += 100) {
        std::vector<std::string> batch;
        for (uint64_t j = i; j < i + 100; ++j) batch.push_back(Payload(j));
        std::vector<std::string_view> views(batch.begin(), batch.end());
        if (!(*st)->AppendBatch(views).ok() || !(*st)->Sync().ok()) ::_exit(3);
        const uint64_t rec[2] = {i + 99, (*st)->Stats().index_map_resizes};
        if (::write(report[1], rec, sizeof rec) != sizeof rec) ::_exit(4);
      }
      ::_exit(5);
    }
    ::close(report[1]);
    uint64_t rec[2] = {0, 0}, synced = 0;
    while (::read(report[0], rec, sizeof rec) == sizeof rec) {
      synced = rec[0];
      if (rec[1] >= kill_at) break;
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int ws = 0;
    ASSERT_EQ(::waitpid(pid, &ws, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(ws)) << "the child stopped on its own: " << ws;
    ::close(report[0]);
    ASSERT_GE(rec[1], kill_at) << "the child's map grew only " << rec[1] << " times";
    auto st = Store::Open(path, Options());
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    auto pending = PendingMessages(st->get());
    ASSERT_GE(pending.size(), synced);
    uint64_t want = 1;
    for (const auto& [seq, payload] : pending) {
      ASSERT_EQ(seq, want++);
      ASSERT_EQ(payload, Payload(seq));
    }
  }
}

// With a 256 GiB map per store, store 511 failed to open (ENOMEM: the
// address space ran out). Now each reserves 1 MiB: 5,000 open at once
// (600 under a sanitizer; MQ_MANY_STORES sets the count). A store holds 7
// descriptors (docs/mailbox.md, "Descriptors"): where RLIMIT_NOFILE's hard
// limit cannot be raised that far, as many as it allows, and never fewer
// than 1,024 (twice where the old map failed).
TEST(StoreIndexMapTest, FiveThousandStoresOpenInOneProcess) {
  uint64_t n = kSanitized ? 600 : 5000;
  if (const char* e = std::getenv("MQ_MANY_STORES")) n = std::strtoull(e, nullptr, 10);
  constexpr rlim_t kFdsPerStore = 7, kSpare = 256;
  struct rlimit rl;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  const rlim_t want = n * kFdsPerStore + kSpare;
  if (rl.rlim_cur < want) {
    struct rlimit raised = rl;
    raised.rlim_cur = want;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) raised.rlim_max = want;  // root may
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      raised.rlim_cur = raised.rlim_max = rl.rlim_max;
      ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &raised), 0);
      const uint64_t fit = (rl.rlim_max - kSpare) / kFdsPerStore;
      std::printf("note: RLIMIT_NOFILE's hard limit is %llu (%s to raise it): %llu stores instead of %llu\n",
                  static_cast<unsigned long long>(rl.rlim_max), std::strerror(errno),
                  static_cast<unsigned long long>(fit), static_cast<unsigned long long>(n));
      ASSERT_GE(fit, 1024u) << "RLIMIT_NOFILE's hard limit " << rl.rlim_max << " is too low for this test";
      n = fit;
    }
  }
  FastTempDir dir;
  std::vector<std::unique_ptr<Store>> stores;
  stores.reserve(n);
  StoreOptions o = Options();
  for (uint64_t i = 0; i < n; ++i) {
    auto st = Store::Open(dir.File("q" + std::to_string(i)), o);
    ASSERT_TRUE(st.ok()) << "store " << i << ": " << st.status().ToString();
    stores.push_back(std::move(*st));
  }
  for (uint64_t i = 0; i < n; i += 97) {
    auto r = stores[i]->Append(Payload(i));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    Message m;
    ASSERT_TRUE(stores[i]->FirstPending(&m).ok());
    EXPECT_EQ(m.payload, Payload(i));
  }
  for (auto& s : stores) ASSERT_TRUE(s->Close().ok());
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
}

}  // namespace
}  // namespace mq
