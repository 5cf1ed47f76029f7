// The index tail's way into LMDB (docs/design.md, "The index tail"): the
// tail is frozen under the store's lock and written by the index writer
// thread, while appends fill a new tail. At most one write is in flight.
#include <algorithm>
#include <cstring>

#include "store_impl.h"

namespace mq {

void StoreImpl::FreezeTail() {
  // frozen_ is empty here (its write finished), so the swap hands tail_ the
  // frozen vector's storage back for the next tail.
  std::swap(frozen_, tail_);
  frozen_keys_.swap(tail_keys_);
  frozen_pending_ = tail_pending_;
  frozen_all_live_ = frozen_pending_ == frozen_.size();
  tail_pending_ = 0;
  if (!frozen_all_live_)
    for (TailEntry& e : frozen_) e.to_lmdb = !e.consumed;
  frozen_deletes_.swap(unflushed_);
  // LMDB will hold [0, end_): the meta says so in the same transaction.
  frozen_meta_ = CurrentMeta(false);
}

Status StoreImpl::WriteFrozen() {
  Index::Write w(index_.get());
  Status s = w.Begin();
  std::sort(frozen_deletes_.begin(), frozen_deletes_.end());  // Delete is fastest in seq order
  for (size_t i = 0; s.ok() && i < frozen_deletes_.size(); ++i) {
    bool found = false;
    s = w.Delete(frozen_deletes_[i], &found);
  }
  const bool keyed = opt_.key.enabled();
  for (size_t i = 0; s.ok() && i < frozen_.size(); ++i) {
    const TailEntry& e = frozen_[i];
    if (frozen_all_live_ || e.to_lmdb) s = w.PutSeq(e.seq, e.loc, keyed ? *e.key : std::string_view(), keyed, true);
  }
  if (s.ok() && keyed && !frozen_.empty()) {
    // Key entries in key-table order (length, then bytes): neighbours share
    // pages, so the batch dirties as few LMDB pages as it can, and the put
    // cursor rarely has to descend from the root.
    std::vector<const TailKeys::value_type*> order;
    order.reserve(frozen_keys_.size());
    for (const auto& kv : frozen_keys_)
      if (!kv.second.items.empty()) order.push_back(&kv);
    std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return KeyTableBefore(a->first, b->first); });
    // One run per key: its items as the appends encoded them, less those
    // consumed before the freeze.
    const uint64_t front = frozen_.front().seq;
    std::string live;
    for (const auto* entry : order) {
      const TailKey& tk = entry->second;
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
  if (s.ok()) s = w.PutMeta(frozen_meta_);
  if (s.ok()) s = w.Commit();
  return s;
}

Status StoreImpl::FinishFrozen(const Status& s) {
  StaleReader();
  if (!s.ok()) {
    // The messages are in the log; the index could not take them. Stop
    // rather than serve an index that lies; a reopen catches up from the log.
    // frozen_ stays, so reads still find its messages.
    broken_ = Status::IOError(path_ + ": the index update failed (" + s.ToString() +
                                  "); the log is intact. Close and reopen the queue to rebuild the index",
                              s.sys_errno());
    return broken_;
  }
  for (uint64_t seq : frozen_deletes_) hidden_.erase(seq);
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
  return Status::OK();
}

Status StoreImpl::FreezeForWrite(bool* frozen) {
  *frozen = false;
  MQ_RETURN_IF_ERROR(WaitIndexWrite());
  if (!broken_.ok()) return broken_;
  if (tail_.empty() && unflushed_.empty()) return Status::OK();
  FreezeTail();
  *frozen = true;
  return Status::OK();
}

Status StoreImpl::FlushIndex() {
  bool frozen = false;
  MQ_RETURN_IF_ERROR(FreezeForWrite(&frozen));
  return frozen ? FinishFrozen(WriteFrozen()) : Status::OK();
}

Status StoreImpl::StartIndexWrite() {
  bool frozen = false;
  MQ_RETURN_IF_ERROR(FreezeForWrite(&frozen));
  if (!frozen) return Status::OK();
  if (!writer_.joinable()) writer_ = std::thread([this] { IndexWriterLoop(); });
  ++index_writes_;
  {
    std::lock_guard<std::mutex> wl(write_mu_);
    write_state_ = WriteState::kQueued;
  }
  write_cv_.notify_all();
  return Status::OK();
}

Status StoreImpl::WaitIndexWrite() {
  Status s;
  {
    std::unique_lock<std::mutex> wl(write_mu_);
    if (write_state_ == WriteState::kIdle) return Status::OK();
    write_cv_.wait(wl, [&] { return write_state_ == WriteState::kDone; });
    write_state_ = WriteState::kIdle;
    write_done_.store(false, std::memory_order_relaxed);
    s = std::move(write_status_);
    write_status_ = Status::OK();
  }
  return FinishFrozen(s);
}

void StoreImpl::IndexWriterLoop() {
  std::unique_lock<std::mutex> wl(write_mu_);
  for (;;) {
    write_cv_.wait(wl, [&] { return write_state_ == WriteState::kQueued || stop_writer_; });
    if (write_state_ != WriteState::kQueued) return;  // stopping, nothing queued
    wl.unlock();
    Status s = WriteFrozen();
    wl.lock();
    write_status_ = std::move(s);
    write_state_ = WriteState::kDone;
    write_done_.store(true, std::memory_order_release);
    write_cv_.notify_all();
  }
}

}  // namespace mq
