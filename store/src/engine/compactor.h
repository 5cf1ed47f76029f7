// Compactor: runs automatic compaction in the background, so that no
// Consume (the actor's receive) ever runs one (docs/design.md,
// "Compaction", "Locks and threads"). A consume that finds compaction due
// calls Kick (cheap: a flag and a notify); the work it was given
// (StoreImpl::RunDueCompaction) then runs on
//  - a thread of the store's own, started by the first Kick; or,
//  - for a store opened with StoreOptions::threads (mq::Runtime's stores),
//    the shared compactor thread of those StoreThreads (store_threads.h),
//    which runs the compactions of all its stores one after another.
//
// Lock: mu_ guards the flags and the thread's state. Lock order: the store's
// mutexes, then mu_, then the StoreThreads' mutex; no lock is held while the
// work runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "mq/store_threads.h"
#include "util/mutex.h"

namespace mq {

class Compactor {
 public:
  explicit Compactor(std::function<void()> work) : work_(std::move(work)) {}
  ~Compactor() { Stop(); }
  Compactor(const Compactor&) = delete;
  Compactor& operator=(const Compactor&) = delete;

  // Shared threads to run on (null: a thread of its own). Before the first Kick.
  void UseThreads(std::shared_ptr<StoreThreads> threads) { threads_ = std::move(threads); }
  // Asks for one run of the work soon (another one if a run is under way);
  // starts the thread, or queues this compactor on the shared one. Does
  // nothing once stopped.
  void Kick() MQ_EXCLUDES(mu_);
  // Waits for a run in progress, then joins the thread (or leaves the
  // shared thread's queue). Later Kicks do nothing.
  void Stop() MQ_EXCLUDES(mu_);
  // Runs of the work completed so far (for tests).
  uint64_t runs() MQ_EXCLUDES(mu_);

  // Called by the shared compactor thread (StoreThreads::Impl) for a queued
  // compactor: one run of the work; queues it again if it was kicked meanwhile.
  void RunQueued() MQ_EXCLUDES(mu_);

 private:
  void Loop() MQ_EXCLUDES(mu_);

  const std::function<void()> work_;
  std::shared_ptr<StoreThreads> threads_;  // set before the first Kick, then only read
  Mutex mu_;
  CondVar cv_;
  bool wanted_ MQ_GUARDED_BY(mu_) = false;
  bool stop_ MQ_GUARDED_BY(mu_) = false;
  bool started_ MQ_GUARDED_BY(mu_) = false;  // own thread started, or queued on the shared one
  uint64_t runs_ MQ_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // started under mu_, joined by Stop
};

}  // namespace mq
