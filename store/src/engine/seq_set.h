// SeqSet: a set of sequence numbers that also knows the range they lie in,
// so that asking about a seq outside it costs two compares, not a hash.
// A predicate scan asks about every message it passes; the seqs it holds
// (messages taken, consumed with their index delete still waiting, or found
// damaged) are usually few and far from the ones scanned.
//
// They can also be many: during an online compaction no index write runs, so
// every consume of a message LMDB holds stays here until the swap (millions,
// at the consume rate of a busy mailbox). The seqs are dense, so they are
// kept as bitmaps of kChunkSeqs consecutive seqs each, in a hash map of
// chunks: an insert never moves what is stored (a hash set of seqs rehashed
// millions of nodes inside one call, hundreds of milliseconds on a loaded
// machine: issue 24), and the set costs about a bit per seq of its range.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace mq {

class SeqSet {
 public:
  bool contains(uint64_t seq) const {
    if (seq < lo_ || seq > hi_) return false;
    const Chunk* c = Find(seq / kChunkSeqs);
    return c != nullptr && c->Test(seq % kChunkSeqs);
  }
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  // True if seq was not in the set.
  bool insert(uint64_t seq) {
    std::unique_ptr<Chunk>& c = chunks_[seq / kChunkSeqs];
    if (c == nullptr) c = std::make_unique<Chunk>();
    last_ = {seq / kChunkSeqs, c.get()};
    if (!c->Set(seq % kChunkSeqs)) return false;
    ++size_;
    lo_ = std::min(lo_, seq);
    hi_ = std::max(hi_, seq);
    return true;
  }
  // The range is not narrowed on erase (it stays a bound, only looser),
  // except that an empty set forgets it. An emptied chunk is freed.
  size_t erase(uint64_t seq) {
    auto it = chunks_.find(seq / kChunkSeqs);
    if (it == chunks_.end() || !it->second->Clear(seq % kChunkSeqs)) return 0;
    --size_;
    if (it->second->count == 0) {
      if (last_.chunk == it->second.get()) last_ = {};
      chunks_.erase(it);
    }
    if (size_ == 0) Reset();
    return 1;
  }
  void swap(SeqSet& o) noexcept {
    chunks_.swap(o.chunks_);
    std::swap(last_, o.last_);
    std::swap(size_, o.size_);
    std::swap(lo_, o.lo_);
    std::swap(hi_, o.hi_);
  }
  void assign(const std::unordered_set<uint64_t>& seqs) {
    chunks_.clear();
    last_ = {};
    size_ = 0;
    Reset();
    for (uint64_t s : seqs) insert(s);
  }

 private:
  static constexpr uint64_t kChunkSeqs = 1024;
  struct Chunk {
    std::array<uint64_t, kChunkSeqs / 64> bits{};
    uint32_t count = 0;
    bool Test(uint64_t i) const { return (bits[i / 64] >> (i % 64)) & 1; }
    bool Set(uint64_t i) {  // true if it was not set
      const uint64_t m = uint64_t{1} << (i % 64);
      if (bits[i / 64] & m) return false;
      bits[i / 64] |= m;
      ++count;
      return true;
    }
    bool Clear(uint64_t i) {  // true if it was set
      const uint64_t m = uint64_t{1} << (i % 64);
      if (!(bits[i / 64] & m)) return false;
      bits[i / 64] &= ~m;
      --count;
      return true;
    }
  };
  // The chunk asked for last is remembered: scans and consumes ask about
  // neighbouring seqs.
  struct Last {
    uint64_t id = std::numeric_limits<uint64_t>::max();
    Chunk* chunk = nullptr;
  };
  const Chunk* Find(uint64_t id) const {
    if (last_.chunk != nullptr && last_.id == id) return last_.chunk;
    auto it = chunks_.find(id);
    if (it == chunks_.end()) return nullptr;
    last_ = {id, it->second.get()};
    return it->second.get();
  }
  void Reset() {
    lo_ = std::numeric_limits<uint64_t>::max();
    hi_ = 0;
  }
  std::unordered_map<uint64_t, std::unique_ptr<Chunk>> chunks_;
  mutable Last last_;
  size_t size_ = 0;
  uint64_t lo_ = std::numeric_limits<uint64_t>::max();
  uint64_t hi_ = 0;
};

}  // namespace mq
