// Appending, consuming and group commit (docs/design.md, "Append",
// "Consume", "Group commit").
#include <algorithm>
#include <cassert>
#include <cstring>

#include "util/coding.h"
#include "format/log_format.h"
#include "engine/store_impl.h"

namespace mq {
namespace {
// Consumed messages whose index entries wait for the next index transaction.
constexpr size_t kMaxUnflushed = 65536;
// Batches whose messages average at least this many bytes are written with
// one gathered write from the callers' buffers (File::WriteV) instead of
// being copied into append_buf_ first: large messages then cost one copy
// (into the page cache), as a bare write does (docs/design.md, "Append").
constexpr size_t kGatherMinAverage = 2048;
}  // namespace

Status StoreImpl::CheckUsable() {
  if (closed_) return Status::Closed(path_ + ": the store is closed");
  if (!broken_.ok()) return broken_;
  if (commit_.failed()) return commit_.error();
  return Status::OK();
}

Result<uint64_t> StoreImpl::Append(std::string_view payload) {
  return AppendBatch(std::span<const std::string_view>(&payload, 1));
}

Result<uint64_t> StoreImpl::AppendBatch(std::span<const std::string_view> payloads) {
  MQ_ASSIGN_OR_RETURN(const uint64_t first_seq, AppendBatchNoWait(payloads));
  if (opt_.sync == SyncPolicy::kAlways) MQ_RETURN_IF_ERROR(commit_.Sync());
  return first_seq;
}

Result<uint64_t> StoreImpl::AppendBatchNoWait(std::span<const std::string_view> payloads) {
  ThrottleForCompaction();  // a compaction's catch-up outrun: wait a moment (compaction_online.cc)
  MutexLock l(&mu_);
  uint64_t first_seq = 0;
  MQ_RETURN_IF_ERROR(AppendLocked(payloads, &first_seq));
  return first_seq;
}

Status StoreImpl::AppendLocked(std::span<const std::string_view> payloads, uint64_t* first_seq) {
  // A failed flush is reported here, before anything is written.
  MQ_RETURN_IF_ERROR(ReapTailFlush());
  MQ_RETURN_IF_ERROR(CheckUsable());
  if (payloads.empty()) return Status::InvalidArgument(path_ + ": append of no messages");
  size_t total = 0;
  size_t payload_bytes = 0;
  for (std::string_view p : payloads) {
    payload_bytes += p.size();
    if (p.size() > opt_.max_message_size)
      return Status::TooLarge(path_ + ": message of " + std::to_string(p.size()) +
                              " bytes is larger than the queue's maximum of " +
                              std::to_string(opt_.max_message_size));
    total += log::kFramedOverhead + p.size();
  }
  // A sync finished since the last mark: the batch starts with a sync mark
  // naming the synced end (docs/log-format.md, "Sync marks"), so that a power
  // cut's damage after it reads as the unsynced tail, and damage before it as
  // real damage. sync=none promises nothing durable and writes none.
  const uint64_t synced = commit_.synced_end();
  const size_t mark = opt_.sync != SyncPolicy::kNone && synced > last_sync_mark_ ? log::kSyncRecordSize : 0;
  assert(synced <= end_);  // a sync covers only what was written
  total += mark;
  const bool gather = payload_bytes >= kGatherMinAverage * payloads.size();
  std::string& buf = append_buf_;
  buf.resize(gather ? mark + payloads.size() * log::kFramedOverhead : total);
  const uint64_t seq0 = next_seq_;
  assert(seq0 > tail_seq_ && seq0 > commit_.last_seq());  // a seq is never reused
  size_t off = 0;
  if (mark != 0) {
    log::EncodeSyncMark(buf.data(), synced);
    off = mark;
  }
  if (gather) {
    // The headers in buf, the payloads where they are: [mark + header 0]
    // [payload 0] [header 1] [payload 1] ...
    std::vector<iovec>& iov = append_iov_;
    iov.clear();
    for (size_t i = 0; i < payloads.size(); ++i) {
      log::EncodeFramedHeader(buf.data() + off, seq0 + i, payloads[i]);
      if (i == 0) iov.push_back(iovec{buf.data(), mark + log::kFramedOverhead});
      else iov.push_back(iovec{buf.data() + off, log::kFramedOverhead});
      off += log::kFramedOverhead;
      if (!payloads[i].empty()) iov.push_back(iovec{const_cast<char*>(payloads[i].data()), payloads[i].size()});
    }
    assert(off == buf.size());
  } else {
    for (size_t i = 0; i < payloads.size(); ++i)
      off += log::EncodeFramed(buf.data() + off, seq0 + i, payloads[i]);
  }

  // 1. The log: written first, so the index never points past it.
  Status s = gather ? file_->WriteV(end_, append_iov_.data(), append_iov_.size()) : file_->Write(end_, buf.data(), total);
  if (!s.ok()) return s.WithContext("appending to " + path_);
  file_->PrepareOverwrite(end_, total);
  if (gather) cache_.AppendV(end_, append_iov_.data(), append_iov_.size());
  else cache_.Append(end_, buf.data(), total);

  // 2. The index tail: LMDB sees these messages in the next flush, in one
  //    large sorted batch; those consumed before then never reach it.
  if (mark != 0) last_sync_mark_ = synced;
  uint64_t pos = end_ + mark;
  const size_t tail_flush = std::max<size_t>(1, opt_.index_tail_flush);
  tail_.Reserve(tail_flush);
  const bool keyed = opt_.key.enabled();
  for (size_t i = 0; i < payloads.size(); ++i) {
    const Loc loc{pos + log::kMetaRecordSize, static_cast<uint32_t>(payloads[i].size()), true, false};
    tail_.Add(seq0 + i, loc, keyed, keyed ? opt_.key.Extract(payloads[i]) : std::string_view());
    tail_start_ = pos;
    pos += log::kFramedOverhead + payloads[i].size();
  }
  tail_.AddedPending(payloads.size());
  end_ += total;
  next_seq_ += payloads.size();
  tail_seq_ = next_seq_ - 1;
  pending_bytes_ += total - mark;
  log_.framed_only = true;
  commit_.Appended(next_seq_ - 1, end_);
  *first_seq = seq0;
  // The messages are appended: a failure of the flush (this one's or the
  // one it waits for) is in broken_, and the next call reports it.
  if (tail_.size() >= tail_flush || tail_.waiting_deletes() >= kMaxUnflushed) (void)StartTailFlush();
  return Status::OK();
}

Status StoreImpl::FreshReader() {
  if (read_.reader_fresh) return Status::OK();
  MQ_RETURN_IF_ERROR(read_.reader->Begin());
  read_.reader_fresh = true;
  return Status::OK();
}

Status StoreImpl::Locate(uint64_t seq, Loc* loc, IndexTail::Entry** tail) {
  *tail = tail_.Find(seq);
  if (*tail != nullptr) {
    if ((*tail)->consumed) return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not pending");
    *loc = (*tail)->loc;
    return Status::OK();
  }
  if (seq == read_.last_seq && seq != 0) {
    *loc = read_.last_loc;
    return Status::OK();
  }
  MQ_RETURN_IF_ERROR(FreshReader());
  Status s = read_.reader->Get(seq, loc);
  if (s.IsNotFound()) return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not pending");
  return s;
}

void StoreImpl::RecordConsumed(uint64_t seq, const Loc& loc) {
  uint64_t framed = loc.size + (loc.framed ? log::kFramedOverhead : log::kRecordHeaderSize);
  if (hidden_.insert(seq)) {
    tail_.QueueDelete(seq);
    pending_bytes_ -= std::min(pending_bytes_, framed);
    ++consumed_count_;
    consumed_bytes_ += framed;
  }
}

Status StoreImpl::Consume(uint64_t seq) {
  uint64_t gen = 0;
  ThrottleForCompaction();
  {
    MutexLock l(&mu_);
    MQ_RETURN_IF_ERROR(ConsumeLocked(seq, &gen));
  }
  if (opt_.sync == SyncPolicy::kAlways && gen != 0) return commit_.SyncUpTo(gen);
  return Status::OK();
}

Status StoreImpl::ConsumeBatch(std::span<const uint64_t> seqs, size_t* done) {
  uint64_t gen = 0;
  size_t n = 0;
  Status s;
  ThrottleForCompaction();
  {
    MutexLock l(&mu_);
    for (; n < seqs.size(); ++n) {
      uint64_t g = 0;
      s = ConsumeLocked(seqs[n], &g);
      if (!s.ok()) break;
      gen = std::max(gen, g);
    }
  }
  if (done != nullptr) *done = n;
  // One sync for every flag written above (group commit of consumes).
  if (opt_.sync == SyncPolicy::kAlways && gen != 0) MQ_RETURN_IF_ERROR(commit_.SyncUpTo(gen));
  return s;
}

Status StoreImpl::ConsumeFirst(Message* m) {
  uint64_t gen = 0;
  ThrottleForCompaction();
  {
    MutexLock l(&mu_);
    MQ_RETURN_IF_ERROR(FirstPendingLocked(m));
    MQ_RETURN_IF_ERROR(ConsumeLocked(m->seq, &gen));
  }
  if (opt_.sync == SyncPolicy::kAlways && gen != 0) return commit_.SyncUpTo(gen);
  return Status::OK();
}

Status StoreImpl::ConsumeLocked(uint64_t seq, uint64_t* gen_out) {
  uint64_t& gen = *gen_out;
  MQ_RETURN_IF_ERROR(ReapTailFlush());  // a failed flush is reported before the flag is written
  MQ_RETURN_IF_ERROR(CheckUsable());
  if (Hidden(seq) && taken_.count(seq) == 0)
    return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not pending");
  Loc loc;
  IndexTail::Entry* tail = nullptr;
  MQ_RETURN_IF_ERROR(Locate(seq, &loc, &tail));
  if (tail == nullptr && seq != read_.last_seq) {
    // An index entry that no read has checked: the log may already say
    // consumed (an entry left behind by a crash).
    const char* p = nullptr;
    MQ_RETURN_IF_ERROR(cache_.Read(file_.get(), end_, loc.msg_offset, 4, &p));
    if (DecodeInt32(p) == log::kConsumed) {
      RecordConsumed(seq, loc);
      return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not pending");
    }
  }
  char flag[4];
  EncodeFixed32(flag, static_cast<uint32_t>(log::kConsumed));
  Status s = file_->Overwrite(loc.msg_offset, flag, 4);
  if (!s.ok()) return s.WithContext("consuming message " + std::to_string(seq));
  cache_.Patch(loc.msg_offset, flag, 4);
  taken_.erase(seq);
  hidden_.erase(seq);
  if (seq == read_.last_seq) read_.last_seq = 0;
  if (tail != nullptr) {
    uint64_t framed = loc.size + log::kFramedOverhead;
    if (tail_.MarkConsumed(tail)) {
      // Pending when frozen, so the flush puts it in LMDB (maybe right now):
      // the next flush deletes it; until then it stays hidden.
      if (hidden_.insert(seq)) tail_.QueueDelete(seq);
    }
    pending_bytes_ -= std::min(pending_bytes_, framed);
    ++consumed_count_;
    consumed_bytes_ += framed;
  } else {
    RecordConsumed(seq, loc);
  }
  gen = commit_.Wrote();
  // The consume is done: a flush's failure is in broken_ for the next call.
  if (tail_.waiting_deletes() >= kMaxUnflushed) (void)StartTailFlush();
  if (compacting_) compact_consumed_.push_back(seq);  // the copy may hold it pending: marked before the swap
  // Automatic compaction runs on its own thread, never in the consumer's call.
  if (opt_.auto_compact && !auto_compact_failed_ && !compacting_ && CompactionDue()) compactor_.Kick();
  return Status::OK();
}

Status StoreImpl::Take(uint64_t seq) {
  MutexLock l(&mu_);
  if (Hidden(seq)) return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not available");
  Loc loc;
  IndexTail::Entry* tail = nullptr;
  MQ_RETURN_IF_ERROR(Locate(seq, &loc, &tail));
  taken_.insert(seq);
  hidden_.insert(seq);
  return Status::OK();
}

Status StoreImpl::Release(uint64_t seq) {
  MutexLock l(&mu_);
  if (taken_.erase(seq) == 0)
    return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not taken");
  hidden_.erase(seq);
  read_.front_seq = std::min(read_.front_seq, seq);
  read_.key_front.clear();
  tail_.ForgetKeyFronts();
  return Status::OK();
}

Status StoreImpl::Sync() { return commit_.Sync(); }

Status StoreImpl::Close() {
  {
    MutexLock l(&mu_);
    if (closed_) return Status::OK();
  }
  commit_.StopFlusher();  // the flusher takes only commit_'s locks
  compactor_.Stop();      // lets an automatic compaction finish
  MutexLock c(&compact_mu_);  // ... and one asked for by hand
  // The rest under mu_, so that no operation runs between the last flush and
  // the clean meta (commit_'s sync takes its lock after mu_: the lock order).
  MutexLock l(&mu_);
  if (closed_) return Status::OK();
  (void)WaitTailFlush();  // a failure is in broken_
  const bool healthy = broken_.ok() && !commit_.failed() && index_ != nullptr;
  Status s = healthy ? FlushTail() : Status::OK();
  tail_.StopWriter();  // idle: it never takes mu_
  if (s.ok() && file_ != nullptr) s = commit_.Sync();
  if (s.ok() && healthy) {
    // Clean: the log and the index are both on disk and agree, so the index
    // may be trusted even after the machine restarts.
    s = index_->SyncToDisk();
    Index::Write w(index_.get());
    IndexMeta closed = CurrentMeta(true);
    if (s.ok()) s = StampClosedLog(&closed);
    if (s.ok()) s = w.Begin();
    if (s.ok()) s = w.PutMeta(closed);
    if (s.ok()) s = w.Commit();
    if (s.ok()) s = index_->SyncToDisk();
  }
  closed_ = true;
  read_.reader.reset();
  index_.reset();
  commit_.SetFile(nullptr, nullptr, 0, 0);
  file_.reset();
  lock_.reset();
  return s.ok() ? s : s.WithContext("closing " + path_);
}

}  // namespace mq
