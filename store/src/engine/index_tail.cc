// IndexTail (index_tail.h; docs/design.md, "The index tail"): freezing the
// tail, the flush's index transaction, and the tail writer thread.
#include "engine/index_tail.h"

#include "engine/store_threads.h"

#include <algorithm>
#include <cstring>

namespace mq {

size_t IndexTail::SkipConsumed(Entries& v, size_t i) {
  size_t r = i;
  while (r < v.size() && v[r].next != r) r = v[r].next;
  while (i < r) {  // point every entry passed at the answer
    const size_t n = v[i].next;
    v[i].next = r;
    i = n;
  }
  return r;
}

void IndexTail::ForgetKeyFronts() {
  for (KeyMap* keys : {&frozen_keys_, &keys_})
    for (auto& [key, items] : *keys) items.front = 0;
}

void IndexTail::Clear() {
  assert(!in_flight_ && frozen_.empty());  // the flush in flight has finished
  deletes_.clear();
  tail_.clear();
  keys_.clear();
  tail_pending_ = 0;
}

void IndexTail::ClearInto(Dropped* d) {
  assert(!in_flight_ && frozen_.empty());  // the flush in flight has finished
  d->tail.swap(tail_);
  d->keys.swap(keys_);
  d->deletes.swap(deletes_);
  Clear();  // what the swaps handed back: empty
}

void IndexTail::Freeze(const IndexMeta& meta, GroupCommit* log, uint64_t gen) {
  assert(!in_flight_ && frozen_.empty() && frozen_deletes_.empty());  // at most one flush at a time
  // frozen_ is empty here (its flush finished), so the swap hands tail_ the
  // frozen vector's storage back for the next tail.
  frozen_.swap(tail_);
  frozen_keys_.swap(keys_);
  frozen_pending_ = tail_pending_;
  frozen_all_live_ = frozen_pending_ == frozen_.size();
  tail_pending_ = 0;
  if (!frozen_all_live_)
    frozen_.ForEach([](Entry& e) { e.to_lmdb = !e.consumed; });
  frozen_deletes_.swap(deletes_);
  // LMDB will hold [0, meta.applied): the meta says so in the same transaction.
  frozen_meta_ = meta;
  frozen_log_ = log;
  frozen_gen_ = gen;
}

Status IndexTail::WriteFrozen(Index* index, bool keyed) {
  // The log first (docs/design.md, "An index that survives a power cut"):
  // every append and used flag written before the freeze is made durable,
  // so this commit describes only synced log bytes and says so. A failed
  // sync costs only that claim (the group commit keeps its error for the
  // writers); the flush goes on.
  IndexMeta meta = frozen_meta_;
  meta.synced_log = 0;
  if (frozen_log_ != nullptr && frozen_log_->SyncUpTo(frozen_gen_).ok() &&
      frozen_log_->synced_end() >= meta.applied)
    meta.synced_log = meta.applied;
  Index::Write w(index);
  Status s = w.Begin();
  std::vector<uint64_t> dels(frozen_deletes_.size());
  for (size_t i = 0; i < dels.size(); ++i) dels[i] = frozen_deletes_[i];
  std::sort(dels.begin(), dels.end());  // Delete is fastest in seq order
  for (size_t i = 0; s.ok() && i < dels.size(); ++i) {
    bool found = false;
    s = w.Delete(dels[i], &found);
  }
  for (size_t i = 0; s.ok() && i < frozen_.size(); ++i) {
    const Entry& e = frozen_[i];
    if (frozen_all_live_ || e.to_lmdb) s = w.PutSeq(e.seq, e.loc, keyed ? *e.key : std::string_view(), keyed, true);
  }
  if (s.ok() && keyed && !frozen_.empty()) {
    // Key entries in key-table order (length, then bytes): neighbours share
    // pages, so the batch dirties as few LMDB pages as it can, and the put
    // cursor rarely has to descend from the root.
    std::vector<const KeyMap::value_type*> order;
    order.reserve(frozen_keys_.size());
    for (const auto& kv : frozen_keys_)
      if (!kv.second.items.empty()) order.push_back(&kv);
    std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return KeyTableBefore(a->first, b->first); });
    // One run per key: its items as the appends encoded them, less those
    // consumed before the freeze.
    const uint64_t front = frozen_.front().seq;
    std::string live;
    for (const auto* entry : order) {
      const KeyItems& tk = entry->second;
      const char* items = tk.items.data();
      size_t n = tk.size();
      if (!frozen_all_live_) {
        live.resize(tk.items.size());
        size_t kept = 0;
        for (size_t i = 0; i < n; ++i)
          if (frozen_[tk.seq(i) - front].to_lmdb)
            std::memcpy(live.data() + kKeyItemSize * kept++, items + kKeyItemSize * i, kKeyItemSize);
        items = live.data();
        n = kept;
      }
      // The tail is newer than LMDB, but keys cut to the same kMaxIndexKey
      // bytes share blocks and their runs interleave: those go the careful way.
      s = w.PutKeyRun(entry->first, items, n, entry->first.size() <= kMaxIndexKey);
      if (!s.ok()) break;
    }
  }
  if (s.ok()) s = w.PutMeta(meta);
  if (s.ok()) s = w.Commit();
  return s;
}

void IndexTail::DropFrozen() {
  assert(!in_flight_);
  frozen_deletes_.clear();
  frozen_.clear();
  // Keep the key nodes (and their items' memory) for the tail after next,
  // unless keys come and go.
  constexpr size_t kKeysKept = 4096;
  if (frozen_keys_.size() > kKeysKept) {
    frozen_keys_.clear();
  } else {
    for (auto& [key, tk] : frozen_keys_) {
      tk.items.clear();
      tk.front = 0;
    }
  }
  frozen_pending_ = 0;
}

void IndexTail::StartWrite(Index* index, bool keyed) {
  assert(!in_flight_);  // at most one index transaction in flight
  assert(!frozen_.empty() || !frozen_deletes_.empty());
  if (!shared_ && !writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
  ++writes_;
  in_flight_ = true;
  {
    MutexLock l(&write_mu_);
    assert(write_state_ == WriteState::kIdle);
    write_index_ = index;
    write_keyed_ = keyed;
    write_state_ = WriteState::kQueued;
  }
  write_cv_.NotifyAll();
  if (shared_) shared_->impl()->QueueWrite(this);
}

void IndexTail::RunQueuedWrite() {
  MutexLock l(&write_mu_);
  if (write_state_ == WriteState::kQueued) WriteQueued();
}

void IndexTail::WriteQueued() {
  Index* const index = write_index_;
  const bool keyed = write_keyed_;
  write_mu_.Unlock();  // the transaction runs without it: WaitWrite waits on it
  Status s = WriteFrozen(index, keyed);
  write_mu_.Lock();
  write_status_ = std::move(s);
  write_state_ = WriteState::kDone;
  write_done_.store(true, std::memory_order_release);
  write_cv_.NotifyAll();
}

bool IndexTail::WaitWrite(Status* s) {
  MutexLock l(&write_mu_);
  if (write_state_ == WriteState::kIdle) return false;
  while (write_state_ != WriteState::kDone) write_cv_.Wait(&write_mu_);
  write_state_ = WriteState::kIdle;
  write_done_.store(false, std::memory_order_relaxed);
  *s = std::move(write_status_);
  write_status_ = Status::OK();
  in_flight_ = false;
  return true;
}

void IndexTail::WaitWriteFinished() {
  MutexLock l(&write_mu_);
  while (write_state_ == WriteState::kQueued) write_cv_.Wait(&write_mu_);
}

void IndexTail::StopWriter() {
  if (shared_) {
    shared_->impl()->DetachWriter(this);
    return;
  }
  if (!writer_.joinable()) return;
  {
    MutexLock l(&write_mu_);
    stop_writer_ = true;
  }
  write_cv_.NotifyAll();
  writer_.join();
}

void IndexTail::WriterLoop() {
  MutexLock l(&write_mu_);
  for (;;) {
    while (write_state_ != WriteState::kQueued && !stop_writer_) write_cv_.Wait(&write_mu_);
    if (write_state_ != WriteState::kQueued) return;  // stopping, nothing queued
    WriteQueued();
  }
}

}  // namespace mq
