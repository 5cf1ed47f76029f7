// mq::StoreThreads: the background threads of many stores, shared
// (docs/design.md, "The shared runtime").
//
// Each store has three background jobs: under SyncPolicy::kBatch its group
// commit syncs the log every batch_interval (the flusher), its index tail
// writer writes a full tail to LMDB while appends go on, and its compactor
// rewrites the log once enough of it is consumed. By default a store runs
// each on a thread of its own. Stores opened with the same StoreThreads
// (StoreOptions::threads) share three threads instead, whatever their number:
//  - the sync thread syncs each store's log when its batch_interval has
//    passed since its last turn, earliest due first; the fdatasyncs of
//    different stores run one after another, so with many busy stores a
//    store's turn may come later than its batch_interval. A store with
//    nothing to sync is not on its schedule (its next write puts it back):
//    with every store idle the thread sleeps with no timer;
//  - the index writer runs the stores' index transactions one after
//    another, in the order they were handed over;
//  - the compactor (a third thread, started by the first automatic
//    compaction) runs the stores' automatic compactions
//    (StoreOptions::auto_compact) one after another, in the order they came
//    due; a store without StoreThreads compacts on a thread of its own.
// mq::Runtime (mq/runtime.h) makes one for the mailboxes opened with it.
//
// Lifetime: a store keeps its StoreThreads alive (it holds a shared_ptr);
// the threads stop when the last reference goes.
#pragma once

#include <memory>

#include "mq/status.h"

namespace mq {

class StoreThreads {
 public:
  // Starts the sync thread and the index writer (the compactor starts with
  // the first compaction). (A Result, so that it may report a failure to
  // start them one day; today it always succeeds.)
  static Result<std::shared_ptr<StoreThreads>> Create();
  ~StoreThreads();  // stops and joins them (no store uses them then)
  StoreThreads(const StoreThreads&) = delete;
  StoreThreads& operator=(const StoreThreads&) = delete;

  class Impl;
  Impl* impl() { return impl_.get(); }

 private:
  explicit StoreThreads(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mq
