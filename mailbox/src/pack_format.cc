#include "pack_format.h"

#include <cstdint>
#include <cstring>

namespace mq::pack {
namespace {
uint32_t Le32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
}  // namespace

void Pack(std::span<const std::string_view> messages, std::string* out) {
  size_t total = kHeader;
  for (std::string_view m : messages) total += kEntryHeader + m.size();
  out->clear();
  out->reserve(total);
  out->append(kMagic, sizeof(kMagic));
  for (std::string_view m : messages) {
    const auto len = static_cast<uint32_t>(m.size());
    const char le[4] = {static_cast<char>(len & 0xff), static_cast<char>((len >> 8) & 0xff),
                        static_cast<char>((len >> 16) & 0xff), static_cast<char>((len >> 24) & 0xff)};
    out->append(le, sizeof(le));
    out->append(m);
  }
}

Unpacked Unpack(std::string_view data, size_t real_len, std::vector<std::string_view>* out) {
  if (data.size() < kOverhead || std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) return Unpacked::kMalformed;
  if (real_len > data.size())  // cut short: only a single message too large is understood
    return Le32(data.data() + kHeader) == real_len - kOverhead ? Unpacked::kOneTooLarge : Unpacked::kMalformed;
  const size_t before = out->size();
  size_t pos = kHeader;
  while (pos < data.size()) {
    if (out->size() - before == kMaxMessages || data.size() - pos < kEntryHeader) break;
    const uint32_t len = Le32(data.data() + pos);
    if (len > data.size() - pos - kEntryHeader) break;  // runs past the end: pos stays short of it
    pos += kEntryHeader;
    out->push_back(data.substr(pos, len));
    pos += len;
  }
  if (pos != data.size() || out->size() == before) {
    out->resize(before);
    return Unpacked::kMalformed;
  }
  return Unpacked::kOk;
}

}  // namespace mq::pack
