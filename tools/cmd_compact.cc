// mqtool compact: rewrites a queue's log without its consumed messages, as
// the store's own compaction does (a new file swapped in with one rename;
// sequence numbers kept). A log in the original format comes out in the
// current one, which the original reader still reads.
//
//   mqtool compact QUEUE [--dry-run] [--wait [--timeout S]]
//
//   --dry-run   only report what would be dropped (read-only: never locks)
//
// The queue is opened in absolute mode: a log with damage is refused before
// anything changes, with the advice to run `mqtool recover` first.
//
// Exit: 0 compacted (or would compact), 2 usage error, 3 refused or failed
// (busy queue: at once unless --wait).
#include <string>

#include "common.h"
#include "mq/inspect.h"
#include "mq/store.h"

namespace mqtool {
namespace {

// Bytes a framed message takes beyond its payload (docs/log-format.md,
// "Meta records": a 20-byte meta record and an 8-byte record header), and
// the file header's size: what a rewritten log is made of.
constexpr uint64_t kFramedOverhead = 28;
constexpr uint64_t kFileHeaderBytes = 56;

class CompactCommand final : public Command {
 public:
  CompactCommand() : Command("compact", "admin", "drop consumed messages from a queue's log (atomic; seqs kept)") {}

  int Run(const std::vector<std::string>& args) override {
    po::options_description opts = OptionsWithHelp();
    opts.add_options()("dry-run", "only report what would be dropped; change nothing");
    AddWaitOptions(&opts);
    po::variables_map vm;
    if (!ParseArgs(args, opts, {"queue"}, std::string("compact QUEUE [--dry-run] ") + kWaitUsage,
                   "Rewrites a queue's log without its consumed messages and prints bytes before and after.\n"
                   "Exit: 0 compacted (or would, with --dry-run), 2 usage error, 3 refused (nothing\n"
                   "changed) or failed; a queue in use is refused at once unless --wait.", &vm))
      return kExitOk;
    const std::string path = Required(vm, "queue", "QUEUE (the queue file to compact)");
    const WaitOptions wait = GetWaitOptions(vm);
    if (vm.count("dry-run") && wait.wait) throw UsageError("--dry-run never waits: it does not lock the queue");
    Output out;
    if (!vm.count("dry-run")) FailIfBusy(path, wait);
    Progress progress("compact " + path, 0);
    progress.Show("checking...");
    const Plan plan = Scan(path);
    const bool legacy = plan.sum.legacy;
    if (plan.sum.file_bytes == 0) {
      progress.Done();
      out.Line(path + ": empty (no records); nothing to compact");
      out.Flush();
      return kExitOk;
    }
    if (vm.count("dry-run")) {
      progress.Done();
      out.Line(path + ": would compact: " + std::to_string(plan.sum.file_bytes) + " bytes before, " +
               std::to_string(plan.after) + " after (" + Reclaimed(plan.sum.file_bytes, plan.after) + "); " +
               Plural(plan.kept, "message") + " kept, " + std::to_string(plan.dropped) + " consumed dropped" +
               (legacy ? "; would convert from the original format to format version 1" : "") +
               " (dry run: nothing changed)");
      out.Flush();
      return kExitOk;
    }

    mq::StoreOptions options;
    options.recovery = mq::RecoveryMode::kAbsoluteConsistency;
    options.sync = mq::SyncPolicy::kNone;  // compaction syncs the new log itself
    options.auto_compact = false;
    progress.Show("opening...");
    auto store = OpenForWriting(path, options, wait);
    progress.Show("rewriting...");
    mq::CompactionResult r;
    ThrowIfError(store->Compact().MoveTo(&r), path);
    ThrowIfError(store->Close(), path, "The compacted log is in place; reopening the queue rebuilds its index");
    progress.Done();
    out.Line(path + ": compacted: " + std::to_string(r.bytes_before) + " bytes before, " +
             std::to_string(r.bytes_after) + " after (" + Reclaimed(r.bytes_before, r.bytes_after) + "); " +
             Plural(r.messages_kept, "message") + " kept, " + std::to_string(r.messages_dropped) +
             " consumed dropped" + (legacy ? "; converted from the original format to format version 1" : ""));
    out.Flush();
    return kExitOk;
  }

 private:
  static std::string Reclaimed(uint64_t before, uint64_t after) {
    if (after > before) return std::to_string(after - before) + " bytes more, for the frames the original format lacks";
    return std::to_string(before - after) + " bytes reclaimed";
  }

  struct Plan {
    mq::LogSummary sum;
    uint64_t after = kFileHeaderBytes, kept = 0, dropped = 0;
  };

  // Computes the rewrite from a read-only scan: every pending message kept
  // with its frame, consumed ones dropped, a file header in front. Throws,
  // changing nothing, if the log has damage the rewrite would refuse.
  static Plan Scan(const std::string& path) {
    Plan p;
    ThrowIfError(mq::ScanLog(path, mq::InspectOptions{}, [&](const mq::LogMessage& r) {
      if (r.consumed) {
        ++p.dropped;
      } else {
        ++p.kept;
        p.after += kFramedOverhead + r.payload.size();
      }
      return true;
    }).MoveTo(&p.sum), path);
    // The queue's key extractor goes into the new log (docs/log-format.md,
    // "Key extractor records"): 8 bytes of record header, the spec, 4 of checksum.
    if (!p.sum.key_extractor.empty() && p.sum.key_extractor != "none") p.after += 12 + p.sum.key_extractor.size();
    const std::string advice = "compact changes nothing on a damaged log. Run `mqtool check " + path + "`, then ";
    for (const auto& d : p.sum.damage)
      throw ToolError(DescribeDamage(path, d) + "; " + advice + "`mqtool recover " +
                      (d.tail ? "" : "--mode salvage ") + path + "`");
    if (p.sum.bad_flags != 0)
      throw ToolError(path + ": " + Plural(p.sum.bad_flags, "message") +
                      (p.sum.bad_flags == 1 ? " has" : " have") + " a used flag that is neither 0 nor 1; " + advice + "`mqtool recover " + path +
                      "`");
    return p;
  }
};

}  // namespace
std::unique_ptr<Command> MakeCompactCommand() { return std::make_unique<CompactCommand>(); }
}  // namespace mqtool
