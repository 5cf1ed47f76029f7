// Appending, consuming and group commit (docs/design.md, "Append",
// "Consume", "Group commit").
#include <algorithm>
#include <cstring>

#include "coding.h"
#include "log_format.h"
#include "store_impl.h"

namespace mq {
namespace {
// Consumed messages whose index entries wait for the next index transaction.
constexpr size_t kMaxUnflushed = 65536;
}  // namespace

std::shared_ptr<File> StoreImpl::CurrentFile() {
  std::lock_guard<std::mutex> g(file_mu_);
  return file_;
}

Status StoreImpl::CheckUsable() {
  if (closed_) return Status::Closed(path_ + ": the store is closed");
  if (!broken_.ok()) return broken_;
  if (sync_failed_.load()) {
    std::lock_guard<std::mutex> sl(sync_mu_);
    return sync_error_;
  }
  return Status::OK();
}

Result<uint64_t> StoreImpl::Append(std::string_view payload) {
  return AppendBatch(std::span<const std::string_view>(&payload, 1));
}

Result<uint64_t> StoreImpl::AppendBatch(std::span<const std::string_view> payloads) {
  MQ_ASSIGN_OR_RETURN(const uint64_t first_seq, AppendBatchNoWait(payloads));
  if (opt_.sync == SyncPolicy::kAlways) MQ_RETURN_IF_ERROR(SyncUpTo(write_gen_.load()));
  return first_seq;
}

Result<uint64_t> StoreImpl::AppendBatchNoWait(std::span<const std::string_view> payloads) {
  std::lock_guard<std::mutex> g(mu_);
  uint64_t first_seq = 0;
  MQ_RETURN_IF_ERROR(AppendLocked(payloads, &first_seq));
  return first_seq;
}

Status StoreImpl::AppendLocked(std::span<const std::string_view> payloads, uint64_t* first_seq) {
  // A failed index write is reported here, before anything is written.
  MQ_RETURN_IF_ERROR(ReapIndexWrite());
  MQ_RETURN_IF_ERROR(CheckUsable());
  if (payloads.empty()) return Status::InvalidArgument(path_ + ": append of no messages");
  size_t total = 0;
  for (std::string_view p : payloads) {
    if (p.size() > opt_.max_message_size)
      return Status::TooLarge(path_ + ": message of " + std::to_string(p.size()) +
                              " bytes is larger than the queue's maximum of " +
                              std::to_string(opt_.max_message_size));
    total += log::kFramedOverhead + p.size();
  }
  std::string& buf = append_buf_;
  buf.resize(total);
  const uint64_t seq0 = next_seq_;
  size_t off = 0;
  for (size_t i = 0; i < payloads.size(); ++i)
    off += log::EncodeFramed(buf.data() + off, seq0 + i, payloads[i]);

  // 1. The log: written first, so the index never points past it.
  Status s = file_->Write(end_, buf.data(), total);
  if (!s.ok()) return s.WithContext("appending to " + path_);
  file_->PrepareOverwrite(end_, total);
  cache_.Append(end_, buf.data(), total);

  // 2. The index tail: LMDB sees these messages in the next FlushIndex, in
  //    one large sorted batch; those consumed before then never reach it.
  uint64_t pos = end_;
  // Appended messages wait in the tail until LMDB gets them as one batch.
  const size_t tail_flush = std::max<size_t>(1, opt_.index_tail_flush);
  if (tail_.empty()) tail_.reserve(tail_flush);
  for (size_t i = 0; i < payloads.size(); ++i) {
    TailEntry e{seq0 + i, Loc{pos + log::kMetaRecordSize, static_cast<uint32_t>(payloads[i].size()), true, false},
                nullptr, false, tail_.size()};
    if (opt_.key.enabled()) {
      const std::string_view key = opt_.key.Extract(payloads[i]);
      auto it = tail_keys_.find(key);
      if (it == tail_keys_.end()) it = tail_keys_.emplace(std::string(key), TailKey{}).first;
      e.key = &it->first;
      std::string& items = it->second.items;
      const size_t at = items.size();
      items.resize(at + kKeyItemSize);
      EncodeKeyItem(e.seq, e.loc, key, items.data() + at);
    }
    tail_.push_back(e);
    tail_start_ = pos;
    pos += log::kFramedOverhead + payloads[i].size();
  }
  tail_pending_ += payloads.size();
  end_ += total;
  next_seq_ += payloads.size();
  tail_seq_ = next_seq_ - 1;
  pending_bytes_ += total;
  framed_only_ = true;
  last_seq_.store(next_seq_ - 1);
  write_gen_.fetch_add(1);
  *first_seq = seq0;
  // The messages are appended: a failure of the index write (this one's or
  // the one it waits for) is in broken_, and the next call reports it.
  if (tail_.size() >= tail_flush || unflushed_.size() >= kMaxUnflushed) (void)StartIndexWrite();
  return Status::OK();
}

size_t StoreImpl::SkipConsumedTail(TailVec& v, size_t i) {
  size_t r = i;
  while (r < v.size() && v[r].next != r) r = v[r].next;
  while (i < r) {  // point every entry passed at the answer
    const size_t n = v[i].next;
    v[i].next = r;
    i = n;
  }
  return r;
}

StoreImpl::TailEntry* StoreImpl::FindTail(uint64_t seq) {
  for (TailVec* v : {&frozen_, &tail_})
    if (!v->empty() && seq >= v->front().seq && seq <= v->back().seq) return &(*v)[seq - v->front().seq];
  return nullptr;
}

Status StoreImpl::FreshReader() {
  if (reader_fresh_) return Status::OK();
  MQ_RETURN_IF_ERROR(reader_->Begin());
  reader_fresh_ = true;
  return Status::OK();
}

Status StoreImpl::Locate(uint64_t seq, Loc* loc, TailEntry** tail) {
  *tail = FindTail(seq);
  if (*tail != nullptr) {
    if ((*tail)->consumed) return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not pending");
    *loc = (*tail)->loc;
    return Status::OK();
  }
  if (seq == last_read_seq_ && seq != 0) {
    *loc = last_read_loc_;
    return Status::OK();
  }
  MQ_RETURN_IF_ERROR(FreshReader());
  Status s = reader_->Get(seq, loc);
  if (s.IsNotFound()) return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not pending");
  return s;
}

void StoreImpl::Heal(uint64_t seq, const Loc& loc) {
  uint64_t framed = loc.size + (loc.framed ? log::kFramedOverhead : log::kRecordHeaderSize);
  if (hidden_.insert(seq)) {
    unflushed_.push_back(seq);
    pending_bytes_ -= std::min(pending_bytes_, framed);
    ++consumed_count_;
    consumed_bytes_ += framed;
  }
}

Status StoreImpl::Consume(uint64_t seq) {
  uint64_t gen = 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    MQ_RETURN_IF_ERROR(ConsumeLocked(seq, &gen));
  }
  if (opt_.sync == SyncPolicy::kAlways && gen != 0) return SyncUpTo(gen);
  return Status::OK();
}

Status StoreImpl::ConsumeFirst(Message* m) {
  uint64_t gen = 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    MQ_RETURN_IF_ERROR(FirstPendingLocked(m));
    MQ_RETURN_IF_ERROR(ConsumeLocked(m->seq, &gen));
  }
  if (opt_.sync == SyncPolicy::kAlways && gen != 0) return SyncUpTo(gen);
  return Status::OK();
}

Status StoreImpl::ConsumeLocked(uint64_t seq, uint64_t* gen_out) {
  uint64_t& gen = *gen_out;
  MQ_RETURN_IF_ERROR(ReapIndexWrite());  // a failed index write is reported before the flag is written
  MQ_RETURN_IF_ERROR(CheckUsable());
  if (Hidden(seq) && taken_.count(seq) == 0)
    return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not pending");
  Loc loc;
  TailEntry* tail = nullptr;
  MQ_RETURN_IF_ERROR(Locate(seq, &loc, &tail));
  if (tail == nullptr && seq != last_read_seq_) {
    // An index entry that no read has checked: the log may already say
    // consumed (an entry left behind by a crash).
    const char* p = nullptr;
    MQ_RETURN_IF_ERROR(cache_.Read(file_.get(), end_, loc.msg_offset, 4, &p));
    if (DecodeInt32(p) == log::kConsumed) {
      Heal(seq, loc);
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
  if (seq == last_read_seq_) last_read_seq_ = 0;
  if (tail != nullptr) {
    uint64_t framed = loc.size + log::kFramedOverhead;
    tail->consumed = true;
    if (InFrozen(seq)) {
      tail->next = static_cast<size_t>(tail - frozen_.data()) + 1;
      --frozen_pending_;
      // Pending when frozen, so the index writer puts it in LMDB (maybe
      // right now): the next index write deletes it; until then it stays
      // hidden.
      if (hidden_.insert(seq)) unflushed_.push_back(seq);
    } else {
      // Never reached LMDB, and now never will.
      tail->next = static_cast<size_t>(tail - tail_.data()) + 1;
      --tail_pending_;
    }
    pending_bytes_ -= std::min(pending_bytes_, framed);
    ++consumed_count_;
    consumed_bytes_ += framed;
  } else {
    Heal(seq, loc);  // counts it consumed and queues its index delete
  }
  gen = write_gen_.fetch_add(1) + 1;
  // The consume is done: an index write's failure is in broken_ for the next call.
  if (unflushed_.size() >= kMaxUnflushed) (void)StartIndexWrite();
  if (opt_.auto_compact && !auto_compact_failed_ && CompactionDue()) {
    // The consume is done; a failed compaction only stops further tries.
    CompactionResult r;
    Status cs = CompactLocked(&r, false);
    if (cs.ok()) {
      gen = 0;  // compaction synced the whole new log
    } else {
      auto_compact_failed_ = true;
      Note(path_ + ": automatic compaction failed and is off until reopen: " + cs.ToString());
    }
  }
  return Status::OK();
}

Status StoreImpl::Take(uint64_t seq) {
  std::lock_guard<std::mutex> g(mu_);
  if (Hidden(seq)) return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not available");
  Loc loc;
  TailEntry* tail = nullptr;
  MQ_RETURN_IF_ERROR(Locate(seq, &loc, &tail));
  taken_.insert(seq);
  hidden_.insert(seq);
  return Status::OK();
}

Status StoreImpl::Release(uint64_t seq) {
  std::lock_guard<std::mutex> g(mu_);
  if (taken_.erase(seq) == 0)
    return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not taken");
  hidden_.erase(seq);
  front_seq_ = std::min(front_seq_, seq);
  key_front_.clear();
  for (TailKeys* keys : {&frozen_keys_, &tail_keys_})
    for (auto& [key, tk] : *keys) tk.front = 0;
  return Status::OK();
}

Status StoreImpl::Sync() { return SyncUpTo(write_gen_.load()); }

Status StoreImpl::WaitDurable(uint64_t seq) {
  if (seq <= durable_seq_.load()) return Status::OK();
  if (seq > last_seq_.load())
    return Status::InvalidArgument(path_ + ": message " + std::to_string(seq) + " has not been appended");
  switch (opt_.sync) {
    case SyncPolicy::kNone:
      return Status::OK();  // written to the OS is all this policy promises
    case SyncPolicy::kAlways:
      return SyncUpTo(write_gen_.load());
    case SyncPolicy::kBatch: {
      std::unique_lock<std::mutex> sl(sync_mu_);
      sync_cv_.wait(sl, [&] { return durable_seq_.load() >= seq || !sync_error_.ok() || stop_flusher_; });
      if (!sync_error_.ok()) return sync_error_;
      if (durable_seq_.load() < seq) return Status::InvalidArgument(path_ + ": the store is closing");
      return Status::OK();
    }
  }
  return Status::OK();
}

Status StoreImpl::SyncUpTo(uint64_t gen) {
  std::unique_lock<std::mutex> sl(sync_mu_);
  while (synced_gen_ < gen) {
    // A failed fdatasync is final: the kernel may have dropped the dirty
    // pages, so a later success would not prove anything (docs/design.md).
    if (!sync_error_.ok()) return sync_error_;
    if (syncing_) {
      sync_cv_.wait(sl);
      continue;
    }
    syncing_ = true;
    const uint64_t g = write_gen_.load();
    const uint64_t seq = last_seq_.load();
    std::shared_ptr<File> f;
    uint64_t dev = 0, ino = 0;
    {
      std::lock_guard<std::mutex> fg(file_mu_);
      f = file_;
      dev = file_dev_;
      ino = file_ino_;
    }
    sl.unlock();
    Status s = f ? f->Sync() : Status::OK();
    // A sync of a file no longer at the queue's path proves nothing.
    Status moved = s.ok() && f ? CheckFileInPlace(dev, ino) : Status::OK();
    sl.lock();
    syncing_ = false;
    if (!moved.ok()) {
      sync_error_ = moved;
      sync_failed_.store(true);
    } else if (s.ok()) {
      synced_gen_ = std::max(synced_gen_, g);
      if (seq > durable_seq_.load()) durable_seq_.store(seq);
      ++syncs_;
    } else {
      sync_error_ = Status::IOError(path_ + ": fdatasync failed (" + s.message() +
                                        "); what was written since the last sync may be lost. Close and "
                                        "reopen the queue to recover",
                                    s.sys_errno());
      sync_failed_.store(true);
    }
    sync_cv_.notify_all();
  }
  return Status::OK();
}

// Another process may have renamed a file over the queue's path, or removed
// it: what this store writes then goes to a file nobody will open again, so
// nothing written since may be called durable (docs/reliability.md).
Status StoreImpl::CheckFileInPlace(uint64_t dev, uint64_t ino) {
  if (dev == 0 && ino == 0) return Status::OK();
  FileInfo info;
  Status s = qdir_->Stat(name_, &info);
  if (s.ok() && info.exists && info.device == dev && info.inode == ino) return Status::OK();
  return Status::IOError(path_ + ": the queue file was replaced or removed by another process while it was open "
                                 "here; what was written since is only in the old file, which no longer has this "
                                 "name. Nothing more is accepted: stop every process writing this queue, look at "
                                 "what is at the path, and reopen it",
                         s.ok() ? ESTALE : s.sys_errno());
}

void StoreImpl::FlusherLoop() {
  std::unique_lock<std::mutex> sl(sync_mu_);
  while (!stop_flusher_) {
    flusher_cv_.wait_for(sl, opt_.batch_interval, [&] { return stop_flusher_; });
    if (stop_flusher_) break;
    uint64_t gen = write_gen_.load();
    if (gen <= synced_gen_ || !sync_error_.ok()) continue;
    sl.unlock();
    (void)SyncUpTo(gen);
    sl.lock();
  }
}

Status StoreImpl::Close() {
  if (closed_) return Status::OK();
  if (flusher_.joinable()) {
    {
      std::lock_guard<std::mutex> sl(sync_mu_);
      stop_flusher_ = true;
    }
    flusher_cv_.notify_all();
    sync_cv_.notify_all();
    flusher_.join();
  }
  Status s;
  bool healthy = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    (void)WaitIndexWrite();  // a failure is in broken_
    healthy = broken_.ok() && !sync_failed_.load() && index_ != nullptr;
    if (healthy) s = FlushIndex();
  }
  if (writer_.joinable()) {
    {
      std::lock_guard<std::mutex> wl(write_mu_);
      stop_writer_ = true;
    }
    write_cv_.notify_all();
    writer_.join();
  }
  if (s.ok() && file_ != nullptr) s = SyncUpTo(write_gen_.load());
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
  reader_.reset();
  index_.reset();
  {
    std::lock_guard<std::mutex> g(file_mu_);
    file_.reset();
  }
  lock_.reset();
  return s.ok() ? s : s.WithContext("closing " + path_);
}

}  // namespace mq
