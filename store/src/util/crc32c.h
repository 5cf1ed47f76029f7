// CRC-32C (Castagnoli), as used by the log's message checksums
// (docs/log-format.md, "Checksums"). Hardware SSE4.2 when the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mq::crc32c {

// Returns the CRC-32C of data[0, n) continuing from crc `init` (0 to start).
uint32_t Extend(uint32_t init, const char* data, size_t n);
inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }

// The stored form of a CRC (docs/log-format.md, "Checksums"): rotated and
// offset, so that a CRC over bytes that themselves contain CRCs stays strong.
constexpr uint32_t kMaskDelta = 0xa282ead8u;
constexpr uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
constexpr uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}
static_assert(Unmask(Mask(0)) == 0 && Unmask(Mask(0xe3069283u)) == 0xe3069283u && Mask(0) != 0);

}  // namespace mq::crc32c
