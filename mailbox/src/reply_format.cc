#include "reply_format.h"

#include <cstring>

namespace mq::reply {

void Encode(Code code, uint64_t seq, char out[kSize], uint8_t pack_log2) {
  std::memcpy(out, kMagic, 4);
  out[4] = static_cast<char>(kVersion);
  out[5] = static_cast<char>(code);
  const bool offer = pack_log2 >= kMinPackLog2 && pack_log2 <= kMaxPackLog2;
  out[6] = static_cast<char>(offer ? kFlagPackOffer : 0);
  out[7] = static_cast<char>(offer ? pack_log2 : 0);
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<char>((seq >> (8 * i)) & 0xff);
}

bool Decode(std::string_view data, Code* code, uint64_t* seq) {
  if (data.size() != kSize || std::memcmp(data.data(), kMagic, 4) != 0) return false;
  if (static_cast<uint8_t>(data[4]) != kVersion) return false;
  uint8_t c = static_cast<uint8_t>(data[5]);
  if (c > static_cast<uint8_t>(Code::kNoChannel)) return false;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(data[8 + i]);
  *code = static_cast<Code>(c);
  *seq = v;
  return true;
}

size_t PackOffer(std::string_view reply) {
  if (reply.size() != kSize || (static_cast<uint8_t>(reply[6]) & kFlagPackOffer) == 0) return 0;
  const uint8_t log2 = static_cast<uint8_t>(reply[7]);
  return log2 >= kMinPackLog2 && log2 <= kMaxPackLog2 ? size_t{1} << log2 : 0;
}

bool DecodeBatch(std::string_view data, std::vector<Answer>* out) {
  if (data.empty() || data.size() % kSize != 0 || data.size() / kSize > kMaxBatch) return false;
  const size_t before = out->size();
  for (size_t i = 0; i < data.size(); i += kSize) {
    Answer a;
    const std::string_view one = data.substr(i, kSize);
    a.pack_offer = PackOffer(one);
    if (!Decode(one, &a.code, &a.seq)) {
      out->resize(before);
      return false;
    }
    out->push_back(a);
  }
  return true;
}

}  // namespace mq::reply
