// SeqSet: a set of sequence numbers that also knows the range they lie in,
// so that asking about a seq outside it costs two compares, not a hash.
// A predicate scan asks about every message it passes; the seqs it holds
// (messages taken, consumed with their index delete still waiting, or found
// damaged) are few and usually far from the ones scanned.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <unordered_set>

namespace mq {

class SeqSet {
 public:
  bool contains(uint64_t seq) const { return seq >= lo_ && seq <= hi_ && set_.count(seq) != 0; }
  bool empty() const { return set_.empty(); }
  size_t size() const { return set_.size(); }

  // True if seq was not in the set.
  bool insert(uint64_t seq) {
    lo_ = std::min(lo_, seq);
    hi_ = std::max(hi_, seq);
    return set_.insert(seq).second;
  }
  // The range is not narrowed on erase (it stays a bound, only looser),
  // except that an empty set forgets it.
  size_t erase(uint64_t seq) {
    const size_t n = set_.erase(seq);
    if (set_.empty()) Reset();
    return n;
  }
  void assign(const std::unordered_set<uint64_t>& seqs) {
    set_ = seqs;
    Reset();
    for (uint64_t s : set_) {
      lo_ = std::min(lo_, s);
      hi_ = std::max(hi_, s);
    }
  }

 private:
  void Reset() {
    lo_ = std::numeric_limits<uint64_t>::max();
    hi_ = 0;
  }
  std::unordered_set<uint64_t> set_;
  uint64_t lo_ = std::numeric_limits<uint64_t>::max();
  uint64_t hi_ = 0;
};

}  // namespace mq
