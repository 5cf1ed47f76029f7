#include "read_cache.h"

#include <algorithm>
#include <cstring>

namespace mq {

Status ReadCache::Read(File* file, uint64_t limit, uint64_t off, size_t n, const char** p) {
  if (off + n > limit)
    return Status::Corruption(file->path() + ": offset " + std::to_string(off) + ": the index points " +
                              std::to_string(n) + " bytes past the end of the log (" + std::to_string(limit) +
                              " bytes); reopen the queue to rebuild its index");
  if (off >= off_ && off + n <= off_ + len_) {
    *p = buf_.data() + (off - off_);
    return Status::OK();
  }
  // A window that starts at the request serves reads going forward; a miss
  // below the current window (a walk going backward) gets one that ends at it.
  const size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(n, window_), limit));
  uint64_t start = off;
  if (len_ != 0 && off < off_ && off + n >= want) start = off + n - want;
  if (start + want > limit) start = limit - want;
  if (start > off) start = off;
  if (buf_.size() < want) buf_.resize(want);
  size_t got = 0;
  len_ = 0;
  Status s = file->Read(start, want, buf_.data(), &got);
  if (!s.ok()) return s;
  if (start + got < off + n)
    return Status::Corruption(file->path() + ": offset " + std::to_string(off) + ": log ends early (read " +
                              std::to_string(start + got > off ? start + got - off : 0) + " of " +
                              std::to_string(n) + " bytes)");
  off_ = start;
  len_ = got;
  *p = buf_.data() + (off - start);
  return Status::OK();
}

void ReadCache::Append(uint64_t off, const char* src, size_t n) {
  if (n > window_) return;
  if (len_ == 0) {
    off_ = off;
  } else if (off != off_ + len_) {
    return;
  }
  if (buf_.size() < window_) buf_.resize(window_);
  if (len_ + n > window_) {
    // Drop at least half the window, so that the move is paid once per
    // half window of appends, not on every append.
    const size_t drop = std::min(len_, std::max(len_ + n - window_, window_ / 2));
    std::memmove(buf_.data(), buf_.data() + drop, len_ - drop);
    off_ += drop;
    len_ -= drop;
  }
  std::memcpy(buf_.data() + len_, src, n);
  len_ += n;
}

void ReadCache::Patch(uint64_t off, const char* src, size_t n) {
  if (len_ == 0 || off + n <= off_ || off >= off_ + len_) return;
  for (size_t i = 0; i < n; ++i) {
    uint64_t o = off + i;
    if (o >= off_ && o < off_ + len_) buf_[o - off_] = src[i];
  }
}

}  // namespace mq
