// When the index tail goes to LMDB (docs/design.md, "The index tail" and
// "The tail writer"): the store's side of a flush, under its mutex. The tail
// and the tail writer thread are IndexTail's (index_tail.h).
#include "engine/store_impl.h"

namespace mq {

Status StoreImpl::FreezeForFlush(bool* frozen) {
  *frozen = false;
  MQ_RETURN_IF_ERROR(WaitTailFlush());
  if (!broken_.ok()) return broken_;
  if (tail_.empty()) return Status::OK();
  // LMDB will hold [0, end_): the meta says so in the flush's transaction.
  tail_.Freeze(CurrentMeta(false));
  *frozen = true;
  return Status::OK();
}

Status StoreImpl::FlushTail() {
  bool frozen = false;
  MQ_RETURN_IF_ERROR(FreezeForFlush(&frozen));
  return frozen ? FinishFlush(tail_.WriteFrozen(index_.get(), opt_.key.enabled())) : Status::OK();
}

Status StoreImpl::StartTailFlush() {
  bool frozen = false;
  MQ_RETURN_IF_ERROR(FreezeForFlush(&frozen));
  if (frozen) tail_.StartWrite(index_.get(), opt_.key.enabled());
  return Status::OK();
}

Status StoreImpl::WaitTailFlush() {
  Status s;
  if (!tail_.WaitWrite(&s)) return Status::OK();  // none in flight
  return FinishFlush(s);
}

Status StoreImpl::FinishFlush(const Status& s) {
  StaleReader();
  if (!s.ok()) {
    // The messages are in the log; the index could not take them. Stop
    // rather than serve an index that lies; a reopen catches up from the log.
    // The frozen tail stays, so reads still find its messages.
    broken_ = Status::IOError(path_ + ": the index update failed (" + s.ToString() +
                                  "); the log is intact. Close and reopen the queue to rebuild the index",
                              s.sys_errno());
    return broken_;
  }
  for (uint64_t seq : tail_.frozen_deletes()) hidden_.erase(seq);
  tail_.DropFrozen();
  return Status::OK();
}

}  // namespace mq
