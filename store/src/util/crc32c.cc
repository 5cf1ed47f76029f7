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
// Long inputs run as three streams at once: the crc32 instruction takes 3
// cycles but can start one a cycle, so one chain of them uses a third of
// what the core can do (a 16 KiB payload's checksum cost half as much as
// writing it: issue 21, item 4). Each block of 3 x kStride bytes is summed
// as three parts, the first from the running register and the other two
// from 0, and joined: the register is linear in its start and its data, so
// the register after A then B is Shift_|B|(register after A) ^ (B summed
// from 0), where Shift_n appends n zero bytes.
constexpr size_t kStride = 512;

// The raw register (no inversion) after n zero bytes from r.
__attribute__((target("sse4.2"))) uint32_t ZerosSse42(uint32_t r, size_t n) {
  uint64_t c = r;
  for (; n >= 8; n -= 8) c = __builtin_ia32_crc32di(c, 0);
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n) c32 = __builtin_ia32_crc32qi(c32, 0);
  return c32;
}

// Shift_kStride, a byte of the register at a time (it is linear).
struct ShiftTable {
  uint32_t t[4][256];
  ShiftTable() {
    for (uint32_t k = 0; k < 4; ++k)
      for (uint32_t b = 0; b < 256; ++b) t[k][b] = ZerosSse42(b << (8 * k), kStride);
  }
  uint32_t Apply(uint32_t r) const {
    return t[0][r & 0xff] ^ t[1][(r >> 8) & 0xff] ^ t[2][(r >> 16) & 0xff] ^ t[3][r >> 24];
  }
};

__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const char* p, size_t n) {
  uint64_t c = ~crc;
  if (n >= 3 * kStride) {
    static const ShiftTable shift;
    do {
      uint64_t c1 = 0, c2 = 0;
      for (size_t i = 0; i < kStride; i += 8) {
        uint64_t v0, v1, v2;
        std::memcpy(&v0, p + i, 8);
        std::memcpy(&v1, p + kStride + i, 8);
        std::memcpy(&v2, p + 2 * kStride + i, 8);
        c = __builtin_ia32_crc32di(c, v0);
        c1 = __builtin_ia32_crc32di(c1, v1);
        c2 = __builtin_ia32_crc32di(c2, v2);
      }
      const uint32_t r = shift.Apply(shift.Apply(static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c1));
      c = r ^ static_cast<uint32_t>(c2);
      p += 3 * kStride;
      n -= 3 * kStride;
    } while (n >= 3 * kStride);
  }
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
