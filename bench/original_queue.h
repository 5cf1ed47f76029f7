// The original design's queue algorithm (the 2006 "Erlang in Python" article,
// /work/shared/seed), ported to C++ as a benchmark reference. It is a port of
// the algorithm, not of the code: a flat file of [int32 used][int32 size]
// [payload] records read and written through C stdio, as Python 2's file
// object did:
//
//   receive(pattern)  iter_queue() from offset 0; the first payload the
//                     pattern accepts is marked used and returned
//   iter_queue()      seek(0); loop: read 8 bytes (stop on a short read); if
//                     used, seek `size` forward; else read the payload and
//                     yield (place, payload)
//   markused(place)   remember the position, seek to place, write int32 1,
//                     seek back
//   enqueue(payload)  seek to the end, write the record
//
// Every receive rescans the file from the start, consumed records included,
// which is what makes its drain quadratic. The socket half of the original
// receive is left out: the benchmarks put messages straight into the queue
// file, as if they had arrived and not matched.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mq::bench {

class OriginalQueue {
 public:
  // Opens `path` with mode "w+" as the original does: the file is truncated.
  explicit OriginalQueue(const std::string& path);
  ~OriginalQueue();
  OriginalQueue(const OriginalQueue&) = delete;
  OriginalQueue& operator=(const OriginalQueue&) = delete;

  bool ok() const { return f_ != nullptr; }
  void Enqueue(std::string_view payload);
  // The first unused payload that `match` accepts, marked used; nullopt if none.
  std::optional<std::string> Receive(const std::function<bool(std::string_view)>& match);
  // Pushes stdio's buffer to the kernel (between a fill and a timed phase).
  void Flush() { std::fflush(f_); }

 private:
  void MarkUsed(long place);
  std::FILE* f_ = nullptr;
};

}  // namespace mq::bench
