// The reader of the kill torture's delivery file (tests/torture_helper.cc
// writes it, tests/torture_kill_test.cc checks it; unit-tested by
// tests/torture_delivered_test.cc).
//
// Each mailbox process appends "#start PID\n" once, then "SEQ PAYLOAD\n" per
// delivery, each with one write() on an O_APPEND descriptor. A SIGKILL can
// stop a write() to a regular file part way (the kernel checks for a fatal
// signal between the pages it copies), so the last record of a killed process
// may lack its end: the next process's "#start" (or the end of the file)
// then follows the cut bytes directly. Such a record is torn, not corrupt:
// it is counted, and it is accepted only where a kill can leave it, as the
// last bytes of a run, and only if the bytes are a prefix of a real record.
// A record with its '\n' must be complete and right, or the file is corrupt.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "torture_payload.h"

namespace mq::torture {

struct Delivery {
  uint64_t seq = 0;
  int k = 0;
  uint64_t i = 0;
};

// One mailbox process's deliveries (or the final drain's).
struct ProcessRun {
  std::vector<Delivery> d;
  bool torn = false;           // its last write was cut by the kill
  bool torn_seq_known = false; // the cut record still shows its whole seq
  uint64_t torn_seq = 0;
};

namespace internal {

inline bool AllDigits(std::string_view s) {
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// True if `p` is a prefix of Payload(k, i) for some k in [0, senders) and
// some i (a prefix too short to name i is checked for shape only).
inline bool IsPayloadPrefix(std::string_view payload, int senders) {
  if (payload.empty()) return true;
  if (payload[0] != 's') return false;
  const std::string_view p = payload.substr(1);
  const size_t dash = p.find('-');
  const std::string_view ks = p.substr(0, dash);
  if (!AllDigits(ks)) return false;
  if (dash == std::string_view::npos) return true;  // cut inside K
  if (ks.empty() || std::atoi(std::string(ks).c_str()) >= senders) return false;
  const int k = std::atoi(std::string(ks).c_str());
  std::string_view rest = p.substr(dash + 1);
  const size_t dash2 = rest.find('-');
  const std::string_view is = rest.substr(0, dash2);
  if (!AllDigits(is)) return false;
  if (dash2 == std::string_view::npos) return true;  // cut inside I
  if (is.empty()) return false;
  const std::string whole = Payload(k, std::strtoull(std::string(is).c_str(), nullptr, 10));
  return std::string_view(whole).substr(0, payload.size()) == payload;
}

}  // namespace internal

// Parses a delivery file into runs. False, with *err naming the record and
// its byte offset, if a record is corrupt, a torn record is anywhere but at
// the end of a run, or a delivery comes before the first "#start".
inline bool ParseDelivered(std::string_view text, int senders, std::vector<ProcessRun>* runs, std::string* err) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    const size_t at = pos;
    // A '#' inside a record (no payload holds one) is the next run's start
    // written right after a cut record.
    const size_t hash = line.find('#', 1);
    const bool cut = hash != std::string_view::npos || nl == std::string_view::npos;
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    pos = hash != std::string_view::npos ? at + hash : (nl == std::string_view::npos ? text.size() : nl + 1);
    const std::string where = " at byte " + std::to_string(at) + ": '" + std::string(line) + "'";

    if (line.rfind("#", 0) == 0) {  // "#start PID", or a cut prefix of one
      const std::string_view start = "#start ";
      const bool whole = line.size() > start.size() && line.substr(0, start.size()) == start &&
                         internal::AllDigits(line.substr(start.size()));
      const bool prefix = line.size() <= start.size() ? start.substr(0, line.size()) == line
                                                      : line.substr(0, start.size()) == start &&
                                                            internal::AllDigits(line.substr(start.size()));
      if (!(cut ? prefix : whole)) return (*err = "a corrupt #start record" + where, false);
      runs->emplace_back();  // a run whose start was cut delivered nothing
      runs->back().torn = cut;
      continue;
    }
    if (runs->empty()) return (*err = "a delivery before the first #start" + where, false);
    ProcessRun& run = runs->back();
    if (run.torn) return (*err = "a record after a cut one in the same run" + where, false);
    const size_t sp = line.find(' ');
    if (cut) {
      // Must be a prefix of "SEQ PAYLOAD".
      const bool ok = sp == std::string_view::npos
                          ? internal::AllDigits(line)
                          : sp > 0 && internal::AllDigits(line.substr(0, sp)) &&
                                internal::IsPayloadPrefix(line.substr(sp + 1), senders);
      if (!ok) return (*err = "a cut record that is no prefix of a real one" + where, false);
      run.torn = true;
      if (sp != std::string_view::npos) {
        run.torn_seq_known = true;
        run.torn_seq = std::strtoull(std::string(line.substr(0, sp)).c_str(), nullptr, 10);
      }
      continue;
    }
    Delivery d;
    if (sp == std::string_view::npos || sp == 0 || !internal::AllDigits(line.substr(0, sp)) ||
        !ParsePayload(line.substr(sp + 1), senders, &d.k, &d.i))
      return (*err = "delivered a corrupt payload or one never sent" + where, false);
    d.seq = std::strtoull(std::string(line.substr(0, sp)).c_str(), nullptr, 10);
    run.d.push_back(d);
  }
  return true;
}

}  // namespace mq::torture
