// The index's LMDB map grows on demand (docs/design.md, "Growing the index
// map"). LMDB's rule: mdb_env_set_mapsize only while no transaction of this
// process is active; a process whose map is smaller than another process
// made the file gets MDB_MAP_RESIZED when it begins a transaction, and then
// takes the file's size with mdb_env_set_mapsize(env, 0). A resize only
// remaps: it writes nothing to the file (the new size reaches the meta page
// with the next commit), so a crash during one loses nothing.
#include <algorithm>

#include "index/index.h"

namespace mq {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

uint64_t RoundUpMiB(uint64_t n) { return (n + kMiB - 1) / kMiB * kMiB; }

}  // namespace

uint64_t Index::UsedBytes() {
  MDB_envinfo info;
  if (mdb_env_info(env_, &info) != 0) return 0;
  return (static_cast<uint64_t>(info.me_last_pgno) + 1) * page_size_;
}

bool Index::WouldGrowLocked(uint64_t need) {
  if (map_ >= max_map_) return false;
  return full_.load() || (UsedBytes() + need) * 2 > map_;
}

bool Index::WouldGrow(uint64_t need) {
  MutexLock l(&gate_mu_);
  return WouldGrowLocked(need);
}

Status Index::CeilingError(uint64_t need) {
  return Status::IOError(path_ + ": the index is full: it needs " + std::to_string(need) +
                             " bytes and its map may not grow past " + std::to_string(max_map_) +
                             " bytes (StoreOptions::max_index_bytes). Raise that limit, or consume and compact "
                             "the queue",
                         ENOSPC);
}

Status Index::GrowLocked(uint64_t need) {
  const bool full = full_.load();
  uint64_t want = UsedBytes() + need;
  if (full) want = std::max(want, map_ + 1);  // the last write did not fit in map_
  if (want * 2 <= map_) return Status::OK();
  const uint64_t target = std::min(max_map_, std::max(kInitialMapBytes, RoundUpMiB(want * 4)));
  if (target > map_) {
    const int rc = mdb_env_set_mapsize(env_, target);
    if (rc != 0) return LmdbStatus(rc, path_, "resize the map to " + std::to_string(target) + " bytes");
    MDB_envinfo info;
    map_ = mdb_env_info(env_, &info) == 0 ? info.me_mapsize : target;
    ++resizes_;
    full_.store(false);
  }
  return want <= map_ ? Status::OK() : CeilingError(want);
}

Status Index::Reserve(uint64_t need) {
  MutexLock l(&gate_mu_);
  if (readers_ != 0 || writers_ != 0)
    return Status::Busy(path_ + ": the index map cannot grow while a transaction is active");
  return GrowLocked(need);
}

uint64_t Index::map_bytes() {
  MutexLock l(&gate_mu_);
  return map_;
}

uint64_t Index::map_resizes() {
  MutexLock l(&gate_mu_);
  return resizes_;
}

void Index::ReaderEnter() {
  MutexLock l(&gate_mu_);
  ++readers_;
}

void Index::ReaderLeave() {
  MutexLock l(&gate_mu_);
  --readers_;
}

uint64_t Index::WriterEnter(uint64_t need) {
  MutexLock l(&gate_mu_);
  // Ahead of the write, while nobody reads: a write that finds the map full
  // fails, and must be run again after a Reserve.
  if (readers_ == 0 && writers_ == 0 && WouldGrowLocked(need)) (void)GrowLocked(need);
  ++writers_;
  const uint64_t used = UsedBytes();
  return map_ > used ? map_ - used : 0;
}

void Index::WriterLeave() {
  MutexLock l(&gate_mu_);
  --writers_;
}

bool Index::AdoptSize() {
  MutexLock l(&gate_mu_);
  if (readers_ != 0 || writers_ != 0) return false;
  if (mdb_env_set_mapsize(env_, 0) != 0) return false;
  MDB_envinfo info;
  if (mdb_env_info(env_, &info) == 0) map_ = info.me_mapsize;
  ++resizes_;
  return true;
}

}  // namespace mq
