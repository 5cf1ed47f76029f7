// Read-only inspection of a queue, for tools (mqtool dump, stat, check,
// replay). Nothing here takes the writer lock or writes a byte, so it is safe
// on a queue whose mailbox is running: it sees the log as it was when the call
// began (a message consumed meanwhile may still show as pending).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/env.h"
#include "mq/status.h"

namespace mq {

struct LogMessage {
  uint64_t seq = 0;
  uint64_t start = 0;       // first byte of the message's records
  uint64_t msg_offset = 0;  // its message record (where the used flag is)
  uint64_t end = 0;         // one past its payload
  bool framed = false;      // has a sequence number and checksum on disk
  bool consumed = false;    // used flag is 1
  int32_t used = 0;         // the used flag as stored
  std::string_view payload; // valid during the callback only
};

struct LogDamage {
  uint64_t offset = 0;
  uint64_t bytes = 0;
  std::string reason;
  bool tail = false;  // nothing valid follows, or only the unsynced tail of a power cut (log-format.md, "Sync marks"): a torn tail
};

struct LogSummary {
  bool legacy = false;          // no header: the original design's format
  uint32_t format_version = 0;  // 0 for legacy
  uint64_t log_id = 0;
  uint64_t seq_floor = 0;
  uint64_t created_micros = 0;
  uint32_t session = 0;          // the header's session stamp (raised by every writable open)
  uint64_t file_bytes = 0;
  uint64_t messages = 0, pending = 0, consumed = 0, bad_flags = 0;
  uint64_t pending_bytes = 0, consumed_bytes = 0;  // framed bytes
  uint64_t first_seq = 0, last_seq = 0, first_pending_seq = 0, last_pending_seq = 0;
  std::vector<LogDamage> damage;
  // The spec of the log's last key extractor record ("" if it has none):
  // docs/log-format.md, "Key extractor records".
  std::string key_extractor;
  bool complete = true;  // false if the visitor stopped the scan early
};

// The size of a framed log's file header (docs/log-format.md). A log that
// fails ScanLog with kCorruption and is shorter than this was cut short while
// its writer created it; the error then says what to do.
inline constexpr uint64_t kLogFileHeaderSize = 56;

struct InspectOptions {
  Env* env = nullptr;                  // default: Env::Default()
  // The largest message size field read as a message: by default the
  // format's limit (docs/log-format.md, "Limits"), the one the store's own
  // open reads with, so that a tool never calls damage what the store
  // accepts. A lower value reports larger messages as damage.
  uint64_t max_message_size = 0x7fffffffu - 28;
};

// Visits every message (pending and consumed) in log order until visit returns
// false, skipping over damage; returns the log's summary (each damaged
// region is listed in its damage).
// Errors: kNotFound, kNotALog, kUnsupported, kCorruption (damaged header),
// kIOError (e.g. no read permission), kInvalidArgument (a directory).
Result<LogSummary> ScanLog(const std::string& path, const InspectOptions& options,
                           const std::function<bool(const LogMessage&)>& visit);

struct IndexInfo {
  enum class State { kMissing, kCurrent, kBehind, kStale, kUnreadable };
  State state = State::kMissing;
  std::string path;
  std::string detail;          // why stale or unreadable
  uint64_t applied = 0;        // log bytes the index reflects
  uint64_t behind_bytes = 0;   // kBehind: log bytes it has not seen yet
  uint64_t entries = 0;        // pending messages it lists
  std::string extractor;       // key extractor it was built with
  bool clean = false;          // last closed cleanly
  // Log bytes its last commit claims were durable before it (== applied: an
  // unclean index that outlives a power cut; docs/design.md, "An index that
  // survives a power cut"); 0: none.
  uint64_t synced_log = 0;
};
const char* IndexStateName(IndexInfo::State s);

// How the index beside `log_path` stands against the log described by `log`.
Result<IndexInfo> InspectIndex(const std::string& log_path, const LogSummary& log, const InspectOptions& options);

// Compares every index entry with the log: each must point at a pending
// message with that seq, and every pending message the index has seen must
// be listed. Returns the disagreements, one line each (none: they agree).
Result<std::vector<std::string>> VerifyIndex(const std::string& log_path, const InspectOptions& options);

// The pid holding the queue's writer lock, or 0.
pid_t QueueLockHolder(const std::string& log_path, Env* env = nullptr);

}  // namespace mq
