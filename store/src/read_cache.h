// ReadCache: two windows of log bytes, each read with a single pread, that
// serve many small reads (a drain or a predicate scan walks the log in order).
// Two, because a selective receive often alternates between two places: the
// old messages at the front that do not match, and the new one that does.
// The store patches them when it rewrites a used flag, and feeds them what it
// appends, so that a receiver keeping up with the appends reads them from
// memory, not with a pread each.
#pragma once

#include <cstdint>
#include <vector>

#include "mq/env.h"

namespace mq {

class ReadCache {
 public:
  explicit ReadCache(size_t window = 256 << 10) : window_(window) {}

  // Points *p at bytes [off, off+n) of `file`, which is `limit` bytes long.
  // *p stays valid until the next call of any method.
  Status Read(File* file, uint64_t limit, uint64_t off, size_t n, const char** p) {
    const char* hit = Find(limit, off, n);
    if (hit == nullptr) return Miss(file, limit, off, n, p);
    *p = hit;
    return Status::OK();
  }
  // The bytes [off, off+n) if a window holds them (and they lie below
  // `limit`), else nullptr. Reads nothing: a scan's fast path.
  const char* Find(uint64_t limit, uint64_t off, size_t n) {
    if (off + n > limit) return nullptr;
    for (Window& w : w_) {
      if (w.len != 0 && off >= w.off && off + n <= w.off + w.len) {
        w.used = ++clock_;
        return w.buf.data() + (off - w.off);
      }
    }
    return nullptr;
  }
  // Keeps the windows in step with a write the store made.
  void Patch(uint64_t off, const char* src, size_t n);
  // Offers bytes just appended at `off`. They are kept if they continue a
  // window (its oldest bytes make room), or in a window nobody has used yet:
  // a reader that lags far behind keeps its own window undisturbed.
  void Append(uint64_t off, const char* src, size_t n);
  void Invalidate() {
    for (Window& w : w_) w.len = 0;
  }

 private:
  struct Window {
    std::vector<char> buf;
    uint64_t off = 0;
    size_t len = 0;
    uint64_t used = 0;  // when it last served a read (for choosing a victim)
  };
  Window& Victim();
  Status Miss(File* file, uint64_t limit, uint64_t off, size_t n, const char** p);

  size_t window_;
  Window w_[2];
  uint64_t clock_ = 0;
};

}  // namespace mq
