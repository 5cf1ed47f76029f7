// mq::Mutex, MutexLock and CondVar: std::mutex and std::condition_variable
// with the thread-safety annotations (thread_annotations.h) that let clang
// check which lock guards what. Everything is inline; they cost what the std
// types cost.
//
// CondVar waits take the mutex, not a lock object, and have no predicate
// overload: a predicate lambda would read guarded members where the checker
// cannot see the lock held. Wait in a loop instead:
//   MutexLock l(&mu_);
//   while (!ready_) cv_.Wait(&mu_);
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "util/thread_annotations.h"

namespace mq {

class MQ_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() MQ_ACQUIRE() { mu_.lock(); }
  void Unlock() MQ_RELEASE() { mu_.unlock(); }
  // Takes the lock if nobody holds it; true if it did.
  bool TryLock() MQ_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the checker the caller holds the lock (where it cannot follow:
  // a callback run under the lock by someone else).
  void AssertHeld() MQ_ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds mu from construction to destruction; Unlock and Lock let go of it
// and take it again in between (the destructor lets go only if held).
class MQ_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) MQ_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() MQ_RELEASE() {
    if (held_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() MQ_RELEASE() {
    mu_->Unlock();
    held_ = false;
  }
  void Lock() MQ_ACQUIRE() {
    mu_->Lock();
    held_ = true;
  }

 private:
  Mutex* const mu_;
  bool held_ = true;
};

class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Lets go of *mu while it waits, and holds it again when it returns (which
  // may be spurious: check the condition in a loop).
  void Wait(Mutex* mu) MQ_REQUIRES(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    cv_.wait(l);
    l.release();
  }
  // As Wait, for at most `d`. False if the time ran out.
  template <typename Rep, typename Period>
  bool WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> d) MQ_REQUIRES(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    const bool woken = cv_.wait_for(l, d) == std::cv_status::no_timeout;
    l.release();
    return woken;
  }
  // As Wait, until `t`. False if the time ran out.
  template <typename Clock, typename Duration>
  bool WaitUntil(Mutex* mu, std::chrono::time_point<Clock, Duration> t) MQ_REQUIRES(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(l, t) == std::cv_status::no_timeout;
    l.release();
    return woken;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace mq
