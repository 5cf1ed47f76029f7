// ReadPosition: where the store's reads resume and what they know is not
// there: the LMDB read snapshot, the message most recently returned, the
// fronts below which no visible message is (overall and per key), and the
// consumed entries the last walk stepped over. Part of StoreImpl, guarded by
// the store's mu_ as a whole (docs/design.md, "Locks and threads", and
// "Reading"); plain fields, so the read paths reach them without a call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "index/index.h"

namespace mq {

struct ReadPosition {
  std::unique_ptr<Index::Read> reader;  // the LMDB read snapshot
  bool reader_fresh = false;            // reader has seen the latest LMDB commit
  uint64_t last_seq = 0;                // the message most recently returned ...
  Loc last_loc;                         // ... and where it is
  uint64_t front_seq = 0;               // no visible message has a lower seq
  // Per key, as front_seq: no visible message with this key in LMDB has a
  // lower seq. Forgotten on Release, compaction, rebuild, or when it grows large.
  std::unordered_map<std::string, uint64_t> key_front;
  // Consumed entries still in LMDB (their deletes wait for the next index
  // transaction) that the last walk stepped over. Many of them make the
  // waiting deletes worth flushing now, so later walks don't pay again.
  uint64_t walk_skipped = 0;
};

}  // namespace mq
