// Which of a queue's messages dump and replay handle, and the read-only scan
// that hands them over in log order: the options both take
// (--from, --until, --key, --key-extractor, and a switch for consumed
// messages) mean the same in both because they are read and applied here.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "command_line.h"
#include "mq/inspect.h"
#include "mq/key_extractor.h"
#include "progress.h"

namespace mqtool {

// The selection options as a usage line shows them.
inline constexpr char kSelectionUsage[] = "[--from SEQ] [--until SEQ] [--key K [--key-extractor SPEC]]";

struct Selection {
  uint64_t from = 1;                // --from SEQ
  uint64_t until = UINT64_MAX;      // --until SEQ
  bool consumed = false;            // consumed messages too (dump --all, replay --include-consumed)
  std::optional<std::string> key;   // --key K, unescaped
  mq::KeyExtractor extractor;       // cuts the key from a payload when `key` is set

  // True if `r` is one of the messages selected.
  bool Selects(const mq::LogMessage& r) const;
};

// Adds --from, --until, --key and --key-extractor. Each command adds its own
// switch for consumed messages, under the name it has always had.
void AddSelectionOptions(po::options_description* options);

// Reads the options AddSelectionOptions added, and `consumed_switch` ("all"
// or "include-consumed"). The key extractor is --key-extractor's, or else the
// one the index of `path` records. Throws UsageError (a malformed value,
// --until below --from, --key-extractor without --key, --key and no
// extractor), or StatusError when the index cannot be read (no permission).
Selection GetSelection(const po::variables_map& vm, const std::string& path, const char* consumed_switch);

// Scans the log at `path` read-only (mq::ScanLog: no lock, no write) and calls
// `visit` with each selected message in log order, until `visit` returns
// false or the scan passes --until. Shows the scan's progress. *sum is the
// scan's summary, for ReportSkippedDamage.
mq::Status ScanSelection(const std::string& path, const Selection& selection, Progress* progress,
                         const std::function<bool(const mq::LogMessage&)>& visit, mq::LogSummary* sum);

}  // namespace mqtool
