// Recovery's decision as a computation over the log's bytes (docs/design.md,
// "Recovery"): given the bytes and the facts the open read from the header
// and the index, where the valid log ends, which messages it keeps, what is
// cut into a side file, what is refused and why. It changes nothing: the
// store acts on the plan (indexes the messages, cuts the tail, rewrites the
// log, or refuses the open), as a replayer computes a checkpoint that its
// caller then acts on. Reading goes through a File, so a test or a fuzz
// target can plan over bytes in memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/log_scanner.h"
#include "mq/env.h"
#include "mq/status.h"
#include "mq/store.h"

namespace mq {

// What the open knows before the scan.
struct RecoveryFacts {
  std::string path;         // names the log in a refusal
  uint64_t size = 0;        // the log's size
  uint64_t data_start = 0;  // first byte after the file header (0: a log without one)
  bool legacy = false;      // the log has no file header
  uint64_t from = 0;        // where the scan starts: data_start, or the end a trusted index covers
  uint64_t prev_seq = 0;    // the seq of the message before `from` (0: none)
  bool framed_only = false; // a bare message record from `from` on is damage
  RecoveryMode mode = RecoveryMode::kTolerateTornTail;
  size_t chunk = 1 << 20;   // the scanner's read size
};

// Something the plan found, in log order: a used flag that is neither 0 nor
// 1 (4 bytes at `offset`, the message is kept as pending), or a damaged
// region with intact messages after it.
struct RecoveryFinding {
  enum class Kind { kBadFlag, kDamage };
  Kind kind = Kind::kDamage;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  std::string reason;
};

struct RecoveryPlan {
  // Not OK: the open is refused with this (kCorruption, kNotALog), and
  // nothing may change on disk.
  Status refusal;
  // One past the last good record the scan read (messages, key extractor
  // records, sync marks).
  uint64_t end = 0;
  // The scan met a header or meta record: bare message records are damage.
  bool framed_only = false;
  std::vector<RecoveryFinding> findings;
  // Cut [cut_offset, size) into a side file: a torn tail (nothing valid after
  // the damage) or the unsynced tail a power cut left (sync marks prove it).
  bool cut = false;
  uint64_t cut_offset = 0;
  std::string cut_reason;
  // The log ends at a problem at tail_offset (why: tail_reason): a torn
  // tail, or the unsynced tail a power cut left (the cut above, unless the
  // plan refuses or rewrites). Nothing in [tail_offset, size) is kept.
  bool tail = false;
  uint64_t tail_offset = 0;
  std::string tail_reason;
  // Salvage only: damaged regions in the middle; the log is rewritten with
  // the messages the plan keeps, each kDamage finding and the tail going to
  // side files instead (compaction.cc acts on a salvage plan of the whole log).
  bool rewrite = false;
  uint64_t messages = 0;  // messages kept (handed out by Next)
  uint64_t last_seq = 0;  // the last one's seq (0: none)
};

// Computes the plan while handing out the messages it keeps, so the store
// indexes them in the same pass over the log.
class RecoveryPlanner {
 public:
  RecoveryPlanner(File* log, RecoveryFacts facts);

  // The next message the plan keeps, in log order; *after_damage: a damaged
  // region (salvage) lies before it. False when the plan is complete (or an
  // I/O error stopped it: status()). m->payload is valid until the next call.
  bool Next(log::ScannedMessage* m, bool* after_damage);

  // An I/O error reading the log; the plan is then incomplete.
  const Status& status() const { return io_; }
  const RecoveryPlan& plan() const { return plan_; }

 private:
  // The scan stopped: decides what the problem it stopped at is, and either
  // resumes the scan after it (salvage) or ends the plan.
  void Decide();
  // Damage at `offset` with intact messages after it is the unsynced tail of
  // a power cut (docs/log-format.md, "Sync marks"): why, or "" if not.
  Result<std::string> UnsyncedDamage(uint64_t offset);

  File* file_;
  RecoveryFacts facts_;
  log::LogScanner sc_;
  RecoveryPlan plan_;
  Status io_;
  bool damaged_middle_ = false;
  bool done_ = false;
};

// The whole plan, without keeping the messages (tests, fuzzing). *status
// (if given) gets status().
RecoveryPlan PlanRecovery(File* log, const RecoveryFacts& facts, Status* status = nullptr);

}  // namespace mq
