// The shared store threads (store_threads.h; mq/store_threads.h).
#include "engine/store_threads.h"

#include <algorithm>

#include "engine/compactor.h"
#include "engine/group_commit.h"
#include "engine/index_tail.h"

namespace mq {

StoreThreads::Impl::~Impl() { Stop(); }

void StoreThreads::Impl::Start() {
  sync_thread_ = std::thread([this] { SyncLoop(); });
  writer_thread_ = std::thread([this] { WriterLoop(); });
}

void StoreThreads::Impl::Stop() {
  {
    MutexLock l(&mu_);
    stop_ = true;
  }
  sync_cv_.NotifyAll();
  writer_cv_.NotifyAll();
  compact_cv_.NotifyAll();
  if (sync_thread_.joinable()) sync_thread_.join();
  if (writer_thread_.joinable()) writer_thread_.join();
  std::thread compactor;
  {
    MutexLock l(&mu_);
    compactor.swap(compactor_thread_);
  }
  if (compactor.joinable()) compactor.join();
}

void StoreThreads::Impl::AttachFlusher(GroupCommit* gc, std::chrono::milliseconds interval) {
  {
    MutexLock l(&mu_);
    if (flushers_.count(gc) != 0) return;
    // Its first turn an interval from now (it syncs what the open could
    // not call durable); a clean turn then takes it off the schedule.
    const auto now = Clock::now();
    auto at = schedule_.emplace(now + interval, gc);
    flushers_.emplace(gc, Flusher{interval, at, now, false});
  }
  sync_cv_.NotifyAll();
}

void StoreThreads::Impl::WakeFlusher(GroupCommit* gc) {
  {
    MutexLock l(&mu_);
    auto it = flushers_.find(gc);
    if (it == flushers_.end()) return;  // detached (closing)
    Flusher& f = it->second;
    if (f.at != schedule_.end()) return;  // on the schedule already
    if (syncing_ == gc) {
      f.wake_after_turn = true;  // its turn is deciding to leave: the loop puts it back
      return;
    }
    // Due an interval after its last turn: at most one sync an interval, as
    // on the schedule; at once after a long idle.
    f.at = schedule_.emplace(std::max(Clock::now(), f.last_turn + f.interval), gc);
  }
  sync_cv_.NotifyAll();
}

void StoreThreads::Impl::DetachFlusher(GroupCommit* gc) {
  MutexLock l(&mu_);
  auto it = flushers_.find(gc);
  if (it != flushers_.end()) {
    if (it->second.at != schedule_.end()) schedule_.erase(it->second.at);
    flushers_.erase(it);
  }
  while (syncing_ == gc) sync_cv_.Wait(&mu_);
}

void StoreThreads::Impl::SyncLoop() {
  MutexLock l(&mu_);
  while (!stop_) {
    if (schedule_.empty()) {
      // No store has anything to sync: no timer until one is written to.
      sync_cv_.Wait(&mu_);
      ++sync_wakeups_;
      continue;
    }
    const auto due = schedule_.begin()->first;
    if (Clock::now() < due) {
      (void)sync_cv_.WaitUntil(&mu_, due);
      ++sync_wakeups_;
      continue;
    }
    GroupCommit* gc = schedule_.begin()->second;
    schedule_.erase(schedule_.begin());
    Flusher& f = flushers_.at(gc);
    f.at = schedule_.end();  // off the schedule while it runs
    f.wake_after_turn = false;
    syncing_ = gc;
    ++syncs_run_;
    l.Unlock();
    const bool again = gc->FlushDue();
    l.Lock();
    syncing_ = nullptr;
    // Still attached and not clean (or written to during the turn): its next
    // turn an interval from now. Clean: off the schedule until WakeFlusher.
    auto it = flushers_.find(gc);
    if (it != flushers_.end()) {
      Flusher& g = it->second;
      g.last_turn = Clock::now();
      if (again || g.wake_after_turn) g.at = schedule_.emplace(g.last_turn + g.interval, gc);
      g.wake_after_turn = false;
    }
    sync_cv_.NotifyAll();
  }
}

void StoreThreads::Impl::QueueWrite(IndexTail* t) {
  {
    MutexLock l(&mu_);
    writes_.push_back(t);
  }
  writer_cv_.NotifyAll();
}

void StoreThreads::Impl::DetachWriter(IndexTail* t) {
  MutexLock l(&mu_);
  while (writing_ == t || std::find(writes_.begin(), writes_.end(), t) != writes_.end()) writer_cv_.Wait(&mu_);
}

void StoreThreads::Impl::WriterLoop() {
  MutexLock l(&mu_);
  while (true) {
    while (writes_.empty() && !stop_) writer_cv_.Wait(&mu_);
    if (writes_.empty()) return;  // stopping, nothing queued
    IndexTail* t = writes_.front();
    writes_.pop_front();
    writing_ = t;
    ++writes_run_;
    l.Unlock();
    t->RunQueuedWrite();
    l.Lock();
    writing_ = nullptr;
    writer_cv_.NotifyAll();
  }
}

void StoreThreads::Impl::QueueCompaction(Compactor* c) {
  {
    MutexLock l(&mu_);
    if (stop_) return;
    compactions_.push_back(c);
    if (!compactor_thread_.joinable()) compactor_thread_ = std::thread([this] { CompactorLoop(); });
  }
  compact_cv_.NotifyAll();
}

void StoreThreads::Impl::DetachCompactor(Compactor* c) {
  MutexLock l(&mu_);
  compactions_.erase(std::remove(compactions_.begin(), compactions_.end(), c), compactions_.end());
  while (compacting_ == c) compact_cv_.Wait(&mu_);
}

void StoreThreads::Impl::CompactorLoop() {
  MutexLock l(&mu_);
  while (true) {
    while (compactions_.empty() && !stop_) compact_cv_.Wait(&mu_);
    if (stop_) return;  // no store is left to compact
    Compactor* c = compactions_.front();
    compactions_.pop_front();
    compacting_ = c;
    ++compactions_run_;
    l.Unlock();
    c->RunQueued();
    l.Lock();
    compacting_ = nullptr;
    compact_cv_.NotifyAll();
  }
}

uint64_t StoreThreads::Impl::compactions_run() {
  MutexLock l(&mu_);
  return compactions_run_;
}

size_t StoreThreads::Impl::compactions_queued() {
  MutexLock l(&mu_);
  return compactions_.size();
}

uint64_t StoreThreads::Impl::syncs_run() {
  MutexLock l(&mu_);
  return syncs_run_;
}

uint64_t StoreThreads::Impl::sync_wakeups() {
  MutexLock l(&mu_);
  return sync_wakeups_;
}

size_t StoreThreads::Impl::flushers_scheduled() {
  MutexLock l(&mu_);
  return schedule_.size() + (syncing_ != nullptr ? 1 : 0);
}

uint64_t StoreThreads::Impl::writes_run() {
  MutexLock l(&mu_);
  return writes_run_;
}

Result<std::shared_ptr<StoreThreads>> StoreThreads::Create() {
  auto impl = std::make_unique<Impl>();
  impl->Start();
  return std::shared_ptr<StoreThreads>(new StoreThreads(std::move(impl)));
}

StoreThreads::StoreThreads(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StoreThreads::~StoreThreads() = default;

}  // namespace mq
