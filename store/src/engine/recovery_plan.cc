#include "engine/recovery_plan.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "format/log_format.h"

namespace mq {

RecoveryPlanner::RecoveryPlanner(File* log, RecoveryFacts facts)
    : file_(log), facts_(std::move(facts)), sc_(log, facts_.size, log::kMaxPayload, facts_.chunk) {
  sc_.Reset(facts_.from, facts_.prev_seq, facts_.framed_only);
  plan_.end = facts_.from;
}

bool RecoveryPlanner::Next(log::ScannedMessage* m, bool* after_damage) {
  while (!done_) {
    if (!sc_.Next(m)) {
      Decide();
      continue;
    }
    if (m->used != log::kConsumed && m->used != log::kPending) {
      std::string why = "used flag holds " + std::to_string(m->used) + " (neither 0 nor 1); treated as pending";
      plan_.findings.push_back(RecoveryFinding{RecoveryFinding::Kind::kBadFlag, m->msg_offset, 4, why});
      if (facts_.mode == RecoveryMode::kAbsoluteConsistency) {
        plan_.refusal = Status::Corruption(facts_.path + ": offset " + std::to_string(m->msg_offset) + ": " + why +
                                           "; refused in absolute mode");
        done_ = true;
        return false;
      }
    }
    plan_.end = m->end;
    plan_.last_seq = m->seq;
    ++plan_.messages;
    *after_damage = damaged_middle_;
    return true;
  }
  return false;
}

void RecoveryPlanner::Decide() {
  done_ = true;
  if (!sc_.io_status().ok()) {
    io_ = sc_.io_status();
    return;
  }
  plan_.end = std::max(plan_.end, sc_.position());  // past key extractor records after the last message
  plan_.framed_only = plan_.framed_only || sc_.framed_only();
  const log::ScanProblem p = sc_.problem();
  if (p.kind == log::ScanProblem::Kind::kNone) return;

  uint64_t resume = 0;
  bool more = sc_.Resync(p.offset + 1, sc_.prev_seq(), &resume);
  if (!sc_.io_status().ok()) {
    io_ = sc_.io_status();
    return;
  }
  std::string unsynced;
  if (more) {
    Status s = UnsyncedDamage(p.offset).MoveTo(&unsynced);
    if (!s.ok()) {
      io_ = s;
      return;
    }
    if (!unsynced.empty()) more = false;  // intact messages after it were never synced either
  }
  const std::string& path = facts_.path;
  if (!more) {  // nothing valid after the damage, or only the unsynced tail: a torn tail
    plan_.tail = true;
    plan_.tail_offset = p.offset;
    plan_.tail_reason = p.reason;
    if (p.offset == 0 && facts_.legacy) {
      plan_.refusal = Status::NotALog(path + ": not an mq message log: offset 0: " + p.reason);
      return;
    }
    if (facts_.mode == RecoveryMode::kAbsoluteConsistency) {
      plan_.refusal = Status::Corruption(path + ": offset " + std::to_string(p.offset) + ": torn tail of " +
                                         std::to_string(facts_.size - p.offset) + " bytes (" + p.reason +
                                         "); refused in absolute mode. Run `mqtool recover` to cut it into a side "
                                         "file");
      return;
    }
    if (damaged_middle_) return;  // salvage: the rewrite keeps the tail in a side file
    plan_.cut = true;
    plan_.cut_offset = p.offset;
    plan_.cut_reason = unsynced.empty() ? p.reason : p.reason + "; " + unsynced;
    return;
  }
  plan_.findings.push_back(RecoveryFinding{RecoveryFinding::Kind::kDamage, p.offset, resume - p.offset, p.reason});
  if (facts_.mode != RecoveryMode::kSalvage) {
    plan_.refusal = Status::Corruption(
        path + ": offset " + std::to_string(p.offset) + ": " + p.reason + "; " + std::to_string(resume - p.offset) +
        " bytes are damaged and intact messages follow at offset " + std::to_string(resume) +
        ". The queue was not opened. Run `mqtool recover --mode salvage " + path +
        "` to keep every intact message and move the damaged bytes to a side file");
    return;
  }
  damaged_middle_ = true;
  plan_.rewrite = true;
  sc_.Reset(resume, sc_.prev_seq(), true);
  done_ = false;
}

// docs/log-format.md, "Sync marks": damage at `offset` with intact messages
// after it is the unsynced tail a power cut left (returned: why) when the log
// is one whose writer marks its syncs (a sync mark before the damage) and no
// sync mark after it says that `offset` was synced; "" when it is real damage.
Result<std::string> RecoveryPlanner::UnsyncedDamage(uint64_t offset) {
  uint64_t marks = sc_.sync_marks(), durable = sc_.durable();
  if (facts_.from > facts_.data_start) {  // a trusted index: the marks before it were not read
    log::LogScanner before(file_, offset, log::kMaxPayload, facts_.chunk);
    before.Reset(facts_.data_start, 0, !facts_.legacy);
    log::ScannedMessage m;
    while (before.Next(&m)) {
    }
    MQ_RETURN_IF_ERROR(before.io_status());
    marks += before.sync_marks();
    durable = std::max(durable, before.durable());
  }
  // A log without sync marks proves nothing: refused as before.
  const bool unsynced = sc_.InUnsyncedTail(offset, marks);
  MQ_RETURN_IF_ERROR(sc_.io_status());
  if (!unsynced) return std::string();
  assert(durable <= offset);  // a mark never names bytes after itself
  return "after the last synced offset " + std::to_string(durable) +
         " the log's sync marks prove, so the unsynced tail a power cut may leave in any shape";
}

RecoveryPlan PlanRecovery(File* log, const RecoveryFacts& facts, Status* status) {
  RecoveryPlanner planner(log, facts);
  log::ScannedMessage m;
  bool after_damage = false;
  while (planner.Next(&m, &after_damage)) {
  }
  if (status != nullptr) *status = planner.status();
  return planner.plan();
}

}  // namespace mq
