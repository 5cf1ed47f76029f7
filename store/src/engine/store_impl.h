// StoreImpl: the state behind mq::Store, shared by store_open.cc (open and
// recovery), store_write.cc (append, consume), store_read.cc (lookups and
// scans), store_flush.cc (the index tail into LMDB) and compaction.cc. Group
// commit (GroupCommit) and the index tail with its writer thread (IndexTail)
// are classes of their own; docs/design.md, "Locks and threads", says what
// each owns and the lock order.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "util/coding.h"
#include "engine/compactor.h"
#include "engine/group_commit.h"
#include "index/index.h"
#include "engine/chunked_vector.h"
#include "engine/index_tail.h"
#include "format/log_scanner.h"
#include "mq/store.h"
#include "util/mutex.h"
#include "engine/log_description.h"
#include "engine/read_cache.h"
#include "engine/read_position.h"
#include "format/record.h"
#include "engine/seq_set.h"

namespace mq {

struct RecoveryFacts;

// A rewrite's new log (`name` in `dir`) removed on scope exit unless
// `renamed` was set: compaction and salvage leave no unfinished file behind.
struct RemoveUnlessRenamed {
  Directory* dir;
  const std::string& name;
  bool renamed = false;
  ~RemoveUnlessRenamed() {
    if (!renamed) (void)dir->Remove(name);
  }
};

class StoreImpl final : public Store {
 public:
  StoreImpl(std::string path, StoreOptions opt);
  ~StoreImpl() override;

  // Store::Open's work: checks the path, then LockAndOpen.
  Status OpenImpl() MQ_EXCLUDES(mu_);

  Status Close() override MQ_EXCLUDES(mu_);
  Result<uint64_t> Append(std::string_view payload) override MQ_EXCLUDES(mu_);
  Result<uint64_t> AppendBatch(std::span<const std::string_view> payloads) override MQ_EXCLUDES(mu_);
  Result<uint64_t> AppendBatchNoWait(std::span<const std::string_view> payloads) override MQ_EXCLUDES(mu_);
  Status Consume(uint64_t seq) override MQ_EXCLUDES(mu_);
  Status ConsumeBatch(std::span<const uint64_t> seqs, size_t* done) override MQ_EXCLUDES(mu_);
  Status Take(uint64_t seq) override MQ_EXCLUDES(mu_);
  Status Release(uint64_t seq) override MQ_EXCLUDES(mu_);
  Status Get(uint64_t seq, Message* m) override MQ_EXCLUDES(mu_);
  Status FirstPending(Message* m) override MQ_EXCLUDES(mu_);
  Status ConsumeFirst(Message* m) override MQ_EXCLUDES(mu_);
  Status FirstByKey(std::string_view key, Message* m) override MQ_EXCLUDES(mu_);
  Status ScanPending(uint64_t from_seq, const std::function<bool(const MessageView&)>& fn) override MQ_EXCLUDES(mu_);
  Status FindFirst(uint64_t from_seq, const std::function<bool(std::string_view)>& match, Message* m,
                   uint64_t* scanned_to) override MQ_EXCLUDES(mu_);
  Status Sync() override MQ_EXCLUDES(mu_);
  Status WaitDurable(uint64_t seq) override { return commit_.WaitDurable(seq); }
  uint64_t durable_seq() const override { return commit_.durable_seq(); }
  uint64_t last_seq() const override { return commit_.last_seq(); }
  Result<CompactionResult> Compact() override MQ_EXCLUDES(mu_, compact_mu_);
  Result<bool> MaybeCompact() override MQ_EXCLUDES(mu_, compact_mu_);
  Status RebuildIndex() override MQ_EXCLUDES(mu_, compact_mu_);
  KeyExtractor key_extractor() const override { return opt_.key; }
  StoreStats Stats() override MQ_EXCLUDES(mu_);
  const OpenReport& open_report() const override { return report_; }
  const std::string& path() const override { return path_; }
  const StoreOptions& options() const override { return opt_; }

 private:
  // ---- open and recovery (store_open.cc) ----
  // OpenImpl after its checks: takes the queue's lock file, then opens the
  // log and the index.
  Status LockAndOpen(const FileInfo& info) MQ_REQUIRES(mu_);
  // A refused open removes the lock file it created.
  void ForgetNewLock() MQ_REQUIRES(mu_);
  Status CreateLog() MQ_REQUIRES(mu_);
  Status ReadHeader(uint64_t size) MQ_REQUIRES(mu_);
  Status OpenIndex() MQ_REQUIRES(mu_);
  bool IndexTrusted(const IndexMeta& m, uint64_t size, std::string* why) MQ_REQUIRES(mu_);
  // Scans [from, size), indexing pending messages, handling damage by mode.
  Status ScanAndIndex(uint64_t from, uint64_t prev_seq, bool framed_only, bool rebuild) MQ_REQUIRES(mu_);
  // What a recovery plan of [from, size) starts from: the log's facts and
  // the queue's mode (engine/recovery_plan.h).
  RecoveryFacts PlanFacts(uint64_t size, uint64_t from, uint64_t prev_seq, bool framed_only) const MQ_REQUIRES(mu_);
  // Commits an open's index write; the first one is the open's in-use mark
  // (OpenIndex), synced unless the open resumes in the same boot.
  Status CommitOpenWrite(Index::Write* w) MQ_REQUIRES(mu_);
  Status CutTail(uint64_t offset, uint64_t size, const std::string& reason) MQ_REQUIRES(mu_);
  IndexMeta CurrentMeta(bool clean) const MQ_REQUIRES(mu_);
  // An unclean index from another boot that a power cut cannot have made
  // lie: its last commit claims only synced log bytes, and the log has a
  // header (docs/design.md, "An index that survives a power cut").
  bool SurvivesPowerCut(const IndexMeta& m) const MQ_REQUIRES(mu_);
  bool LogProvesIndexFlags(const IndexMeta& m, std::string* why) MQ_REQUIRES(mu_);
  Status BumpSession(bool sync) MQ_REQUIRES(mu_);  // sync: fdatasync the log after the stamp
  // The key extractor lives in the log (key_record.cc; docs/log-format.md,
  // "Key extractor records"). Chooses opt_.key from the log's record and the
  // one asked for, or refuses a change that StoreOptions::rekey does not ask
  // for. Reads only; nothing is written before the open is accepted.
  Status ChooseKeyExtractor(const IndexMeta* meta, bool trusted, uint64_t size) MQ_REQUIRES(mu_);
  // Appends (and syncs) a key extractor record for opt_.key at end_.
  Status RecordKeyExtractor() MQ_REQUIRES(mu_);
  // True if log bytes [from, to) hold only key extractor records.
  bool OnlyKeyRecords(uint64_t from, uint64_t to) MQ_REQUIRES(mu_);
  Status RepairFlags() MQ_REQUIRES(mu_);
  // The log file now, for a clean close's index meta.
  Status StampClosedLog(IndexMeta* m) MQ_REQUIRES(mu_);
  void ReportCorruption(uint64_t offset, uint64_t bytes, const std::string& reason) MQ_REQUIRES(mu_);
  void Note(const std::string& what) MQ_REQUIRES(mu_);

  // ---- writing (store_write.cc) ----
  // Consume's work under mu_; *gen is the write generation a kAlways
  // consume must sync up to (0: nothing to sync).
  Status ConsumeLocked(uint64_t seq, uint64_t* gen) MQ_REQUIRES(mu_);
  Status AppendLocked(std::span<const std::string_view> payloads, uint64_t* first_seq) MQ_REQUIRES(mu_);

  // ---- flushing the index tail (store_flush.cc; docs/design.md, "The index tail") ----
  // A flush: the tail and the waiting deletes into LMDB in one index
  // transaction. FlushTail runs it on this thread, StartTailFlush on the
  // tail writer thread while appends go on. Each first waits for the flush
  // in flight: at most one is, so the tail holds at most two flushes' worth.
  Status FlushTail() MQ_REQUIRES(mu_);
  Status StartTailFlush() MQ_REQUIRES(mu_);
  // Waits for the flush in flight, if any, and finishes it.
  Status WaitTailFlush() MQ_REQUIRES(mu_);
  // Finishes the flush in flight if it is done, without waiting.
  Status ReapTailFlush() MQ_REQUIRES(mu_) { return tail_.write_done() ? WaitTailFlush() : Status::OK(); }
  // Waits, without mu_, until the tail's flush in flight has finished. Only
  // while compacting_ is set (no flush starts then): it touches only the
  // tail writer's state, which write_mu_ guards, not the tail itself.
  void WaitTailFlushFinishedUnlocked() MQ_EXCLUDES(mu_) MQ_NO_THREAD_SAFETY_ANALYSIS { tail_.WaitWriteFinished(); }
  // Waits for the flush in flight, then freezes the tail if there is
  // anything to flush (*frozen says whether it did).
  Status FreezeForFlush(bool* frozen) MQ_REQUIRES(mu_);
  // Under mu_, after the frozen tail's index transaction returned s: LMDB
  // now has what the frozen tail had.
  Status FinishFlush(Status s) MQ_REQUIRES(mu_);

  // Where a pending message is, from the tail, the last read, or the index.
  Status Locate(uint64_t seq, Loc* loc, IndexTail::Entry** tail) MQ_REQUIRES(mu_);
  Status FreshReader() MQ_REQUIRES(mu_);
  // After an index transaction: the read snapshot is stale. It is let go at once:
  // held, it would keep LMDB from reusing the pages later writes free, and
  // the index file would only grow.
  void StaleReader() MQ_REQUIRES(mu_) {
    read_.reader_fresh = false;
    if (read_.reader != nullptr) read_.reader->Release();
  }
  Status CheckUsable() MQ_REQUIRES(mu_);

  // ---- reading (store_read.cc) ----
  Status ScanPendingLocked(uint64_t from_seq, const std::function<bool(const MessageView&)>& fn) MQ_REQUIRES(mu_);
  Status FirstPendingLocked(Message* m) MQ_REQUIRES(mu_);
  // What ReadAt found at a pending message's location.
  enum class ReadState {
    kPending,   // the message, checked: *v is set
    kConsumed,  // the log's flag says consumed (a stale index entry): now recorded so
    kDamaged,   // the bytes do not match the index or their checksum: reported, and hidden
  };
  // Reads and checks the pending message at loc.
  Status ReadAt(uint64_t seq, const Loc& loc, MessageView* v, ReadState* state, bool verify = true)
      MQ_REQUIRES(mu_);
  // ReadAt's common case, for walks: the record is in a read window (*span
  // first), matches the index and is pending. Returns its message record,
  // or nullptr for anything else (the caller then takes ReadAt, which
  // reads, reports and records what it finds).
  const char* PeekPending(uint64_t seq, const Loc& loc, ReadCache::Span* span) MQ_REQUIRES(mu_);
  // If the log holds message seq+1, pending, right after message seq at
  // *loc, moves *loc to it and returns its message record, checked as
  // PeekPending checks: a walk through LMDB then steps through the log
  // instead of the B-tree (docs/design.md, "Reading").
  const char* NextInLog(uint64_t seq, Loc* loc, ReadCache::Span* span) MQ_REQUIRES(mu_);
  // Visits the messages after message *seq (at *loc) that the log holds
  // back to back, pending and not hidden, with seqs below `stop`, as
  // NextInLog would one at a time. *seq and *loc end at the last visited.
  // True if the visit asked to stop.
  template <typename Visit>
  bool RunThroughLog(uint64_t* seq, Loc* loc, ReadCache::Span* span, uint64_t stop, Visit& visit) MQ_REQUIRES(mu_);
  // Walks visible messages from `start` in seq order (LMDB, then the tail),
  // calling visit(seq, loc, rec) until it returns true (stop); rec is the
  // message record if PeekPending or a log run found it, else nullptr.
  // A template, so that the per-message visit is inlined (a predicate scan
  // spends tens of nanoseconds per message in all; an indirect call counts).
  template <typename Visit>
  Status Walk(uint64_t start, Visit&& visit) MQ_REQUIRES(mu_);
  // Message seq, at loc and not in the tail, is consumed in the log (its
  // flag was just written, or a crash left its LMDB entry behind): hides
  // it, queues its LMDB delete and counts its bytes as consumed.
  void RecordConsumed(uint64_t seq, const Loc& loc) MQ_REQUIRES(mu_);
  // For one operation under mu_: its reads of the log go through the file's
  // mapping where the file offers one (File::MapForRead), after a mapping
  // that met a page cut by another process has been dropped (reads then
  // take pread, which says where the log ends). The cache never keeps the
  // mapping between operations, since a flag write may map the file anew.
  class MappedReads {
   public:
    explicit MappedReads(StoreImpl* s) MQ_REQUIRES(s->mu_) : s_(s) {
      if (s->file_ == nullptr) return;
      if (s->file_->TakeMapFault()) s->cache_.Invalidate();
      s->cache_.UseMapping(s->file_->MapForRead(s->end_), s->end_);
    }
    // Unchecked: clang cannot see that the object lives within the scope
    // of the lock its constructor required.
    ~MappedReads() MQ_NO_THREAD_SAFETY_ANALYSIS { s_->cache_.UseMapping(nullptr, 0); }
    MappedReads(const MappedReads&) = delete;
    MappedReads& operator=(const MappedReads&) = delete;

   private:
    StoreImpl* s_;
  };
  void RememberKeyFront(const std::string& key, uint64_t seq) MQ_REQUIRES(mu_);  // index says pending, log says consumed
  bool Hidden(uint64_t seq) const MQ_REQUIRES(mu_) { return hidden_.contains(seq); }

  // ---- compaction (compaction.cc: salvage at open; compaction_online.cc) ----
  // Salvage at open: rewrites the log as a salvage plan of all of it says.
  Status SalvageRewrite() MQ_REQUIRES(mu_);
  bool CompactionDue() const MQ_REQUIRES(mu_);
  // Online compaction: CompactOnlineSteps does the work (mostly without
  // mu_), CompactOnline then ends the compacting state, whatever happened.
  Status CompactOnline(CompactionResult* result) MQ_REQUIRES(compact_mu_) MQ_EXCLUDES(mu_);
  Status CompactOnlineSteps(CompactionResult* result) MQ_REQUIRES(compact_mu_) MQ_EXCLUDES(mu_);
  // Automatic compaction, on the compactor thread: compacts if due; a
  // failure turns automatic compaction off until reopen.
  void RunDueCompaction() MQ_EXCLUDES(mu_, compact_mu_);
  // What the store takes over from a rewritten log (a compaction's or a
  // salvage's new log).
  struct RewrittenLog {
    log::Header header;
    uint64_t end = 0;  // its size
    uint64_t tail_start = 0, tail_seq = 0;  // its last message
    uint64_t pending_bytes = 0, consumed_count = 0, consumed_bytes = 0;
    uint64_t* durable_us = nullptr;  // if set: the steady clock (µs) once the rename is durable
    uint64_t* switched_us = nullptr;  // if set: the steady clock (µs) once the store switched, before the commit
    // If set: the old log's index tail and hidden set are moved here, to be
    // freed by the caller after it lets go of mu_ (online compaction).
    struct Leftovers {
      IndexTail::Dropped tail;
      SeqSet hidden;
    }* leftovers = nullptr;
  };
  // `tmp_name` (QUEUE.compact) created new for a rewrite, with the queue
  // file's mode, after unlinking whatever was there (never written through).
  Result<std::unique_ptr<File>> CreateRewriteFile(const std::string& tmp_name);
  // The swap both rewrites end with (docs/design.md, "Compaction"): the new
  // log `tmp_name`, complete and fdatasynced, is renamed over the queue
  // (*renamed: whether it was), the directory is synced, the store switches
  // to `out_file` and commits `w`, the index transaction built for it. A
  // failure after the rename leaves the store broken_, to be reopened.
  Status InstallRewrittenLog(const std::string& tmp_name, std::unique_ptr<File> out_file, const RewrittenLog& n,
                             Index::Write* w, bool* renamed) MQ_REQUIRES(mu_);

  const std::string path_;
  const std::string dir_;
  const std::string name_;  // BaseName(path_): the log's name in its directory
  StoreOptions opt_;
  Env* env_;
  // The queue's directory, opened once by OpenImpl: every file of the queue
  // (log, lock, .compact, side files, the index by default) is reached
  // through it, never by path (docs/design.md, "Files in a shared directory").
  std::unique_ptr<Directory> qdir_;
  // The index's directory: qdir_, or its own if index_path is elsewhere.
  std::unique_ptr<Directory> idx_dir_own_;
  Directory* idx_dir_ = nullptr;
  std::string idx_name_;
  // Written by the open and by RebuildIndex (both under mu_); not guarded,
  // since open_report() hands out a reference: read it while no
  // RebuildIndex runs.
  OpenReport report_;

  // The store's mutex: every operation holds it, and it guards what is
  // marked MQ_GUARDED_BY(mu_). Lock order: mu_, then the locks of commit_
  // and tail_ (which never take mu_).
  mutable Mutex mu_ MQ_ACQUIRED_BEFORE(commit_.sync_mu_, commit_.file_mu_, tail_.write_mu_);

  // Held by a compaction from start to end (and by RebuildIndex and Close):
  // one at a time, and none while the index is rebuilt or closed.
  Mutex compact_mu_ MQ_ACQUIRED_BEFORE(mu_);

  std::unique_ptr<FileLock> lock_ MQ_GUARDED_BY(mu_);
  std::shared_ptr<File> file_ MQ_GUARDED_BY(mu_);  // the log (commit_ holds it too, for its syncs)
  std::unique_ptr<Index> index_ MQ_GUARDED_BY(mu_);
  ReadCache cache_ MQ_GUARDED_BY(mu_);
  // What the open learned about the log file (log_description.h).
  LogDescription log_ MQ_GUARDED_BY(mu_);
  // Where reads resume and what they know is not there (read_position.h).
  ReadPosition read_ MQ_GUARDED_BY(mu_);

  // During OpenIndex: the in-use mark is not yet committed (the next index
  // commit is it), whether to sync it, and whether the scan's last commit
  // must first record the key extractor in the log (RecordKeyExtractor).
  bool mark_unwritten_ MQ_GUARDED_BY(mu_) = false;
  bool mark_sync_ MQ_GUARDED_BY(mu_) = false;
  bool record_key_ MQ_GUARDED_BY(mu_) = false;
  // During OpenIndex: log bytes [0, open_synced_end_) are durable (the open
  // synced the log before its first index commit, or, resuming in the same
  // boot, the index it trusts says so), so the open's commits that cover no
  // more claim it (IndexMeta::synced_log). 0 otherwise.
  uint64_t open_synced_end_ MQ_GUARDED_BY(mu_) = 0;
  bool repair_flags_ MQ_GUARDED_BY(mu_) = false;  // RebuildIndex: rewrite bad used flags (RepairFlags)
  std::vector<uint64_t> bad_flag_offsets_ MQ_GUARDED_BY(mu_);  // the scan's bad used flags, for RepairFlags
  uint64_t end_ MQ_GUARDED_BY(mu_) = 0;  // bytes of valid log
  // The durable offset the last sync mark this process wrote names
  // (docs/log-format.md, "Sync marks"); a batch after a newer sync starts with one.
  uint64_t last_sync_mark_ MQ_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ MQ_GUARDED_BY(mu_) = 1;
  uint64_t tail_start_ MQ_GUARDED_BY(mu_) = 0;  // the last message's offset and seq (the index meta's tail)
  uint64_t tail_seq_ MQ_GUARDED_BY(mu_) = 0;
  uint64_t pending_bytes_ MQ_GUARDED_BY(mu_) = 0;
  uint64_t consumed_count_ MQ_GUARDED_BY(mu_) = 0;
  uint64_t consumed_bytes_ MQ_GUARDED_BY(mu_) = 0;
  // After a walk that stepped over many consumed entries still in LMDB
  // (read_.walk_skipped): flushes the waiting deletes, so later walks don't pay again.
  Status FlushIfWalksPay() MQ_REQUIRES(mu_);
  // The index tail: appended messages and waiting deletes not yet in LMDB,
  // the frozen tail of the flush in flight, and the tail writer thread.
  IndexTail tail_ MQ_GUARDED_BY(mu_);
  SeqSet hidden_ MQ_GUARDED_BY(mu_);               // waiting deletes ∪ taken ∪ damaged
  std::unordered_set<uint64_t> taken_ MQ_GUARDED_BY(mu_);
  Status broken_ MQ_GUARDED_BY(mu_);  // set when the index fell behind at run time
  bool closed_ MQ_GUARDED_BY(mu_) = false;
  uint64_t compactions_ MQ_GUARDED_BY(mu_) = 0;
  bool auto_compact_failed_ MQ_GUARDED_BY(mu_) = false;
  // An online compaction is between its snapshot and its swap: no index
  // write starts (the compaction's transaction is the index's writer), and
  // consumes record their seqs in compact_consumed_ for the new log.
  bool compacting_ MQ_GUARDED_BY(mu_) = false;
  // In chunks: between two catch-up rounds a busy receiver records millions
  // of seqs, and a std::vector's doubling (tens of MB copied and faulted in)
  // landed inside one consume, under mu_ (a 755 ms receive, 142 ms of it
  // CPU, at 10^7 pending: bench/analysis.md).
  ChunkedVector<uint64_t> compact_consumed_ MQ_GUARDED_BY(mu_);
  // Set by an online compaction whose catch-up round found the tail no
  // smaller than the round before (appends or consumes outran the copy):
  // each append and consume first waits, at most kCompactThrottle, for the
  // round to end (docs/design.md, "Catching up"). Taken before mu_, never
  // with it.
  std::atomic<bool> compact_throttle_{false};
  Mutex throttle_mu_;
  CondVar throttle_cv_;
  uint64_t throttle_round_ MQ_GUARDED_BY(throttle_mu_) = 0;  // rounds ended (wakes the waiters)
  static constexpr std::chrono::milliseconds kCompactThrottle{2};
  // Appends and consumes call it before taking mu_: returns at once unless
  // a compaction throttles, then when its round ends or kCompactThrottle passed.
  void ThrottleForCompaction() MQ_EXCLUDES(mu_, throttle_mu_);
  // The compaction sets or clears the throttle, waking the waiters.
  void SetCompactThrottle(bool on) MQ_EXCLUDES(throttle_mu_);
  std::string append_buf_ MQ_GUARDED_BY(mu_);
  std::vector<iovec> append_iov_ MQ_GUARDED_BY(mu_);  // a gathered append's pieces (AppendLocked)
  std::string boot_id_ MQ_GUARDED_BY(mu_);  // cached Env::BootId()

  // Group commit: the write generations, the syncs and the flusher thread.
  // Lock order: mu_, then its locks.
  GroupCommit commit_;
  // The automatic compaction thread (started by the first due compaction).
  // Last, so that it is stopped before anything it uses goes away.
  Compactor compactor_{[this] { RunDueCompaction(); }};
};

// Writes bytes [offset, offset+len) of `src` into a new side file beside the
// log `log_name` in `dir` (<log>.<suffix>, or .<suffix>.N if taken), syncs it
// and the directory. *side_path is its path, for messages.
Status SaveSideFile(Directory* dir, const std::string& log_name, const std::string& suffix, File* src,
                    uint64_t offset, uint64_t len, mode_t mode, std::string* side_path);

uint64_t NewLogId();

// The steady clock in microseconds (the compaction's timings).
inline uint64_t SteadyMicros() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace mq
