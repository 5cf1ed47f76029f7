// Selective receive (docs/mailbox.md, "Selective receive"): the oldest
// pending message that matches, found through the index, never by rereading
// consumed records. Key patterns are one index lookup; predicates walk the
// pending messages in order, and while waiting check only messages newer
// than the ones this call has already seen.
#include <algorithm>
#include <cassert>

#include "mailbox_impl.h"

namespace mq {

void Mailbox::Impl::Wake() {
  bool notify = false;
  {
    MutexLock g(&mu);
    ++generation;
    notify = waiters > 0;
  }
  if (notify) arrived.NotifyAll();
  ready_signal.Signal();
}

Status Mailbox::Impl::FindOnce(const Pattern& p, uint64_t* scanned_to, Message* out) {
  switch (p.kind()) {
    case Pattern::Kind::kAny:
      return store->FirstPending(out);
    case Pattern::Kind::kKey:
      return store->FirstByKey(p.text(), out);
    case Pattern::Kind::kPrefix:
    case Pattern::Kind::kPredicate: {
      // Checks each payload once; only a match has its checksum verified.
      // The store calls the test once per message scanned: a predicate goes
      // to it as it is, a prefix as one compare (not through Matches).
      const Pattern::Fn* fn = p.predicate();
      if (p.kind() == Pattern::Kind::kPredicate && fn == nullptr)
        return Status::NotFound(opt.queue_path + ": a predicate pattern without a callable matches nothing");
      uint64_t seen = *scanned_to;
      const std::string& prefix = p.text();
      Status s = fn != nullptr ? store->FindFirst(*scanned_to + 1, *fn, out, &seen)
                               : store->FindFirst(
                                     *scanned_to + 1,
                                     [&prefix](std::string_view payload) { return payload.starts_with(prefix); },
                                     out, &seen);
      // Nothing matched up to `seen`: a later look starts after it. (After a
      // match, a lost race for it looks again from the same place.)
      if (s.IsNotFound()) *scanned_to = std::max(*scanned_to, seen);
      return s;
    }
  }
  return Status::InvalidArgument("unknown pattern kind");
}

Status Mailbox::Impl::Find(const Pattern& p, bool take, Timeout timeout, Message* out,
                           Mailbox::ScanCursor* cursor) {
  using Clock = std::chrono::steady_clock;
  const bool forever = timeout == kForever;
  const Clock::time_point deadline =
      forever ? Clock::time_point::max()
              : Clock::now() + std::min<Timeout>(timeout, std::chrono::hours(24 * 365 * 100));
  // A predicate pattern without a callable can never match: say so now
  // rather than wait out the timeout.
  if (p.kind() == Pattern::Kind::kPredicate && p.predicate() == nullptr)
    return Status::InvalidArgument(opt.queue_path + ": a predicate pattern needs a callable (Pattern::Predicate "
                                                    "was given an empty function)");
  Mailbox::ScanCursor fresh;
  if (cursor == nullptr) cursor = &fresh;
  uint64_t& scanned_to = cursor->scanned_to;
  uint64_t& epoch = cursor->release_epoch;
  if (!cursor->started) {
    MutexLock g(&mu);
    scanned_to = 0;
    epoch = release_epoch;
    cursor->started = true;
  }
  bool spun = false;  // receive_spin: once per call
  while (true) {
    uint64_t gen = 0;
    {
      MutexLock g(&mu);
      if (closing) return Status::Closed(opt.queue_path + ": the mailbox is closed");
      if (release_epoch != epoch) {
        epoch = release_epoch;
        scanned_to = 0;  // a released message may be older than what was scanned
      }
      gen = generation;
      ++active;
    }
    Status s;
    if (p.kind() == Pattern::Kind::kAny && !take) {
      s = store->ConsumeFirst(out);  // one store call: nothing can come between the find and the consume
    } else {
      s = FindOnce(p, &scanned_to, out);
      if (s.ok()) s = take ? store->Take(out->seq) : store->Consume(out->seq);
    }
    // Nothing to take: rather than sleep until the ingest thread has run,
    // read what the socket holds now (if nobody else is reading it).
    const bool ingested = s.IsNotFound() && IngestInline();
    {
      MutexLock g(&mu);
      assert(active > 0);
      --active;
      if (closing && active == 0) arrived.NotifyAll();
    }
    if (s.ok()) {
      n_received.fetch_add(1, std::memory_order_relaxed);
      // Everything before it was checked and did not match; it is gone
      // (or taken: a Release bumps release_epoch, and the next look
      // starts again from the oldest).
      if (p.kind() == Pattern::Kind::kPrefix || p.kind() == Pattern::Kind::kPredicate)
        scanned_to = std::max(scanned_to, out->seq);
      return s;
    }
    // kNotFound from Take/Consume: another thread got it first; look again.
    if (!s.IsNotFound()) return s;
    if (ingested) continue;
    if (!spun && opt.receive_spin.count() > 0) {
      // Adaptive spinning (MailboxOptions::receive_spin): look again, and
      // read the socket without blocking, until something arrives or the
      // spin (or the call's deadline) runs out; then sleep as below.
      spun = true;
      n_spins.fetch_add(1, std::memory_order_relaxed);
      const Clock::time_point until = std::min<Clock::time_point>(deadline, Clock::now() + opt.receive_spin);
      bool arrived_now = false;
      while (!arrived_now && Clock::now() < until) {
        if (IngestInline()) {
          arrived_now = true;
          break;
        }
        {
          MutexLock g(&mu);
          if (closing) break;
          arrived_now = generation != gen || !ingest_error.ok();
        }
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
      }
      if (arrived_now) n_spin_hits.fetch_add(1, std::memory_order_relaxed);
      continue;  // look again (a closed mailbox says so at the top)
    }

    MutexLock g(&mu);
    if (generation != gen) continue;  // something arrived meanwhile
    if (!ingest_error.ok()) return ingest_error;
    if (Clock::now() >= deadline)
      return Status::TimedOut(opt.queue_path + ": no message matching " + p.ToString() + " arrived in time");
    ++waiters;
    if (forever) {
      while (generation == gen && !closing) arrived.Wait(&mu);
    } else {
      while (generation == gen && !closing)
        if (!arrived.WaitUntil(&mu, deadline)) break;
    }
    --waiters;
  }
}

Status Mailbox::Receive(const Pattern& pattern, Timeout timeout, Message* out) {
  return impl_->Find(pattern, false, timeout, out, nullptr);
}

Status Mailbox::Take(const Pattern& pattern, Timeout timeout, Message* out) {
  return impl_->Find(pattern, true, timeout, out, nullptr);
}

Status Mailbox::Receive(const Pattern& pattern, Timeout timeout, Message* out, ScanCursor* cursor) {
  return impl_->Find(pattern, false, timeout, out, cursor);
}

Status Mailbox::Take(const Pattern& pattern, Timeout timeout, Message* out, ScanCursor* cursor) {
  return impl_->Find(pattern, true, timeout, out, cursor);
}

Status Mailbox::Ack(uint64_t seq) {
  {
    MutexLock g(&impl_->mu);
    if (impl_->closing) return Status::Closed(impl_->opt.queue_path + ": the mailbox is closed");
    ++impl_->active;
  }
  Status s = impl_->store->Consume(seq);
  MutexLock g(&impl_->mu);
  assert(impl_->active > 0);
  if (--impl_->active == 0 && impl_->closing) impl_->arrived.NotifyAll();
  return s;
}

Status Mailbox::AckBatch(std::span<const uint64_t> seqs, size_t* done) {
  if (done != nullptr) *done = 0;
  {
    MutexLock g(&impl_->mu);
    if (impl_->closing) return Status::Closed(impl_->opt.queue_path + ": the mailbox is closed");
    ++impl_->active;
  }
  Status s = impl_->store->ConsumeBatch(seqs, done);
  MutexLock g(&impl_->mu);
  assert(impl_->active > 0);
  if (--impl_->active == 0 && impl_->closing) impl_->arrived.NotifyAll();
  return s;
}

Status Mailbox::Release(uint64_t seq) {
  {
    MutexLock g(&impl_->mu);
    if (impl_->closing) return Status::Closed(impl_->opt.queue_path + ": the mailbox is closed");
    ++impl_->active;
  }
  Status s = impl_->store->Release(seq);
  {
    MutexLock g(&impl_->mu);
    if (s.ok()) {
      ++impl_->generation;
      ++impl_->release_epoch;
    }
    assert(impl_->active > 0);
    if (--impl_->active == 0 && impl_->closing) impl_->arrived.NotifyAll();
  }
  impl_->arrived.NotifyAll();
  impl_->ready_signal.Signal();
  return s;
}

}  // namespace mq
