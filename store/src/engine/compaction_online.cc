// Online compaction (docs/design.md, "Compaction"): the log is rewritten
// without its consumed messages while appends, consumes, takes and reads go
// on. The store's mutex is held only to take a snapshot, between catch-up
// rounds, and for the last small piece and the swap.
//
//   1. under mu_: wait for the index write in flight; E = end of the log;
//      compacting_ on (no index write starts until the swap; consumes are
//      recorded in compact_consumed_).
//   2. without mu_: copy the pending messages of [data start, E) to
//      QUEUE.compact, put their index entries in the index's other
//      generation of tables (Index::current_tables; no other index writer
//      runs: step 1), fdatasync, and commit those tables: nothing reads
//      them, the meta still names the current ones.
//   3. catch-up rounds, each taking mu_ only to read the new end and the
//      consumes recorded since the last round: copy what was appended,
//      write the recorded consumes' used flags into the new log (and drop
//      their entries from the new tables), fdatasync, commit. Until the tail is
//      small (kFinalPiece), however many rounds that takes: a round that
//      finds the tail no smaller than the last one throttles appends and
//      consumes (each waits at most kCompactThrottle, before taking mu_)
//      until a round finds it smaller again.
//   4. under mu_ (and with group commit paused): the last piece and the last
//      consumes, fdatasync (unless the piece was empty: the last round
//      synced), rename over QUEUE, fsync the directory, switch the store to
//      the new file, commit the index: the last piece's entries and the
//      meta, which names the new log and makes the new tables current. So
//      the commit under mu_ writes only the last piece's entries, however
//      many messages are pending (CompactionResult::timing.swap_index_entries).
//   5. without mu_ (compacting_ still on, so no other index writer runs):
//      empty the old generation of tables.
// A crash before the rename leaves the old log, which took every append and
// consume itself, and the index whose meta names it and its tables (the new
// tables, committed or not, are not read, and are emptied by the next
// compaction); after it, the new log, which holds everything the old one
// held, with either the index commit of step 4 (new log id, new tables) or
// an index naming the old log id, which the open rebuilds (docs/design.md,
// "Compaction", crash table).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "format/log_format.h"
#include "engine/store_impl.h"
#include "util/coding.h"

namespace mq {
namespace {

// A tail at most this large (bytes appended since the last round) is copied
// under the lock: about a millisecond of copying.
constexpr uint64_t kFinalPiece = 256 << 10;
// A generous bound on the index bytes one pending message takes (its seq
// entry and its key item, with LMDB's page overhead).
constexpr uint64_t kIndexBytesPerMessage = 128;
// The consumes recorded since the last round that are marked under the lock
// at most (their flags: a few spans of kFlagSpan).
constexpr uint64_t kFinalConsumes = kFinalPiece / 64;

// Holds a mutex, taken by trying, never by waiting. The compaction takes the
// store's mutex this way while its index transaction holds LMDB's writer
// lock: the open and FlushTail take the store's mutex and then LMDB's lock,
// so waiting for the store's mutex here would put the two in both orders.
// (No holder of mu_ starts an index write while compacting_ is set, so it
// would not deadlock today; trying keeps it so by construction, and keeps
// ThreadSanitizer's lock-order check meaningful.) The store's mutex is held
// for short operations, so the tries succeed within microseconds.
class MQ_SCOPED_CAPABILITY TryingLock {
 public:
  explicit TryingLock(Mutex* mu) MQ_ACQUIRE(mu) MQ_NO_THREAD_SAFETY_ANALYSIS : mu_(mu) {
    for (int i = 0; !mu_->TryLock(); ++i) {
      if (i < 100) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    }
  }
  ~TryingLock() MQ_RELEASE() MQ_NO_THREAD_SAFETY_ANALYSIS { mu_->Unlock(); }
  TryingLock(const TryingLock&) = delete;
  TryingLock& operator=(const TryingLock&) = delete;

 private:
  Mutex* const mu_;
};

// The new log being written: a buffered sequential writer, the new location
// of every message copied, and the index transaction for them.
class NewLog {
 public:
  NewLog(File* f, Index::Write* w, const KeyExtractor& key, const std::string& path)
      : f_(f), w_(w), key_(key), path_(path) {
    buf_.reserve(kFlushAt + (64 << 10));
  }

  uint64_t offset() const { return flushed_ + buf_.size(); }
  std::string* buf() { return &buf_; }

  Status Flush() {
    if (buf_.empty()) return Status::OK();
    MQ_RETURN_IF_ERROR(f_->Write(flushed_, buf_.data(), buf_.size()));
    flushed_ += buf_.size();
    buf_.clear();
    return Status::OK();
  }

  // Copies the pending messages of `src` bytes [from, to) (which start at a
  // message boundary after message prev_seq), framed. Damage stops the
  // compaction, as it always did.
  Status Copy(File* src, uint64_t from, uint64_t to, bool framed_only, CompactionResult* r) {
    log::LogScanner sc(src, to, log::kMaxPayload, 4 << 20);
    sc.Reset(from, prev_seq_, framed_only);
    log::ScannedMessage m;
    while (sc.Next(&m)) {
      prev_seq_ = m.seq;
      if (m.used == log::kConsumed) {
        ++r->messages_dropped;
        continue;
      }
      const uint64_t start = offset();
      if (m.framed && m.used == log::kPending) {
        buf_.append(m.payload.data() - log::kFramedOverhead, m.end - m.start);
      } else {
        log::AppendFramed(&buf_, m.seq, m.payload);  // a bare record gains its frame
      }
      const Loc loc{start + log::kMetaRecordSize, static_cast<uint32_t>(m.payload.size()), true, false};
      MQ_RETURN_IF_ERROR(w_->Put(m.seq, loc, key_.Extract(m.payload), key_.enabled(), true));
      copied_.push_back(Copied{m.seq, loc.msg_offset, offset() - start});
      tail_start_ = start;
      tail_seq_ = m.seq;
      pending_bytes_ += offset() - start;
      if (buf_.size() >= kFlushAt) MQ_RETURN_IF_ERROR(Flush());
    }
    MQ_RETURN_IF_ERROR(sc.io_status());
    const log::ScanProblem& p = sc.problem();
    if (p.kind != log::ScanProblem::Kind::kNone)
      return Status::Corruption(path_ + ": offset " + std::to_string(p.offset) + ": " + p.reason +
                                "; compaction stopped and changed nothing. Run `mqtool recover --mode salvage " +
                                path_ + "`");
    return Status::OK();
  }

  // Messages consumed in the old log since the snapshot: those already
  // copied are marked consumed in the new log too, and leave the index
  // transaction. Those not yet copied need nothing: the copy reads their
  // flag from the old log, which says consumed.
  Status ApplyConsumes(const ChunkedVector<uint64_t>& recorded) {
    if (recorded.empty()) return Status::OK();
    std::vector<uint64_t> seqs;
    seqs.reserve(recorded.size());
    for (size_t i = 0; i < recorded.size(); ++i) seqs.push_back(recorded[i]);
    MQ_RETURN_IF_ERROR(Flush());  // the flags go to the file, not the buffer
    std::sort(seqs.begin(), seqs.end());
    // The flags are written a span at a time: a busy receiver consumes
    // neighbours, so one read and one write of the bytes between them
    // replace a write per message (a round then keeps up with the consumes
    // recorded during it, and the last piece under the lock stays small).
    std::vector<uint64_t> span;  // msg_offsets of one span, increasing
    for (uint64_t seq : seqs) {
      auto it = std::lower_bound(copied_.begin(), copied_.end(), seq,
                                 [](const Copied& c, uint64_t s) { return c.seq < s; });
      if (it == copied_.end() || it->seq != seq || it->consumed) continue;
      if (!span.empty() && it->msg_offset + 4 - span.front() > kFlagSpan) MQ_RETURN_IF_ERROR(WriteFlags(&span));
      span.push_back(it->msg_offset);
      bool found = false;
      MQ_RETURN_IF_ERROR(w_->Delete(seq, &found));
      it->consumed = true;
      pending_bytes_ -= std::min(pending_bytes_, it->framed_bytes);
      ++consumed_count_;
      consumed_bytes_ += it->framed_bytes;
    }
    return WriteFlags(&span);
  }

  uint64_t prev_seq_ = 0;
  uint64_t tail_start_ = 0, tail_seq_ = 0;
  uint64_t pending_bytes_ = 0, consumed_count_ = 0, consumed_bytes_ = 0;
  uint64_t kept() const { return copied_.size() - consumed_count_; }
  void FreeCopied() { std::vector<Copied>().swap(copied_); }

 private:
  static constexpr size_t kFlushAt = 4 << 20;
  static constexpr uint64_t kFlagSpan = 256 << 10;  // bytes read and rewritten at most, for one span
  // Writes the consumed flag at each offset of *span (increasing, within
  // kFlagSpan bytes of the first), with one read and one write; empties it.
  Status WriteFlags(std::vector<uint64_t>* span) {
    if (span->empty()) return Status::OK();
    char flag[4];
    EncodeFixed32(flag, static_cast<uint32_t>(log::kConsumed));
    const uint64_t from = span->front();
    const size_t n = static_cast<size_t>(span->back() + 4 - from);
    if (span->size() == 1) {
      MQ_RETURN_IF_ERROR(f_->Write(from, flag, 4));
    } else {
      span_buf_.resize(n);
      size_t got = 0;
      MQ_RETURN_IF_ERROR(f_->Read(from, n, span_buf_.data(), &got));
      if (got != n)
        return Status::IOError(path_ + ".compact: short read at offset " + std::to_string(from) +
                               " while marking consumed messages; compaction stopped and changed nothing",
                               EIO);
      for (uint64_t off : *span) std::memcpy(span_buf_.data() + (off - from), flag, 4);
      MQ_RETURN_IF_ERROR(f_->Write(from, span_buf_.data(), n));
    }
    span->clear();
    return Status::OK();
  }
  std::string span_buf_;
  struct Copied {
    uint64_t seq;
    uint64_t msg_offset;  // in the new log
    uint64_t framed_bytes;
    bool consumed = false;
  };
  File* const f_;
  Index::Write* const w_;
  const KeyExtractor& key_;
  const std::string& path_;
  std::string buf_;
  uint64_t flushed_ = 0;
  std::vector<Copied> copied_;  // in seq order
};

}  // namespace

Result<CompactionResult> StoreImpl::Compact() {
  MutexLock c(&compact_mu_);
  CompactionResult result;
  MQ_RETURN_IF_ERROR(CompactOnline(&result));
  return result;
}

Result<bool> StoreImpl::MaybeCompact() {
  MutexLock c(&compact_mu_);
  {
    MutexLock l(&mu_);
    MQ_RETURN_IF_ERROR(CheckUsable());
    if (!CompactionDue()) return false;
  }
  CompactionResult result;
  MQ_RETURN_IF_ERROR(CompactOnline(&result));
  return true;
}

void StoreImpl::RunDueCompaction() {
  {
    MutexLock l(&mu_);
    if (closed_ || auto_compact_failed_) return;
  }
  bool ran = false;
  Status s = MaybeCompact().MoveTo(&ran);
  if (s.ok()) return;
  MutexLock l(&mu_);
  // A failed compaction only stops further automatic tries; the store is
  // as it was (or, past the rename, broken_ says what to do).
  auto_compact_failed_ = true;
  Note(path_ + ": automatic compaction failed and is off until reopen: " + s.ToString());
}

void StoreImpl::ThrottleForCompaction() {
  if (!compact_throttle_.load(std::memory_order_acquire)) return;
  MutexLock t(&throttle_mu_);
  const uint64_t round = throttle_round_;
  const auto until = std::chrono::steady_clock::now() + kCompactThrottle;
  while (compact_throttle_.load(std::memory_order_acquire) && throttle_round_ == round)
    if (!throttle_cv_.WaitUntil(&throttle_mu_, until)) return;
}

void StoreImpl::SetCompactThrottle(bool on) {
  MutexLock t(&throttle_mu_);
  if (!on && !compact_throttle_.load(std::memory_order_relaxed)) return;
  compact_throttle_.store(on, std::memory_order_release);
  ++throttle_round_;  // a round ended: the waiters go on
  throttle_cv_.NotifyAll();
}

Status StoreImpl::CompactOnline(CompactionResult* result) {
  for (int tries = 0;; ++tries) {
    Status s = CompactOnlineSteps(result);
    SetCompactThrottle(false);  // whatever happened: appends and consumes go on unthrottled
    MutexLock l(&mu_);
    // Done or given up: index writes may start again. The index transaction
    // (and the unfinished QUEUE.compact) are gone by now.
    compacting_ = false;
    compact_consumed_.clear();
    // The rewrite's index transaction found the map full before the rename
    // (nothing changed): grow the map, with no snapshot of this store held,
    // and compact again. Each growth at least doubles the map.
    if (s.ok() || !broken_.ok() || !index_->map_full() || tries == 8) return s;
    StaleReader();
    Status g = index_->Reserve(0);
    if (!g.ok()) return g.IsBusy() ? s : g;
  }
}

Status StoreImpl::CompactOnlineSteps(CompactionResult* result) {
  const std::string tmp_name = name_ + ".compact";
  CompactionResult::Timing t;
  const uint64_t t_start = SteadyMicros();
  // ---- 1. the snapshot ----
  std::shared_ptr<File> src;
  Index* index = nullptr;
  uint64_t limit = 0, data_start = 0;
  bool framed_only = true;
  log::Header h;
  {
    // No index write starts from here on (and consumes are recorded: one
    // recorded before the snapshot is harmless, as its flag is in the old
    // log before the copy reads it). The flush in flight, if any, finishes
    // without mu_: it syncs the log and commits the index, tens of
    // milliseconds that appends and consumes would otherwise wait for.
    MutexLock l(&mu_);
    MQ_RETURN_IF_ERROR(CheckUsable());
    compacting_ = true;
    compact_consumed_.clear();
  }
  WaitTailFlushFinishedUnlocked();
  t.snapshot_flush_wait_us = SteadyMicros() - t_start;
  uint64_t t_snapshot = 0;
  {
    MutexLock l(&mu_);
    t_snapshot = SteadyMicros();
    MQ_RETURN_IF_ERROR(CheckUsable());
    // The flush in flight commits first: compaction replaces the index, and
    // its transaction is the only index write until the swap. (It finished
    // above: this only takes its status.)
    MQ_RETURN_IF_ERROR(WaitTailFlush());
    // The rewrite is one index transaction holding every pending message's
    // entries: grow the map for it now, with no snapshot of this store held.
    // Best effort: a reader elsewhere keeps the map as it is, and a
    // transaction that does not fit is run again after growing (above).
    uint64_t entries = 0;
    if (FreshReader().ok()) entries = read_.reader->Entries();
    StaleReader();
    (void)index_->Reserve((entries + tail_.pending()) * kIndexBytesPerMessage);
    src = file_;
    index = index_.get();
    limit = end_;
    data_start = log_.data_start;
    framed_only = !log_.legacy;
    h = log::Header{log::kFormatVersion, 0, NewLogId(), next_seq_, env_->NowMicros()};
    h.session = log_.header.session;  // the index describes this open's stamp
  }
  const uint64_t t_copy = SteadyMicros();
  t.snapshot_lock_us = t_copy - t_snapshot;

  // ---- 2. the bulk copy, without the lock ----
  std::unique_ptr<File> out_file;
  MQ_ASSIGN_OR_RETURN(out_file, CreateRewriteFile(tmp_name));
  // Until the rename, a failure removes the unfinished new log: after ENOSPC
  // it would only keep holding the space.
  RemoveUnlessRenamed tmp_guard{qdir_.get(), tmp_name};

  // The other generation of the index's tables takes the new log's entries
  // (Index::current_tables): the current one goes on describing the old log
  // until the swap's commit.
  const int side = 1 - index->current_tables();
  Index::Write w(index, side);
  MQ_RETURN_IF_ERROR(w.Begin());
  MQ_RETURN_IF_ERROR(w.OpenTables());
  MQ_RETURN_IF_ERROR(w.Clear());  // a crashed or failed compaction's, if any
  NewLog out(out_file.get(), &w, opt_.key, path_);
  log::EncodeHeader(h, out.buf());
  // The queue's key extractor goes with it (docs/log-format.md, "Key extractor records").
  if (opt_.key.enabled()) log::AppendKeyRecord(out.buf(), opt_.key.ToString());
  CompactionResult r;
  MQ_RETURN_IF_ERROR(out.Copy(src.get(), data_start, limit, framed_only, &r));
  MQ_RETURN_IF_ERROR(out.Flush());
  MQ_RETURN_IF_ERROR(out_file->Sync());
  // The new tables are committed now, without the lock: nothing reads them
  // (the meta names the current ones), so a crash from here on leaves them
  // unread, and the commit under the lock (step 4) does not write them.
  auto commit_tables = [&]() -> Status {
    const uint64_t c0 = SteadyMicros();
    Status s = w.Commit();
    t.build_commit_us += SteadyMicros() - c0;
    return s;
  };
  MQ_RETURN_IF_ERROR(commit_tables());
  const uint64_t t_rounds = SteadyMicros();
  t.copy_us = t_rounds - t_copy;

  // ---- 3. catch-up rounds, taking the lock only to see what changed ----
  // As many as it takes for the tail to be small. A round whose tail (bytes
  // appended plus consumes recorded) is no smaller than the last round's
  // means the traffic outruns the copy: the next round throttles it
  // (ThrottleForCompaction), so the copy gains on it and the rounds end.
  // Each round commits its entries to the new tables, without the lock.
  uint64_t copied_to = limit;
  uint64_t last_tail = UINT64_MAX;
  for (;;) {
    uint64_t to = 0, tail = 0;
    ChunkedVector<uint64_t> consumed;
    {
      TryingLock l(&mu_);
      const uint64_t l1 = SteadyMicros();
      MQ_RETURN_IF_ERROR(CheckUsable());
      to = end_;
      if (to - copied_to <= kFinalPiece && compact_consumed_.size() <= kFinalConsumes) break;
      tail = (to - copied_to) + compact_consumed_.size() * 64;
      consumed.swap(compact_consumed_);
      t.round_lock_max_us = std::max(t.round_lock_max_us, SteadyMicros() - l1);
    }
    const bool throttle = tail >= last_tail;
    last_tail = tail;
    SetCompactThrottle(throttle);
    ++t.rounds;
    t.throttled_rounds += throttle;
    MQ_RETURN_IF_ERROR(w.Begin());
    MQ_RETURN_IF_ERROR(out.Copy(src.get(), copied_to, to, true, &r));
    copied_to = to;
    MQ_RETURN_IF_ERROR(out.ApplyConsumes(consumed));
    MQ_RETURN_IF_ERROR(out.Flush());
    MQ_RETURN_IF_ERROR(out_file->Sync());
    MQ_RETURN_IF_ERROR(commit_tables());
  }

  // ---- 4. the last piece and the swap, under the lock ----
  const uint64_t t_swap = SteadyMicros();
  t.rounds_us = t_swap - t_rounds;
  // The swap's transaction: the last piece's entries, the meta, and the
  // switch to the new tables. Begun before the lock (LMDB's writer lock is
  // free: no other index writer runs while compacting_ is set).
  MQ_RETURN_IF_ERROR(w.Begin());
  // What the swap lets go of (the index tail and the hidden set, grown to
  // millions of entries during the copy) is freed after the lock, here.
  RewrittenLog::Leftovers leftovers;
  {
    TryingLock l(&mu_);
    const uint64_t t_locked = SteadyMicros();
    t.swap_wait_us = t_locked - t_swap;
    MQ_RETURN_IF_ERROR(CheckUsable());
    GroupCommit::Pause no_syncs(&commit_);  // none of the old file while it is replaced
    const uint64_t synced_end = out.offset();
    const bool piece = end_ > copied_to || !compact_consumed_.empty();
    MQ_RETURN_IF_ERROR(out.Copy(src.get(), copied_to, end_, true, &r));
    MQ_RETURN_IF_ERROR(out.ApplyConsumes(compact_consumed_));
    compact_consumed_.clear();
    MQ_RETURN_IF_ERROR(out.Flush());
    const uint64_t t_sync = SteadyMicros();
    t.swap_copy_us = t_sync - t_locked;
    t.swap_piece_bytes = out.offset() - synced_end;
    // The new log is complete and durable before it takes the old one's name
    // (the last round synced it all if nothing came since).
    if (piece || out.offset() != synced_end) MQ_RETURN_IF_ERROR(out_file->Sync());
    const uint64_t t_rename = SteadyMicros();
    t.swap_sync_us = t_rename - t_sync;
    r.bytes_before = end_;
    RewrittenLog n;
    n.header = h;
    n.end = out.offset();
    n.tail_start = out.tail_start_;
    n.tail_seq = out.tail_seq_;
    n.pending_bytes = out.pending_bytes_;
    n.consumed_count = out.consumed_count_;
    n.consumed_bytes = out.consumed_bytes_;
    uint64_t t_durable = t_rename;
    n.durable_us = &t_durable;
    uint64_t t_switched = t_rename;
    n.switched_us = &t_switched;
    n.leftovers = &leftovers;
    t.swap_index_entries = w.entries();
    // The commit below (after the rename) makes the new tables current.
    MQ_RETURN_IF_ERROR(w.MakeCurrent());
    MQ_RETURN_IF_ERROR(InstallRewrittenLog(tmp_name, std::move(out_file), n, &w, &tmp_guard.renamed));
    ++compactions_;
    r.messages_kept = out.kept();
    r.bytes_after = end_;
    const uint64_t t_end = SteadyMicros();
    t.swap_rename_us = t_durable - t_rename;
    t.swap_commit_us = t_end - t_durable;
    t.swap_switch_us = t_switched - t_durable;
    t.swap_lock_us = t_end - t_locked;
  }

  // ---- 5. the old tables emptied, without the lock ----
  // compacting_ is still on (CompactOnline clears it), so no other index
  // writer waits for this transaction while holding mu_. A failure here
  // changes nothing that is read: the next compaction empties them (Clear).
  const uint64_t t_drop = SteadyMicros();
  {
    Index::Write d(index, 1 - side);
    if (d.Begin().ok() && d.Clear().ok()) (void)d.Commit();
  }
  const uint64_t t_release = SteadyMicros();
  t.drop_old_us = t_release - t_drop;
  // The compaction's reference to the old log, most often its last: the
  // close of an unlinked file frees its blocks, which on ext4 takes seconds
  // for GBs (measured: bench/analysis.md), without the lock. And the copied
  // messages' locations (32 bytes a message).
  src.reset();
  out.FreeCopied();
  leftovers = RewrittenLog::Leftovers();
  const uint64_t t_end = SteadyMicros();
  t.release_old_us = t_end - t_release;
  t.total_us = t_end - t_start;
  r.timing = t;
  if (result != nullptr) *result = r;
  return Status::OK();
}

}  // namespace mq
