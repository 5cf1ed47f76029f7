// LogScanner: reads a log sequentially and checks every record against the
// grammar of docs/log-format.md. It only computes; it never changes the file.
// What to do about a problem it finds (cut a torn tail, refuse, salvage) is
// the caller's policy: the recovery plan (engine/recovery_plan.h), on which
// the store's open and its salvage act, and read-only inspection
// (inspect.cc).
#pragma once

#include <cassert>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/env.h"
#include "mq/status.h"

namespace mq::log {

struct ScannedMessage {
  uint64_t seq = 0;
  uint64_t start = 0;       // first byte of the message's records (its meta, or the bare record)
  uint64_t msg_offset = 0;  // the message record, where its used flag is
  uint64_t end = 0;         // one past the last payload byte
  bool framed = false;      // preceded by a meta record (has a sequence number and checksum)
  int32_t used = 0;         // the used flag as stored: 0 pending, 1 consumed, else damaged
  std::string_view payload; // valid until the next call on the scanner
};

struct ScanProblem {
  enum class Kind { kNone, kIncomplete, kCorrupt };
  Kind kind = Kind::kNone;
  uint64_t offset = 0;
  std::string reason;  // e.g. "checksum mismatch in framed message"
};

class LogScanner {
 public:
  // Scans file bytes [.., limit). max_payload bounds a message's size field.
  LogScanner(File* file, uint64_t limit, uint64_t max_payload, size_t chunk = 1 << 20);

  // Starts at `offset`. prev_seq is the sequence number of the message before
  // it (0 if none). framed_only: the log has a header or a meta record before
  // offset, so a bare message record from here on is damage.
  void Reset(uint64_t offset, uint64_t prev_seq, bool framed_only);

  // The next message; false at the end of the range or at a problem.
  bool Next(ScannedMessage* m);

  const ScanProblem& problem() const { return problem_; }
  const Status& io_status() const { return io_; }
  uint64_t position() const { return pos_; }   // one past the last good record
  uint64_t prev_seq() const { return prev_seq_; }
  bool framed_only() const { return framed_only_; }
  // Key extractor records are metadata: Next passes over them (they are never
  // messages) and remembers the last one read since the scanner was made.
  bool key_seen() const { return key_seen_; }
  const std::string& key_spec() const { return key_spec_; }
  uint64_t key_offset() const { return key_offset_; }
  uint64_t limit() const { return limit_; }
  // Sync marks (docs/log-format.md, "Sync marks") are metadata too: Next
  // passes over them and remembers the largest durable offset one named.
  uint64_t durable() const { return durable_; }
  uint64_t sync_marks() const { return sync_marks_; }

  // Finds a sync mark in [from, limit), at any byte, that checks out and says
  // that a byte at `offset` or later was synced (durable > offset): proof that
  // damage at `offset` is not an unsynced tail a power cut left. A payload can
  // only forge one to make recovery refuse, never to make it cut.
  bool DurableMarkAfter(uint64_t from, uint64_t offset, uint64_t* durable);

  // docs/log-format.md, "Sync marks", rule 4: a problem at `offset` that
  // intact messages follow is the unsynced tail a power cut left when
  // `marks_before` (sync marks read as records before it) is not 0 and no
  // mark after it names a durable offset above it. Check io_status() after.
  bool InUnsyncedTail(uint64_t offset, uint64_t marks_before) {
    uint64_t proof = 0;
    return marks_before > 0 && !DurableMarkAfter(offset + 1, offset, &proof) && io_.ok();
  }

  // Finds the first offset in [from, limit) where a real framed message with
  // a sequence number above min_seq starts; `from` is one past the damaged
  // record's start. Used to tell a torn tail (nothing valid after the
  // damage) from damage in the middle. A message that checks out is taken
  // only with evidence that a payload did not hold it (docs/log-format.md,
  // "Resynchronising"): the records after it continue the chain. Check
  // io_status() after.
  bool Resync(uint64_t from, uint64_t min_seq, uint64_t* found);

  // Checks a framed message at `offset` without moving the scan position.
  bool ValidFramedAt(uint64_t offset, uint64_t min_seq, ScannedMessage* m);

 private:
  // Makes [off, off+n) readable through At(); false past limit or on I/O error.
  bool Ensure(uint64_t off, size_t n);
  const char* At(uint64_t off) const {
    assert(off >= buf_off_ && off - buf_off_ <= buf_len_);  // inside what Ensure made readable
    return buf_.data() + (off - buf_off_);
  }
  bool Fail(ScanProblem::Kind kind, uint64_t offset, std::string reason);
  // Checks the key extractor record at pos_ and moves past it.
  bool TakeKeyRecord();
  // Checks the sync mark at pos_ and moves past it.
  bool TakeSyncMark();
  // Resync's chain rule: the records from `from` on, after a candidate
  // numbered `seq`, read as a chain to the end of the range or to damage,
  // never to a checked-out framed message whose seq does not rise.
  bool ChainContinues(uint64_t from, uint64_t seq);
  // Searches [from, limit) for the 8 bytes `pattern` (a record's kind and
  // size) at places with `room` bytes left, a chunk at a time; true at the
  // first place `accept` takes, false at the limit or an I/O error.
  bool FindRecord(uint64_t from, uint64_t room, const char (&pattern)[8], const std::function<bool(uint64_t)>& accept);

  File* file_;
  uint64_t limit_;
  uint64_t max_payload_;
  size_t chunk_;
  std::vector<char> buf_;
  uint64_t buf_off_ = 0;
  size_t buf_len_ = 0;
  uint64_t pos_ = 0;
  uint64_t prev_seq_ = 0;
  bool framed_only_ = false;
  ScanProblem problem_;
  Status io_;
  bool key_seen_ = false;
  std::string key_spec_;
  uint64_t key_offset_ = 0;
  uint64_t durable_ = 0;
  uint64_t sync_marks_ = 0;
};

}  // namespace mq::log
