// Automatic compaction of stores on shared threads (mq/store_threads.h,
// engine/compactor.h): a store opened with StoreOptions::threads (a
// runtime's) compacts on the StoreThreads' one compactor thread, started by
// the first compaction, not on a thread of its own per compacting store.
#include <dirent.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/store_threads.h"
#include "mq/store.h"
#include "mq/store_threads.h"
#include "test_util.h"

namespace mq {
namespace {
using test::PollUntil;
using test::ThreadCount;


StoreOptions Compacting(const std::shared_ptr<StoreThreads>& threads) {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.threads = threads;
  o.auto_compact = true;
  o.compact_ratio = 0.5;
  o.compact_min_bytes = 1024;  // a few consumed messages make it due
  return o;
}

std::string Payload(size_t store, int i) { return "s" + std::to_string(store) + "-" + std::string(200, 'x') + std::to_string(i); }

constexpr size_t kStores = 8;
constexpr int kMessages = 40, kConsumed = 30;

// Fills each store, consumes most of it (each consume past the threshold
// kicks the compactor), and waits until each has compacted.
void FillAndConsume(const std::vector<std::unique_ptr<Store>>& stores) {
  for (size_t s = 0; s < stores.size(); ++s) {
    for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(stores[s]->Append(Payload(s, i)).ok());
    for (int i = 1; i <= kConsumed; ++i) ASSERT_TRUE(stores[s]->Consume(static_cast<uint64_t>(i)).ok());
  }
  for (size_t s = 0; s < stores.size(); ++s)
    ASSERT_TRUE(PollUntil([&] { return stores[s]->Stats().compactions >= 1; }, std::chrono::seconds(30))) << "store " << s << " never compacted";
}

TEST(StoreThreadsCompactionTest, CompactionsOfStoresOnSharedThreadsRunOnOneSharedThread) {
  test::FastTempDir dir;
  std::shared_ptr<StoreThreads> threads;
  ASSERT_TRUE(StoreThreads::Create().MoveTo(&threads).ok());
  std::vector<std::unique_ptr<Store>> stores;
  for (size_t s = 0; s < kStores; ++s) {
    std::unique_ptr<Store> st;
    const Status os = Store::Open(dir.File("q" + std::to_string(s)), Compacting(threads)).MoveTo(&st);
    ASSERT_TRUE(os.ok()) << os.ToString();
    stores.push_back(std::move(st));
  }
  const size_t base = ThreadCount();
  FillAndConsume(stores);
  // One compactor thread for the 8 (a thread of its own each: 8 more).
  EXPECT_LE(ThreadCount(), base + 1);
  EXPECT_GE(threads->impl()->compactions_run(), kStores);
  for (auto& st : stores) ASSERT_TRUE(st->Close().ok());
  stores.clear();
  // What the compactions kept: every message not consumed, in order.
  for (size_t s = 0; s < kStores; ++s) {
    std::unique_ptr<Store> st;
    ASSERT_TRUE(Store::Open(dir.File("q" + std::to_string(s)), StoreOptions{}).MoveTo(&st).ok());
    std::vector<std::string> pending;
    ASSERT_TRUE(st->ScanPending(0, [&](const MessageView& m) {
                    pending.emplace_back(m.payload);
                    return true;
                  }).ok());
    ASSERT_EQ(pending.size(), static_cast<size_t>(kMessages - kConsumed)) << "store " << s;
    for (int i = kConsumed; i < kMessages; ++i) EXPECT_EQ(pending[static_cast<size_t>(i - kConsumed)], Payload(s, i));
    ASSERT_TRUE(st->Close().ok());
  }
}

// A store without shared threads still compacts on a thread of its own
// (what it did before): the shared compactor is only for stores that ask.
TEST(StoreThreadsCompactionTest, AStoreWithoutSharedThreadsCompactsOnAThreadOfItsOwn) {
  test::FastTempDir dir;
  std::vector<std::unique_ptr<Store>> stores;
  std::unique_ptr<Store> st;
  ASSERT_TRUE(Store::Open(dir.File("q"), Compacting(nullptr)).MoveTo(&st).ok());
  stores.push_back(std::move(st));
  const size_t base = ThreadCount();
  FillAndConsume(stores);
  EXPECT_EQ(ThreadCount(), base + 1);  // its compactor, until Close
  ASSERT_TRUE(stores[0]->Close().ok());
  EXPECT_EQ(ThreadCount(), base);
}

// Closing stores while their compactions are queued on (or running on) the
// shared thread returns, and the StoreThreads outlive them without running
// a compaction of a closed store.
TEST(StoreThreadsCompactionTest, StoresClosedWithCompactionsQueuedLeaveNothingOnTheSharedQueue) {
  test::FastTempDir dir;
  std::shared_ptr<StoreThreads> threads;
  ASSERT_TRUE(StoreThreads::Create().MoveTo(&threads).ok());
  std::vector<std::unique_ptr<Store>> stores;
  for (size_t s = 0; s < kStores; ++s) {
    std::unique_ptr<Store> st;
    ASSERT_TRUE(Store::Open(dir.File("q" + std::to_string(s)), Compacting(threads)).MoveTo(&st).ok());
    stores.push_back(std::move(st));
  }
  for (size_t s = 0; s < kStores; ++s) {
    for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(stores[s]->Append(Payload(s, i)).ok());
    for (int i = 1; i <= kConsumed; ++i) ASSERT_TRUE(stores[s]->Consume(static_cast<uint64_t>(i)).ok());
  }
  for (auto& st : stores) ASSERT_TRUE(st->Close().ok());  // with compactions queued, running or done
  // Each Close took its store off the queue: nothing is left to run.
  EXPECT_EQ(threads->impl()->compactions_queued(), 0u);
  stores.clear();
  threads.reset();  // joins the threads
}

}  // namespace
}  // namespace mq
