#include "util/crc32c.h"

#include <array>
#include <cassert>
#include <cstring>

namespace mq::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82f63b78u;  // reflected Castagnoli polynomial

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = MakeTable();

constexpr uint32_t ExtendPortable(uint32_t crc, const char* p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i)
    crc = kTable[(crc ^ static_cast<uint8_t>(p[i])) & 0xff] ^ (crc >> 8);
  return ~crc;
}

// The standard check value of CRC-32C (RFC 3720, B.4): the table is the
// Castagnoli polynomial's.
constexpr char kCheckInput[] = "123456789";
constexpr uint32_t kCheckValue = 0xe3069283u;
static_assert(ExtendPortable(0, kCheckInput, 9) == kCheckValue);
static_assert(ExtendPortable(ExtendPortable(0, kCheckInput, 4), kCheckInput + 4, 5) == kCheckValue,
              "Extend continues a CRC");

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const char* p, size_t n) {
  uint64_t c = ~crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = __builtin_ia32_crc32qi(c32, static_cast<unsigned char>(*p));
    ++p;
    --n;
  }
  return ~c32;
}

using ExtendFn = uint32_t (*)(uint32_t, const char*, size_t);
ExtendFn Choose() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("sse4.2")) return ExtendPortable;
  assert(ExtendSse42(0, kCheckInput, 9) == kCheckValue);  // the instruction computes the same CRC
  return ExtendSse42;
}
const ExtendFn kExtend = Choose();
#endif

}  // namespace

uint32_t Extend(uint32_t init, const char* data, size_t n) {
#if defined(__x86_64__)
  return kExtend(init, data, n);
#else
  return ExtendPortable(init, data, n);
#endif
}

}  // namespace mq::crc32c
