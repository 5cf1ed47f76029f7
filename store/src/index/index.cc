#include "index/index.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/coding.h"
#include "index/index_coding.h"

namespace mq {
using namespace index_coding;
namespace {

bool DecodeLoc(const MDB_val& v, Loc* loc, std::string_view* key, bool* has_key) {
  if (v.mv_size < kLocSize) return false;
  const char* p = static_cast<const char*>(v.mv_data);
  DecodeLocBytes(p, loc, has_key);
  if (key) *key = std::string_view(p + kLocSize, v.mv_size - kLocSize);
  return true;
}

std::string EncodeMeta(const IndexMeta& m) {
  std::string s;
  PutFixed32(&s, m.version);
  s.push_back(m.valid ? 1 : 0);
  s.push_back(m.framed_only ? 1 : 0);
  s.push_back(m.clean ? 1 : 0);
  for (uint64_t v : {m.log_id, m.log_dev, m.log_ino, m.applied, m.tail_start, m.tail_seq, m.next_seq,
                     m.consumed_count, m.consumed_bytes, m.pending_bytes})
    PutFixed64(&s, v);
  PutFixed32(&s, static_cast<uint32_t>(m.boot_id.size()));
  s += m.boot_id;
  PutFixed32(&s, static_cast<uint32_t>(m.extractor.size()));
  s += m.extractor;
  for (uint64_t v : {m.session, m.closed_dev, m.closed_ino, m.closed_size, m.closed_ctime_ns}) PutFixed64(&s, v);
  s.push_back(m.key_in_log ? 1 : 0);
  PutFixed64(&s, m.synced_log);
  return s;
}

bool DecodeMeta(std::string_view s, IndexMeta* m) {
  constexpr size_t kFixed = 4 + 3 + 10 * 8;
  if (s.size() < kFixed + 4) return false;
  const char* p = s.data();
  m->version = DecodeFixed32(p);
  m->valid = p[4];
  m->framed_only = p[5];
  m->clean = p[6];
  p += 7;
  uint64_t* fields[] = {&m->log_id, &m->log_dev, &m->log_ino, &m->applied, &m->tail_start,
                        &m->tail_seq, &m->next_seq, &m->consumed_count, &m->consumed_bytes,
                        &m->pending_bytes};
  for (uint64_t* f : fields) {
    *f = DecodeFixed64(p);
    p += 8;
  }
  size_t rest = s.size() - kFixed;
  uint32_t n = DecodeFixed32(p);
  if (rest < 4 + size_t{n} + 4) return false;
  m->boot_id.assign(p + 4, n);
  p += 4 + n;
  rest -= 4 + n;
  uint32_t e = DecodeFixed32(p);
  if (rest < 4 + size_t{e}) return false;
  m->extractor.assign(p + 4, e);
  p += 4 + e;
  rest -= 4 + e;
  // Version 4 adds the session stamp and the closed log's identity; an older
  // meta lacks them (and is rebuilt for its version anyway).
  if (m->version < 4) return true;
  if (rest < 5 * 8) return false;
  for (uint64_t* f : {&m->session, &m->closed_dev, &m->closed_ino, &m->closed_size, &m->closed_ctime_ns}) {
    *f = DecodeFixed64(p);
    p += 8;
  }
  // Added later, without a version change: an index written before says
  // nothing of the log's key extractor record (false).
  m->key_in_log = rest > 5 * 8 && p[0] == 1;
  // Added later still, the same way: an older index claims no synced log (0).
  m->synced_log = rest >= 5 * 8 + 1 + 8 ? DecodeFixed64(p + 1) : 0;
  return true;
}

const char kMetaKey[] = "index-meta";
const char kKeyTable[] = "kblocks";
const char kTablesKey[] = "tables";  // in the meta table: the current generation, "0" or "1" (absent: 0)
const char* const kSeqNames[2] = {"seq", "seq.1"};
const char* const kKeyNames[2] = {kKeyTable, "kblocks.1"};

}  // namespace

Status LmdbStatus(int rc, const std::string& path, std::string_view what) {
  if (rc == MDB_SUCCESS) return Status::OK();
  std::string msg = path + ": index " + std::string(what) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_NOTFOUND: return Status::NotFound(msg);
    case MDB_CORRUPTED:
    case MDB_INVALID:
    case MDB_PAGE_NOTFOUND:
    case MDB_BAD_TXN: return Status::Corruption(msg);
    case MDB_VERSION_MISMATCH: return Status::Unsupported(msg);
    case MDB_MAP_FULL: return Status::IOError(msg + " (the index reached its size limit)", 0);
    default:
      if (rc > 0) return Status::IOError(path + ": index " + std::string(what), rc);
      return Status::IOError(msg, 0);
  }
}

// A power cut can keep LMDB's meta page (rewritten in place) without the
// pages an unsynced (MDB_NOSYNC, which older versions used) commit appended
// after the file's synced end:
// reading them through the map would raise SIGBUS. Such a file is corrupt.
Status Index::CheckPagesPresent() {
  MDB_envinfo info;
  MDB_stat st;
  mdb_filehandle_t fd = -1;
  struct stat fst;
  if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &st) != 0 || mdb_env_get_fd(env_, &fd) != 0 ||
      ::fstat(fd, &fst) != 0)
    return Status::OK();  // nothing to compare: LMDB reports its own errors later
  const uint64_t need = (static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
  if (need <= static_cast<uint64_t>(fst.st_size)) return Status::OK();
  return Status::Corruption(path_ + ": LMDB's meta page names page " + std::to_string(info.me_last_pgno) +
                            " but the file ends at byte " + std::to_string(fst.st_size) +
                            " (a power cut kept the meta page without the pages written before it)");
}

void Index::CoverPages() {
  MDB_envinfo info;
  mdb_filehandle_t fd = -1;
  struct stat st;
  if (mdb_env_info(env_, &info) != 0 || mdb_env_get_fd(env_, &fd) != 0 || ::fstat(fd, &st) != 0) return;
  const uint64_t need = (static_cast<uint64_t>(info.me_last_pgno) + 1) * page_size_;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size >= need) return;
  // fallocate (mode 0) only adds blocks and size: it never shrinks the file
  // or changes a byte a concurrent commit wrote. Where the file system lacks
  // it, the file stays short, as LMDB leaves it.
  (void)::fallocate(fd, 0, static_cast<off_t>(size), static_cast<off_t>(need - size));
}

Status Index::Open(const std::string& path, bool read_only, mode_t mode, std::unique_ptr<Index>* out,
                   int dir_fd, uint64_t max_map_bytes) {
  std::unique_ptr<Index> idx(new Index());
  idx->path_ = path;
  idx->read_only_ = read_only;
  // The map starts small (LMDB makes it at least what the file holds) and
  // grows on demand (index_map.cc), up to the ceiling.
  idx->max_map_ = max_map_bytes != 0 ? std::max<uint64_t>(max_map_bytes, 64 << 10) : kDefaultMaxIndexBytes;
  int rc = mdb_env_create(&idx->env_);
  if (rc != 0) return LmdbStatus(rc, path, "create environment");
  mdb_env_set_maxdbs(idx->env_, 8);
  mdb_env_set_mapsize(idx->env_, std::min(kInitialMapBytes, idx->max_map_));
  mdb_env_set_maxreaders(idx->env_, 126);
  unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD;
  // MDB_NOMETASYNC: every commit fdatasyncs the pages it wrote, then writes
  // LMDB's meta page without a sync (the next commit's sync, or
  // SyncToDisk, makes it durable). A power cut may then undo the last
  // commit but never leaves a meta page naming pages that are not on disk,
  // so any commit a later boot finds is whole (docs/design.md, "An index
  // that survives a power cut"). Under MDB_NOSYNC, which the index used
  // before, a commit could reuse pages of the last synced one before its
  // own meta page was durable, so nothing in it survived a power cut.
  flags |= read_only ? MDB_RDONLY : MDB_NOMETASYNC;
  // Never path-based: LMDB would follow a link planted in a shared
  // directory (index_files.h).
  Status os = idx->files_.Open(path, dir_fd, read_only, mode);
  if (os.ok()) os = idx->files_.MdbOpen(idx->env_, flags, mode);
  if (os.ok()) os = idx->CheckPagesPresent();
  if (!os.ok()) {
    mdb_env_close(idx->env_);
    idx->env_ = nullptr;
    return os;
  }
  {
    MDB_stat st;
    if (mdb_env_stat(idx->env_, &st) == 0) idx->page_size_ = st.ms_psize;
    MDB_envinfo info;
    MutexLock l(&idx->gate_mu_);
    idx->map_ = mdb_env_info(idx->env_, &info) == 0 ? info.me_mapsize : kInitialMapBytes;
    // Room to spare for an index that already holds more than the map's
    // first size; past the ceiling, the first write that needs room says so.
    if (!read_only) (void)idx->GrowLocked(0);
  }
  // The tables' handles. A writable open of an index that has them takes
  // them in a read transaction: a write transaction here would copy the
  // main table's root and leave the old page on LMDB's free list, and an
  // idle store's file grows by such pages (docs/mailbox.md, "Descriptors and
  // idle cost"). Only a new (or older-format) index is written here.
  MDB_txn* txn = nullptr;
  if (!read_only) {
    rc = mdb_txn_begin(idx->env_, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) return LmdbStatus(rc, path, "begin");
    rc = idx->OpenGenerations(txn, 0);
    if (rc == 0) {
      rc = mdb_txn_commit(txn);  // keeps the handles
      if (rc != 0) return LmdbStatus(rc, path, "commit");
      *out = std::move(idx);
      return Status::OK();
    }
    mdb_txn_abort(txn);  // a table is missing: created below
    if (rc != MDB_NOTFOUND) return LmdbStatus(rc, path, "open tables");
    txn = nullptr;
  }
  rc = mdb_txn_begin(idx->env_, nullptr, read_only ? MDB_RDONLY : 0, &txn);
  if (rc != 0) return LmdbStatus(rc, path, "begin");
  rc = idx->OpenGenerations(txn, read_only ? 0 : MDB_CREATE);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return LmdbStatus(rc, path, "open tables");
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0) return LmdbStatus(rc, path, "commit");
  *out = std::move(idx);
  return Status::OK();
}

int Index::OpenGenerations(MDB_txn* txn, unsigned dflags) {
  int rc = mdb_dbi_open(txn, "meta", dflags, &meta_);
  if (rc == 0) rc = mdb_dbi_open(txn, kSeqNames[0], dflags | MDB_INTEGERKEY, &seq_[0]);
  if (rc == 0) {
    rc = mdb_dbi_open(txn, kKeyNames[0], dflags, &key_[0]);
    // A read-only look at an index of an older format (keys in a table
    // "key" or "keys"): its meta version marks it stale, so nobody reads keys.
    if (rc == MDB_NOTFOUND && read_only_) {
      key_[0] = 0;
      rc = 0;
    }
  }
  if (rc != 0) return rc;
  // The current generation: the meta table's "tables" entry (absent: 0).
  int gen = 0;
  MDB_val kv = Val(kTablesKey, sizeof(kTablesKey) - 1), vv;
  rc = mdb_get(txn, meta_, &kv, &vv);
  if (rc == 0 && vv.mv_size == 1 && static_cast<const char*>(vv.mv_data)[0] == '1') {
    gen = 1;
  } else if (rc != 0 && rc != MDB_NOTFOUND) {
    return rc;
  }
  // Generation 1's tables exist once a compaction built them; they are
  // opened here only if they do (a compaction creates them otherwise).
  rc = mdb_dbi_open(txn, kSeqNames[1], MDB_INTEGERKEY, &seq_[1]);
  if (rc == 0) rc = mdb_dbi_open(txn, kKeyNames[1], 0, &key_[1]);
  if (rc == MDB_NOTFOUND) {
    seq_[1] = key_[1] = 0;
    // The meta names generation 1 but its tables are gone: not an index
    // this code can read (the open treats it as unreadable and rebuilds).
    if (gen == 1) return MDB_CORRUPTED;
    rc = 0;
  }
  if (rc != 0) return rc;
  cur_.store(gen, std::memory_order_release);
  return 0;
}

Index::~Index() {
  if (env_ != nullptr) mdb_env_close(env_);
  files_.Close();  // only now: closing the lock file drops LMDB's fcntl locks
}

Status Index::SyncToDisk() {
  if (read_only_) return Status::OK();
  // A signal may interrupt the sync on FUSE or NFS (EINTR: the request did
  // not finish, nothing failed); it is asked again. Seen at a mailbox's
  // stop in the power-loss torture ("index sync: Interrupted system call").
  int rc = 0;
  while ((rc = mdb_env_sync(env_, 1)) == EINTR) {
  }
  return LmdbStatus(rc, path_, "sync");
}

// ---- Write ----

Index::Write::~Write() { Abort(); }

void Index::Write::CloseCursors() {
  for (MDB_cursor** c : {&del_cursor_, &seq_cursor_, &key_cursor_}) {
    if (*c != nullptr) mdb_cursor_close(*c);
    *c = nullptr;
  }
  del_positioned_ = false;
}

void Index::Write::End() {
  if (txn_ != nullptr) idx_->WriterLeave();
  txn_ = nullptr;
  written_ = room_ = 0;
}

void Index::Write::Abort() {
  key_dels_.clear();
  key_arena_.clear();
  key_puts_.clear();
  key_put_bytes_ = 0;
  CloseCursors();
  del_positioned_ = false;
  if (txn_ != nullptr) mdb_txn_abort(txn_);
  End();
}

Status Index::Write::Fail(int rc, std::string_view what) {
  Abort();
  if (rc == MDB_MAP_FULL) {
    // Index::map_full() tells the store to grow the map and run the
    // transaction again (or, at the ceiling, Reserve says so).
    idx_->full_.store(true);
    return Status::IOError(idx_->path_ + ": index " + std::string(what) +
                               ": the map is full; it grows and the transaction runs again",
                           ENOSPC);
  }
  return LmdbStatus(rc, idx_->path_, what);
}

Status Index::Write::Begin(uint64_t need) {
  gen_ = tables_ >= 0 ? tables_ : idx_->current_tables();
  make_current_ = false;
  entries_ = 0;
  for (int attempt = 0;; ++attempt) {
    room_ = idx_->WriterEnter(need);
    written_ = 0;
    int rc = mdb_txn_begin(idx_->env_, nullptr, 0, &txn_);
    if (rc == 0) return Status::OK();
    idx_->WriterLeave();
    txn_ = nullptr;
    // Another process wrote past this process's map (docs/design.md,
    // "Growing the index map"): take the file's size and begin again.
    if (rc == MDB_MAP_RESIZED && attempt < 2 && idx_->AdoptSize()) continue;
    return LmdbStatus(rc, idx_->path_, "begin write");
  }
}

Status Index::Write::Put(uint64_t seq, const Loc& loc, std::string_view key, bool has_key,
                         bool append_order) {
  MQ_RETURN_IF_ERROR(PutSeq(seq, loc, key, has_key, append_order));
  return has_key ? PutKey(seq, loc, key) : Status::OK();
}

Status Index::Write::PutSeq(uint64_t seq, const Loc& loc, std::string_view key, bool has_key,
                            bool append_order) {
  uint64_t nk = seq;  // the seq table uses MDB_INTEGERKEY: native order
  Loc l = loc;
  l.key_truncated = has_key && key.size() > kMaxIndexKey;
  const std::string_view kept = has_key ? key.substr(0, kMaxIndexKey) : std::string_view();
  if (seq_cursor_ == nullptr) {
    int rc = mdb_cursor_open(txn_, idx_->seq_[gen_], &seq_cursor_);
    if (rc != 0) return Fail(rc, "cursor open");
  }
  // MDB_RESERVE: LMDB makes room and the value is encoded in place.
  MDB_val kv = Val(&nk, 8), vv = MDB_val{kLocSize + kept.size(), nullptr};
  int rc = mdb_cursor_put(seq_cursor_, &kv, &vv, MDB_RESERVE | (append_order ? MDB_APPEND : 0));
  if (rc == MDB_KEYEXIST && append_order) {
    vv = MDB_val{kLocSize + kept.size(), nullptr};
    rc = mdb_cursor_put(seq_cursor_, &kv, &vv, MDB_RESERVE);
  }
  if (rc != 0) return Fail(rc, "put seq");
  written_ += 8 + vv.mv_size + 16;
  ++entries_;
  char* p = static_cast<char*>(vv.mv_data);
  EncodeLoc(l, has_key, p);
  if (!kept.empty()) std::memcpy(p + kLocSize, kept.data(), kept.size());
  return Status::OK();
}

Status Index::Write::Delete(uint64_t seq, bool* found) {
  *found = false;
  if (del_cursor_ == nullptr) {
    int rc = mdb_cursor_open(txn_, idx_->seq_[gen_], &del_cursor_);
    if (rc != 0) return Fail(rc, "cursor open");
  }
  uint64_t nk = seq;
  MDB_val kv = Val(&nk, 8), vv;
  int rc = MDB_NOTFOUND;
  if (del_positioned_) {
    // Deletes come in seq order: the entry is usually the next one.
    rc = mdb_cursor_get(del_cursor_, &kv, &vv, MDB_NEXT);
    uint64_t at = 0;
    if (rc == 0 && kv.mv_size == 8) std::memcpy(&at, kv.mv_data, 8);
    if (rc != 0 || at != seq) rc = MDB_NOTFOUND;
  }
  if (rc == MDB_NOTFOUND) {
    kv = Val(&nk, 8);
    rc = mdb_cursor_get(del_cursor_, &kv, &vv, MDB_SET_KEY);
  }
  del_positioned_ = false;
  if (rc == MDB_NOTFOUND) return Status::OK();
  if (rc != 0) return Fail(rc, "find seq");
  Loc loc;
  std::string_view key;
  bool has_key = false;
  if (!DecodeLoc(vv, &loc, &key, &has_key)) return Fail(MDB_CORRUPTED, "decode seq entry");
  if (has_key) {
    // Its key entry goes at Commit, with the others in key-table order.
    const size_t off = key_arena_.size();
    AppendKeyTableKey(key, &key_arena_);
    const size_t len = key_arena_.size() - off;
    char head[8] = {};
    std::memcpy(head, key_arena_.data() + off, std::min<size_t>(len, 8));
    key_dels_.push_back(KeyDel{DecodeBigEndian64(head), off, static_cast<uint32_t>(len), seq});
  }
  rc = mdb_cursor_del(del_cursor_, 0);
  if (rc != 0) return Fail(rc, "delete seq");
  written_ += 32;  // a delete copies the pages it changes
  ++entries_;
  del_positioned_ = true;
  *found = true;
  return Status::OK();
}

Status Index::Write::PutMeta(const IndexMeta& m) {
  std::string v = EncodeMeta(m);
  MDB_val kv = Val(kMetaKey, sizeof(kMetaKey) - 1), vv = Val(v.data(), v.size());
  int rc = mdb_put(txn_, idx_->meta_, &kv, &vv, 0);
  if (rc != 0) return Fail(rc, "put meta");
  return Status::OK();
}

Status Index::Write::OpenTables() {
  int rc = mdb_dbi_open(txn_, kSeqNames[gen_], MDB_CREATE | MDB_INTEGERKEY, &idx_->seq_[gen_]);
  if (rc == 0) rc = mdb_dbi_open(txn_, kKeyNames[gen_], MDB_CREATE, &idx_->key_[gen_]);
  if (rc != 0) return Fail(rc, "open tables");
  return Status::OK();
}

Status Index::Write::MakeCurrent() {
  const char v = gen_ == 1 ? '1' : '0';
  MDB_val kv = Val(kTablesKey, sizeof(kTablesKey) - 1), vv = Val(&v, 1);
  int rc = mdb_put(txn_, idx_->meta_, &kv, &vv, 0);
  if (rc != 0) return Fail(rc, "put tables");
  make_current_ = true;
  return Status::OK();
}

Status Index::Write::Clear() {
  int rc = mdb_drop(txn_, idx_->seq_[gen_], 0);
  if (rc == 0) rc = mdb_drop(txn_, idx_->key_[gen_], 0);
  // Older formats kept keys in a table "key" (version 1: an entry per
  // message) or "keys" (version 2: sorted duplicates): free their pages.
  for (const char* name : {"key", "keys"}) {
    MDB_dbi old = 0;
    if (rc == 0 && mdb_dbi_open(txn_, name, 0, &old) == 0) rc = mdb_drop(txn_, old, 1);
  }
  if (rc != 0) return Fail(rc, "clear");
  return Status::OK();
}

Status Index::Write::Commit() {
  MQ_RETURN_IF_ERROR(FlushKeyPuts());
  MQ_RETURN_IF_ERROR(FlushKeyDeletes());
  CloseCursors();
  int rc = mdb_txn_commit(txn_);  // frees the transaction, committed or not
  End();
  if (rc == 0) idx_->CoverPages();
  // Readers take the generation at their next Begin (Read::Begin).
  if (rc == 0 && make_current_) idx_->cur_.store(gen_, std::memory_order_release);
  make_current_ = false;
  if (rc == MDB_MAP_FULL) {
    idx_->full_.store(true);
    return Status::IOError(idx_->path_ + ": index commit: the map is full; it grows and the transaction runs again",
                           ENOSPC);
  }
  return LmdbStatus(rc, idx_->path_, "commit");
}

// ---- Read ----

Index::Read::~Read() { Close(); }

void Index::Read::Close() {
  if (seq_cur_ != nullptr) mdb_cursor_close(seq_cur_);
  if (key_cur_ != nullptr) mdb_cursor_close(key_cur_);
  seq_cur_ = key_cur_ = cur_ = nullptr;
  if (txn_ != nullptr) mdb_txn_abort(txn_);
  txn_ = nullptr;
  valid_ = false;
  if (active_) idx_->ReaderLeave();
  active_ = false;
}

void Index::Read::Release() {
  if (txn_ != nullptr && active_) {
    mdb_txn_reset(txn_);
    idx_->ReaderLeave();
    active_ = false;
  }
  valid_ = false;
}

Status Index::Read::Begin() {
  valid_ = false;
  // A compaction made the other generation current: the cursors kept
  // across renewals belong to the old one's tables.
  if (const int g = idx_->current_tables(); g != gen_) {
    if (seq_cur_ != nullptr) mdb_cursor_close(seq_cur_);
    if (key_cur_ != nullptr) mdb_cursor_close(key_cur_);
    seq_cur_ = key_cur_ = cur_ = nullptr;
    gen_ = g;
  }
  for (int attempt = 0;; ++attempt) {
    if (!active_) idx_->ReaderEnter();  // no resize from here until Release or Close
    active_ = true;
    int rc = 0;
    if (txn_ != nullptr) {
      mdb_txn_reset(txn_);
      rc = mdb_txn_renew(txn_);
      if (rc == 0) rc = seq_cur_ != nullptr ? mdb_cursor_renew(txn_, seq_cur_) : 0;
      if (rc == 0) rc = key_cur_ != nullptr ? mdb_cursor_renew(txn_, key_cur_) : 0;
      if (rc == 0) return Status::OK();
      Close();
      idx_->ReaderEnter();
      active_ = true;
    }
    rc = mdb_txn_begin(idx_->env_, nullptr, MDB_RDONLY, &txn_);
    if (rc == 0) return Status::OK();
    txn_ = nullptr;
    idx_->ReaderLeave();
    active_ = false;
    // Another process grew the file past this process's map (docs/design.md,
    // "Growing the index map"): take the file's size and begin again.
    if (rc == MDB_MAP_RESIZED && attempt < 2 && idx_->AdoptSize()) continue;
    return LmdbStatus(rc, idx_->path_, "begin read");
  }
}

Status Index::Read::GetMeta(IndexMeta* m, bool* present) {
  MDB_val kv = Val(kMetaKey, sizeof(kMetaKey) - 1), vv;
  int rc = mdb_get(txn_, idx_->meta_, &kv, &vv);
  *present = false;
  if (rc == MDB_NOTFOUND) return Status::OK();
  if (rc != 0) return LmdbStatus(rc, idx_->path_, "get meta");
  if (!DecodeMeta(std::string_view(static_cast<const char*>(vv.mv_data), vv.mv_size), m))
    return Status::Corruption(idx_->path_ + ": index meta record is malformed");
  *present = true;
  return Status::OK();
}

Status Index::Read::Get(uint64_t seq, Loc* loc) {
  uint64_t nk = seq;
  MDB_val kv = Val(&nk, 8), vv;
  int rc = mdb_get(txn_, idx_->seq_[gen_], &kv, &vv);
  if (rc != 0) return LmdbStatus(rc, idx_->path_, "get seq " + std::to_string(seq));
  if (!DecodeLoc(vv, loc, nullptr, nullptr))
    return Status::Corruption(idx_->path_ + ": index entry for seq " + std::to_string(seq) + " is malformed");
  return Status::OK();
}

uint64_t Index::Read::Entries() {
  MDB_stat st;
  if (mdb_stat(txn_, idx_->seq_[gen_], &st) != 0) return 0;
  return st.ms_entries;
}

Status Index::Read::Load(int rc, MDB_val kv, MDB_val vv) {
  valid_ = false;
  if (rc == MDB_NOTFOUND) return Status::OK();
  if (rc != 0) return LmdbStatus(rc, idx_->path_, "cursor");
  if (kv.mv_size != 8) return Status::Corruption(idx_->path_ + ": malformed seq key in index");
  std::memcpy(&cur_seq_, kv.mv_data, 8);
  if (!DecodeLoc(vv, &cur_loc_, &cur_key_, nullptr)) return Status::Corruption(idx_->path_ + ": malformed index entry");
  valid_ = true;
  return Status::OK();
}

Status Index::Read::Seek(uint64_t from_seq) {
  if (seq_cur_ == nullptr) {
    int rc = mdb_cursor_open(txn_, idx_->seq_[gen_], &seq_cur_);
    if (rc != 0) return LmdbStatus(rc, idx_->path_, "cursor open");
  }
  cur_ = seq_cur_;
  uint64_t nk = from_seq;
  MDB_val kv = Val(&nk, 8), vv;
  int rc = mdb_cursor_get(cur_, &kv, &vv, MDB_SET_RANGE);
  return Load(rc, kv, vv);
}

Status Index::Read::Next() {
  MDB_val kv, vv;
  int rc = mdb_cursor_get(cur_, &kv, &vv, MDB_NEXT);
  return Load(rc, kv, vv);
}

}  // namespace mq
