// StoreImpl: the state behind mq::Store, shared by store_open.cc (open and
// recovery), store_write.cc (append, consume, group commit), store_read.cc
// (lookups and scans) and compaction.cc.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "coding.h"
#include "index.h"
#include "log_scanner.h"
#include "mq/store.h"
#include "read_cache.h"
#include "record.h"
#include "seq_set.h"

namespace mq {

class StoreImpl final : public Store {
 public:
  StoreImpl(std::string path, StoreOptions opt);
  ~StoreImpl() override;

  Status OpenImpl();
  Status OpenLocked(const FileInfo& info);  // OpenImpl after its checks: lock, log, index
  void ForgetNewLock();

  Status Close() override;
  Result<uint64_t> Append(std::string_view payload) override;
  Result<uint64_t> AppendBatch(std::span<const std::string_view> payloads) override;
  Result<uint64_t> AppendBatchNoWait(std::span<const std::string_view> payloads) override;
  Status Consume(uint64_t seq) override;
  Status Take(uint64_t seq) override;
  Status Release(uint64_t seq) override;
  Status Get(uint64_t seq, Message* m) override;
  Status FirstPending(Message* m) override;
  Status ConsumeFirst(Message* m) override;
  Status FirstByKey(std::string_view key, Message* m) override;
  Status ScanPending(uint64_t from_seq, const std::function<bool(const MessageView&)>& fn) override;
  Status ScanPendingLocked(uint64_t from_seq, const std::function<bool(const MessageView&)>& fn);
  Status FirstPendingLocked(Message* m);
  // Consume's work under mu_; *gen is the write generation a kAlways
  // consume must sync up to (0: nothing to sync).
  Status ConsumeLocked(uint64_t seq, uint64_t* gen);
  Status FindFirst(uint64_t from_seq, const std::function<bool(std::string_view)>& match, Message* m,
                   uint64_t* scanned_to) override;
  Status Sync() override;
  Status WaitDurable(uint64_t seq) override;
  uint64_t durable_seq() const override { return durable_seq_.load(); }
  uint64_t last_seq() const override { return last_seq_.load(); }
  Result<CompactionResult> Compact() override;
  Result<bool> MaybeCompact() override;
  Status RebuildIndex() override;
  KeyExtractor key_extractor() const override { return opt_.key; }
  StoreStats Stats() override;
  const OpenReport& open_report() const override { return report_; }
  const std::string& path() const override { return path_; }
  const StoreOptions& options() const override { return opt_; }

 private:
  // ---- open and recovery (store_open.cc) ----
  Status CreateLog();
  Status ReadHeader(uint64_t size);
  Status OpenIndex();
  bool IndexTrusted(const IndexMeta& m, uint64_t size, std::string* why);
  // Scans [from, size), indexing pending messages, handling damage by mode.
  Status ScanAndIndex(uint64_t from, uint64_t prev_seq, bool framed_only, bool rebuild);
  Status CutTail(uint64_t offset, uint64_t size, const std::string& reason);
  IndexMeta CurrentMeta(bool clean) const;
  bool LogProvesIndexFlags(const IndexMeta& m, std::string* why);
  Status BumpSession();
  // The key extractor lives in the log (key_record.cc; docs/log-format.md,
  // "Key extractor records"). Chooses opt_.key from the log's record and the
  // one asked for, or refuses a change that StoreOptions::rekey does not ask
  // for. Reads only; nothing is written before the open is accepted.
  Status ChooseKeyExtractor(const IndexMeta* meta, bool trusted, uint64_t size);
  // Appends (and syncs) a key extractor record for opt_.key at end_.
  Status RecordKeyExtractor();
  // True if log bytes [from, to) hold only key extractor records.
  bool OnlyKeyRecords(uint64_t from, uint64_t to);
  Status RepairFlags();
  // The log file now, for a clean close's index meta.
  Status StampClosedLog(IndexMeta* m);
  void ReportCorruption(uint64_t offset, uint64_t bytes, const std::string& reason);
  void Note(const std::string& what);

  // ---- writing (store_write.cc) ----
  Status AppendLocked(std::span<const std::string_view> payloads, uint64_t* first_seq);
  // Writes the tail and the waiting deletes to LMDB in one transaction, on
  // this thread, after the index write in flight (if any) has finished.
  Status FlushIndex();

  // ---- the index writer (index_writer.cc; docs/design.md, "The index tail") ----
  // Hands the tail and the waiting deletes to the index writer thread, which
  // writes them to LMDB while appends go on. Waits first for the write in
  // flight: at most one is, so the tail holds at most two flushes' worth.
  Status StartIndexWrite();
  // Waits for the index write in flight, if any, and finishes it.
  Status WaitIndexWrite();
  // Finishes the write in flight if it is done, without waiting.
  Status ReapIndexWrite() { return write_done_.load(std::memory_order_acquire) ? WaitIndexWrite() : Status::OK(); }
  // Moves the tail into frozen_ and the waiting deletes into frozen_deletes_.
  void FreezeTail();
  // Waits for the write in flight, then freezes the tail if there is
  // anything to write (*frozen says whether it did).
  Status FreezeForWrite(bool* frozen);
  // Writes frozen_, frozen_deletes_ and frozen_meta_ to LMDB in one
  // transaction. Runs without mu_: it reads only what nobody changes while
  // the tail is frozen (an entry's seq, loc, key and to_lmdb; the key map's
  // shape and seq lists).
  Status WriteFrozen();
  // Under mu_, after WriteFrozen returned s: LMDB now has what frozen_ had.
  Status FinishFrozen(const Status& s);
  void IndexWriterLoop();

  // The tail entry for seq (in frozen_ or tail_), or nullptr.
  struct TailEntry;
  TailEntry* FindTail(uint64_t seq);
  bool InFrozen(uint64_t seq) const { return !frozen_.empty() && seq <= frozen_.back().seq; }
  // The first seq LMDB may not have: frozen_'s front, else tail_'s.
  uint64_t TailFront() const {
    return !frozen_.empty() ? frozen_.front().seq : tail_.empty() ? UINT64_MAX : tail_.front().seq;
  }
  // Where a pending message is, from the tail, the last read, or the index.
  Status Locate(uint64_t seq, Loc* loc, TailEntry** tail);
  Status FreshReader();
  // After an index write: the read snapshot is stale. It is let go at once:
  // held, it would keep LMDB from reusing the pages later writes free, and
  // the index file would only grow.
  void StaleReader() {
    reader_fresh_ = false;
    if (reader_ != nullptr) reader_->Release();
  }
  Status SyncUpTo(uint64_t gen);
  // OK if path_ still names the file identified by (dev, ino).
  Status CheckFileInPlace(uint64_t dev, uint64_t ino);
  void FlusherLoop();
  Status CheckUsable();

  // ---- reading (store_read.cc) ----
  // Reads and checks the pending message at loc. *state: 0 ok, 1 consumed
  // (stale index entry), 2 damaged (reported).
  Status ReadAt(uint64_t seq, const Loc& loc, MessageView* v, int* state, bool verify = true);
  // ReadAt's common case, for walks: the record is in a read window (*span
  // first), matches the index and is pending. Returns its message record,
  // or nullptr for anything else (the caller then takes ReadAt, which
  // reads, reports and heals).
  const char* PeekPending(uint64_t seq, const Loc& loc, ReadCache::Span* span);
  // If the log holds message seq+1, pending, right after message seq at
  // *loc, moves *loc to it and returns its message record, checked as
  // PeekPending checks: a walk through LMDB then steps through the log
  // instead of the B-tree (docs/design.md, "Reading").
  const char* NextInLog(uint64_t seq, Loc* loc, ReadCache::Span* span);
  // Visits the messages after message *seq (at *loc) that the log holds
  // back to back, pending and not hidden, with seqs below `stop`, as
  // NextInLog would one at a time. *seq and *loc end at the last visited.
  // True if the visit asked to stop.
  template <typename Visit>
  bool RunThroughLog(uint64_t* seq, Loc* loc, ReadCache::Span* span, uint64_t stop, Visit& visit);
  // Walks visible messages from `start` in seq order (LMDB, then the tail),
  // calling visit(seq, loc, rec) until it returns true (stop); rec is the
  // message record if PeekPending or a log run found it, else nullptr.
  // A template, so that the per-message visit is inlined (a predicate scan
  // spends tens of nanoseconds per message in all; an indirect call counts).
  template <typename Visit>
  Status Walk(uint64_t start, Visit&& visit);
  void Heal(uint64_t seq, const Loc& loc);
  // For one operation under mu_: its reads of the log go through the file's
  // mapping where the file offers one (File::MapForRead), after a mapping
  // that met a page cut by another process has been dropped (reads then
  // take pread, which says where the log ends). The cache never keeps the
  // mapping between operations, since a flag write may map the file anew.
  class MappedReads {
   public:
    explicit MappedReads(StoreImpl* s) : s_(s) {
      if (s->file_ == nullptr) return;
      if (s->file_->TakeMapFault()) s->cache_.Invalidate();
      s->cache_.UseMapping(s->file_->MapForRead(s->end_), s->end_);
    }
    ~MappedReads() { s_->cache_.UseMapping(nullptr, 0); }
    MappedReads(const MappedReads&) = delete;
    MappedReads& operator=(const MappedReads&) = delete;

   private:
    StoreImpl* s_;
  };
  void RememberKeyFront(const std::string& key, uint64_t seq);  // index says pending, log says consumed
  bool Hidden(uint64_t seq) const { return hidden_.contains(seq); }

  // ---- compaction (compaction.cc) ----
  Status CompactLocked(CompactionResult* result, bool salvage);
  bool CompactionDue() const;

  std::shared_ptr<File> CurrentFile();

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
  OpenReport report_;

  std::unique_ptr<FileLock> lock_;
  std::mutex file_mu_;             // guards the file_ pointer (not the file)
  std::shared_ptr<File> file_;
  uint64_t file_dev_ = 0, file_ino_ = 0;  // what path_ named when file_ was opened (file_mu_)
  std::unique_ptr<Index> index_;
  std::unique_ptr<Index::Read> reader_;
  ReadCache cache_;

  mutable std::mutex mu_;          // everything below, unless atomic
  log::Header header_;
  bool legacy_ = false;
  bool repair_flags_ = false;            // RebuildIndex: rewrite bad used flags (RepairFlags)
  std::vector<uint64_t> bad_flag_offsets_;  // the scan's bad used flags, for RepairFlags
  bool key_in_log_ = true;               // the log records opt_.key (none: no record needed)
  bool header_damaged_ = false;          // salvage: the header failed its checks
  bool framed_only_ = false;
  uint64_t data_start_ = 0;
  uint64_t end_ = 0;               // bytes of valid log
  uint64_t next_seq_ = 1;
  uint64_t tail_start_ = 0, tail_seq_ = 0;
  uint64_t pending_bytes_ = 0, consumed_count_ = 0, consumed_bytes_ = 0;
  // The tail: appended messages not yet written to LMDB (docs/design.md,
  // "The index tail"). Seqs are consecutive from tail_.front().seq.
  struct TailEntry {
    uint64_t seq;
    Loc loc;
    // Its key: the name of its node in the tail's key map (nodes stay put
    // when the map is swapped into frozen_keys_); nullptr without a key
    // extractor.
    const std::string* key;
    bool consumed = false;
    // Index (in its vector) of the first entry at or after this one that may
    // not be consumed; equal to its own index while it is not. Path-compressed
    // by NextLiveTail, so walks skip runs of consumed entries in one step.
    size_t next = 0;
    // Set when the tail is frozen with consumed entries in it (else all go):
    // the index writer puts this entry in LMDB (it was not consumed then).
    // Read by the writer thread; never changed while frozen.
    bool to_lmdb = false;
  };
  using TailVec = std::vector<TailEntry>;
  static size_t NextLiveTail(TailVec& v, size_t i) {  // the common case inline: entry i is live
    return i >= v.size() || v[i].next == i ? i : SkipConsumedTail(v, i);
  }
  static size_t SkipConsumedTail(TailVec& v, size_t i);
  // Consumed entries still in LMDB (their deletes wait for the next index
  // transaction) that the last walk stepped over. Many of them make the
  // waiting deletes worth flushing now, so later walks don't pay again.
  uint64_t walk_skipped_ = 0;
  Status FlushIfWalksPay();
  TailVec tail_;
  // Per key, its tail entries as key-table items (EncodeKeyItem: the index
  // writer hands them to LMDB as they are), and how many of the first ones
  // are known consumed (so a receive by key does not step over them again:
  // the tail holds up to 65,536 messages). A key's node outlives its items
  // (FinishFrozen empties it), so the next tail reuses it.
  struct TailKey {
    std::string items;
    size_t front = 0;
    size_t size() const { return items.size() / kKeyItemSize; }
    uint64_t seq(size_t i) const { return DecodeBigEndian64(items.data() + i * kKeyItemSize); }
  };
  // Looked up by string_view (no string built per append).
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
  };
  using TailKeys = std::unordered_map<std::string, TailKey, KeyHash, std::equal_to<>>;
  TailKeys tail_keys_;
  uint64_t tail_pending_ = 0;
  // The frozen tail: older than tail_, being written to LMDB by the index
  // writer (empty when no write is in flight). Reads walk it as they walk
  // tail_; a consume marks its entry and queues an LMDB delete as well.
  TailVec frozen_;
  TailKeys frozen_keys_;
  uint64_t frozen_pending_ = 0;
  bool frozen_all_live_ = false;  // no entry was consumed before the freeze
  std::vector<uint64_t> frozen_deletes_;  // hidden until FinishFrozen
  IndexMeta frozen_meta_;
  bool reader_fresh_ = false;            // reader_ has seen the latest LMDB commit
  uint64_t last_read_seq_ = 0;           // the message most recently returned ...
  Loc last_read_loc_;                    // ... and where it is
  std::vector<uint64_t> unflushed_;      // consumed, index entry not yet deleted
  SeqSet hidden_;                        // unflushed ∪ taken ∪ damaged
  std::unordered_set<uint64_t> taken_;
  uint64_t front_seq_ = 0;               // no visible message has a lower seq
  // Per key, as front_seq_: no visible message with this key in LMDB has a
  // lower seq. Forgotten on Release, compaction, rebuild, or when it grows large.
  std::unordered_map<std::string, uint64_t> key_front_;
  Status broken_;                        // set when the index fell behind at run time
  bool closed_ = false;
  uint64_t compactions_ = 0;
  uint64_t index_writes_ = 0;  // StartIndexWrite's batches (StoreStats::index_writes)
  std::string append_buf_;
  std::string boot_id_;                  // cached Env::BootId()
  uint64_t log_dev_ = 0, log_ino_ = 0;   // identity of a log without header

  // Group commit. Generations count completed writes (appends and flag writes).
  std::atomic<uint64_t> last_seq_{0};
  std::atomic<uint64_t> write_gen_{0};
  std::atomic<uint64_t> durable_seq_{0};
  std::mutex sync_mu_;               // lock order: mu_, then sync_mu_, then file_mu_
  std::atomic<bool> sync_failed_{false};
  bool auto_compact_failed_ = false;
  std::condition_variable sync_cv_;
  uint64_t synced_gen_ = 0;
  bool syncing_ = false;
  uint64_t syncs_ = 0;
  Status sync_error_;
  bool stop_flusher_ = false;
  std::condition_variable flusher_cv_;
  std::thread flusher_;

  // The index writer. Lock order: mu_, then write_mu_; the writer thread
  // takes only write_mu_.
  enum class WriteState { kIdle, kQueued, kDone };
  std::mutex write_mu_;
  std::condition_variable write_cv_;
  WriteState write_state_ = WriteState::kIdle;  // write_mu_
  Status write_status_;                           // write_mu_
  bool stop_writer_ = false;                      // write_mu_
  std::atomic<bool> write_done_{false};           // write_state_ == kDone
  std::thread writer_;
};

// Writes bytes [offset, offset+len) of `src` into a new side file beside the
// log `log_name` in `dir` (<log>.<suffix>, or .<suffix>.N if taken), syncs it
// and the directory. *side_path is its path, for messages.
Status SaveSideFile(Directory* dir, const std::string& log_name, const std::string& suffix, File* src,
                    uint64_t offset, uint64_t len, mode_t mode, std::string* side_path);

uint64_t NewLogId();

}  // namespace mq
