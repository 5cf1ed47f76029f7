// ReadCache: one window of log bytes, read with a single pread, that serves
// many small reads (a drain or a predicate scan walks the log in order).
// The store patches it when it rewrites a used flag inside the window, and
// feeds it what it appends, so that a receiver keeping up with the appends
// reads them from memory, not with a pread each.
#pragma once

#include <cstdint>
#include <vector>

#include "mq/env.h"

namespace mq {

class ReadCache {
 public:
  explicit ReadCache(size_t window = 256 << 10) : window_(window) {}

  // Points *p at bytes [off, off+n) of `file`, which is `limit` bytes long.
  Status Read(File* file, uint64_t limit, uint64_t off, size_t n, const char** p);
  // Keeps the window in step with a write the store made.
  void Patch(uint64_t off, const char* src, size_t n);
  // Offers bytes just appended at `off`. They are kept if they continue the
  // window (its oldest bytes make room) or if there is no window: a reader
  // that lags far behind keeps its own window and is not disturbed.
  void Append(uint64_t off, const char* src, size_t n);
  void Invalidate() { len_ = 0; }

 private:
  size_t window_;
  std::vector<char> buf_;
  uint64_t off_ = 0;
  size_t len_ = 0;
};

}  // namespace mq
