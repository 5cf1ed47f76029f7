// GroupCommit: makes the log durable for many writers with few fdatasyncs
// (docs/design.md, "Group commit"). Writers count their writes here
// (Appended, Wrote); a caller that needs them durable calls SyncUpTo with the
// generation it saw, and at most one fdatasync runs at a time, outside the
// store's mutex, for everyone waiting. Under sync=batch its own thread (the
// flusher) syncs what was written, at most once every batch_interval; it
// sleeps with no timer while nothing is written (the flusher's arming, below).
//
// It holds its own reference to the log file (the store swaps in a new one
// after a compaction), and checks after each sync that the queue's path
// still names that file: a sync of a file renamed away proves nothing.
//
// Locks: sync_mu_ guards the sync state; file_mu_ guards the file reference.
// Lock order: the store's mutex, then sync_mu_, then file_mu_. Neither is
// held during an fdatasync. The flusher thread takes only these two.
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "mq/env.h"
#include "mq/status.h"
#include "mq/store.h"
#include "mq/store_threads.h"
#include "util/mutex.h"

namespace mq {

class GroupCommit {
 public:
  // `path` and `name` (the log's name in its directory) are for messages and
  // for CheckFileInPlace.
  GroupCommit(std::string path, std::string name, SyncPolicy policy, std::chrono::milliseconds batch_interval);
  ~GroupCommit();  // stops the flusher
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // ---- what writers report (under the store's mutex; lock-free here) ----
  // Messages up to last_seq are written to the log: one more generation.
  // `end`: the log's end after the write (what a later sync covers).
  void Appended(uint64_t last_seq, uint64_t end) {
    assert(last_seq > last_seq_.load());  // seqs only grow
    last_seq_.store(last_seq);
    written_end_.store(end);
    write_gen_.fetch_add(1);
    if (!flush_armed_.load()) ArmFlusher();
  }
  // The log offset before which every byte was synced by a sync this object
  // ran (0: none yet); what a sync mark records (docs/log-format.md, "Sync marks").
  uint64_t synced_end() const { return synced_end_.load(); }
  // The log was cut to `end` (a torn tail, by an index rebuild on a live
  // store): no offset past it may be called written or synced. Under a Pause.
  void CutAt(uint64_t end) {
    if (written_end_.load() > end) written_end_.store(end);
    if (synced_end_.load() > end) synced_end_.store(end);
  }
  // A write that adds no message (a used flag): the generation it made.
  uint64_t Wrote() {
    const uint64_t gen = write_gen_.fetch_add(1) + 1;
    if (!flush_armed_.load()) ArmFlusher();
    return gen;
  }
  // The open (or a rebuild) found messages up to last_seq in the log.
  void SetLastSeq(uint64_t last_seq) { last_seq_.store(last_seq); }
  // At open: a previous process may have died with writes not yet synced,
  // so nothing counts as durable until this process syncs; generation 1
  // stands for "unknown".
  void StartUnsynced(uint64_t end) {
    write_gen_.store(1);
    durable_seq_.store(0);
    written_end_.store(end);
    synced_end_.store(0);
  }

  uint64_t last_seq() const { return last_seq_.load(); }
  uint64_t durable_seq() const { return durable_seq_.load(); }
  uint64_t write_gen() const { return write_gen_.load(); }

  // ---- syncing ----
  // Returns once every write up to generation `gen` is durable, running the
  // fdatasync itself or waiting for the one in flight. A failed sync is final.
  Status SyncUpTo(uint64_t gen) MQ_EXCLUDES(sync_mu_, file_mu_);
  // Everything written so far.
  Status Sync() MQ_EXCLUDES(sync_mu_, file_mu_) { return SyncUpTo(write_gen_.load()); }
  // Returns once message seq is durable, as far as `policy` promises it.
  Status WaitDurable(uint64_t seq) MQ_EXCLUDES(sync_mu_, file_mu_);
  // The error that stopped this store's writes, if a sync failed.
  bool failed() const { return sync_failed_.load(); }
  Status error() MQ_EXCLUDES(sync_mu_);
  uint64_t syncs() MQ_EXCLUDES(sync_mu_);

  // ---- the file ----
  // The file to sync, in `dir` under the name given at construction; (dev,
  // ino) is what that name led to when it was opened (0, 0: not checked).
  void SetFile(std::shared_ptr<File> file, Directory* dir, uint64_t dev, uint64_t ino) MQ_EXCLUDES(file_mu_);
  // After a compaction's rename: `file` replaces the log, durable as a whole.
  // `end` is the new log's size.
  void ReplaceFile(std::shared_ptr<File> file, uint64_t dev, uint64_t ino, uint64_t end)
      MQ_EXCLUDES(sync_mu_, file_mu_);

  // Holds off syncs (waiting for the one in flight) while the log file is
  // replaced: a sync then is of neither file. RAII.
  class Pause {
   public:
    explicit Pause(GroupCommit* gc) MQ_EXCLUDES(gc->sync_mu_);
    ~Pause() MQ_EXCLUDES(gc_->sync_mu_);
    Pause(const Pause&) = delete;
    Pause& operator=(const Pause&) = delete;

   private:
    GroupCommit* const gc_;
  };

  // ---- the flusher thread (sync=batch) ----
  // Shared threads (StoreOptions::threads; store_threads.h): the flusher is
  // their sync thread's turn for this store, not a thread of its own. Before
  // StartFlusher.
  void UseThreads(std::shared_ptr<StoreThreads> threads) { shared_ = std::move(threads); }
  void StartFlusher() MQ_EXCLUDES(sync_mu_);
  // Stops and joins it (or leaves the shared sync thread); a WaitDurable
  // still waiting returns.
  void StopFlusher() MQ_EXCLUDES(sync_mu_);
  // The shared sync thread's turn: syncs what was written since the last
  // sync, if anything (one iteration of FlusherLoop). True: stay on the sync
  // schedule (something may be left to sync). False: the store is clean (or
  // stopped, or failed) and leaves the schedule; its next write puts it back
  // (ArmFlusher -> StoreThreads::Impl::WakeFlusher).
  [[nodiscard]] bool FlushDue() MQ_EXCLUDES(sync_mu_, file_mu_);
  // Times the flusher thread of its own (no StoreThreads) woke from a wait.
  uint64_t flusher_wakeups() MQ_EXCLUDES(sync_mu_);

 private:
  friend class StoreImpl;  // names this class's mutexes in its lock order (MQ_ACQUIRED_BEFORE)
  // OK if the log's name still leads to the file identified by (dev, ino).
  Status CheckFileInPlace(Directory* dir, uint64_t dev, uint64_t ino);
  void FlusherLoop() MQ_EXCLUDES(sync_mu_);
  // The first write after the flusher found the store clean: wakes it (its
  // own thread's wait, or puts the store back on the shared sync schedule).
  void ArmFlusher() MQ_EXCLUDES(sync_mu_);
  // Something written is not synced yet, and syncing may still succeed.
  bool Dirty() MQ_REQUIRES(sync_mu_) { return write_gen_.load() > synced_gen_ && sync_error_.ok(); }
  // The flusher found the store clean: disarms, so that the next write wakes
  // it. False if a write came in meanwhile (then it stays armed).
  bool Disarm() MQ_REQUIRES(sync_mu_);

  const std::string path_;
  const std::string name_;
  const SyncPolicy policy_;
  const std::chrono::milliseconds batch_interval_;

  // Generations count completed writes (appends and flag writes).
  std::atomic<uint64_t> last_seq_{0};
  std::atomic<uint64_t> write_gen_{0};
  std::atomic<uint64_t> durable_seq_{0};  // written under sync_mu_
  std::atomic<uint64_t> written_end_{0};  // the log's end as of the last Appended
  std::atomic<uint64_t> synced_end_{0};   // written under sync_mu_
  std::atomic<bool> sync_failed_{false};  // sync_error_ is set: read without the lock

  Mutex sync_mu_;
  CondVar sync_cv_;                          // a sync finished, or the flusher stops
  uint64_t synced_gen_ MQ_GUARDED_BY(sync_mu_) = 0;
  bool syncing_ MQ_GUARDED_BY(sync_mu_) = false;  // a sync (or a Pause) is in flight
  uint64_t syncs_ MQ_GUARDED_BY(sync_mu_) = 0;
  Status sync_error_ MQ_GUARDED_BY(sync_mu_);
  bool stop_flusher_ MQ_GUARDED_BY(sync_mu_) = false;
  // The flusher's arming (sync=batch): true while the flusher is awake (its
  // own thread) or the store is on the shared sync schedule; false while it
  // sleeps with no timer, the store clean. The flusher clears it when it
  // finds the store clean and then looks at write_gen_ again; a writer bumps
  // write_gen_ and then looks at it, and if clear sets it and wakes the
  // flusher (ArmFlusher). Both sides are sequentially consistent, so at least
  // one sees the other's change: no write is left unsynced while the flusher
  // sleeps. Without a flusher (sync=none or always) it stays true.
  std::atomic<bool> flush_armed_{true};
  uint64_t flusher_wakeups_ MQ_GUARDED_BY(sync_mu_) = 0;
  CondVar flusher_cv_;  // a write armed the flusher, or stop
  std::thread flusher_;
  std::shared_ptr<StoreThreads> shared_;  // set: no flusher_ thread
  bool attached_ = false;                 // to shared_'s sync thread (open and close only)

  Mutex file_mu_ MQ_ACQUIRED_AFTER(sync_mu_);
  std::shared_ptr<File> file_ MQ_GUARDED_BY(file_mu_);
  Directory* dir_ MQ_GUARDED_BY(file_mu_) = nullptr;
  uint64_t file_dev_ MQ_GUARDED_BY(file_mu_) = 0;
  uint64_t file_ino_ MQ_GUARDED_BY(file_mu_) = 0;
};

}  // namespace mq
