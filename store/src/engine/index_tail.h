// IndexTail: appended messages that LMDB does not have yet, and the thread
// that writes them there (docs/design.md, "The index tail" and "The tail
// writer").
//
// Words, used the same way in the code and the docs:
//  - the *tail*: the entries appended since the last flush, with their keys'
//    key-table items, and the *waiting deletes* (consumed messages whose
//    LMDB entries must go);
//  - a *flush*: the tail and the waiting deletes going into LMDB in one
//    *index transaction* (an Index::Write). The tail is first *frozen* (moved
//    aside: the frozen tail), and a new tail takes the appends that follow;
//  - the *tail writer*: the thread that runs a frozen tail's index
//    transaction while appends go on. At most one flush is in flight.
//
// Locking: the tail and the frozen tail belong to the store and are guarded
// by its mutex (StoreImpl::tail_ is MQ_GUARDED_BY(mu_)); this class takes no
// lock for them. While a flush is in flight, the tail writer reads the frozen
// tail without the store's mutex: only what nobody changes until the flush
// is finished (an entry's seq, loc, key and to_lmdb; the key map's shape and
// item lists; the frozen deletes and meta), never what a consume or a read
// may still change (an entry's consumed and next, a key's front). The
// writer's own state is guarded by write_mu_, taken after the store's mutex;
// the tail writer takes only write_mu_.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/chunked_vector.h"
#include "engine/group_commit.h"
#include "util/coding.h"
#include "index/index.h"
#include "mq/store_threads.h"
#include "util/mutex.h"

namespace mq {

class IndexTail {
 public:
  struct Entry {
    uint64_t seq;
    Loc loc;
    // Its key: the name of its node in the tail's key map (nodes stay put
    // when the map is swapped into the frozen tail); nullptr without a key
    // extractor.
    const std::string* key;
    bool consumed = false;
    // Index (in its vector) of the first entry at or after this one that may
    // not be consumed; equal to its own index while it is not. Path-compressed
    // by NextLive, so walks skip runs of consumed entries in one step.
    size_t next = 0;
    // Set when the tail is frozen with consumed entries in it (else all go):
    // the flush puts this entry in LMDB (it was not consumed then). Read by
    // the tail writer; never changed while frozen.
    bool to_lmdb = false;
  };
  // Seqs are consecutive from front().seq. Chunked: a tail that grows large
  // (no flush runs during an online compaction) never moves its entries.
  using Entries = ChunkedVector<Entry>;
  // Per key, its tail entries as key-table items (EncodeKeyItem: the flush
  // hands them to LMDB as they are), and how many of the first ones are
  // known consumed (so a receive by key does not step over them again: the
  // tail holds up to 65,536 messages). A key's node outlives its items
  // (DropFrozen empties it), so the next tail reuses it.
  struct KeyItems {
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
  using KeyMap = std::unordered_map<std::string, KeyItems, KeyHash, std::equal_to<>>;

  IndexTail() = default;
  ~IndexTail() { StopWriter(); }
  IndexTail(const IndexTail&) = delete;
  IndexTail& operator=(const IndexTail&) = delete;

  // ---- appending (inline: the append's hot path) ----
  size_t size() const { return tail_.size(); }  // entries in the tail (not the frozen tail)
  size_t frozen_size() const { return frozen_.size() + frozen_deletes_.size(); }
  void Reserve(size_t n) {
    if (tail_.empty()) tail_.reserve(n);
  }
  // Message seq is at loc; `key` is its key if `keyed`. Seqs come in order.
  void Add(uint64_t seq, const Loc& loc, bool keyed, std::string_view key) {
    assert(tail_.empty() || seq == tail_.back().seq + 1);  // consecutive
    assert(frozen_.empty() || tail_.size() > 0 || seq == frozen_.back().seq + 1);
    Entry e{seq, loc, nullptr, false, tail_.size()};
    if (keyed) {
      auto it = keys_.find(key);
      if (it == keys_.end()) it = keys_.emplace(std::string(key), KeyItems{}).first;
      e.key = &it->first;
      std::string& items = it->second.items;
      const size_t at = items.size();
      items.resize(at + kKeyItemSize);
      EncodeKeyItem(e.seq, e.loc, key, items.data() + at);
    }
    tail_.push_back(e);
  }
  // n messages were added (pending until consumed).
  void AddedPending(size_t n) { tail_pending_ += n; }

  // ---- finding and consuming ----
  // The tail entry for seq (in the frozen tail or the tail), or nullptr.
  Entry* Find(uint64_t seq) {
    for (Entries* v : {&frozen_, &tail_}) {
      assert(v->empty() || v->back().seq - v->front().seq + 1 == v->size());  // consecutive seqs
      if (!v->empty() && seq >= v->front().seq && seq <= v->back().seq) return &(*v)[seq - v->front().seq];
    }
    return nullptr;
  }
  bool InFrozen(uint64_t seq) const { return !frozen_.empty() && seq <= frozen_.back().seq; }
  // The first seq LMDB may not have: the frozen tail's front, else the tail's.
  uint64_t Front() const {
    return !frozen_.empty() ? frozen_.front().seq : tail_.empty() ? UINT64_MAX : tail_.front().seq;
  }
  // Marks *e (found by Find) consumed. True if it is in the frozen tail: the
  // flush in flight (or done) puts it in LMDB, so it needs a delete.
  bool MarkConsumed(Entry* e) {
    assert(!e->consumed);
    e->consumed = true;
    if (InFrozen(e->seq)) {
      e->next = static_cast<size_t>(e->seq - frozen_.front().seq) + 1;
      --frozen_pending_;
      return true;
    }
    // Never reached LMDB, and now never will.
    e->next = static_cast<size_t>(e->seq - tail_.front().seq) + 1;
    --tail_pending_;
    return false;
  }
  // Pending entries in both tails.
  uint64_t pending() const { return frozen_pending_ + tail_pending_; }
  // The entries to walk, oldest first: the frozen tail, then the tail.
  std::array<Entries*, 2> parts() { return {&frozen_, &tail_}; }
  std::array<KeyMap*, 2> key_parts() { return {&frozen_keys_, &keys_}; }
  // The first entry at or after i that is not consumed (v.size() if none).
  static size_t NextLive(Entries& v, size_t i) {  // the common case inline: entry i is live
    return i >= v.size() || v[i].next == i ? i : SkipConsumed(v, i);
  }
  // After a Release: a key's consumed front may hold a pending message again.
  void ForgetKeyFronts();

  // ---- the waiting deletes ----
  void QueueDelete(uint64_t seq) { deletes_.push_back(seq); }
  size_t waiting_deletes() const { return deletes_.size(); }

  // Forgets the tail and the waiting deletes (compaction and rebuild, which
  // replace LMDB's content, after the flush in flight has finished).
  void Clear();
  // What Clear forgets, kept to be freed later: an online compaction's swap
  // hands it over so that freeing millions of entries happens after the
  // store's lock is let go.
  struct Dropped {
    Entries tail;
    KeyMap keys;
    ChunkedVector<uint64_t> deletes;
  };
  // Clear, with what it forgets moved into *d (empty before).
  void ClearInto(Dropped* d);

  // ---- flushing ----
  // Nothing to flush.
  bool empty() const { return tail_.empty() && deletes_.empty(); }
  // Moves the tail and the waiting deletes into the frozen tail, with the
  // meta record the flush's index transaction writes. No flush in flight.
  // `log` (nullptr under sync=none): the flush first makes the log durable
  // up to generation `gen` (every write made before the freeze), so that its
  // meta can say that it covers only synced log bytes (IndexMeta::synced_log;
  // docs/design.md, "An index that survives a power cut").
  void Freeze(const IndexMeta& meta, GroupCommit* log = nullptr, uint64_t gen = 0);
  // The frozen tail's index transaction: its deletes, its entries still to
  // go (with their keys' items if `keyed`) and its meta, in one commit. Runs
  // on the tail writer, or on the caller's thread (FlushTail). Sorts the
  // frozen deletes: nobody else reads them until the flush is finished.
  Status WriteFrozen(Index* index, bool keyed);
  // The seqs whose LMDB deletes the frozen tail held.
  const ChunkedVector<uint64_t>& frozen_deletes() const { return frozen_deletes_; }
  // After the frozen tail's index transaction committed: LMDB has it.
  void DropFrozen();

  // ---- the tail writer ----
  // Shared threads (StoreOptions::threads; store_threads.h): their index
  // writer runs this tail's writes; no thread of its own. Before StartWrite.
  void UseThreads(std::shared_ptr<StoreThreads> threads) { shared_ = std::move(threads); }
  // The shared index writer's turn: runs the queued write, if any (one
  // iteration of WriterLoop).
  void RunQueuedWrite() MQ_EXCLUDES(write_mu_);
  // Hands the frozen tail to the tail writer (started on first use).
  void StartWrite(Index* index, bool keyed) MQ_EXCLUDES(write_mu_);
  // True once the tail writer has finished (lock-free; acquire).
  bool write_done() const { return write_done_.load(std::memory_order_acquire); }
  // Waits for the flush in flight, if any: false if there was none, else
  // true with *s its index transaction's status. The frozen tail stays.
  bool WaitWrite(Status* s) MQ_EXCLUDES(write_mu_);
  // Waits until the flush in flight, if any, has finished, without taking
  // its status (WaitWrite does, at once then). Needs no lock of the store's:
  // a compaction waits here before its snapshot takes mu_, once no new
  // flush can start (compacting_).
  void WaitWriteFinished() MQ_EXCLUDES(write_mu_);
  // Flushes handed to the tail writer (StoreStats::index_writes).
  uint64_t writes() const { return writes_; }
  void StopWriter() MQ_EXCLUDES(write_mu_);

 private:
  friend class StoreImpl;  // names this class's mutexes in its lock order (MQ_ACQUIRED_BEFORE)
  static size_t SkipConsumed(Entries& v, size_t i);
  void WriterLoop() MQ_EXCLUDES(write_mu_);
  // Runs the queued write (write_mu_ let go meanwhile) and publishes its
  // status to WaitWrite: the tail writer's one job, on either thread.
  void WriteQueued() MQ_REQUIRES(write_mu_);

  // Guarded by the store's mutex (see the top), read by the tail writer:
  Entries tail_;
  KeyMap keys_;
  uint64_t tail_pending_ = 0;
  // Consumed, LMDB entry not yet deleted. In chunks, as the tail: during an
  // online compaction no flush runs and every consume adds one, millions of
  // them, and a std::vector's doubling landed inside one consume (a 374 ms
  // receive, 59 ms of it CPU, at 10^7 pending: bench/analysis.md).
  ChunkedVector<uint64_t> deletes_;
  // The frozen tail: older than tail_, going to LMDB in the flush in flight
  // (empty when none is). Reads walk it as they walk tail_; a consume marks
  // its entry and queues an LMDB delete for the next flush.
  Entries frozen_;
  KeyMap frozen_keys_;
  uint64_t frozen_pending_ = 0;
  bool frozen_all_live_ = false;  // no entry was consumed before the freeze
  ChunkedVector<uint64_t> frozen_deletes_;
  IndexMeta frozen_meta_;
  GroupCommit* frozen_log_ = nullptr;  // syncs the log before the flush commits (nullptr: not)
  uint64_t frozen_gen_ = 0;            // the log's write generation at the freeze
  bool in_flight_ = false;  // handed to the tail writer, not yet waited for
  uint64_t writes_ = 0;

  // The tail writer: the store's thread takes write_mu_ after its own mutex;
  // the tail writer takes only write_mu_.
  enum class WriteState { kIdle, kQueued, kDone };
  Mutex write_mu_;
  CondVar write_cv_;
  WriteState write_state_ MQ_GUARDED_BY(write_mu_) = WriteState::kIdle;
  Index* write_index_ MQ_GUARDED_BY(write_mu_) = nullptr;  // the queued flush's
  bool write_keyed_ MQ_GUARDED_BY(write_mu_) = false;
  Status write_status_ MQ_GUARDED_BY(write_mu_);
  bool stop_writer_ MQ_GUARDED_BY(write_mu_) = false;
  std::atomic<bool> write_done_{false};  // write_state_ == kDone
  std::thread writer_;
  std::shared_ptr<StoreThreads> shared_;  // set: no writer_ thread
};

}  // namespace mq
