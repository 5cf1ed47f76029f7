// The LMDB index beside a log (docs/design.md, "The index").
//
//   meta:    small named values: where the index stands relative to its log.
//   seq:     u64 seq (MDB_INTEGERKEY) -> Loc + key bytes   (every pending message)
//   kblocks: u16 BE length + key bytes (<= kMaxIndexKey) + u64 BE block seq ->
//            a block of 1..kKeyBlockItems items (u64 BE seq + Loc, 21 bytes
//            each) of that key, in seq order (if a key extractor is set).
//            A block's seq is at most its first item's; every item of a block
//            is older than the next block's seq (index_keys.cc).
//
// The index is derived data: the log is the truth. Its commits sync their
// pages but not LMDB's meta page (MDB_NOMETASYNC: a power cut may undo the
// last commit, never tear one), and it is trusted after a crash only under
// the rules of docs/design.md, "When the index is trusted". LMDB's int error codes become
// Status in exactly one place, LmdbStatus().
#pragma once

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "index/index_files.h"
#include "mq/status.h"
#include "util/mutex.h"

namespace mq {

class Directory;

// Where a pending message is in the log.
struct Loc {
  uint64_t msg_offset = 0;  // the message record (its used flag)
  uint32_t size = 0;        // payload bytes
  bool framed = true;       // preceded by a 20-byte meta record
  bool key_truncated = false;
};

// Index keys longer than this are stored cut to it; lookups then confirm the
// key against the payload.
constexpr size_t kMaxIndexKey = 400;

// One item of the key table: u64 BE seq, then the 13-byte Loc.
constexpr size_t kKeyItemSize = 21;
// Items per key-table block: 1,344 bytes, so that a block and a 400-byte key
// always fit one LMDB node (no overflow pages).
constexpr size_t kKeyBlockItems = 64;
void EncodeKeyItem(uint64_t seq, const Loc& loc, std::string_view key, char* out);
// True if key a's entries come before key b's in the key table (keys cut to
// kMaxIndexKey; shorter first, then by bytes). Batches put keys in this
// order, so that neighbours share pages.
inline bool KeyTableBefore(std::string_view a, std::string_view b) {
  a = a.substr(0, kMaxIndexKey);
  b = b.substr(0, kMaxIndexKey);
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

struct IndexMeta {
  // 5: two generations of the seq and key tables, the current one named by
  // the meta table's "tables" entry (docs/design.md, "Compaction"): an older
  // binary, which reads only the first, rebuilds instead. A version 4 meta is
  // read as version 5 with the first generation current.
  // 4: the log's session stamp and, at a clean close, the log's identity.
  // 3: the key table became "kblocks" (blocks of items per key); 2 had
  // "keys" (a sorted duplicate per message), 1 had "key" (an entry per message).
  static constexpr uint32_t kVersion = 5;
  // True for a version this code reads (kVersion, and 4: generation 0).
  static bool Known(uint32_t v) { return v == kVersion || v == 4; }
  uint32_t version = 0;
  bool valid = false;          // false while a rebuild is under way
  uint64_t log_id = 0;         // the header's log id; 0 for a log without header
  uint64_t log_dev = 0, log_ino = 0;  // identity of a log without header
  uint64_t applied = 0;        // log bytes [0, applied) are reflected
  uint64_t tail_start = 0;     // start of the last indexed message (0: none)
  uint64_t tail_seq = 0;       // its sequence number
  uint64_t next_seq = 1;
  bool framed_only = false;    // a header or meta record precedes `applied`
  std::string boot_id;         // boot during which it was last written unsynced
  bool clean = false;          // closed with everything synced
  std::string extractor;       // the key extractor the key table was built with
  bool key_in_log = false;     // the log records `extractor` (docs/log-format.md, "Key extractor records")
  uint64_t consumed_count = 0; // consumed messages still in the log
  uint64_t consumed_bytes = 0; // their framed bytes
  uint64_t pending_bytes = 0;  // framed bytes of pending messages
  uint64_t session = 0;        // the log header's session stamp this index describes
  // Set by a clean close, after the log's last sync: the log file as it was
  // then (device, inode, size, ctime in ns). 0 while the index is in use.
  uint64_t closed_dev = 0, closed_ino = 0, closed_size = 0, closed_ctime_ns = 0;
  // The log offset before which the log's bytes (and the used flags this
  // commit's deletes rely on) were durable before this commit was made; 0:
  // not known. Equal to `applied`, the commit claims nothing a power cut may
  // take from the log, and a later boot may trust it (docs/design.md, "An
  // index that survives a power cut"). Added without a version change: an
  // older meta lacks it (0).
  uint64_t synced_log = 0;
};
// The commit that wrote `m` describes only log bytes that were durable.
inline bool CoversOnlySyncedLog(const IndexMeta& m) { return m.synced_log != 0 && m.synced_log == m.applied; }

Status LmdbStatus(int rc, const std::string& path, std::string_view what);

// The LMDB map (docs/design.md, "Growing the index map"): it starts at
// kInitialMapBytes (or what the file already holds) and grows, never past
// the ceiling (StoreOptions::max_index_bytes), only while no transaction of
// this process is active.
constexpr uint64_t kInitialMapBytes = uint64_t{1} << 20;
constexpr uint64_t kDefaultMaxIndexBytes = uint64_t{256} << 30;

class Index {
 public:
  // Opens (creating if allowed) the index file at `path` (MDB_NOSUBDIR).
  // `dir_fd`: the index's directory, held open by the caller (the queue's
  // Directory::native_handle()); the files are opened relative to it. -1:
  // the directory is opened by path for this call.
  // `max_map_bytes`: the ceiling the map may grow to (0: the default).
  static Status Open(const std::string& path, bool read_only, mode_t mode, std::unique_ptr<Index>* out,
                     int dir_fd = -1, uint64_t max_map_bytes = 0);
  ~Index();

  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  // Forces everything committed so far to disk.
  Status SyncToDisk();

  // ---- the map (docs/design.md, "Growing the index map") ----
  // Makes the map hold `need` more bytes than the file's pages with room to
  // spare (and more than it holds now if the last write filled it): grows it
  // if that is short. Only with no transaction of this process active (the
  // caller has let go of its read snapshots, and no write is in flight):
  // otherwise kBusy and nothing changes. At the ceiling: an error naming the
  // file and StoreOptions::max_index_bytes.
  Status Reserve(uint64_t need) MQ_EXCLUDES(gate_mu_);
  // True if Reserve(need) would grow the map (or the last write filled it).
  bool WouldGrow(uint64_t need) MQ_EXCLUDES(gate_mu_);
  // True if a write transaction failed because the map was full:
  // after Reserve, the caller may run that transaction again.
  bool map_full() const { return full_.load(); }
  uint64_t map_bytes() MQ_EXCLUDES(gate_mu_);
  uint64_t map_resizes() MQ_EXCLUDES(gate_mu_);

  // ---- the two generations of tables (docs/design.md, "Compaction") ----
  // The seq and key tables exist twice: "seq"/"kblocks" (generation 0) and
  // "seq.1"/"kblocks.1" (generation 1). Reads and ordinary writes use the
  // current one; an online compaction builds the other one, committing it
  // without the store's lock, and its last commit makes it current.
  int current_tables() const { return cur_.load(std::memory_order_acquire); }

  class Write;
  class Read;

 private:
  // Opens meta and the tables of both generations in `txn` (dflags:
  // MDB_CREATE for generation 0's, or 0), and takes the current generation.
  int OpenGenerations(MDB_txn* txn, unsigned dflags);
  // After a commit: makes the file as long as LMDB's last page number says.
  // A page a transaction took and freed again (LMDB's "loose" pages) is put
  // on the free list and never written, so the file can end before the
  // highest page the meta names, and CheckPagesPresent would take a healthy
  // index for one a power cut tore.
  void CoverPages();
  Status CheckPagesPresent();  // kCorruption if LMDB's meta names pages past the file's end
  friend class Write;
  friend class Read;
  Index() = default;
  // Bytes of the file's pages LMDB has handed out (its high-water mark).
  uint64_t UsedBytes();
  Status GrowLocked(uint64_t need) MQ_REQUIRES(gate_mu_);
  bool WouldGrowLocked(uint64_t need) MQ_REQUIRES(gate_mu_);
  Status CeilingError(uint64_t need) MQ_REQUIRES(gate_mu_);
  // Read and write transactions announce themselves, so that a resize
  // happens only between them; a transaction that finds the map smaller
  // than another process made the file adopts the file's size (AdoptSize).
  void ReaderEnter() MQ_EXCLUDES(gate_mu_);
  void ReaderLeave() MQ_EXCLUDES(gate_mu_);
  // Returns the map's spare room (bytes) as the write begins.
  uint64_t WriterEnter(uint64_t need) MQ_EXCLUDES(gate_mu_);
  void WriterLeave() MQ_EXCLUDES(gate_mu_);
  // After MDB_MAP_RESIZED: takes the size another process gave the map.
  // False if a transaction of this process is active (then it cannot).
  bool AdoptSize() MQ_EXCLUDES(gate_mu_);

  std::string path_;
  bool read_only_ = false;
  MDB_env* env_ = nullptr;
  IndexFiles files_;  // the files LMDB opened; closed after env_ (~Index)
  MDB_dbi meta_ = 0;
  // Per generation; a generation's handles are set once its tables were
  // opened (the current one's at Open, the other's by Write::OpenTables).
  MDB_dbi seq_[2] = {0, 0}, key_[2] = {0, 0};
  std::atomic<int> cur_{0};  // the current generation (changes at a compaction's last commit)
  uint64_t page_size_ = 4096;
  uint64_t max_map_ = kDefaultMaxIndexBytes;
  std::atomic<bool> full_{false};
  Mutex gate_mu_;
  uint64_t map_ MQ_GUARDED_BY(gate_mu_) = 0;  // the map's size now
  uint64_t resizes_ MQ_GUARDED_BY(gate_mu_) = 0;
  int readers_ MQ_GUARDED_BY(gate_mu_) = 0;    // active read transactions
  int writers_ MQ_GUARDED_BY(gate_mu_) = 0;     // active write transactions
};

// Whether an index whose meta is `m` describes the used flags of the log it
// sits beside (docs/design.md, "Proving the used flags"): a log with a
// header by its session stamp (`session`); a log without one (`legacy`) only
// if the index was closed cleanly and the log, reached as `name` in `dir`,
// still has the device, inode, size and ctime that close recorded. Otherwise
// false, with the reason in *why. The store's open and the read-only
// inspection share it, so `mqtool stat` calls stale what an open rebuilds.
bool IndexProvesLogFlags(const IndexMeta& m, bool legacy, uint64_t session, Directory* dir,
                         const std::string& name, std::string* why);

// A write transaction. Not committed unless Commit() is called.
class Index::Write {
 public:
  // `tables`: the generation written (Index::current_tables()); -1: the
  // current one, as of Begin.
  explicit Write(Index* idx, int tables = -1) : idx_(idx), tables_(tables) {}
  ~Write();
  // `need`: about how many bytes the transaction will add; the map grows
  // ahead for them if no read transaction is active (Index::Reserve).
  Status Begin(uint64_t need = 0);
  Status Put(uint64_t seq, const Loc& loc, std::string_view key, bool has_key, bool append_order);
  // The two halves of Put, so that a batch can add its key entries in key order.
  Status PutSeq(uint64_t seq, const Loc& loc, std::string_view key, bool has_key, bool append_order);
  // Buffers the key item; buffered items go to the key table by key, as
  // runs, when the buffer fills and at Commit.
  Status PutKey(uint64_t seq, const Loc& loc, std::string_view key);
  // `count` key items (EncodeKeyItem) of one key, in seq order, in one call:
  // appended to the key's last block while it has room, then in new blocks.
  // `newer`: the caller knows them all newer than any item the table has
  // (the index tail's); a run of half a block or more then skips the look
  // at the key's last block and starts a new one.
  Status PutKeyRun(std::string_view key, const char* items, size_t count, bool newer = false);
  // Removes seq and its key entry (the latter at Commit); ok if absent.
  // Fastest when called in increasing seq order.
  Status Delete(uint64_t seq, bool* found);
  Status PutMeta(const IndexMeta& m);
  Status Clear();  // empties this write's generation of the seq and key tables
  // Opens (creating if missing) this write's generation of the tables.
  Status OpenTables();
  // This transaction's commit makes its generation the current one: the
  // meta table names it, and Index::current_tables() says so after Commit.
  Status MakeCurrent();
  // Seq entries put or deleted since Begin (what the commit writes).
  uint64_t entries() const { return entries_; }
  // Writes the buffered key puts and deletes now (Commit would): a map too
  // small for them fails here, where the caller can still back out (a
  // rewrite, before its rename), not in Commit.
  Status FlushBuffered() {
    MQ_RETURN_IF_ERROR(FlushKeyPuts());
    return FlushKeyDeletes();
  }
  Status Commit();
  void Abort();
  // True once the bytes put since Begin may no longer fit the map's spare
  // room as it was at Begin: a long transaction commits and begins anew.
  bool NearlyFull() const { return written_ * 3 > room_; }

 private:
  Status Fail(int rc, std::string_view what);
  void End();  // the transaction is over (committed or aborted)
  Status FlushKeyPuts();
  Status FlushKeyDeletes();
  // Puts one item into its key's blocks wherever it belongs (the slow way,
  // for items not newer than the key's last one). kk: the key-table prefix.
  Status InsertKeyItem(std::string_view kk, const char* item);
  MDB_cursor* KeyCursor(int* rc);
  void CloseCursors();
  Index* idx_;
  const int tables_;
  int gen_ = 0;          // the generation written, fixed at Begin
  bool make_current_ = false;
  uint64_t entries_ = 0;
  MDB_txn* txn_ = nullptr;
  uint64_t written_ = 0;  // about how many bytes were put since Begin
  uint64_t room_ = 0;     // the map's spare room at Begin
  MDB_cursor* del_cursor_ = nullptr;
  MDB_cursor* seq_cursor_ = nullptr;  // puts
  MDB_cursor* key_cursor_ = nullptr;
  bool del_positioned_ = false;  // del_cursor_ sits just after the last deleted entry
  // Key-table entries Delete left for Commit: the key-table key's bytes in
  // key_arena_ and the seq (no allocation per delete).
  struct KeyDel {
    uint64_t head;  // the key-table key's first 8 bytes, big-endian: most compares end here
    size_t off;
    uint32_t len;
    uint64_t seq;
  };
  std::vector<KeyDel> key_dels_;
  std::string key_arena_;
  // PutKey's buffer: message key (cut to kMaxIndexKey) -> its items.
  std::unordered_map<std::string, std::string> key_puts_;
  size_t key_put_bytes_ = 0;
  std::string block_, block_key_;  // a block being rewritten, and its key-table key
};

// A read-only snapshot.
class Index::Read {
 public:
  explicit Read(Index* idx) : idx_(idx) {}
  ~Read();
  // Starts (or renews) the snapshot; cursors are kept across renewals.
  Status Begin();
  // Lets go of the snapshot (until the next Begin), so that LMDB may reuse
  // the pages later transactions free.
  void Release();
  void Close();
  Status GetMeta(IndexMeta* m, bool* present);
  Status Get(uint64_t seq, Loc* loc);  // kNotFound if absent
  uint64_t Entries();                  // pending messages in the seq table

  // Seq-ordered walk: Seek(from) then Valid()/Next().
  Status Seek(uint64_t from_seq);
  bool Valid() const { return valid_; }
  uint64_t seq() const { return cur_seq_; }
  const Loc& loc() const { return cur_loc_; }
  std::string_view key() const { return cur_key_; }
  Status Next();

  // Walk over one key's entries with seq >= from_seq, in seq order:
  // SeekKey(k, from) then Valid()/NextKey().
  Status SeekKey(std::string_view key, uint64_t from_seq = 0);
  Status NextKey();

 private:
  Status Load(int rc, MDB_val kv, MDB_val vv);
  // Enters the key-table block v at its first item with seq >= from_seq, or
  // goes on to the key's next block if it has none.
  Status EnterBlock(MDB_val v, uint64_t from_seq);
  Status NextBlock();
  void LoadItem();
  Index* idx_;
  int gen_ = 0;  // the generation the cursors were opened on
  MDB_txn* txn_ = nullptr;
  bool active_ = false;  // txn_ is a live snapshot (counted by the index)
  MDB_cursor* seq_cur_ = nullptr;
  MDB_cursor* key_cur_ = nullptr;
  MDB_cursor* cur_ = nullptr;  // the one in use: seq_cur_ or key_cur_
  bool valid_ = false;
  uint64_t cur_seq_ = 0;
  Loc cur_loc_;
  std::string_view cur_key_;
  std::string want_key_;           // key-table prefix of the key being walked
  const char* blk_ = nullptr;      // the current key-table block (LMDB's memory)
  size_t blk_n_ = 0, blk_i_ = 0;   // its items, and the current one
};

}  // namespace mq
