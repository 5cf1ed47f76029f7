#include "index/index.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "util/coding.h"
#include "index/index_coding.h"

namespace mq {
using namespace index_coding;
namespace {

constexpr size_t kMapSize = size_t{256} << 30;  // address space only; the file grows as needed

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
  return true;
}

const char kMetaKey[] = "index-meta";
const char kKeyTable[] = "kblocks";

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

Status Index::Open(const std::string& path, bool read_only, mode_t mode, std::unique_ptr<Index>* out,
                   int dir_fd) {
  std::unique_ptr<Index> idx(new Index());
  idx->path_ = path;
  idx->read_only_ = read_only;
  int rc = mdb_env_create(&idx->env_);
  if (rc != 0) return LmdbStatus(rc, path, "create environment");
  mdb_env_set_maxdbs(idx->env_, 8);
  mdb_env_set_mapsize(idx->env_, kMapSize);
  mdb_env_set_maxreaders(idx->env_, 126);
  unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD;
  flags |= read_only ? MDB_RDONLY : MDB_NOSYNC;
  // Never path-based: LMDB would follow a link planted in a shared
  // directory (index_files.h).
  Status os = idx->files_.Open(path, dir_fd, read_only, mode);
  if (os.ok()) os = idx->files_.MdbOpen(idx->env_, flags, mode);
  if (!os.ok()) {
    mdb_env_close(idx->env_);
    idx->env_ = nullptr;
    return os;
  }
  MDB_txn* txn = nullptr;
  rc = mdb_txn_begin(idx->env_, nullptr, read_only ? MDB_RDONLY : 0, &txn);
  if (rc != 0) return LmdbStatus(rc, path, "begin");
  unsigned dflags = read_only ? 0 : MDB_CREATE;
  rc = mdb_dbi_open(txn, "meta", dflags, &idx->meta_);
  if (rc == 0) rc = mdb_dbi_open(txn, "seq", dflags | MDB_INTEGERKEY, &idx->seq_);
  if (rc == 0) {
    rc = mdb_dbi_open(txn, kKeyTable, dflags, &idx->key_);
    // A read-only look at an index of an older format (keys in a table
    // "key" or "keys"): its meta version marks it stale, so nobody reads keys.
    if (rc == MDB_NOTFOUND && read_only) {
      idx->key_ = 0;
      rc = 0;
    }
  }
  if (rc != 0) {
    mdb_txn_abort(txn);
    return LmdbStatus(rc, path, "open tables");
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0) return LmdbStatus(rc, path, "commit");
  *out = std::move(idx);
  return Status::OK();
}

Index::~Index() {
  if (env_ != nullptr) mdb_env_close(env_);
  files_.Close();  // only now: closing the lock file drops LMDB's fcntl locks
}

Status Index::SyncToDisk() {
  if (read_only_) return Status::OK();
  return LmdbStatus(mdb_env_sync(env_, 1), path_, "sync");
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

void Index::Write::Abort() {
  key_dels_.clear();
  key_arena_.clear();
  key_puts_.clear();
  key_put_bytes_ = 0;
  CloseCursors();
  del_positioned_ = false;
  if (txn_ != nullptr) mdb_txn_abort(txn_);
  txn_ = nullptr;
}

Status Index::Write::Fail(int rc, std::string_view what) {
  Abort();
  return LmdbStatus(rc, idx_->path_, what);
}

Status Index::Write::Begin() {
  int rc = mdb_txn_begin(idx_->env_, nullptr, 0, &txn_);
  if (rc != 0) {
    txn_ = nullptr;
    return LmdbStatus(rc, idx_->path_, "begin write");
  }
  return Status::OK();
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
    int rc = mdb_cursor_open(txn_, idx_->seq_, &seq_cursor_);
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
  char* p = static_cast<char*>(vv.mv_data);
  EncodeLoc(l, has_key, p);
  if (!kept.empty()) std::memcpy(p + kLocSize, kept.data(), kept.size());
  return Status::OK();
}

Status Index::Write::Delete(uint64_t seq, bool* found) {
  *found = false;
  if (del_cursor_ == nullptr) {
    int rc = mdb_cursor_open(txn_, idx_->seq_, &del_cursor_);
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

Status Index::Write::Clear() {
  int rc = mdb_drop(txn_, idx_->seq_, 0);
  if (rc == 0) rc = mdb_drop(txn_, idx_->key_, 0);
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
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;
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
}

void Index::Read::Release() {
  if (txn_ != nullptr) mdb_txn_reset(txn_);
  valid_ = false;
}

Status Index::Read::Begin() {
  valid_ = false;
  if (txn_ != nullptr) {
    mdb_txn_reset(txn_);
    int rc = mdb_txn_renew(txn_);
    if (rc == 0) rc = seq_cur_ != nullptr ? mdb_cursor_renew(txn_, seq_cur_) : 0;
    if (rc == 0) rc = key_cur_ != nullptr ? mdb_cursor_renew(txn_, key_cur_) : 0;
    if (rc == 0) return Status::OK();
    Close();
  }
  int rc = mdb_txn_begin(idx_->env_, nullptr, MDB_RDONLY, &txn_);
  if (rc != 0) {
    txn_ = nullptr;
    return LmdbStatus(rc, idx_->path_, "begin read");
  }
  return Status::OK();
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
  int rc = mdb_get(txn_, idx_->seq_, &kv, &vv);
  if (rc != 0) return LmdbStatus(rc, idx_->path_, "get seq " + std::to_string(seq));
  if (!DecodeLoc(vv, loc, nullptr, nullptr))
    return Status::Corruption(idx_->path_ + ": index entry for seq " + std::to_string(seq) + " is malformed");
  return Status::OK();
}

uint64_t Index::Read::Entries() {
  MDB_stat st;
  if (mdb_stat(txn_, idx_->seq_, &st) != 0) return 0;
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
    int rc = mdb_cursor_open(txn_, idx_->seq_, &seq_cur_);
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
