// LogDescription: what the open learned about the log file (its header, its
// format, where its messages start, its identity, whether it records the key
// extractor). Part of StoreImpl, guarded by the store's mu_ as a whole
// (docs/design.md, "Locks and threads"); set by the open, by compaction (a
// new log) and by the first record this store writes.
#pragma once

#include <cstdint>

#include "format/record.h"

namespace mq {

struct LogDescription {
  log::Header header;
  bool legacy = false;          // a log without header (format 0)
  bool header_damaged = false;  // salvage: the header failed its checks
  // A bare message from here on is damage (the log holds records of ours).
  bool framed_only = false;
  uint64_t data_start = 0;  // the first message's offset (after the header record)
  // The identity of a legacy log (it has no log_id), for the index meta.
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool key_in_log = true;  // the log records opt_.key (none: no record needed)
};

}  // namespace mq
