// Shared store threads (mq/store_threads.h): many stores, one sync thread and
// one index writer.
#include <dirent.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mq/store.h"
#include "mq/store_threads.h"
#include "test_util.h"

namespace mq {
namespace {

using test::FastTempDir;
using test::PollUntil;
using test::ThreadCount;

// Under TSan (slow, and its shadow memory) at most 50 stores.
#if defined(__SANITIZE_THREAD__)
constexpr size_t kMaxStores = 50;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr size_t kMaxStores = 50;
#else
constexpr size_t kMaxStores = 1000;
#endif
#else
constexpr size_t kMaxStores = 1000;
#endif


std::shared_ptr<StoreThreads> CreateThreads() {
  std::shared_ptr<StoreThreads> t;
  EXPECT_TRUE(StoreThreads::Create().MoveTo(&t).ok());
  return t;
}

// sync=batch and an index tail of 4 messages: both background jobs run.
StoreOptions Busy(const std::shared_ptr<StoreThreads>& threads) {
  StoreOptions o;
  o.sync = SyncPolicy::kBatch;
  o.batch_interval = std::chrono::milliseconds(5);
  o.index_tail_flush = 4;
  o.threads = threads;
  return o;
}

std::unique_ptr<Store> OpenOrDie(const std::string& path, const StoreOptions& o) {
  std::unique_ptr<Store> s;
  Status st = Store::Open(path, o).MoveTo(&s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return s;
}

void AppendN(Store* s, size_t n) {
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(s->Append("m" + std::to_string(i)).ok());
}

// Stores on shared threads run their flusher and their index writer there:
// the process has as many threads with 50 busy stores as with
// one.
TEST(StoreThreads, StoresOnSharedThreadsAddNoThreads) {
  const size_t kStores = std::min<size_t>(50, kMaxStores);
  constexpr size_t kEach = 20;
  FastTempDir dir;
  std::shared_ptr<StoreThreads> threads = CreateThreads();
  ASSERT_TRUE(threads);
  std::vector<std::unique_ptr<Store>> stores;
  stores.push_back(OpenOrDie(dir.File("q0"), Busy(threads)));
  ASSERT_TRUE(stores[0]);
  ASSERT_NO_FATAL_FAILURE(AppendN(stores[0].get(), kEach));
  const size_t with_one = ThreadCount();
  for (size_t i = 1; i < kStores; ++i) {
    stores.push_back(OpenOrDie(dir.File("q" + std::to_string(i)), Busy(threads)));
    ASSERT_TRUE(stores.back());
    ASSERT_NO_FATAL_FAILURE(AppendN(stores.back().get(), kEach));
  }
  for (auto& s : stores) {
    EXPECT_GT(s->Stats().index_writes, 0u);  // the tail writer ran for every store
    ASSERT_TRUE(PollUntil([&] { return s->Stats().durable_seq == kEach; }, std::chrono::seconds(20)));
  }
  EXPECT_EQ(ThreadCount(), with_one);
  for (auto& s : stores) EXPECT_TRUE(s->Close().ok());
}

// The shared sync thread makes each store's appends durable within its
// batch_interval's turns, store after store, without anyone calling Sync.
TEST(StoreThreads, SharedSyncThreadMakesEveryStoreDurable) {
  const size_t kStores = std::min<size_t>(20, kMaxStores);
  constexpr size_t kEach = 3;
  FastTempDir dir;
  std::shared_ptr<StoreThreads> threads = CreateThreads();
  ASSERT_TRUE(threads);
  std::vector<std::unique_ptr<Store>> stores;
  for (size_t i = 0; i < kStores; ++i) {
    StoreOptions o = Busy(threads);
    o.index_tail_flush = 65536;
    stores.push_back(OpenOrDie(dir.File("q" + std::to_string(i)), o));
    ASSERT_TRUE(stores.back());
  }
  for (int round = 1; round <= 3; ++round) {
    for (auto& s : stores) ASSERT_NO_FATAL_FAILURE(AppendN(s.get(), kEach));
    for (size_t i = 0; i < kStores; ++i) {
      ASSERT_TRUE(PollUntil([&] { return stores[i]->Stats().durable_seq == round * kEach; }, std::chrono::seconds(20)))
          << "store " << i << " round " << round << ": durable up to " << stores[i]->Stats().durable_seq;
      EXPECT_TRUE(stores[i]->WaitDurable(round * kEach).ok());
    }
  }
  for (auto& s : stores) EXPECT_TRUE(s->Close().ok());
}

// What the shared index writer wrote is in the index: reopened without
// shared threads, every store trusts its index and has every message.
TEST(StoreThreads, IndexWrittenBySharedWriterIsTrustedOnReopen) {
  const size_t kStores = std::min<size_t>(10, kMaxStores);
  constexpr size_t kEach = 101;
  FastTempDir dir;
  {
    std::shared_ptr<StoreThreads> threads = CreateThreads();
    ASSERT_TRUE(threads);
    std::vector<std::unique_ptr<Store>> stores;
    for (size_t i = 0; i < kStores; ++i) {
      stores.push_back(OpenOrDie(dir.File("q" + std::to_string(i)), Busy(threads)));
      ASSERT_TRUE(stores.back());
      ASSERT_NO_FATAL_FAILURE(AppendN(stores.back().get(), kEach));
      EXPECT_GE(stores.back()->Stats().index_writes, kEach / 4 / 2);
    }
    threads.reset();  // the stores keep the threads until they close
    for (auto& s : stores) EXPECT_TRUE(s->Close().ok());
  }
  for (size_t i = 0; i < kStores; ++i) {
    std::unique_ptr<Store> s = OpenOrDie(dir.File("q" + std::to_string(i)), StoreOptions{});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->open_report().index_action, IndexAction::kTrusted) << DescribeIndexAction(s->open_report());
    EXPECT_EQ(s->Stats().pending, kEach);
  }
}

}  // namespace
}  // namespace mq
