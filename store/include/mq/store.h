// mq::Store: a crash-safe message log with an LMDB index.
//
// A store is one log file (the truth; format in docs/log-format.md), an index
// beside it (QUEUE.idx, derived, rebuildable), and a lock file (QUEUE.lock)
// that admits one writer. Invariants, write ordering and recovery are in
// docs/design.md.
//
// Errors: every call returns a Status or a Result<T> (mq/status.h, which
// says which); nothing throws. Messages
// name the file and, where it applies, the offset, and say what to do.
//
// Threads: a Store is safe to use from several threads; calls are serialized
// inside, except that waiting for durability (group commit) happens outside
// the lock, so appenders keep appending while a sync is in flight.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mq/env.h"
#include "mq/key_extractor.h"
#include "mq/status.h"
#include "mq/store_threads.h"

namespace mq {

// When appends and consumes reach the disk (named like Redis's appendfsync).
enum class SyncPolicy {
  kAlways,  // fdatasync before a call returns (concurrent callers share one)
  kBatch,   // a background group commit of what was written, within batch_interval
  kNone,    // left to the OS; synced on Close, Sync() and compaction
};
Result<SyncPolicy> ParseSyncPolicy(std::string_view s);  // "always" | "batch" | "none"
const char* SyncPolicyName(SyncPolicy p);

// What opening does about damage (like RocksDB's WAL recovery modes).
enum class RecoveryMode {
  kTolerateTornTail,     // cut a torn tail (into a side file); refuse damage elsewhere
  kAbsoluteConsistency,  // refuse to open on any damage at all
  kSalvage,              // keep every intact message; move damaged bytes to side files
};
Result<RecoveryMode> ParseRecoveryMode(std::string_view s);  // "tolerate-tail" | "absolute" | "salvage"
const char* RecoveryModeName(RecoveryMode m);

// Receives corruption and repair reports; the policy stays with the caller.
class Reporter {
 public:
  virtual ~Reporter() = default;
  // Bytes [offset, offset + bytes) of `file` are damaged: `reason` says how.
  virtual void Corruption(const std::string& file, uint64_t offset, uint64_t bytes,
                          const std::string& reason) = 0;
  // Something recovery did (a tail cut into a side file, an index rebuilt).
  virtual void Note(const std::string& what) { (void)what; }
};

struct StoreOptions {
  SyncPolicy sync = SyncPolicy::kBatch;
  std::chrono::milliseconds batch_interval{10};
  RecoveryMode recovery = RecoveryMode::kTolerateTornTail;
  // The key extractor, recorded in the log (docs/log-format.md, "Key
  // extractor records"), so that an index rebuild keeps it. None (the
  // default) keeps the queue's recorded one. A queue with none recorded
  // takes the one given and records it. A different one than the recorded
  // is refused (kInvalidArgument, naming both; nothing changes) unless
  // `rekey` is set: then it is recorded and the index rebuilt with it (with
  // rekey, None records "none").
  KeyExtractor key;
  bool rekey = false;
  bool create_if_missing = true;
  mode_t file_mode = 0600;         // for files the store creates
  uint64_t max_message_size = 64u << 20;
  bool auto_compact = true;        // compact on a background thread once a consume passes the threshold
  double compact_ratio = 0.5;      // consumed bytes / log bytes that trigger it
  uint64_t compact_min_bytes = 64u << 20;  // ... once this many bytes are reclaimable
  std::string index_path;          // default: <log>.idx
  // Log bytes a walk may keep in memory: a selective receive that walks the
  // same backlog again and again reads up to this much of it from memory
  // rather than with pread (docs/design.md, "Reading"). The store holds at
  // most this plus 256 KiB of read windows (never more than the log itself;
  // no window is grown where memory runs out); 0 keeps it to two 256 KiB
  // windows.
  size_t read_cache_bytes = size_t{16} << 20;
  // Appended messages the in-memory index tail holds before the tail writer
  // thread writes them to LMDB in one batch (docs/design.md, "The index
  // tail"). Tests lower it so that a small workload runs the writer; 0 counts
  // as 1.
  size_t index_tail_flush = 65536;
  // The ceiling of the index's LMDB map (docs/design.md, "Growing the index
  // map"). The map starts at 1 MiB of address space and grows on demand, so
  // an idle store reserves little; past this many bytes the index is full:
  // appends fail with an error naming the index file and this option (the
  // log keeps every message; reopen with a higher limit). 0: 256 GiB.
  uint64_t max_index_bytes = 0;
  // Shared background threads (mq/store_threads.h): the kBatch flusher and
  // the index tail writer run there instead of on two threads of this
  // store's own. Null (the default): threads of its own.
  std::shared_ptr<StoreThreads> threads;
  Env* env = nullptr;              // default: Env::Default()
  Reporter* reporter = nullptr;    // default: none (reports are also in OpenReport)
};

struct Message {
  uint64_t seq = 0;
  uint64_t offset = 0;  // of the message record (where its used flag is)
  std::string payload;
};

struct MessageView {
  uint64_t seq = 0;
  uint64_t offset = 0;
  std::string_view payload;  // valid only during the callback
};

// What opening (or RebuildIndex) did with the index it found beside the log.
enum class IndexAction {
  kNone,      // not decided yet (the open has not reached the index)
  kTrusted,   // used as it was: it covered the whole log
  kCaughtUp,  // used, and the log's tail past what it covered scanned into it
  kRebuilt,   // rebuilt from the log; OpenReport::index_reason says why
};
const char* IndexActionName(IndexAction a);  // "trusted" | "caught up" | "rebuilt" | "none"

// What Open (or Recover) found and did.
struct OpenReport {
  bool created = false;             // a new log was made
  bool legacy = false;              // the log has no header (the original design's format)
  IndexAction index_action = IndexAction::kNone;
  std::string index_reason;         // kRebuilt: why, for people (e.g. "there was no index"); else ""
  // False for a reopen in the same boot after a process that did not close
  // the store (crashed, killed): the open skipped its directory fsync, the
  // index's synced in-use mark and the stamp's fdatasync, which an open of
  // this boot already made durable (docs/design.md, "Reopening in the same
  // boot"). True for every other writable open.
  bool synced_at_open = true;
  uint64_t scanned_from = 0;        // where the log scan started
  uint64_t scanned_bytes = 0;
  uint64_t messages_indexed = 0;    // index entries written by recovery
  uint64_t tail_cut_offset = 0;     // a torn tail was cut here (if tail_cut_bytes > 0)
  uint64_t tail_cut_bytes = 0;
  uint64_t damaged_regions = 0;     // salvage: regions moved out
  uint64_t damaged_bytes = 0;
  uint64_t bad_flags = 0;           // used flags neither 0 nor 1 (treated as pending), counted once per scan
  uint64_t flags_repaired = 0;      // RebuildIndex: of those, set to 0 (pending), the old flag kept in a side file
  std::vector<std::string> side_files;  // where cut or damaged bytes were kept
};
// The index action for people: "trusted", "caught up" or "rebuilt: <why>".
std::string DescribeIndexAction(const OpenReport& r);

struct StoreStats {
  uint64_t pending = 0;            // messages not consumed (taken ones included)
  uint64_t taken = 0;              // taken by this process, not yet acknowledged
  uint64_t consumed = 0;           // consumed messages still occupying the log
  uint64_t file_bytes = 0;
  uint64_t pending_bytes = 0;      // framed bytes of pending messages
  uint64_t reclaimable_bytes = 0;  // framed bytes of consumed messages
  uint64_t first_pending_seq = 0;  // 0 when nothing is pending
  uint64_t last_seq = 0;           // the last assigned (0 if none)
  uint64_t durable_seq = 0;        // every message up to here is on disk
  uint32_t format_version = 0;     // 0: a log without header
  uint64_t log_id = 0;
  uint64_t compactions = 0;        // by this Store object
  uint64_t syncs = 0;              // fdatasyncs by this Store object
  // Times its flusher thread (sync=batch, no StoreThreads) woke from a wait:
  // none while nothing is written (it waits with no timer until a write).
  uint64_t flusher_wakeups = 0;
  uint64_t index_writes = 0;       // flushes of the index tail handed to the tail writer thread by this Store object
  uint64_t index_map_bytes = 0;    // the index's LMDB map now (address space, not disk)
  uint64_t index_map_resizes = 0;  // times this Store object grew (or adopted) the map
};

struct CompactionResult {
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  uint64_t messages_kept = 0;
  uint64_t messages_dropped = 0;
  // Where an online compaction spent its time, in microseconds (measured,
  // for benchmarks and diagnosis: docs/design.md, "Compaction"). The store's
  // lock is held only for the snapshot, a moment in each catch-up round, and
  // the swap; everything else runs beside appends and receives.
  struct Timing {
    uint64_t total_us = 0;
    uint64_t snapshot_flush_wait_us = 0;  // waiting for the index flush in flight, without the lock
    uint64_t snapshot_lock_us = 0;   // the lock held for the snapshot
    uint64_t copy_us = 0;            // the bulk copy and its fdatasync, without the lock
    uint64_t rounds = 0;             // catch-up rounds without the lock
    uint64_t rounds_us = 0;          // their time (copy, flags, fdatasync, index commit)
    uint64_t build_commit_us = 0;    // committing the new index tables, without the lock (bulk and rounds)
    uint64_t round_lock_max_us = 0;  // the longest lock hold of one round (reading the end)
    uint64_t throttled_rounds = 0;   // rounds during which appends and consumes were throttled
    uint64_t swap_wait_us = 0;       // taking the lock for the swap
    uint64_t swap_lock_us = 0;       // the lock held for the last piece and the swap, in all:
    uint64_t swap_copy_us = 0;       //   copying the last piece and marking its consumes
    uint64_t swap_piece_bytes = 0;   //   the last piece: bytes copied under the lock
    uint64_t swap_sync_us = 0;       //   fdatasync of the new log
    uint64_t swap_rename_us = 0;     //   rename and the directory's fsync
    uint64_t swap_commit_us = 0;     //   the switch and the index commit (with the index's fdatasync)
    uint64_t swap_switch_us = 0;     //     of it, the switch (before the commit)
    uint64_t swap_index_entries = 0; //   index entries the commit under the lock wrote (the last
                                     //   piece's and consumes': never the pending messages')
    uint64_t drop_old_us = 0;        // emptying the old index tables after the swap, without the lock
    uint64_t release_old_us = 0;     // letting go of the old log (its close) and of the copy's
                                     // bookkeeping, without the lock
  } timing;
};

class Store {
 public:
  // Opens the queue at `path`, creating it if allowed, recovering as
  // options.recovery says. Errors: kNotFound (missing, create_if_missing
  // false), kNotALog, kUnsupported (newer format), kCorruption (damage the
  // mode refuses), kBusy (another writer: the message names its pid),
  // kIOError. A failed open never changes the log or its side files; it
  // may leave the (derived) index marked in use or rebuilt.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, const StoreOptions& options);

  virtual ~Store() = default;

  // Syncs the log and the index, marks the index clean, releases the lock.
  virtual Status Close() = 0;

  // Appends one message; returns its sequence number. Durable before return
  // under kAlways. kTooLarge above max_message_size.
  virtual Result<uint64_t> Append(std::string_view payload) = 0;
  // Appends many with one write and one index transaction; returns the first
  // seq (the others follow it: first, first+1, ...).
  virtual Result<uint64_t> AppendBatch(std::span<const std::string_view> payloads) = 0;
  // As AppendBatch but never waits for a sync, whatever the policy; pair it
  // with WaitDurable() to confirm many messages with one sync.
  virtual Result<uint64_t> AppendBatchNoWait(std::span<const std::string_view> payloads) = 0;

  // Sets the message's used flag to 1 in place (durable before return under
  // kAlways). kNotFound if seq is not pending.
  virtual Status Consume(uint64_t seq) = 0;
  // Consume of each seq in order, with one sync for all of them under
  // kAlways (durable before return), where Consume syncs each one: the
  // acknowledgement of messages taken together, as Redis's XACK of many ids.
  // Stops at the first error; *done (if given) gets how many were consumed
  // (durable under kAlways even then).
  virtual Status ConsumeBatch(std::span<const uint64_t> seqs, size_t* done = nullptr) = 0;
  // Hides a pending message from FirstPending/FirstByKey/ScanPending in this
  // process without touching the disk: after a restart it is pending again.
  virtual Status Take(uint64_t seq) = 0;
  // Makes a taken message visible again.
  virtual Status Release(uint64_t seq) = 0;

  // The reads below fill a Message the caller owns and reuses (its payload
  // keeps its capacity from call to call): mq/status.h, the convention.
  // The pending message `seq` (taken or not). kNotFound otherwise.
  virtual Status Get(uint64_t seq, Message* m) = 0;
  // The oldest visible (pending, not taken) message. kNotFound if none.
  virtual Status FirstPending(Message* m) = 0;
  // FirstPending and Consume of what it found, as one step: no other call
  // on the store comes between them. kNotFound if nothing is visible; on
  // any other error the message stays pending.
  virtual Status ConsumeFirst(Message* m) = 0;
  // The oldest visible message whose key is `key`. kInvalidArgument if the
  // store has no key extractor; kNotFound if none.
  virtual Status FirstByKey(std::string_view key, Message* m) = 0;
  // The key extractor in use: the one the log records (see StoreOptions::key).
  virtual KeyExtractor key_extractor() const = 0;
  // Visits visible messages with seq >= from_seq in arrival order until fn
  // returns false. Payloads are checked against their checksums first.
  virtual Status ScanPending(uint64_t from_seq, const std::function<bool(const MessageView&)>& fn) = 0;
  // The oldest visible message with seq >= from_seq whose payload satisfies
  // `match` (selective receive by predicate). `match` may see the bytes of a
  // damaged message; only a message whose checksum holds is returned.
  // *scanned_to gets the highest seq examined. kNotFound if none matches.
  virtual Status FindFirst(uint64_t from_seq, const std::function<bool(std::string_view)>& match, Message* m,
                           uint64_t* scanned_to) = 0;

  // Makes everything written so far durable.
  virtual Status Sync() = 0;
  // Returns once message `seq` is durable, joining or leading a group commit.
  virtual Status WaitDurable(uint64_t seq) = 0;
  virtual uint64_t durable_seq() const = 0;
  virtual uint64_t last_seq() const = 0;

  // Rewrites the log without consumed messages (atomic; seqs kept). Online:
  // other threads' appends, consumes, takes and reads go on during the copy
  // and are in the new log; the store's lock is held only briefly at the
  // start and for the final swap (docs/design.md, "Compaction"). One
  // compaction at a time; Close waits for one in progress.
  virtual Result<CompactionResult> Compact() = 0;
  // Compacts if the thresholds in the options are passed; returns whether it did.
  virtual Result<bool> MaybeCompact() = 0;
  // Drops the index and builds it again from the log.
  // Also rewrites every used flag that is neither 0 nor 1 to 0 (pending:
  // no message is lost), keeping the old 4 bytes in QUEUE.flag-OFFSET (not
  // in absolute mode, which refuses such a flag).
  virtual Status RebuildIndex() = 0;

  // Waits for the flush in flight (the tail writer thread's index transaction) to end
  // first, so that the counts add up.
  virtual StoreStats Stats() = 0;
  virtual const OpenReport& open_report() const = 0;
  virtual const std::string& path() const = 0;
  virtual const StoreOptions& options() const = 0;
};

// Side files and companions of a queue at `path`.
std::string IndexPathFor(const std::string& log_path);  // <log>.idx
std::string LockPathFor(const std::string& log_path);   // <log>.lock

}  // namespace mq
