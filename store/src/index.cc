#include "index.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "coding.h"

namespace mq {
namespace {

constexpr size_t kMapSize = size_t{256} << 30;  // address space only; the file grows as needed
constexpr uint8_t kFlagFramed = 1, kFlagTruncated = 2, kFlagHasKey = 4;
constexpr size_t kLocSize = 13;

// Writes kLocSize bytes at out.
void EncodeLoc(const Loc& loc, bool has_key, char* out) {
  EncodeFixed64(out, loc.msg_offset);
  EncodeFixed32(out + 8, loc.size);
  uint8_t f = (loc.framed ? kFlagFramed : 0) | (loc.key_truncated ? kFlagTruncated : 0) |
              (has_key ? kFlagHasKey : 0);
  out[12] = static_cast<char>(f);
}

void EncodeLoc(const Loc& loc, bool has_key, std::string* out) {
  const size_t at = out->size();
  out->resize(at + kLocSize);
  EncodeLoc(loc, has_key, out->data() + at);
}

bool DecodeLoc(const MDB_val& v, Loc* loc, std::string_view* key, bool* has_key) {
  if (v.mv_size < kLocSize) return false;
  const char* p = static_cast<const char*>(v.mv_data);
  loc->msg_offset = DecodeFixed64(p);
  loc->size = DecodeFixed32(p + 8);
  uint8_t f = static_cast<uint8_t>(p[12]);
  loc->framed = f & kFlagFramed;
  loc->key_truncated = f & kFlagTruncated;
  if (has_key) *has_key = f & kFlagHasKey;
  if (key) *key = std::string_view(p + kLocSize, v.mv_size - kLocSize);
  return true;
}

MDB_val Val(const void* p, size_t n) { return MDB_val{n, const_cast<void*>(p)}; }

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
  return true;
}

const char kMetaKey[] = "index-meta";

// Key-table keys: u16 BE key length, key bytes, u64 BE seq. The length comes
// first so that all entries of one key are adjacent, in seq order.
void AppendKeyTableKey(std::string_view key, std::string* out) {
  out->push_back(static_cast<char>((key.size() >> 8) & 0xff));
  out->push_back(static_cast<char>(key.size() & 0xff));
  out->append(key);
}
std::string KeyTableKey(std::string_view key) {
  std::string k;
  AppendKeyTableKey(key, &k);
  return k;
}

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

Status Index::Open(const std::string& path, bool read_only, mode_t mode, std::unique_ptr<Index>* out) {
  std::unique_ptr<Index> idx(new Index());
  idx->path_ = path;
  idx->read_only_ = read_only;
  int rc = mdb_env_create(&idx->env_);
  if (rc != 0) return LmdbStatus(rc, path, "create environment");
  mdb_env_set_maxdbs(idx->env_, 4);
  mdb_env_set_mapsize(idx->env_, kMapSize);
  mdb_env_set_maxreaders(idx->env_, 126);
  unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD;
  flags |= read_only ? MDB_RDONLY : MDB_NOSYNC;
  rc = mdb_env_open(idx->env_, path.c_str(), flags, mode);
  if (rc != 0) {
    Status s = LmdbStatus(rc, path, "open");
    mdb_env_close(idx->env_);
    idx->env_ = nullptr;
    return s;
  }
  MDB_txn* txn = nullptr;
  rc = mdb_txn_begin(idx->env_, nullptr, read_only ? MDB_RDONLY : 0, &txn);
  if (rc != 0) return LmdbStatus(rc, path, "begin");
  unsigned dflags = read_only ? 0 : MDB_CREATE;
  rc = mdb_dbi_open(txn, "meta", dflags, &idx->meta_);
  if (rc == 0) rc = mdb_dbi_open(txn, "seq", dflags | MDB_INTEGERKEY, &idx->seq_);
  if (rc == 0) {
    rc = mdb_dbi_open(txn, "keys", dflags | MDB_DUPSORT | MDB_DUPFIXED, &idx->key_);
    // A read-only look at an index of format version 1 (table "key"): it
    // has no "keys"; its meta version marks it stale, so nobody reads keys.
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
  std::string& v = scratch_;
  v.clear();
  Loc l = loc;
  l.key_truncated = has_key && key.size() > kMaxIndexKey;
  EncodeLoc(l, has_key, &v);
  if (has_key) v.append(key.substr(0, kMaxIndexKey));
  if (seq_cursor_ == nullptr) {
    int rc = mdb_cursor_open(txn_, idx_->seq_, &seq_cursor_);
    if (rc != 0) return Fail(rc, "cursor open");
  }
  MDB_val kv = Val(&nk, 8), vv = Val(v.data(), v.size());
  int rc = mdb_cursor_put(seq_cursor_, &kv, &vv, append_order ? MDB_APPEND : 0);
  if (rc == MDB_KEYEXIST && append_order) rc = mdb_cursor_put(seq_cursor_, &kv, &vv, 0);
  if (rc != 0) return Fail(rc, "put seq");
  return Status::OK();
}

void EncodeKeyItem(uint64_t seq, const Loc& loc, std::string_view key, char* out) {
  EncodeBigEndian64(out, seq);
  Loc l = loc;
  l.key_truncated = key.size() > kMaxIndexKey;
  EncodeLoc(l, true, out + 8);
}

Status Index::Write::PutKey(uint64_t seq, const Loc& loc, std::string_view key) {
  char item[kKeyItemSize];
  EncodeKeyItem(seq, loc, key, item);
  return PutKeyRun(key, item, 1);
}

Status Index::Write::PutKeyRun(std::string_view key, const char* items, size_t count) {
  if (count == 0) return Status::OK();
  std::string& kk = put_key_;
  kk = KeyTableKey(key.substr(0, kMaxIndexKey));
  if (key_cursor_ == nullptr) {
    int rc = mdb_cursor_open(txn_, idx_->key_, &key_cursor_);
    if (rc != 0) return Fail(rc, "cursor open");
  }
  // One call for the whole run (MDB_MULTIPLE), appended after the key's
  // existing entries (MDB_APPENDDUP: the run's seqs are newer). Should an
  // entry not be newer (an index being caught up over entries it has), the
  // rest goes in one by one in the ordinary way.
  size_t done = 0;
  unsigned flags = MDB_MULTIPLE | MDB_APPENDDUP;
  while (done < count) {
    MDB_val kkv = Val(kk.data(), kk.size());
    const size_t want = count - done;
    MDB_val data[2] = {Val(items + done * kKeyItemSize, kKeyItemSize), MDB_val{want, nullptr}};
    int rc = mdb_cursor_put(key_cursor_, &kkv, data, flags);
    if (rc == MDB_KEYEXIST && (flags & MDB_APPENDDUP) != 0) {
      // LMDB leaves data[1] alone when the first item fails, and sets it to
      // the number stored when a later one does.
      if (data[1].mv_size < want) done += data[1].mv_size;
      flags = MDB_MULTIPLE;
      continue;
    }
    if (rc != 0) return Fail(rc, "put key");
    done += want;
  }
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

// Deletes the key entries queued by Delete in key-table order, through one
// cursor: LMDB finds a key on the cursor's current page without descending
// from the root, so neighbours cost little, and each page is dirtied once.
// Within a key the entries to delete are usually adjacent (its oldest ones):
// after a delete the cursor steps to the next duplicate and looks there first.
Status Index::Write::FlushKeyDeletes() {
  if (key_dels_.empty()) return Status::OK();
  const char* arena = key_arena_.data();
  auto key_of = [arena](const KeyDel& d) { return std::string_view(arena + d.off, d.len); };
  std::sort(key_dels_.begin(), key_dels_.end(), [&](const KeyDel& a, const KeyDel& b) {
    if (a.head != b.head) return a.head < b.head;  // the same order as the bytes (zero-padded)
    const int c = (a.len <= 8 && b.len <= 8) ? (a.len < b.len ? -1 : a.len > b.len) : key_of(a).compare(key_of(b));
    return c != 0 ? c < 0 : a.seq < b.seq;
  });
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn_, idx_->key_, &c);
  if (rc != 0) return Fail(rc, "cursor open");
  bool after_delete = false;  // the cursor stands just past a deleted entry of the previous KeyDel's key
  for (size_t i = 0; i < key_dels_.size(); ++i) {
    const KeyDel& d = key_dels_[i];
    const std::string_view kk = key_of(d);
    if (i > 0 && key_of(key_dels_[i - 1]) != kk) after_delete = false;
    char be[8];
    EncodeBigEndian64(be, d.seq);
    MDB_val kv = Val(kk.data(), kk.size()), vv;
    rc = MDB_NOTFOUND;
    if (after_delete) {
      rc = mdb_cursor_get(c, &kv, &vv, MDB_NEXT_DUP);
      if (rc == 0 && (vv.mv_size != kKeyItemSize || std::memcmp(vv.mv_data, be, 8) != 0)) rc = MDB_NOTFOUND;
      if (rc != 0 && rc != MDB_NOTFOUND) break;
    }
    after_delete = false;
    if (rc == MDB_NOTFOUND) {
      // The first entry of the key with seq >= this one; it is this one if
      // present (entries compare by their leading big-endian seq).
      kv = Val(kk.data(), kk.size());
      vv = Val(be, 8);
      rc = mdb_cursor_get(c, &kv, &vv, MDB_GET_BOTH_RANGE);
      if (rc == MDB_NOTFOUND) continue;
      if (rc != 0) break;
      if (vv.mv_size != kKeyItemSize || std::memcmp(vv.mv_data, be, 8) != 0) continue;
    }
    rc = mdb_cursor_del(c, 0);
    if (rc != 0) break;
    after_delete = true;
  }
  mdb_cursor_close(c);
  key_dels_.clear();
  key_arena_.clear();
  if (rc != 0 && rc != MDB_NOTFOUND) return Fail(rc, "delete key");
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
  if (rc == 0) {
    // Format version 1 kept keys in a table "key": free its pages.
    MDB_dbi old = 0;
    int orc = mdb_dbi_open(txn_, "key", 0, &old);
    if (orc == 0) rc = mdb_drop(txn_, old, 1);
  }
  if (rc != 0) return Fail(rc, "clear");
  return Status::OK();
}

Status Index::Write::Commit() {
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

Status Index::Read::Load(int rc, MDB_val kv, MDB_val vv, bool by_key) {
  valid_ = false;
  if (rc == MDB_NOTFOUND) return Status::OK();
  if (rc != 0) return LmdbStatus(rc, idx_->path_, "cursor");
  const char* k = static_cast<const char*>(kv.mv_data);
  if (by_key) {
    if (kv.mv_size != want_key_.size() || std::memcmp(k, want_key_.data(), want_key_.size()) != 0)
      return Status::OK();  // past this key
    if (vv.mv_size != kKeyItemSize) return Status::Corruption(idx_->path_ + ": malformed key entry in index");
    const char* item = static_cast<const char*>(vv.mv_data);
    cur_seq_ = DecodeBigEndian64(item);
    cur_key_ = std::string_view(k + 2, want_key_.size() - 2);
    vv = Val(item + 8, kLocSize);
  } else {
    if (kv.mv_size != 8) return Status::Corruption(idx_->path_ + ": malformed seq key in index");
    std::memcpy(&cur_seq_, k, 8);
  }
  std::string_view key;
  if (!DecodeLoc(vv, &cur_loc_, by_key ? nullptr : &key, nullptr))
    return Status::Corruption(idx_->path_ + ": malformed index entry");
  if (!by_key) cur_key_ = key;
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
  return Load(rc, kv, vv, false);
}

Status Index::Read::Next() {
  MDB_val kv, vv;
  int rc = mdb_cursor_get(cur_, &kv, &vv, MDB_NEXT);
  return Load(rc, kv, vv, false);
}

Status Index::Read::SeekKey(std::string_view key, uint64_t from_seq) {
  if (idx_->key_ == 0) {
    valid_ = false;
    return Status::OK();  // a version-1 index opened read-only has no "keys"
  }
  if (key_cur_ == nullptr) {
    int rc = mdb_cursor_open(txn_, idx_->key_, &key_cur_);
    if (rc != 0) return LmdbStatus(rc, idx_->path_, "cursor open");
  }
  cur_ = key_cur_;
  want_key_ = KeyTableKey(key.substr(0, kMaxIndexKey));
  char from[8];
  EncodeBigEndian64(from, from_seq);
  MDB_val kv = Val(want_key_.data(), want_key_.size()), vv = Val(from, 8);
  int rc = mdb_cursor_get(cur_, &kv, &vv, MDB_GET_BOTH_RANGE);
  return Load(rc, kv, vv, true);
}

Status Index::Read::NextKey() {
  MDB_val kv, vv;
  int rc = mdb_cursor_get(cur_, &kv, &vv, MDB_NEXT_DUP);
  return Load(rc, kv, vv, true);
}

}  // namespace mq
