// StoreThreads::Impl (mq/store_threads.h): the sync thread and the index
// writer shared by many stores.
//
// The compactor thread (started by the first compaction queued) runs the
// queued Compactors' work one after another (compactor.h).
//
// The sync thread keeps a schedule of the GroupCommits attached to it that
// have something to sync, by when each is due (its last turn + its
// batch_interval), and runs the earliest due one's FlushDue. A turn that
// leaves the store clean takes it off the schedule (FlushDue returns false);
// its next write puts it back (GroupCommit::ArmFlusher -> WakeFlusher), due
// an interval after its last turn, or at once if that has passed. With no
// store on the schedule the thread waits with no timer: idle stores cost it
// nothing. The index writer keeps a FIFO of IndexTails with a write queued
// and runs the front one's RunQueuedWrite.
//
// Detaching (a GroupCommit's StopFlusher, an IndexTail's StopWriter, and
// their destructors): the entry leaves the schedule or the queue under mu_,
// and the call waits while the thread is running that one; a queued index
// write is run first (the store waits for it anyway). After it returns
// neither thread touches the object again.
//
// Lock order: the threads take mu_ alone, and call FlushDue/RunQueuedWrite
// without it (those take the object's own locks: sync_mu_, write_mu_). A
// store may call in with its own mutex held (StopWriter under the store's
// mutex): mu_ comes after every store lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <thread>
#include <unordered_map>

#include "mq/store_threads.h"
#include "util/mutex.h"

namespace mq {

class Compactor;
class GroupCommit;
class IndexTail;

class StoreThreads::Impl {
 public:
  using Clock = std::chrono::steady_clock;
  Impl() = default;
  ~Impl();  // Stop()
  void Start();
  void Stop() MQ_EXCLUDES(mu_);

  // The sync thread.
  void AttachFlusher(GroupCommit* gc, std::chrono::milliseconds interval) MQ_EXCLUDES(mu_);
  void DetachFlusher(GroupCommit* gc) MQ_EXCLUDES(mu_);
  // gc (attached, off the schedule) was written to: back on the schedule.
  // Called by a writer, maybe under the store's mutex.
  void WakeFlusher(GroupCommit* gc) MQ_EXCLUDES(mu_);

  // The index writer: t has a write queued (its state is kQueued).
  void QueueWrite(IndexTail* t) MQ_EXCLUDES(mu_);
  // Returns once t's queued write (if any) ran and the writer let go of it.
  void DetachWriter(IndexTail* t) MQ_EXCLUDES(mu_);

  // The compactor thread: c has a compaction to run (Compactor::Kick).
  void QueueCompaction(Compactor* c) MQ_EXCLUDES(mu_);
  // Takes c off the queue; returns once the thread is not running c's work.
  void DetachCompactor(Compactor* c) MQ_EXCLUDES(mu_);

  uint64_t syncs_run() MQ_EXCLUDES(mu_);
  // Times the sync thread woke from a wait (a due turn, a store put on the
  // schedule, or a spurious wakeup): 0 more while every store is idle.
  uint64_t sync_wakeups() MQ_EXCLUDES(mu_);
  // Stores on the sync schedule (or in their turn now).
  size_t flushers_scheduled() MQ_EXCLUDES(mu_);
  uint64_t writes_run() MQ_EXCLUDES(mu_);
  uint64_t compactions_run() MQ_EXCLUDES(mu_);
  size_t compactions_queued() MQ_EXCLUDES(mu_);

 private:
  void SyncLoop() MQ_EXCLUDES(mu_);
  void WriterLoop() MQ_EXCLUDES(mu_);
  void CompactorLoop() MQ_EXCLUDES(mu_);

  struct Flusher {
    std::chrono::milliseconds interval;
    std::multimap<Clock::time_point, GroupCommit*>::iterator at;  // schedule_.end(): off it
    Clock::time_point last_turn;  // when its last turn ended (or it attached)
    bool wake_after_turn = false;  // WakeFlusher came during its turn
  };

  Mutex mu_;
  CondVar sync_cv_;    // the schedule changed, a turn ended, or stop
  CondVar writer_cv_;  // a write queued, a write ended, or stop
  std::multimap<Clock::time_point, GroupCommit*> schedule_ MQ_GUARDED_BY(mu_);
  std::unordered_map<GroupCommit*, Flusher> flushers_ MQ_GUARDED_BY(mu_);
  GroupCommit* syncing_ MQ_GUARDED_BY(mu_) = nullptr;
  std::deque<IndexTail*> writes_ MQ_GUARDED_BY(mu_);
  IndexTail* writing_ MQ_GUARDED_BY(mu_) = nullptr;
  bool stop_ MQ_GUARDED_BY(mu_) = false;
  uint64_t syncs_run_ MQ_GUARDED_BY(mu_) = 0;
  uint64_t sync_wakeups_ MQ_GUARDED_BY(mu_) = 0;
  uint64_t writes_run_ MQ_GUARDED_BY(mu_) = 0;
  CondVar compact_cv_;  // a compaction queued, one ended, or stop
  std::deque<Compactor*> compactions_ MQ_GUARDED_BY(mu_);
  Compactor* compacting_ MQ_GUARDED_BY(mu_) = nullptr;
  uint64_t compactions_run_ MQ_GUARDED_BY(mu_) = 0;

  std::thread sync_thread_;
  std::thread writer_thread_;
  std::thread compactor_thread_ MQ_GUARDED_BY(mu_);  // started by the first QueueCompaction
};

}  // namespace mq
