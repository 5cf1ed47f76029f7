// Salvage: rewrite the log without consumed messages and without damaged
// bytes (which go to side files first), then swap it in with one rename
// (docs/design.md, "Compaction", "Recovery"). It runs at open, under the
// lock, and acts on a recovery plan (recovery_plan.h): which messages are
// copied, which bytes are set aside and where the log ends is the
// planner's decision, never this file's. Store::Compact is online
// compaction (compaction_online.cc).
#include <cstring>

#include "engine/recovery_plan.h"
#include "engine/store_impl.h"
#include "format/log_format.h"

namespace mq {

bool StoreImpl::CompactionDue() const {
  return consumed_bytes_ >= opt_.compact_min_bytes &&
         static_cast<double>(consumed_bytes_) >= opt_.compact_ratio * static_cast<double>(end_);
}

Status StoreImpl::RebuildIndex() {
  MutexLock c(&compact_mu_);  // no compaction's index transaction in the way
  MutexLock l(&mu_);
  MQ_RETURN_IF_ERROR(CheckUsable());
  MQ_RETURN_IF_ERROR(WaitTailFlush());  // its transaction first; the rebuild replaces what it wrote
  tail_.Clear();
  read_.last_seq = 0;
  read_.key_front.clear();
  hidden_.assign(taken_);
  tail_start_ = tail_seq_ = 0;
  pending_bytes_ = consumed_count_ = consumed_bytes_ = 0;
  cache_.Invalidate();
  report_.bad_flags = 0;  // this scan counts them all again
  repair_flags_ = true;
  Status s = ScanAndIndex(log_.data_start, 0, !log_.legacy, true);
  repair_flags_ = false;
  if (!s.ok()) {
    // The failed scan left this object's idea of the log (its end, above
    // all) wherever it stopped: a write now could land on bytes the log
    // still holds. Take no more writes; a reopen reads the log afresh.
    broken_ = s.WithContext(path_ + ": rebuilding the index failed; close and reopen the queue");
    return s;
  }
  report_.index_action = IndexAction::kRebuilt;
  report_.index_reason = "asked to";
  return Status::OK();
}

namespace {

// Buffered sequential writer for the new log.
class Output {
 public:
  explicit Output(File* f) : f_(f) { buf_.reserve(kFlushAt + (64 << 10)); }
  uint64_t offset() const { return flushed_ + buf_.size(); }
  std::string* buf() { return &buf_; }
  Status MaybeFlush() { return buf_.size() >= kFlushAt ? Flush() : Status::OK(); }
  Status Flush() {
    if (buf_.empty()) return Status::OK();
    MQ_RETURN_IF_ERROR(f_->Write(flushed_, buf_.data(), buf_.size()));
    flushed_ += buf_.size();
    buf_.clear();
    return Status::OK();
  }

 private:
  static constexpr size_t kFlushAt = 4 << 20;
  File* f_;
  std::string buf_;
  uint64_t flushed_ = 0;
};

}  // namespace

Status StoreImpl::SalvageRewrite() {
  // The flush in flight commits first: the rewrite replaces the index.
  MQ_RETURN_IF_ERROR(WaitTailFlush());
  GroupCommit::Pause no_syncs(&commit_);  // none of the old file while it is replaced
  const std::string tmp_name = name_ + ".compact";
  uint64_t size = 0;
  MQ_ASSIGN_OR_RETURN(size, file_->Size());

  std::unique_ptr<File> out_file;
  MQ_ASSIGN_OR_RETURN(out_file, CreateRewriteFile(tmp_name));
  // Until the rename, a failure removes the unfinished new log: after ENOSPC
  // it would only keep holding the space.
  RemoveUnlessRenamed tmp_guard{qdir_.get(), tmp_name};
  std::vector<std::string> side_files;
  if (log_.header_damaged) {
    std::string side;
    MQ_RETURN_IF_ERROR(SaveSideFile(qdir_.get(), name_, "damaged-0", file_.get(), 0, log::kHeaderRecordSize,
                                    opt_.file_mode, &side));
    side_files.push_back(side);
    Note(path_ + ": kept the damaged file header in " + side);
  }
  log::Header h{log::kFormatVersion, 0, NewLogId(), next_seq_, env_->NowMicros()};
  h.session = log_.header.session;  // the index describes this open's stamp
  Output out(out_file.get());
  log::EncodeHeader(h, out.buf());
  // The queue's key extractor goes with it (docs/log-format.md, "Key extractor records").
  if (opt_.key.enabled()) log::AppendKeyRecord(out.buf(), opt_.key.ToString());

  StaleReader();  // no snapshot held: Begin may grow the index map for the rewrite
  Index::Write w(index_.get());
  MQ_RETURN_IF_ERROR(w.Begin());
  MQ_RETURN_IF_ERROR(w.Clear());

  // What is copied and what is set aside is the recovery plan's decision,
  // over the whole log this time (the open's plan may have started where a
  // trusted index ends): the rewrite copies the pending messages the
  // planner hands out, and keeps each damaged region and the tail it ended
  // the log at in side files.
  RecoveryFacts facts = PlanFacts(size, log_.data_start, 0, !log_.legacy);
  facts.mode = RecoveryMode::kSalvage;
  facts.chunk = 4 << 20;
  RecoveryPlanner planner(file_.get(), std::move(facts));
  uint64_t new_tail_start = 0, new_tail_seq = 0, new_pending_bytes = 0;
  log::ScannedMessage m;
  bool after_damage = false;
  while (planner.Next(&m, &after_damage)) {
    if (m.used == log::kConsumed) continue;
    const uint64_t start = out.offset();
    if (m.framed && m.used == log::kPending) {
      out.buf()->append(m.payload.data() - log::kFramedOverhead, m.end - m.start);
    } else {
      log::AppendFramed(out.buf(), m.seq, m.payload);  // a bare record gains its frame
    }
    Loc loc{start + log::kMetaRecordSize, static_cast<uint32_t>(m.payload.size()), true, false};
    MQ_RETURN_IF_ERROR(w.Put(m.seq, loc, opt_.key.Extract(m.payload), opt_.key.enabled(), true));
    new_tail_start = start;
    new_tail_seq = m.seq;
    new_pending_bytes += out.offset() - start;
    MQ_RETURN_IF_ERROR(out.MaybeFlush());
  }
  MQ_RETURN_IF_ERROR(planner.status());
  const RecoveryPlan& plan = planner.plan();
  MQ_RETURN_IF_ERROR(plan.refusal);
  std::vector<RecoveryFinding> set_aside;
  for (const RecoveryFinding& f : plan.findings)
    if (f.kind == RecoveryFinding::Kind::kDamage) set_aside.push_back(f);
  if (plan.tail) {
    set_aside.push_back(
        RecoveryFinding{RecoveryFinding::Kind::kDamage, plan.tail_offset, size - plan.tail_offset, plan.tail_reason});
  }
  for (const RecoveryFinding& f : set_aside) {
    std::string side;
    MQ_RETURN_IF_ERROR(SaveSideFile(qdir_.get(), name_, "damaged-" + std::to_string(f.offset), file_.get(), f.offset,
                                    f.bytes, opt_.file_mode, &side));
    side_files.push_back(side);
    Note(path_ + ": kept " + std::to_string(f.bytes) + " damaged bytes from offset " + std::to_string(f.offset) +
         " (" + f.reason + ") in " + side);
  }
  MQ_RETURN_IF_ERROR(out.Flush());
  // The new log is complete and durable before it takes the old one's name.
  MQ_RETURN_IF_ERROR(out_file->Sync());
  RewrittenLog n;
  n.header = h;
  n.end = out.offset();
  n.tail_start = new_tail_start;
  n.tail_seq = new_tail_seq;
  n.pending_bytes = new_pending_bytes;
  MQ_RETURN_IF_ERROR(InstallRewrittenLog(tmp_name, std::move(out_file), n, &w, &tmp_guard.renamed));
  ++compactions_;
  report_.side_files.insert(report_.side_files.end(), side_files.begin(), side_files.end());
  return Status::OK();
}

Result<std::unique_ptr<File>> StoreImpl::CreateRewriteFile(const std::string& tmp_name) {
  FileInfo old_info;
  MQ_ASSIGN_OR_RETURN(old_info, qdir_->Stat(name_));
  // A new file (O_EXCL), never one found under the name: whatever is there
  // (an unfinished compaction's file, or a symlink someone planted in a
  // shared directory) is unlinked, not written through.
  MQ_RETURN_IF_ERROR(qdir_->Remove(tmp_name));
  return qdir_->OpenFile(tmp_name, OpenMode::kCreateNew, old_info.exists ? (old_info.mode & 07777) : opt_.file_mode);
}

Status StoreImpl::InstallRewrittenLog(const std::string& tmp_name, std::unique_ptr<File> out_file,
                                      const RewrittenLog& n, Index::Write* w, bool* renamed) {
  // The transaction's buffered key items go in before the rename: a map
  // they do not fit fails the rewrite while the old log is still the queue
  // (online compaction then grows the map and runs again), instead of
  // breaking the store at the commit below.
  MQ_RETURN_IF_ERROR(w->FlushBuffered());
  MQ_RETURN_IF_ERROR(qdir_->Rename(tmp_name, name_));
  *renamed = true;
  Status ds = qdir_->Sync();
  if (!ds.ok()) {
    // The new log has the name but the rename may not survive a power loss,
    // and this object still writes to the old file, which has no name now:
    // anything appended would be lost on reopen. Stop; a reopen syncs the
    // directory and rebuilds the index for the new log.
    broken_ = Status::IOError(path_ + ": compaction renamed the new log into place but could not make the rename "
                                  "durable (" + ds.ToString() + "); close and reopen the queue",
                              ds.sys_errno());
    return broken_;
  }
  if (n.durable_us != nullptr) *n.durable_us = SteadyMicros();

  log_.header = n.header;
  log_.header_damaged = false;
  log_.legacy = false;
  log_.framed_only = true;
  log_.data_start = log::kHeaderRecordSize;
  log_.key_in_log = true;
  end_ = n.end;
  tail_start_ = n.tail_start;
  tail_seq_ = n.tail_seq;
  pending_bytes_ = n.pending_bytes;
  consumed_count_ = n.consumed_count;
  consumed_bytes_ = n.consumed_bytes;
  // The tail's messages and waiting deletes are in the transaction.
  if (n.leftovers != nullptr) {
    tail_.ClearInto(&n.leftovers->tail);  // freed after the lock (they can be millions)
    hidden_.swap(n.leftovers->hidden);
  } else {
    tail_.Clear();
  }
  read_.last_seq = 0;
  StaleReader();
  read_.key_front.clear();
  hidden_.assign(taken_);  // taken messages were copied, pending; they stay taken
  read_.front_seq = 0;
  cache_.Invalidate();
  {
    FileInfo fi;  // the new log's identity (zero if unknown: not checked then)
    if (!qdir_->Stat(name_).MoveTo(&fi).ok()) fi = FileInfo{};
    file_ = std::shared_ptr<File>(std::move(out_file));
    commit_.ReplaceFile(file_, fi.device, fi.inode, end_);
    last_sync_mark_ = 0;  // the new log has none
  }
  if (n.switched_us != nullptr) *n.switched_us = SteadyMicros();
  Status s = w->PutMeta(CurrentMeta(false));
  if (s.ok()) s = w->Commit();
  if (!s.ok()) {
    // The new log is in place; an index that does not match it is
    // recognised by its log id at the next open and rebuilt.
    broken_ = Status::IOError(path_ + ": compaction finished but the index update failed (" + s.ToString() +
                                  "); close and reopen the queue to rebuild the index",
                              s.sys_errno());
    return broken_;
  }
  return Status::OK();
}

}  // namespace mq
