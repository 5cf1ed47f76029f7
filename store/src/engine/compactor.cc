// Automatic compaction in the background (compactor.h).
#include "engine/compactor.h"

#include "engine/store_threads.h"

namespace mq {

void Compactor::Kick() {
  MutexLock l(&mu_);
  if (stop_) return;
  wanted_ = true;
  if (threads_ != nullptr) {
    // started_: queued or running on the shared thread; a run in progress
    // queues this compactor again when it ends (RunQueued).
    if (!started_) {
      started_ = true;
      threads_->impl()->QueueCompaction(this);
    }
    return;
  }
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] { Loop(); });
  }
  cv_.NotifyOne();
}

void Compactor::Stop() {
  {
    MutexLock l(&mu_);
    stop_ = true;
    cv_.NotifyAll();
  }
  if (threads_ != nullptr) threads_->impl()->DetachCompactor(this);  // waits for a run of this one
  if (thread_.joinable()) thread_.join();
}

uint64_t Compactor::runs() {
  MutexLock l(&mu_);
  return runs_;
}

void Compactor::RunQueued() {
  {
    MutexLock l(&mu_);
    if (stop_) {
      started_ = false;
      return;
    }
    wanted_ = false;
  }
  work_();
  MutexLock l(&mu_);
  ++runs_;
  if (wanted_ && !stop_) {
    threads_->impl()->QueueCompaction(this);  // kicked during the run: once more, after the others queued
  } else {
    started_ = false;
  }
}

void Compactor::Loop() {
  MutexLock l(&mu_);
  for (;;) {
    while (!wanted_ && !stop_) cv_.Wait(&mu_);
    if (stop_) return;
    wanted_ = false;
    l.Unlock();
    work_();
    l.Lock();
    ++runs_;
  }
}

}  // namespace mq
