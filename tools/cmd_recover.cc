// mqtool recover: repairs a queue and rebuilds its index, never deleting a
// byte: a torn tail is cut into a side file (QUEUE.cut-OFFSET), and in salvage
// mode damaged regions are moved to side files (QUEUE.damaged-OFFSET) while
// every intact message is kept. Prints what it did.
//
//   mqtool recover QUEUE [--mode tolerate-tail|absolute|salvage] [--wait [--timeout S]]
//
//   --mode tolerate-tail  (default) cut a torn tail; refuse damage elsewhere
//   --mode absolute       refuse any damage (only rebuilds the index)
//   --mode salvage        keep every intact message; move damaged bytes aside
//                         (the log is rewritten, which also drops consumed messages)
//
// Exit: 0 repaired (or nothing to repair), 2 usage error, 3 refused or
// failed (the message says why and what to do; a busy queue is refused at
// once unless --wait).
#include <string>
#include <vector>

#include "common.h"
#include "mq/inspect.h"
#include "mq/store.h"

namespace mqtool {
namespace {

// Collects what recovery did, in order, to print it afterwards.
class NoteCollector final : public mq::Reporter {
 public:
  void Corruption(const std::string&, uint64_t, uint64_t, const std::string&) override {}
  void Note(const std::string& what) override { notes.push_back(what); }
  std::vector<std::string> notes;
};

// Throws, changing nothing, if `mode` refuses the damage a scan found.
void Refuse(const std::string& path, mq::RecoveryMode mode, const mq::LogSummary& sum) {
  for (const auto& d : sum.damage) {
    if (!d.tail && mode != mq::RecoveryMode::kSalvage)
      throw ToolError(DescribeDamage(path, d) + ". " + mq::RecoveryModeName(mode) +
                      " mode refuses damage before the end of the log; nothing was changed. Run `mqtool recover "
                      "--mode salvage " + path + "` to keep every intact message and move the damaged bytes to a "
                      "side file");
    if (d.tail && mode == mq::RecoveryMode::kAbsoluteConsistency)
      throw ToolError(DescribeDamage(path, d) + ". absolute mode refuses any damage; nothing was changed. Run "
                      "`mqtool recover " + path + "` to cut the tail into a side file");
  }
  if (sum.bad_flags != 0 && mode == mq::RecoveryMode::kAbsoluteConsistency)
    throw ToolError(path + ": " + Plural(sum.bad_flags, "message") + (sum.bad_flags == 1 ? " has" : " have") +
                    " a used flag that is neither 0 nor 1. absolute mode refuses them; nothing was "
                    "changed. Run `mqtool recover " + path + "` to keep them as pending");
}

class RecoverCommand final : public Command {
 public:
  RecoverCommand() : Command("recover", "admin", "repair a queue (torn tail, damaged records) and rebuild its index") {}

  int Run(const std::vector<std::string>& args) override {
    po::options_description opts = OptionsWithHelp();
    opts.add_options()("mode", po::value<std::string>()->default_value("tolerate-tail")->value_name("MODE"),
                       "tolerate-tail, absolute or salvage");
    AddWaitOptions(&opts);
    po::variables_map vm;
    if (!ParseArgs(args, opts, {"queue"}, std::string("recover QUEUE [--mode tolerate-tail|absolute|salvage] ") + kWaitUsage,
                   "Repairs a queue without deleting any byte and rebuilds its index; prints what it did.\n"
                   "Exit: 0 repaired (or nothing to repair), 2 usage error, 3 refused (nothing changed)\n"
                   "or failed; a queue in use is refused at once unless --wait.", &vm))
      return kExitOk;
    const std::string path = Required(vm, "queue", "QUEUE (the queue file to recover)");
    auto mode = mq::ParseRecoveryMode(vm["mode"].as<std::string>());
    if (!mode.ok()) throw UsageError("--mode: " + mode.status().message());
    const WaitOptions wait = GetWaitOptions(vm);

    Output out;
    FailIfBusy(path, wait);
    // Decide from a read-only scan first, so that a refusal changes nothing
    // at all (opening for writing marks the index in use).
    Progress progress("recover " + path, 0);
    progress.Show("checking...");
    mq::LogSummary sum;
    ThrowIfError(mq::ScanLog(path, mq::InspectOptions{}, [](const mq::LogMessage&) { return true; }).MoveTo(&sum), path);
    if (sum.file_bytes == 0) {
      progress.Done();
      out.Line(path + ": empty (no records); nothing to recover");
      out.Flush();
      return kExitOk;
    }
    Refuse(path, mode.value(), sum);

    NoteCollector reporter;
    mq::StoreOptions options;
    options.recovery = mode.value();
    options.sync = mq::SyncPolicy::kNone;  // Close() syncs once at the end
    options.auto_compact = false;
    options.reporter = &reporter;
    progress.Show("repairing...");
    auto store = OpenForWriting(path, options, wait);
    progress.Show("rebuilding the index...");
    ThrowIfError(store->RebuildIndex(), path);
    // What opening and the rebuild did (a rebuild scans the whole log, so
    // damage inside what the old index covered is handled there).
    const mq::OpenReport report = store->open_report();
    const mq::StoreStats stats = store->Stats();
    ThrowIfError(store->Close(), path, "The repairs so far are kept; run recover again");
    progress.Done();

    for (const auto& n : reporter.notes) out.Line(n);
    if (report.tail_cut_bytes == 0 && report.damaged_regions == 0 && report.bad_flags == 0)
      out.Line(path + ": no damage found in the log");
    if (report.flags_repaired != 0)
      out.Line(path + ": " + std::to_string(report.flags_repaired) +
               (report.flags_repaired == 1 ? " message had a used flag" : " messages had a used flag") +
               " that was neither 0 nor 1: set to 0 (pending), the old flags kept in side files");
    out.Line(path + ": index rebuilt: " + Plural(stats.pending, "pending message") + " indexed");
    std::string kept = path + ": recovered in " + mq::RecoveryModeName(mode.value()) + " mode: " +
                       std::to_string(stats.pending) + " pending, " + Plural(stats.consumed, "consumed message") + ", " + std::to_string(stats.file_bytes) + " bytes; no bytes deleted";
    if (!report.side_files.empty()) {
      kept += " (side files:";
      for (const auto& f : report.side_files) kept += " " + f;
      kept += ")";
    }
    out.Line(kept);
    out.Flush();
    return kExitOk;
  }

 private:
};

}  // namespace
std::unique_ptr<Command> MakeRecoverCommand() { return std::make_unique<RecoverCommand>(); }
}  // namespace mqtool
