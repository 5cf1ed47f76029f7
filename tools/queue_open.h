// Getting at a queue before changing it: checking the log read-only first,
// refusing or waiting while a mailbox holds it, and opening it for writing
// with the key extractor its index records (recover, compact).
#pragma once

#include <memory>
#include <string>

#include "command_line.h"
#include "mq/inspect.h"
#include "mq/key_extractor.h"
#include "mq/store.h"

namespace mqtool {

// How a writing command (recover, compact) waits for a queue's writer lock.
struct WaitOptions {
  bool wait = false;    // --wait: retry while another process holds the queue
  double timeout = 0;   // --timeout SECONDS with --wait; 0 waits for ever
};
// --wait and --timeout as a usage line shows them.
inline constexpr char kWaitUsage[] = "[--wait [--timeout S]]";
// Adds --wait and --timeout to an options description.
void AddWaitOptions(po::options_description* options);
WaitOptions GetWaitOptions(const po::variables_map& vm);

// Reads the file header and the first message of the log at `path` without
// writing or locking anything, so a writing command can refuse bad input
// (missing, a directory, unreadable, not a log, a future format version, a
// damaged header) before it opens the queue for writing. Throws StatusError.
mq::LogSummary Preflight(const std::string& path);

// Throws at once "<path>: queue in use by pid N ..." (exit 3) if another
// process holds the queue's writer lock and --wait was not given, so a
// writing command fails before doing any work.
void FailIfBusy(const std::string& path, const WaitOptions& wait);

// The key extractor recorded in the queue's index, or none (no index, an
// unreadable one, or none recorded). Writing commands open the queue with it
// so that they keep the key index instead of rebuilding it without keys.
mq::KeyExtractor RecordedKeyExtractor(const std::string& path);

// Opens `path` for writing with `options` (create_if_missing is forced off).
// If another process holds the queue: without --wait throws at once
// "<path>: queue in use by pid N ..." (exit 3); with --wait retries every
// 100 ms until the lock frees or the timeout passes. Other failures throw
// StatusError.
std::unique_ptr<mq::Store> OpenForWriting(const std::string& path, mq::StoreOptions options,
                                          const WaitOptions& wait);

}  // namespace mqtool
