#include "original_queue.h"

#include <cstdint>
#include <cstring>

namespace mq::bench {
namespace {
// struct.pack('ii', ...) on x86-64: native int32, little-endian.
void PackInt32(char* dst, int32_t v) { std::memcpy(dst, &v, 4); }
int32_t UnpackInt32(const char* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
}  // namespace

OriginalQueue::OriginalQueue(const std::string& path) { f_ = std::fopen(path.c_str(), "w+"); }

OriginalQueue::~OriginalQueue() {
  if (f_ != nullptr) std::fclose(f_);
}

void OriginalQueue::Enqueue(std::string_view payload) {
  std::fseek(f_, 0, SEEK_END);
  char head[8];
  PackInt32(head, 0);
  PackInt32(head + 4, static_cast<int32_t>(payload.size()));
  std::fwrite(head, 1, 8, f_);
  std::fwrite(payload.data(), 1, payload.size(), f_);
}

void OriginalQueue::MarkUsed(long place) {
  long previous = std::ftell(f_);
  std::fseek(f_, place, SEEK_SET);
  char one[4];
  PackInt32(one, 1);
  std::fwrite(one, 1, 4, f_);
  std::fseek(f_, previous, SEEK_SET);
}

std::optional<std::string> OriginalQueue::Receive(const std::function<bool(std::string_view)>& match) {
  // iter_queue
  std::fseek(f_, 0, SEEK_SET);
  for (;;) {
    long place = std::ftell(f_);
    char head[8];
    if (std::fread(head, 1, 8, f_) != 8) break;
    int32_t used = UnpackInt32(head);
    int32_t size = UnpackInt32(head + 4);
    if (used != 0) {
      std::fseek(f_, size, SEEK_CUR);
      continue;
    }
    std::string payload(static_cast<size_t>(size), '\0');  // read(size) makes a new string
    if (std::fread(payload.data(), 1, payload.size(), f_) != payload.size()) break;
    // receive: the pattern is tried on each yielded payload
    if (match(payload)) {
      MarkUsed(place);
      return payload;
    }
  }
  return std::nullopt;
}

}  // namespace mq::bench
