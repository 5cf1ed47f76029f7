// ChunkedVector: a vector's index, front/back and push_back, stored in
// fixed chunks of kChunk elements, so that growing never moves what is
// stored. The index tail keeps its entries in one: during an online
// compaction no index write runs and the tail grows to millions of entries,
// and a std::vector's doubling (copying and faulting in tens of megabytes)
// landed inside a single append (issue 24). Chunks are kept on clear() up to
// the reserve() hint, so a tail that is flushed at its usual size allocates
// nothing once warm.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace mq {

template <typename T>
class ChunkedVector {
 public:
  static constexpr size_t kShift = 12;
  static constexpr size_t kChunk = size_t{1} << kShift;  // elements a chunk

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) {
    assert(i < size_);
    return chunks_[i >> kShift][i & (kChunk - 1)];
  }
  const T& operator[](size_t i) const {
    assert(i < size_);
    return chunks_[i >> kShift][i & (kChunk - 1)];
  }
  T& front() { return (*this)[0]; }
  const T& front() const { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }
  const T& back() const { return (*this)[size_ - 1]; }

  void push_back(const T& v) {
    if ((size_ >> kShift) == chunks_.size()) chunks_.push_back(std::make_unique<T[]>(kChunk));
    chunks_[size_ >> kShift][size_ & (kChunk - 1)] = v;
    ++size_;
  }
  // Keeps chunks for n elements across clear(); allocates nothing now.
  void reserve(size_t n) { keep_ = std::max(keep_, (n + kChunk - 1) >> kShift); }
  void clear() {
    size_ = 0;
    if (chunks_.size() > keep_) chunks_.resize(keep_);
  }
  void swap(ChunkedVector& o) noexcept {
    chunks_.swap(o.chunks_);
    std::swap(size_, o.size_);
    std::swap(keep_, o.keep_);
  }
  friend void swap(ChunkedVector& a, ChunkedVector& b) noexcept { a.swap(b); }

  template <typename F>
  void ForEach(F&& f) {
    for (size_t i = 0; i < size_; ++i) f((*this)[i]);
  }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  size_t size_ = 0;
  size_t keep_ = 0;
};

}  // namespace mq
