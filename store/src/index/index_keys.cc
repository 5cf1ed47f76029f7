// The index's key table, "kblocks" (docs/design.md, "The index"): per key,
// blocks of up to kKeyBlockItems items in seq order. A block's LMDB key is the
// key-table prefix (u16 BE length + key bytes) and the block's seq: at most
// its first item's seq, and greater than every item of the key's previous
// block. So the block that holds (or would hold) seq s is the key's block
// with the greatest block seq <= s, one cursor seek away.
//
// A batch of new items of one key (all newer than its last item, the common
// case) fills the key's last block and then new ones: a flush of the index
// tail makes about one LMDB put per key instead of one per message.
#include <algorithm>
#include <cstring>
#include <vector>

#include "index/index_coding.h"

namespace mq {
using namespace index_coding;
namespace {

std::string BlockKey(std::string_view kk, uint64_t seq) {
  std::string k;
  k.reserve(kk.size() + 8);
  k.append(kk);
  char be[8];
  EncodeBigEndian64(be, seq);
  k.append(be, 8);
  return k;
}

bool IsBlockOf(const MDB_val& k, std::string_view kk) {
  return k.mv_size == kk.size() + 8 && std::memcmp(k.mv_data, kk.data(), kk.size()) == 0;
}

bool WellFormed(const MDB_val& v) { return v.mv_size > 0 && v.mv_size % kKeyItemSize == 0; }

// Positions c on the block of kk that holds or would hold `seq` (the greatest
// block seq <= seq). MDB_NOTFOUND if the key has no such block.
int FindBlock(MDB_cursor* c, std::string_view kk, uint64_t seq, MDB_val* k, MDB_val* v) {
  const std::string bk = BlockKey(kk, seq);
  *k = Val(bk.data(), bk.size());
  int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
  if (rc == 0 && k->mv_size == bk.size() && std::memcmp(k->mv_data, bk.data(), bk.size()) == 0) return 0;
  if (rc == MDB_NOTFOUND) {
    rc = mdb_cursor_get(c, k, v, MDB_LAST);
  } else if (rc == 0) {
    rc = mdb_cursor_get(c, k, v, MDB_PREV);
  }
  if (rc != 0) return rc;
  return IsBlockOf(*k, kk) ? 0 : MDB_NOTFOUND;
}

}  // namespace

void EncodeKeyItem(uint64_t seq, const Loc& loc, std::string_view key, char* out) {
  EncodeBigEndian64(out, seq);
  Loc l = loc;
  l.key_truncated = key.size() > kMaxIndexKey;
  EncodeLoc(l, true, out + 8);
}

// ---- Write ----

MDB_cursor* Index::Write::KeyCursor(int* rc) {
  *rc = 0;
  if (key_cursor_ == nullptr) *rc = mdb_cursor_open(txn_, idx_->key_[gen_], &key_cursor_);
  return key_cursor_;
}

Status Index::Write::PutKey(uint64_t seq, const Loc& loc, std::string_view key) {
  std::string& items = key_puts_[std::string(key.substr(0, kMaxIndexKey))];
  const size_t at = items.size();
  items.resize(at + kKeyItemSize);
  EncodeKeyItem(seq, loc, key, items.data() + at);
  key_put_bytes_ += kKeyItemSize;
  constexpr size_t kMaxBuffered = 1 << 20;
  return key_put_bytes_ >= kMaxBuffered ? FlushKeyPuts() : Status::OK();
}

Status Index::Write::FlushKeyPuts() {
  if (key_puts_.empty()) return Status::OK();
  // In key-table order (length, then bytes): neighbouring puts share pages.
  std::vector<const std::pair<const std::string, std::string>*> order;
  order.reserve(key_puts_.size());
  for (const auto& kv : key_puts_) order.push_back(&kv);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return KeyTableBefore(a->first, b->first); });
  Status s;
  for (const auto* e : order) {
    // A truncated key's items carry the flag; the key's bytes are cut alike.
    s = PutKeyRun(e->first, e->second.data(), e->second.size() / kKeyItemSize);
    if (!s.ok()) break;
  }
  key_puts_.clear();
  key_put_bytes_ = 0;
  return s;
}

Status Index::Write::PutKeyRun(std::string_view key, const char* items, size_t count, bool newer) {
  if (count == 0) return Status::OK();
  const std::string kk = KeyTableKey(key.substr(0, kMaxIndexKey));
  written_ += count * kKeyItemSize + (count / kKeyBlockItems + 1) * (kk.size() + 24);
  int rc = 0;
  MDB_cursor* c = KeyCursor(&rc);
  if (rc != 0) return Fail(rc, "cursor open");
  size_t done = 0;
  MDB_val k, v;
  rc = newer && count >= kKeyBlockItems / 2 ? MDB_NOTFOUND : FindBlock(c, kk, UINT64_MAX, &k, &v);  // the last block
  if (rc != 0 && rc != MDB_NOTFOUND) return Fail(rc, "find key block");
  if (rc == 0) {
    if (!WellFormed(v)) return Fail(MDB_CORRUPTED, "read key block");
    const size_t n = v.mv_size / kKeyItemSize;
    const char* last = static_cast<const char*>(v.mv_data) + (n - 1) * kKeyItemSize;
    if (ItemSeq(items) <= ItemSeq(last)) {
      // Not newer than what the key has (an index caught up over entries it
      // already holds): each item where it belongs.
      for (size_t i = 0; i < count; ++i) MQ_RETURN_IF_ERROR(InsertKeyItem(kk, items + i * kKeyItemSize));
      return Status::OK();
    }
    if (n < kKeyBlockItems) {
      done = std::min(kKeyBlockItems - n, count);
      block_key_.assign(static_cast<const char*>(k.mv_data), k.mv_size);
      block_.assign(static_cast<const char*>(v.mv_data), v.mv_size);
      block_.append(items, done * kKeyItemSize);
      MDB_val kv = Val(block_key_.data(), block_key_.size()), vv = Val(block_.data(), block_.size());
      rc = mdb_cursor_put(c, &kv, &vv, MDB_CURRENT);
      if (rc != 0) return Fail(rc, "put key block");
    }
  }
  while (done < count) {
    const size_t take = std::min(kKeyBlockItems, count - done);
    const char* first = items + done * kKeyItemSize;
    const std::string bk = BlockKey(kk, ItemSeq(first));
    MDB_val kv = Val(bk.data(), bk.size()), vv = Val(first, take * kKeyItemSize);
    rc = mdb_cursor_put(c, &kv, &vv, 0);
    if (rc != 0) return Fail(rc, "put key block");
    done += take;
  }
  return Status::OK();
}

Status Index::Write::InsertKeyItem(std::string_view kk, const char* item) {
  int rc = 0;
  MDB_cursor* c = KeyCursor(&rc);
  if (rc != 0) return Fail(rc, "cursor open");
  const uint64_t seq = ItemSeq(item);
  MDB_val k, v;
  rc = FindBlock(c, kk, seq, &k, &v);
  if (rc == MDB_NOTFOUND) {
    // Older than every block of the key: a block of its own (the key's next
    // block, if any, has a greater seq).
    const std::string bk = BlockKey(kk, seq);
    MDB_val kv = Val(bk.data(), bk.size()), vv = Val(item, kKeyItemSize);
    rc = mdb_cursor_put(c, &kv, &vv, 0);
    return rc == 0 ? Status::OK() : Fail(rc, "put key block");
  }
  if (rc != 0) return Fail(rc, "find key block");
  if (!WellFormed(v)) return Fail(MDB_CORRUPTED, "read key block");
  block_key_.assign(static_cast<const char*>(k.mv_data), k.mv_size);
  block_.assign(static_cast<const char*>(v.mv_data), v.mv_size);
  const size_t n = block_.size() / kKeyItemSize;
  size_t at = 0;
  while (at < n && ItemSeq(block_.data() + at * kKeyItemSize) < seq) ++at;
  if (at < n && ItemSeq(block_.data() + at * kKeyItemSize) == seq) {
    block_.replace(at * kKeyItemSize, kKeyItemSize, item, kKeyItemSize);  // there already: its location now
  } else {
    block_.insert(at * kKeyItemSize, item, kKeyItemSize);
  }
  const size_t total = block_.size() / kKeyItemSize;
  const size_t keep = total <= kKeyBlockItems ? total : total / 2;  // a full block splits in two
  MDB_val kv = Val(block_key_.data(), block_key_.size()), vv = Val(block_.data(), keep * kKeyItemSize);
  rc = mdb_cursor_put(c, &kv, &vv, MDB_CURRENT);
  if (rc == 0 && keep < total) {
    const char* rest = block_.data() + keep * kKeyItemSize;
    const std::string bk = BlockKey(kk, ItemSeq(rest));
    kv = Val(bk.data(), bk.size());
    vv = Val(rest, (total - keep) * kKeyItemSize);
    rc = mdb_cursor_put(c, &kv, &vv, 0);
  }
  return rc == 0 ? Status::OK() : Fail(rc, "put key block");
}

// Deletes the key items queued by Delete, in key-table order: one rewrite
// (or delete) of each block that loses items, through one cursor, so that
// neighbours are found on the cursor's page and each page is dirtied once.
Status Index::Write::FlushKeyDeletes() {
  if (key_dels_.empty()) return Status::OK();
  const char* arena = key_arena_.data();
  auto key_of = [arena](const KeyDel& d) { return std::string_view(arena + d.off, d.len); };
  std::sort(key_dels_.begin(), key_dels_.end(), [&](const KeyDel& a, const KeyDel& b) {
    if (a.head != b.head) return a.head < b.head;  // the same order as the bytes (zero-padded)
    const int c = (a.len <= 8 && b.len <= 8) ? (a.len < b.len ? -1 : a.len > b.len) : key_of(a).compare(key_of(b));
    return c != 0 ? c < 0 : a.seq < b.seq;
  });
  int rc = 0;
  MDB_cursor* c = KeyCursor(&rc);
  if (rc != 0) return Fail(rc, "cursor open");
  size_t i = 0;
  while (i < key_dels_.size()) {
    const std::string_view kk = key_of(key_dels_[i]);
    MDB_val k, v;
    rc = FindBlock(c, kk, key_dels_[i].seq, &k, &v);
    if (rc == MDB_NOTFOUND) {
      ++i;
      continue;
    }
    if (rc != 0) return Fail(rc, "find key block");
    if (!WellFormed(v)) return Fail(MDB_CORRUPTED, "read key block");
    const char* items = static_cast<const char*>(v.mv_data);
    const size_t n = v.mv_size / kKeyItemSize;
    const uint64_t last = ItemSeq(items + (n - 1) * kKeyItemSize);
    // The queued deletes of this key up to the block's last item: merge them
    // with the block's items (both in seq order).
    size_t j = i, kept = 0;
    block_.resize(v.mv_size);
    for (size_t r = 0; r < n; ++r) {
      const char* item = items + r * kKeyItemSize;
      const uint64_t seq = ItemSeq(item);
      while (j < key_dels_.size() && key_dels_[j].seq < seq && key_of(key_dels_[j]) == kk) ++j;
      if (j < key_dels_.size() && key_dels_[j].seq == seq && key_of(key_dels_[j]) == kk) {
        ++j;
        continue;
      }
      std::memcpy(block_.data() + kept++ * kKeyItemSize, item, kKeyItemSize);
    }
    while (j < key_dels_.size() && key_dels_[j].seq <= last && key_of(key_dels_[j]) == kk) ++j;
    if (j == i) {  // the seq lies between this block's last item and the next block: not in the table
      ++i;
      continue;
    }
    if (kept == 0) {
      rc = mdb_cursor_del(c, 0);
    } else if (kept < n) {
      block_key_.assign(static_cast<const char*>(k.mv_data), k.mv_size);
      MDB_val kv = Val(block_key_.data(), block_key_.size()), vv = Val(block_.data(), kept * kKeyItemSize);
      rc = mdb_cursor_put(c, &kv, &vv, MDB_CURRENT);
    }
    if (rc != 0) return Fail(rc, "delete key item");
    i = j;
  }
  key_dels_.clear();
  key_arena_.clear();
  return Status::OK();
}

// ---- Read ----

Status Index::Read::SeekKey(std::string_view key, uint64_t from_seq) {
  valid_ = false;
  if (idx_->key_[gen_] == 0) return Status::OK();  // an older format's index opened read-only has no key table
  if (key_cur_ == nullptr) {
    int rc = mdb_cursor_open(txn_, idx_->key_[gen_], &key_cur_);
    if (rc != 0) return LmdbStatus(rc, idx_->path_, "cursor open");
  }
  cur_ = key_cur_;
  want_key_ = KeyTableKey(key.substr(0, kMaxIndexKey));
  // The first block at or above from_seq, then a step back to the block that
  // may hold from_seq (the greatest block seq below it), if it is the key's.
  const std::string bk = BlockKey(want_key_, from_seq);
  MDB_val k = Val(bk.data(), bk.size()), v;
  int rc = mdb_cursor_get(cur_, &k, &v, MDB_SET_RANGE);
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbStatus(rc, idx_->path_, "cursor");
  const bool at_or_above = rc == 0 && IsBlockOf(k, want_key_);
  if (at_or_above && k.mv_size == bk.size() && std::memcmp(k.mv_data, bk.data(), bk.size()) == 0)
    return EnterBlock(v, from_seq);  // a block starts at from_seq exactly
  MDB_val pk, pv;
  int prc = mdb_cursor_get(cur_, &pk, &pv, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
  if (prc == 0 && IsBlockOf(pk, want_key_)) return EnterBlock(pv, from_seq);
  if (prc != 0 && prc != MDB_NOTFOUND) return LmdbStatus(prc, idx_->path_, "cursor");
  if (!at_or_above) return Status::OK();  // the key has no block
  prc = mdb_cursor_get(cur_, &pk, &pv, prc == 0 ? MDB_NEXT : MDB_FIRST);  // back to the one found
  if (prc != 0) return LmdbStatus(prc, idx_->path_, "cursor");
  return EnterBlock(pv, from_seq);
}

Status Index::Read::EnterBlock(MDB_val v, uint64_t from_seq) {
  if (!WellFormed(v)) return Status::Corruption(idx_->path_ + ": malformed key block in index");
  blk_ = static_cast<const char*>(v.mv_data);
  blk_n_ = v.mv_size / kKeyItemSize;
  // The first item with seq >= from_seq (binary search: items are in seq order).
  size_t lo = 0, hi = blk_n_;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (ItemSeq(blk_ + mid * kKeyItemSize) < from_seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  blk_i_ = lo;
  if (blk_i_ == blk_n_) return NextBlock();
  LoadItem();
  return Status::OK();
}

Status Index::Read::NextBlock() {
  valid_ = false;
  MDB_val k, v;
  int rc = mdb_cursor_get(cur_, &k, &v, MDB_NEXT);
  if (rc == MDB_NOTFOUND || (rc == 0 && !IsBlockOf(k, want_key_))) return Status::OK();
  if (rc != 0) return LmdbStatus(rc, idx_->path_, "cursor");
  return EnterBlock(v, 0);
}

void Index::Read::LoadItem() {
  const char* item = blk_ + blk_i_ * kKeyItemSize;
  cur_seq_ = ItemSeq(item);
  DecodeLocBytes(item + 8, &cur_loc_, nullptr);
  cur_key_ = std::string_view(want_key_.data() + 2, want_key_.size() - 2);
  valid_ = true;
}

Status Index::Read::NextKey() {
  if (!valid_) return Status::OK();
  if (++blk_i_ < blk_n_) {
    LoadItem();
    return Status::OK();
  }
  return NextBlock();
}

}  // namespace mq
