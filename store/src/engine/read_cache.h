// ReadCache: two windows of log bytes, each read with a single pread, that
// serve many small reads (a drain or a predicate scan walks the log in order).
// Two, because a selective receive often alternates between two places: the
// old messages at the front that do not match, and the new one that does.
// The store patches them when it rewrites a used flag, and feeds them what it
// appends, so that a receiver keeping up with the appends reads them from
// memory, not with a pread each.
//
// When the store has the file mapped (UseMapping), reads are served from the
// mapping instead and nothing is copied.
//
// One window may grow past `window` bytes, up to `max_window`: a walk that
// began at the start of its window and runs off its end extends that window
// rather than sliding it on. A selective receive that walks the same backlog
// again and again then reads it from memory after the first walk instead of
// copying it with pread every time (docs/design.md, "Reading").
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "mq/env.h"

namespace mq {

class ReadCache {
 public:
  explicit ReadCache(size_t window = 256 << 10, size_t max_window = 0)
      : window_(window), max_window_(std::clamp(max_window, window, kMaxWindow)) {}

  // A window's bytes as a walk holds on to them between records: finding
  // the next record is then a few compares, not a search of the windows.
  // Valid while the cache's epoch() is the one it was taken at.
  struct Span {
    const char* base = nullptr;
    uint64_t off = 0;  // the file offset of base[0]
    size_t len = 0;    // bytes from base on, all below the limit it was taken with
    uint64_t epoch = UINT64_MAX;
    uint64_t from = UINT64_MAX;  // where the walk holding it first read
    const char* At(uint64_t o, size_t n, uint64_t now) const {
      return now == epoch && o >= off && o + n <= off + len ? base + (o - off) : nullptr;
    }
  };

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
    Span unused;
    return FindSpan(limit, off, n, &unused);
  }
  // Find, and if found, *span becomes the window holding the bytes.
  const char* FindSpan(uint64_t limit, uint64_t off, size_t n, Span* span) {
    if (off + n > limit) return nullptr;
    const uint64_t from = span->from == UINT64_MAX ? off : span->from;
    if (map_ != nullptr && off + n <= map_len_) {
      *span = Span{map_, 0, static_cast<size_t>(std::min<uint64_t>(limit, map_len_)), epoch_, from};
      return map_ + off;
    }
    for (Window& w : w_) {
      if (w.len != 0 && off >= w.off && off + n <= w.off + w.len) {
        w.used = ++clock_;
        *span = Span{w.buf.data(), w.off, static_cast<size_t>(std::min<uint64_t>(w.len, limit - w.off)), epoch_,
                     from};
        return w.buf.data() + (off - w.off);
      }
    }
    return nullptr;
  }
  // Read, and *span becomes the window holding the bytes. A walk that runs
  // off the end of its span's window extends that window if it may grow
  // (above), and otherwise reads the next bytes into that same window: the
  // other one keeps what it holds, and the walk's bytes stay in one buffer (a
  // smaller footprint in the CPU's cache).
  Status ReadSpan(File* file, uint64_t limit, uint64_t off, size_t n, Span* span, const char** p) {
    *p = FindSpan(limit, off, n, span);
    if (*p != nullptr) return Status::OK();
    if (span->from == UINT64_MAX) span->from = off;
    Window* reuse = nullptr;
    if (span->epoch == epoch_ && off >= span->off)
      for (Window& w : w_)
        if (w.len != 0 && w.buf.data() == span->base) reuse = &w;
    if (reuse != nullptr && MayGrow(*reuse, span->from, off, n))
      MQ_RETURN_IF_ERROR(Grow(file, limit, off, n, reuse, p));
    else  // a grown window that may grow no further keeps its bytes for the next walk
      MQ_RETURN_IF_ERROR(Miss(file, limit, off, n, p, reuse == nullptr || reuse->len <= window_ ? reuse : &Other(*reuse)));
    return FindSpan(limit, off, n, span) == *p ? Status::OK()
                                                : Status::Corruption(file->path() + ": read window lost");
  }
  // Memory the windows hold: at most max_window + window.
  size_t bytes_held() const { return w_[0].buf.capacity() + w_[1].buf.capacity(); }
  // Changes whenever bytes a window held may have moved or changed.
  uint64_t epoch() const { return epoch_; }
  // Keeps the windows in step with a write the store made.
  void Patch(uint64_t off, const char* src, size_t n);
  // Offers bytes just appended at `off`. They are kept if they continue a
  // window (its oldest bytes make room), or in a window nobody has used yet:
  // a reader that lags far behind keeps its own window undisturbed.
  void Append(uint64_t off, const char* src, size_t n);
  // Append of the pieces' bytes, one after another from `off` (a gathered
  // write): kept on the same terms as one Append of them all.
  void AppendV(uint64_t off, const iovec* pieces, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) total += pieces[i].iov_len;
    if (total > window_) return;
    for (size_t i = 0; i < n; ++i) {
      Append(off, static_cast<const char*>(pieces[i].iov_base), pieces[i].iov_len);
      off += pieces[i].iov_len;
    }
  }
  // Serves every read below `len` from `base`, the file mapped in place
  // (File::MapForRead), until called again; nullptr goes back to the
  // windows. The windows stay as they are meanwhile.
  void UseMapping(const char* base, uint64_t len) {
    if (base != map_) ++epoch_;
    map_ = base;
    map_len_ = base != nullptr ? len : 0;
  }
  void Invalidate() {
    ++epoch_;
    map_ = nullptr;
    map_len_ = 0;
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
  Window& Other(const Window& w) { return &w == &w_[0] ? w_[1] : w_[0]; }
  // A walk that began at `from` ran off the end of w wanting [off, off+n).
  bool MayGrow(const Window& w, uint64_t from, uint64_t off, size_t n);
  // Extends w to cover [off, off+n), reading only the bytes it lacks.
  Status Grow(File* file, uint64_t limit, uint64_t off, size_t n, Window* w, const char** p);
  // Reads a window's worth at `off` into `into`, or else into the least
  // recently used window.
  Status Miss(File* file, uint64_t limit, uint64_t off, size_t n, const char** p, Window* into = nullptr);

  // A bound on any window, so that offset arithmetic cannot overflow
  // whatever a caller asks for (a window never grows past the file anyway).
  static constexpr size_t kMaxWindow = size_t{1} << 40;
  size_t window_;
  size_t max_window_;
  Window w_[2];
  const char* map_ = nullptr;  // UseMapping
  uint64_t map_len_ = 0;
  uint64_t clock_ = 0;
  uint64_t epoch_ = 0;
};

}  // namespace mq
