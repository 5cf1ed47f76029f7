// How the index's tables encode their keys and values (docs/design.md, "The
// index"); shared by index.cc (open, seq table, meta) and index_keys.cc (the
// key table's blocks).
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "util/coding.h"
#include "index/index.h"

namespace mq::index_coding {

constexpr uint8_t kFlagFramed = 1, kFlagTruncated = 2, kFlagHasKey = 4;
constexpr size_t kLocSize = 13;
static_assert(kLocSize == 8 + 4 + 1, "u64 offset, u32 size, one flags byte");
static_assert(kMaxIndexKey <= 0xffff, "a key table key's length is a u16");

// Writes kLocSize bytes at out: u64 LE offset, u32 LE size, flags.
inline void EncodeLoc(const Loc& loc, bool has_key, char* out) {
  EncodeFixed64(out, loc.msg_offset);
  EncodeFixed32(out + 8, loc.size);
  const uint8_t f = (loc.framed ? kFlagFramed : 0) | (loc.key_truncated ? kFlagTruncated : 0) |
                    (has_key ? kFlagHasKey : 0);
  out[12] = static_cast<char>(f);
}

inline void DecodeLocBytes(const char* p, Loc* loc, bool* has_key) {
  loc->msg_offset = DecodeFixed64(p);
  loc->size = DecodeFixed32(p + 8);
  const uint8_t f = static_cast<uint8_t>(p[12]);
  loc->framed = f & kFlagFramed;
  loc->key_truncated = f & kFlagTruncated;
  if (has_key) *has_key = f & kFlagHasKey;
}

inline MDB_val Val(const void* p, size_t n) { return MDB_val{n, const_cast<void*>(p)}; }

// The key table's key prefix for one message key: u16 BE length, then the
// key's bytes (at most kMaxIndexKey). A block's key adds its u64 BE seq.
// The length comes first, so all blocks of one key are adjacent, in seq order.
inline void AppendKeyTableKey(std::string_view key, std::string* out) {
  out->push_back(static_cast<char>((key.size() >> 8) & 0xff));
  out->push_back(static_cast<char>(key.size() & 0xff));
  out->append(key);
}
inline std::string KeyTableKey(std::string_view key) {
  std::string k;
  AppendKeyTableKey(key, &k);
  return k;
}

// The seq of a key item (its first 8 bytes, big-endian).
inline uint64_t ItemSeq(const char* item) { return DecodeBigEndian64(item); }

}  // namespace mq::index_coding
