#include "engine/read_cache.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace mq {

ReadCache::Window& ReadCache::Victim() {
  if (w_[0].len == 0) return w_[0];
  if (w_[1].len == 0) return w_[1];
  return w_[0].used <= w_[1].used ? w_[0] : w_[1];
}

Status ReadCache::Miss(File* file, uint64_t limit, uint64_t off, size_t n, const char** p, Window* into) {
  if (off + n > limit)
    return Status::Corruption(file->path() + ": offset " + std::to_string(off) + ": the index points " +
                              std::to_string(n) + " bytes past the end of the log (" + std::to_string(limit) +
                              " bytes); reopen the queue to rebuild its index");
  Window& w = into != nullptr ? *into : Victim();
  const Window& last = Other(w);  // the one read most recently
  // A window that starts at the request serves reads going forward; a miss
  // just below the window in use (a walk going backward) gets one that ends
  // at the request. A walk that ran off its window (`into`) goes forward.
  const size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(n, window_), limit));
  uint64_t start = off;
  if (into == nullptr && last.len != 0 && off < last.off && off + n >= want) start = off + n - want;
  if (start + want > limit) start = limit - want;
  if (start > off) start = off;
  ++epoch_;
  if (w.buf.size() < want) w.buf.resize(want);
  size_t got = 0;
  w.len = 0;
  Status s = file->Read(start, want, w.buf.data(), &got);
  if (!s.ok()) return s;
  if (start + got < off + n)
    return Status::Corruption(file->path() + ": offset " + std::to_string(off) + ": log ends early (read " +
                              std::to_string(start + got > off ? start + got - off : 0) + " of " +
                              std::to_string(n) + " bytes)");
  w.off = start;
  w.len = got;
  w.used = ++clock_;
  *p = w.buf.data() + (off - start);
  return Status::OK();
}

bool ReadCache::MayGrow(const Window& w, uint64_t from, uint64_t off, size_t n) {
  return max_window_ > window_ &&
         // The walk began in the first quarter of w: it has read (nearly) all
         // of w, and a walk beginning there again would read it all again.
         from >= w.off && from - w.off <= w.len / 4 &&
         // It wants bytes near w's end, and w would stay within its bound.
         off <= w.off + w.len + window_ && off + n <= w.off + max_window_ &&
         // Only one window grows: the other holds no more than a window.
         Other(w).len <= window_;
}

Status ReadCache::Grow(File* file, uint64_t limit, uint64_t off, size_t n, Window* w, const char** p) {
  if (off + n > limit) return Miss(file, limit, off, n, p, w);  // Miss says what is wrong
  // Double the window (by at least one window's worth), within its bound
  // and the file.
  const uint64_t have = w->off + w->len;
  const uint64_t end = std::min({limit, w->off + max_window_,
                                 std::max<uint64_t>(off + n, have + std::max(w->len, window_))});
  Window& other = Other(*w);
  ++epoch_;  // the buffer may move
  if (other.buf.capacity() > window_) {
    // The other window grew once; it holds at most a window now: give back
    // its memory, so that the two hold at most max_window + window bytes.
    std::vector<char> small(other.buf.begin(), other.buf.begin() + static_cast<long>(other.len));
    small.resize(window_);
    other.buf.swap(small);
  }
  try {
    if (w->buf.capacity() < end - w->off) w->buf.reserve(static_cast<size_t>(end - w->off));  // exactly
    w->buf.resize(static_cast<size_t>(end - w->off));
  } catch (const std::bad_alloc&) {
    return Miss(file, limit, off, n, p, w);  // no memory to grow: slide the window instead
  }
  size_t got = 0;
  Status s = file->Read(have, static_cast<size_t>(end - have), w->buf.data() + w->len, &got);
  if (!s.ok()) {
    w->len = 0;
    return s;
  }
  w->len += got;
  if (w->off + w->len < off + n)
    return Status::Corruption(file->path() + ": offset " + std::to_string(off) + ": log ends early (read " +
                              std::to_string(w->off + w->len > off ? w->off + w->len - off : 0) + " of " +
                              std::to_string(n) + " bytes)");
  w->used = ++clock_;
  *p = w->buf.data() + (off - w->off);
  return Status::OK();
}

void ReadCache::Append(uint64_t off, const char* src, size_t n) {
  if (n > window_) return;
  Window* w = nullptr;
  for (Window& c : w_)
    // A grown window is a walk's: appends would push its oldest bytes out.
    if (c.len != 0 && c.len <= window_ && off == c.off + c.len) w = &c;
  if (w == nullptr) {
    for (Window& c : w_)
      if (c.len == 0) w = &c;
    if (w == nullptr) return;
    w->off = off;
  }
  if (w->buf.size() < window_) {
    ++epoch_;  // the buffer may move
    w->buf.resize(window_);
  }
  if (w->len + n > window_) {
    // Drop at least half the window, so that the move is paid once per
    // half window of appends, not on every append.
    const size_t drop = std::min(w->len, std::max(w->len + n - window_, window_ / 2));
    ++epoch_;
    std::memmove(w->buf.data(), w->buf.data() + drop, w->len - drop);
    w->off += drop;
    w->len -= drop;
  }
  std::memcpy(w->buf.data() + w->len, src, n);
  w->len += n;
}

void ReadCache::Patch(uint64_t off, const char* src, size_t n) {
  ++epoch_;
  for (Window& w : w_) {
    if (w.len == 0 || off + n <= w.off || off >= w.off + w.len) continue;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t o = off + i;
      if (o >= w.off && o < w.off + w.len) w.buf[o - w.off] = src[i];
    }
  }
}

}  // namespace mq
