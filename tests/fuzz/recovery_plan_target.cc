// Fuzz target: recovery's decision, in memory (issue 17 item 6).
//
// The input is a log's bytes, held in memory; mq::RecoveryPlanner
// (store/src/engine/recovery_plan.h) plans the open's recovery over them in
// each recovery mode, with no file, no index and no store, so it runs at
// parser speed. The slower end-to-end target (log_recovery_target.cc) opens
// real stores; this one checks that the plan itself is sound:
//   - the messages it keeps are in log order, inside the file, with rising
//     sequence numbers, and what it counts of them (messages, last seq, end)
//     agrees with what it handed out;
//   - its findings are in log order, inside the file, and do not overlap;
//   - a cut is at or after the last kept message and never comes with a
//     refusal or a rewrite; it is where the plan says the log's tail starts
//     (the tail a salvage rewrite keeps in a side file), which is after
//     every kept message and finding;
//   - the modes agree: salvage refuses only a file that is not a log;
//     tolerate-tail refuses damage exactly when salvage rewrites; where
//     tolerate-tail opens, salvage plans the same; absolute opens exactly when
//     tolerate-tail opens with nothing found and nothing cut; each keeps a
//     prefix of the next one's messages;
//   - a cut leaves a clean log: the plan over the bytes before the cut keeps
//     the same messages and finds nothing more to cut;
//   - an index that covers a prefix does not change the decision: the plan
//     that starts after a kept message (as after a trusted index) keeps the
//     same later messages and cuts or refuses alike.
#include <algorithm>
#include <string>
#include <vector>

#include "../mem_file.h"
#include "engine/recovery_plan.h"
#include "format/log_format.h"
#include "format/record.h"
#include "fuzz_targets.h"

namespace mq::fuzz {
namespace {

struct Kept {
  uint64_t seq, start, end;
  bool after_damage;
  bool operator==(const Kept& o) const { return seq == o.seq && start == o.start && end == o.end; }
};

struct Planned {
  RecoveryPlan plan;
  std::vector<Kept> kept;
};

Planned Plan(const std::string& bytes, RecoveryFacts facts) {
  test::MemFile file(bytes);
  facts.size = bytes.size();
  facts.chunk = 512;  // small reads: records cross read boundaries
  RecoveryPlanner planner(&file, facts);
  Planned p;
  log::ScannedMessage m;
  bool after = false;
  while (planner.Next(&m, &after)) p.kept.push_back(Kept{m.seq, m.start, m.end, after});
  FUZZ_CHECK(planner.status().ok(), "planning over bytes in memory failed: " + planner.status().ToString());
  p.plan = planner.plan();
  return p;
}

bool IsPrefix(const std::vector<Kept>& a, const std::vector<Kept>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// One plan is sound on its own.
void CheckPlan(const Planned& p, const RecoveryFacts& f, uint64_t size, const std::string& m) {
  const RecoveryPlan& plan = p.plan;
  uint64_t prev_end = f.from, prev_seq = f.prev_seq;
  for (const Kept& k : p.kept) {
    FUZZ_CHECK(k.start >= prev_end && k.start < k.end && k.end <= size, m + ": a kept message outside the file or "
                                                                             "overlapping the one before");
    FUZZ_CHECK(k.seq > prev_seq, m + ": sequence numbers do not rise");
    FUZZ_CHECK(!k.after_damage || plan.rewrite, m + ": a message after damage without a rewrite");
    prev_end = k.end;
    prev_seq = k.seq;
  }
  FUZZ_CHECK(plan.messages == p.kept.size(), m + ": messages counted differ from messages handed out");
  FUZZ_CHECK(plan.last_seq == (p.kept.empty() ? 0 : p.kept.back().seq), m + ": last_seq");
  if (plan.refusal.ok()) {
    FUZZ_CHECK(plan.end >= prev_end && plan.end <= size, m + ": the valid end is outside the file");
  } else {
    FUZZ_CHECK(plan.refusal.code() == Status::Code::kCorruption || plan.refusal.code() == Status::Code::kNotALog,
               m + ": refused with " + plan.refusal.ToString());
    FUZZ_CHECK(!plan.cut, m + ": refused and cut");
  }
  uint64_t found_end = 0;
  for (const RecoveryFinding& d : plan.findings) {
    FUZZ_CHECK(d.bytes > 0 && d.offset >= found_end && d.offset + d.bytes <= size,
               m + ": a finding outside the file or out of order");
    FUZZ_CHECK(!d.reason.empty(), m + ": a finding without a reason");
    found_end = d.offset + d.bytes;
  }
  if (plan.cut) {
    FUZZ_CHECK(!plan.rewrite, m + ": cut and rewritten");
    FUZZ_CHECK(plan.cut_offset >= prev_end && plan.cut_offset >= found_end && plan.cut_offset < size,
               m + ": the cut is before a kept message or outside the file");
    FUZZ_CHECK(!plan.cut_reason.empty(), m + ": a cut without a reason");
  }
  if (plan.tail) {
    FUZZ_CHECK(plan.tail_offset >= prev_end && plan.tail_offset >= found_end && plan.tail_offset < size,
               m + ": the tail the log ends at is before a kept message or outside the file");
    FUZZ_CHECK(!plan.tail_reason.empty(), m + ": a tail without a reason");
  }
  FUZZ_CHECK(!plan.cut || (plan.tail && plan.tail_offset == plan.cut_offset), m + ": a cut elsewhere than the tail");
  FUZZ_CHECK(!plan.rewrite || f.mode == RecoveryMode::kSalvage, m + ": a rewrite outside salvage");
}

bool Same(const Planned& a, const Planned& b) {
  return a.kept == b.kept && a.plan.cut == b.plan.cut && a.plan.cut_offset == b.plan.cut_offset &&
         a.plan.refusal.code() == b.plan.refusal.code() && a.plan.end == b.plan.end &&
         a.plan.findings.size() == b.plan.findings.size();
}

}  // namespace

int RecoveryDecision(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  test::MemFile file(input);
  log::Header header;
  log::FileKind kind = log::FileKind::kEmpty;
  Status s = log::DetectFormat(&file, size, &header, &kind);
  RecoveryFacts facts;
  facts.path = "q";
  if (s.ok() && kind == log::FileKind::kEmpty) return 0;  // the open only writes a header
  if (s.ok()) {
    facts.legacy = kind == log::FileKind::kLegacy;
    facts.data_start = facts.legacy ? 0 : log::kHeaderRecordSize;
  } else if (s.IsCorruption() && size > log::kHeaderRecordSize) {
    facts.data_start = log::kHeaderRecordSize;  // as salvage reads behind a damaged header
  } else {
    return 0;
  }
  facts.from = facts.data_start;
  facts.framed_only = !facts.legacy;

  Planned by_mode[3];
  const RecoveryMode modes[] = {RecoveryMode::kTolerateTornTail, RecoveryMode::kAbsoluteConsistency,
                                RecoveryMode::kSalvage};
  for (int i = 0; i < 3; ++i) {
    facts.mode = modes[i];
    by_mode[i] = Plan(input, facts);
    CheckPlan(by_mode[i], facts, size, RecoveryModeName(modes[i]));
  }
  const Planned& tolerate = by_mode[0];
  const Planned& absolute = by_mode[1];
  const Planned& salvage = by_mode[2];
  const bool not_a_log = tolerate.plan.refusal.code() == Status::Code::kNotALog;
  FUZZ_CHECK(salvage.plan.refusal.ok() || salvage.plan.refusal.code() == Status::Code::kNotALog,
             "salvage refused a log: " + salvage.plan.refusal.ToString());
  FUZZ_CHECK(not_a_log == (salvage.plan.refusal.code() == Status::Code::kNotALog),
             "tolerate-tail and salvage disagree on whether this is a log");
  if (!not_a_log) {
    FUZZ_CHECK(tolerate.plan.refusal.ok() != salvage.plan.rewrite,
               "tolerate-tail refuses damage exactly when salvage rewrites");
  }
  if (tolerate.plan.refusal.ok()) FUZZ_CHECK(Same(tolerate, salvage), "salvage plans otherwise than tolerate-tail");
  const bool clean = tolerate.plan.refusal.ok() && tolerate.plan.findings.empty() && !tolerate.plan.cut;
  FUZZ_CHECK(absolute.plan.refusal.ok() == clean, "absolute opens, but tolerate-tail found something (or not)");
  if (clean) FUZZ_CHECK(Same(absolute, tolerate), "absolute plans otherwise than tolerate-tail on a clean log");
  FUZZ_CHECK(IsPrefix(absolute.kept, tolerate.kept) && IsPrefix(tolerate.kept, salvage.kept),
             "a stricter mode keeps messages a laxer one does not");

  // The cut leaves a clean log.
  if (tolerate.plan.cut) {
    facts.mode = RecoveryMode::kTolerateTornTail;
    const Planned again = Plan(input.substr(0, tolerate.plan.cut_offset), facts);
    FUZZ_CHECK(again.plan.refusal.ok() && !again.plan.cut && again.kept == tolerate.kept &&
                   again.plan.findings.size() == tolerate.plan.findings.size(),
               "the log cut at " + std::to_string(tolerate.plan.cut_offset) + " is not clean: " +
                   again.plan.refusal.ToString());
  }

  // An index that covers the log up to a kept message (chosen by the input)
  // changes nothing after it. Logs with a header only (a legacy log's scan
  // state before `from` is more than its seq).
  if (!facts.legacy && !tolerate.kept.empty() && tolerate.plan.findings.empty()) {
    const size_t i = (input.size() * 31 + static_cast<uint8_t>(input.back())) % tolerate.kept.size();
    RecoveryFacts later = facts;
    later.mode = RecoveryMode::kTolerateTornTail;
    later.from = tolerate.kept[i].end;
    later.prev_seq = tolerate.kept[i].seq;
    const Planned rest = Plan(input, later);
    CheckPlan(rest, later, size, "after a covered prefix");
    FUZZ_CHECK(std::equal(rest.kept.begin(), rest.kept.end(), tolerate.kept.begin() + static_cast<long>(i) + 1,
                          tolerate.kept.end()) &&
                   rest.kept.size() == tolerate.kept.size() - i - 1,
               "a plan after a covered prefix keeps other messages");
    FUZZ_CHECK(rest.plan.cut == tolerate.plan.cut && rest.plan.cut_offset == tolerate.plan.cut_offset &&
                   rest.plan.refusal.code() == tolerate.plan.refusal.code(),
               "a plan after a covered prefix decides otherwise: " + rest.plan.refusal.ToString());
  }
  return 0;
}

}  // namespace mq::fuzz
