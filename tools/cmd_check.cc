// mqtool check: read-only verification of a queue: every record's structure
// and checksum (ScanLog), then the index against the log (InspectIndex,
// VerifyIndex). Never locks, never writes.
//
//   mqtool check QUEUE
//
// Each problem is one line on stdout, "<file>: offset N: <what>. <what
// `mqtool recover` would do>", then a summary line. Notes that need no action
// (an index that is behind, missing or stale, which the next open of the
// queue catches up or rebuilds by itself) start with "note: ".
//
// Exit: 0 clean, 1 damage found, 2 usage error, 3 the log could not be read
// (missing, not a log, a future format version, no permission).
#include <string>
#include <vector>

#include "common.h"
#include "mq/inspect.h"

namespace mqtool {
namespace {

class CheckCommand final : public Command {
 public:
  CheckCommand() : Command("check", "admin", "verify a queue's checksums, structure and index; read-only") {}

  int Run(const std::vector<std::string>& args) override {
    po::options_description opts = OptionsWithHelp();
    po::variables_map vm;
    if (!ParseArgs(args, opts, {"queue"}, "check QUEUE",
                   "Verifies a queue's log and index without locking or changing them.\n"
                   "Exit: 0 clean, 1 damage found (each problem on stdout), 2 usage error, 3 could not read.",
                   &vm))
      return kExitOk;
    const std::string path = Required(vm, "queue", "QUEUE (the queue file to check)");

    Output out;
    std::vector<std::string> problems, notes;
    mq::InspectOptions io;
    mq::LogSummary sum;
    Progress progress("check " + path, FileSizeOrZero(path));
    mq::Status s = mq::ScanLog(path, io, [&](const mq::LogMessage& r) {
      progress.Update(r.end);
      if (!r.consumed && r.used != 0)
        problems.push_back(path + ": offset " + std::to_string(r.msg_offset) + ": message " + std::to_string(r.seq) +
                           " has used flag " + std::to_string(r.used) +
                           " (neither 0 nor 1), so it reads as pending. recover sets it to 0 (pending), "
                           "keeping the old flag in " + path + ".flag-" + std::to_string(r.msg_offset) +
                           " (recover --mode absolute refuses the log)");
      return true;
    }).MoveTo(&sum);
    progress.Done();
    if (s.IsCorruption()) {
      // A damaged file header: the log cannot be scanned at all.
      // For a header cut short (the file is shorter than a header) the
      // store's message already says what to do ("... Move the file aside
      // and let mq create the queue again").
      const bool advised = FileSizeOrZero(path) < mq::kLogFileHeaderSize;
      out.Line(s.message() + ". recover cannot repair a damaged file header" +
               (advised ? "" : ": restore the file from a backup"));
      out.Line(path + ": 1 problem found");
      out.Flush();
      return kExitNothing;
    }
    ThrowIfError(s, path);

    const pid_t holder = sum.damage.empty() ? 0 : mq::QueueLockHolder(path);
    bool middle = false;
    for (const auto& d : sum.damage) {
      if (d.tail && holder != 0) {
        notes.push_back("note: " + path + ": offset " + std::to_string(d.offset) + ": the last " +
                        std::to_string(d.bytes) + " bytes do not form a complete message (" + d.reason + "); pid " +
                        std::to_string(holder) + " holds the queue, so this is probably a write in progress");
      } else if (d.tail) {
        problems.push_back(DescribeDamage(path, d) + ". recover would cut it into " + path + ".cut-" +
                           std::to_string(d.offset) + " and keep every message before it");
      } else {
        middle = true;
        problems.push_back(DescribeDamage(path, d) + ". recover --mode salvage would move these bytes to " + path +
                           ".damaged-" + std::to_string(d.offset) +
                           " and keep every intact message (and drop consumed ones); the default mode refuses");
      }
    }

    mq::IndexInfo index;
    ThrowIfError(mq::InspectIndex(path, sum, io).MoveTo(&index), path);
    using St = mq::IndexInfo::State;
    switch (index.state) {
      case St::kMissing:
        notes.push_back("note: " + index.path + ": missing; the next open of the queue builds it");
        break;
      case St::kStale:
        notes.push_back("note: " + index.path + ": stale (" + index.detail + ")");
        break;
      case St::kUnreadable:
        problems.push_back(index.path + ": unreadable (" + index.detail + "). recover would move it to " +
                           index.path + ".unreadable and build it again from the log");
        break;
      case St::kBehind:
        notes.push_back("note: " + index.path + ": behind the log by " + std::to_string(index.behind_bytes) +
                        " bytes (normal after a crash or while a mailbox writes); the next open catches it up");
        [[fallthrough]];
      case St::kCurrent: {
        std::vector<std::string> found;
        mq::Status v = mq::VerifyIndex(path, io).MoveTo(&found);
        if (!v.ok()) {
          problems.push_back(StatusError(v, index.path).what() +
                             std::string(". recover would build the index again from the log"));
        }
        for (auto& f : found) problems.push_back(f + ". recover would build the index again from the log");
        break;
      }
    }

    for (const auto& n : notes) out.Line(n);
    for (const auto& p : problems) out.Line(p);
    if (problems.empty()) {
      out.Line(path + ": ok: " + Plural(sum.messages, "message") + " (" + std::to_string(sum.pending) +
               " pending, " + std::to_string(sum.consumed) + " consumed) in " + std::to_string(sum.file_bytes) +
               " bytes, format version " + std::to_string(sum.format_version) +
               (sum.legacy ? " (the original format has no checksums: only its structure was checked)" : "") +
               "; index " + mq::IndexStateName(index.state));
    } else {
      out.Line(path + ": " + std::to_string(problems.size()) + (problems.size() == 1 ? " problem" : " problems") +
               " found; to repair, run: mqtool recover " + (middle ? "--mode salvage " : "") + path);
    }
    out.Flush();
    return problems.empty() ? kExitOk : kExitNothing;
  }
};

}  // namespace
std::unique_ptr<Command> MakeCheckCommand() { return std::make_unique<CheckCommand>(); }
}  // namespace mqtool
