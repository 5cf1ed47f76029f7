// Damaged regions of a scanned log, in words: one line each for the commands
// that refuse damage (check, recover, compact), and the one report of the
// commands that read past it (dump, replay).
#pragma once

#include <string>
#include <string_view>

#include "mq/inspect.h"

namespace mqtool {

// One line per damaged region of a scanned log, for refusals:
// "<path>: offset N: torn tail of B bytes (reason)" or
// "<path>: offset N: B damaged bytes (reason); intact messages follow at offset M".
std::string DescribeDamage(const std::string& path, const mq::LogDamage& d);

// For a command that read every intact message and skipped the damage (dump,
// replay): names each damaged region on stderr,
//   "mqtool: <path>: offset N: skipped B damaged bytes[ at the end of the log] (reason). Run mqtool check <path>"
// and returns true if any counts as damage (the command then exits 1).
// A torn tail while a process holds the queue's writer lock is most likely a
// message being written: it is named as such, with `again` (what to run to
// get it once it is complete), and does not count. Nothing is reported when
// the scan stopped early (sum.complete false: --until was reached).
bool ReportSkippedDamage(const std::string& path, const mq::LogSummary& sum, std::string_view again);

}  // namespace mqtool
