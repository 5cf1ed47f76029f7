// Little-endian fixed-width encoding (docs/log-format.md: every integer in
// the log is little-endian) and big-endian keys for the index, whose byte
// order must sort like the numbers.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

namespace mq {

// On a little-endian host (every Linux target we build for) these are plain
// loads and stores: a scan decodes several integers per message, and the
// byte-at-a-time form was not combined into one load by the compiler.
inline constexpr bool kLittleEndian = std::endian::native == std::endian::little;
static_assert(kLittleEndian || std::endian::native == std::endian::big, "mixed-endian hosts are not supported");

inline void EncodeFixed32(char* dst, uint32_t v) {
  if constexpr (kLittleEndian) {
    std::memcpy(dst, &v, 4);
  } else {
    for (int i = 0; i < 4; ++i) dst[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}
inline void EncodeFixed64(char* dst, uint64_t v) {
  if constexpr (kLittleEndian) {
    std::memcpy(dst, &v, 8);
  } else {
    for (int i = 0; i < 8; ++i) dst[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v = 0;
  if constexpr (kLittleEndian) {
    std::memcpy(&v, p, 4);
  } else {
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v = 0;
  if constexpr (kLittleEndian) {
    std::memcpy(&v, p, 8);
  } else {
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}
inline int32_t DecodeInt32(const char* p) { return static_cast<int32_t>(DecodeFixed32(p)); }

inline void EncodeBigEndian64(char* dst, uint64_t v) {
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<char>((v >> (56 - 8 * i)) & 0xff);
}
inline uint64_t DecodeBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline void PutFixed32(std::string* s, uint32_t v) {
  char b[4];
  EncodeFixed32(b, v);
  s->append(b, 4);
}
inline void PutFixed64(std::string* s, uint64_t v) {
  char b[8];
  EncodeFixed64(b, v);
  s->append(b, 8);
}

}  // namespace mq
