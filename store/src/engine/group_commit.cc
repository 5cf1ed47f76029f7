// Group commit (docs/design.md, "Group commit").
#include "engine/group_commit.h"

#include "engine/store_threads.h"

#include <algorithm>
#include <cassert>
#include <cerrno>

namespace mq {

GroupCommit::GroupCommit(std::string path, std::string name, SyncPolicy policy,
                         std::chrono::milliseconds batch_interval)
    : path_(std::move(path)), name_(std::move(name)), policy_(policy), batch_interval_(batch_interval) {}

GroupCommit::~GroupCommit() { StopFlusher(); }

Status GroupCommit::error() {
  MutexLock l(&sync_mu_);
  return sync_error_;
}

uint64_t GroupCommit::syncs() {
  MutexLock l(&sync_mu_);
  return syncs_;
}

uint64_t GroupCommit::flusher_wakeups() {
  MutexLock l(&sync_mu_);
  return flusher_wakeups_;
}

void GroupCommit::SetFile(std::shared_ptr<File> file, Directory* dir, uint64_t dev, uint64_t ino) {
  MutexLock l(&file_mu_);
  file_ = std::move(file);
  dir_ = dir;
  file_dev_ = dev;
  file_ino_ = ino;
}

void GroupCommit::ReplaceFile(std::shared_ptr<File> file, uint64_t dev, uint64_t ino, uint64_t end) {
  {
    MutexLock l(&file_mu_);
    file_ = std::move(file);
    file_dev_ = dev;
    file_ino_ = ino;
  }
  // The new file was synced whole before its rename: everything written is durable.
  MutexLock l(&sync_mu_);
  synced_gen_ = write_gen_.load();
  written_end_.store(end);
  synced_end_.store(end);
  if (last_seq_.load() > durable_seq_.load()) durable_seq_.store(last_seq_.load());
  assert(durable_seq_.load() <= last_seq_.load());
}

GroupCommit::Pause::Pause(GroupCommit* gc) : gc_(gc) {
  MutexLock l(&gc_->sync_mu_);
  while (gc_->syncing_) gc_->sync_cv_.Wait(&gc_->sync_mu_);
  gc_->syncing_ = true;
}

GroupCommit::Pause::~Pause() {
  MutexLock l(&gc_->sync_mu_);
  gc_->syncing_ = false;
  gc_->sync_cv_.NotifyAll();
}

Status GroupCommit::WaitDurable(uint64_t seq) {
  if (seq <= durable_seq_.load()) return Status::OK();
  if (seq > last_seq_.load())
    return Status::InvalidArgument(path_ + ": message " + std::to_string(seq) + " has not been appended");
  switch (policy_) {
    case SyncPolicy::kNone:
      return Status::OK();  // written to the OS is all this policy promises
    case SyncPolicy::kAlways:
      return SyncUpTo(write_gen_.load());
    case SyncPolicy::kBatch: {
      MutexLock l(&sync_mu_);
      while (durable_seq_.load() < seq && sync_error_.ok() && !stop_flusher_) sync_cv_.Wait(&sync_mu_);
      if (!sync_error_.ok()) return sync_error_;
      if (durable_seq_.load() < seq) return Status::InvalidArgument(path_ + ": the store is closing");
      return Status::OK();
    }
  }
  return Status::OK();
}

Status GroupCommit::SyncUpTo(uint64_t gen) {
  MutexLock l(&sync_mu_);
  while (synced_gen_ < gen) {
    // A failed fdatasync is final: the kernel may have dropped the dirty
    // pages, so a later success would not prove anything (docs/design.md).
    if (!sync_error_.ok()) return sync_error_;
    if (syncing_) {
      sync_cv_.Wait(&sync_mu_);
      continue;
    }
    syncing_ = true;
    const uint64_t g = write_gen_.load();
    const uint64_t seq = last_seq_.load();
    // Loaded before the fdatasync starts: every write that made it is done.
    const uint64_t end = written_end_.load();
    std::shared_ptr<File> f;
    Directory* dir = nullptr;
    uint64_t dev = 0, ino = 0;
    {
      MutexLock fl(&file_mu_);
      f = file_;
      dir = dir_;
      dev = file_dev_;
      ino = file_ino_;
    }
    l.Unlock();
    Status s = f ? f->Sync() : Status::OK();
    // A sync of a file no longer at the queue's path proves nothing.
    Status moved = s.ok() && f ? CheckFileInPlace(dir, dev, ino) : Status::OK();
    l.Lock();
    syncing_ = false;
    if (!moved.ok()) {
      sync_error_ = moved;
      sync_failed_.store(true);
    } else if (s.ok()) {
      synced_gen_ = std::max(synced_gen_, g);
      if (seq > durable_seq_.load()) durable_seq_.store(seq);
      if (end > synced_end_.load()) synced_end_.store(end);
      assert(durable_seq_.load() <= last_seq_.load());  // only what was written is durable
      ++syncs_;
    } else {
      sync_error_ = Status::IOError(path_ + ": fdatasync failed (" + s.message() +
                                        "); what was written since the last sync may be lost. Close and "
                                        "reopen the queue to recover",
                                    s.sys_errno());
      sync_failed_.store(true);
    }
    sync_cv_.NotifyAll();
  }
  return Status::OK();
}

// Another process may have renamed a file over the queue's path, or removed
// it: what this store writes then goes to a file nobody will open again, so
// nothing written since may be called durable (docs/reliability.md).
Status GroupCommit::CheckFileInPlace(Directory* dir, uint64_t dev, uint64_t ino) {
  if ((dev == 0 && ino == 0) || dir == nullptr) return Status::OK();
  FileInfo info;
  Status s = dir->Stat(name_).MoveTo(&info);
  if (s.ok() && info.exists && info.device == dev && info.inode == ino) return Status::OK();
  return Status::IOError(path_ + ": the queue file was replaced or removed by another process while it was open "
                                 "here; what was written since is only in the old file, which no longer has this "
                                 "name. Nothing more is accepted: stop every process writing this queue, look at "
                                 "what is at the path, and reopen it",
                         s.ok() ? ESTALE : s.sys_errno());
}

void GroupCommit::StartFlusher() {
  {
    MutexLock l(&sync_mu_);
    stop_flusher_ = false;
  }
  // Armed: the first turn comes an interval after the open, and syncs what
  // the open could not call durable (StartUnsynced), as before the arming.
  flush_armed_.store(true);
  if (shared_) {
    shared_->impl()->AttachFlusher(this, batch_interval_);
    attached_ = true;
    return;
  }
  flusher_ = std::thread([this] { FlusherLoop(); });
}

void GroupCommit::ArmFlusher() {
  if (flush_armed_.exchange(true)) return;  // another writer did
  if (shared_) {
    // Not attached (closed, or never started): the call finds nothing.
    shared_->impl()->WakeFlusher(this);
    return;
  }
  {
    // Under sync_mu_: the flusher looks at write_gen_ and waits under it,
    // so it is either past that look (and saw this write) or waiting.
    MutexLock l(&sync_mu_);
  }
  flusher_cv_.NotifyAll();
}

bool GroupCommit::Disarm() {
  flush_armed_.store(false);
  if (!Dirty()) return true;
  // A write came in after the look that found the store clean: stay armed
  // (its writer may have seen the flag clear and woken us too: harmless).
  flush_armed_.store(true);
  return false;
}

bool GroupCommit::FlushDue() {
  uint64_t gen = 0;
  {
    MutexLock l(&sync_mu_);
    if (stop_flusher_) return false;
    if (!Dirty()) return !Disarm();
    gen = write_gen_.load();
  }
  (void)SyncUpTo(gen);
  // Clean now (nothing written during the sync): leave the schedule at once
  // rather than come back an interval later to find nothing to do.
  MutexLock l(&sync_mu_);
  if (stop_flusher_) return false;
  if (!Dirty()) return !Disarm();
  return true;
}

void GroupCommit::StopFlusher() {
  if (attached_) {
    shared_->impl()->DetachFlusher(this);
    attached_ = false;
    {
      MutexLock l(&sync_mu_);
      stop_flusher_ = true;
    }
    sync_cv_.NotifyAll();
    return;
  }
  if (!flusher_.joinable()) return;
  {
    MutexLock l(&sync_mu_);
    stop_flusher_ = true;
  }
  flusher_cv_.NotifyAll();
  sync_cv_.NotifyAll();
  flusher_.join();
}

// Sleeps (no timer) while the store is clean; once a write wakes it, syncs
// at most once every batch_interval until the store is clean again. A write
// after a long idle is synced at once (its interval since the last sync has
// passed); one soon after a sync waits out the rest of the interval.
void GroupCommit::FlusherLoop() {
  MutexLock l(&sync_mu_);
  // The open counts as a sync: the first turn comes an interval after it.
  auto last = std::chrono::steady_clock::now();
  while (!stop_flusher_) {
    if (!Dirty()) {
      if (!Disarm()) continue;
      while (!stop_flusher_ && !Dirty()) {
        flusher_cv_.Wait(&sync_mu_);
        ++flusher_wakeups_;
      }
      continue;
    }
    const auto until = last + batch_interval_;
    for (auto now = std::chrono::steady_clock::now(); !stop_flusher_ && now < until;
         now = std::chrono::steady_clock::now()) {
      (void)flusher_cv_.WaitFor(&sync_mu_, until - now);
      ++flusher_wakeups_;
    }
    if (stop_flusher_) break;
    const uint64_t gen = write_gen_.load();
    if (gen <= synced_gen_ || !sync_error_.ok()) continue;
    l.Unlock();
    (void)SyncUpTo(gen);
    l.Lock();
    last = std::chrono::steady_clock::now();
  }
}

}  // namespace mq
