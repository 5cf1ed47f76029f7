// When the index tail goes to LMDB (docs/design.md, "The index tail" and
// "The tail writer"): the store's side of a flush, under its mutex. The tail
// and the tail writer thread are IndexTail's (index_tail.h).
#include "engine/store_impl.h"

namespace mq {
namespace {
// About how many index bytes a flushed entry adds (its seq entry and key item).
constexpr uint64_t kFlushBytesPerEntry = 128;
}  // namespace

Status StoreImpl::FreezeForFlush(bool* frozen) {
  *frozen = false;
  // An online compaction holds the index's write transaction until its
  // swap, which takes the tail in too: the tail waits (and grows) until then.
  if (compacting_) return Status::OK();
  MQ_RETURN_IF_ERROR(WaitTailFlush());
  if (!broken_.ok()) return broken_;
  if (tail_.empty()) return Status::OK();
  // LMDB will hold [0, end_): the meta says so in the flush's transaction,
  // which first makes the log durable up to everything written so far, so
  // that a later boot may trust it (sync=none promises nothing durable: its
  // flushes do not sync the log, and claim nothing).
  tail_.Freeze(CurrentMeta(false), opt_.sync == SyncPolicy::kNone ? nullptr : &commit_, commit_.write_gen());
  *frozen = true;
  return Status::OK();
}

Status StoreImpl::FlushTail() {
  bool frozen = false;
  MQ_RETURN_IF_ERROR(FreezeForFlush(&frozen));
  if (!frozen) return Status::OK();
  StaleReader();  // no snapshot held: the transaction's Begin may grow the index map
  return FinishFlush(tail_.WriteFrozen(index_.get(), opt_.key.enabled()));
}

Status StoreImpl::StartTailFlush() {
  bool frozen = false;
  MQ_RETURN_IF_ERROR(FreezeForFlush(&frozen));
  if (!frozen) return Status::OK();
  // Grow the index map ahead, here, where the snapshot can be let go of:
  // the tail writer cannot (docs/design.md, "Growing the index map").
  const uint64_t need = tail_.frozen_size() * kFlushBytesPerEntry;
  if (index_->WouldGrow(need)) {
    StaleReader();
    (void)index_->Reserve(need);  // short of it (the ceiling), the flush says so
  }
  tail_.StartWrite(index_.get(), opt_.key.enabled());
  return Status::OK();
}

Status StoreImpl::WaitTailFlush() {
  Status s;
  if (!tail_.WaitWrite(&s)) return Status::OK();  // none in flight
  return FinishFlush(s);
}

Status StoreImpl::FinishFlush(Status s) {
  StaleReader();
  // The flush's transaction found the index map full: with no snapshot held
  // now, grow the map and run the transaction again on this thread (the
  // frozen tail is as it was). At the ceiling, Reserve's error names the
  // file and StoreOptions::max_index_bytes. Each Reserve that succeeds at
  // least doubles the map; the bound is only a guard.
  for (int tries = 0; !s.ok() && index_->map_full() && tries < 16; ++tries) {
    Status g = index_->Reserve(0);
    if (!g.ok()) {
      s = g;
      break;
    }
    s = tail_.WriteFrozen(index_.get(), opt_.key.enabled());
  }
  if (!s.ok()) {
    // The messages are in the log; the index could not take them. Stop
    // rather than serve an index that lies; a reopen catches up from the log.
    // The frozen tail stays, so reads still find its messages.
    broken_ = Status::IOError(path_ + ": the index update failed (" + s.ToString() +
                                  "); the log is intact. Close and reopen the queue to rebuild the index",
                              s.sys_errno());
    return broken_;
  }
  const ChunkedVector<uint64_t>& deleted = tail_.frozen_deletes();
  for (size_t i = 0; i < deleted.size(); ++i) hidden_.erase(deleted[i]);
  tail_.DropFrozen();
  return Status::OK();
}

}  // namespace mq
