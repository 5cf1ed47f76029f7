// mqtool stat: a queue's numbers, read-only (mq/inspect.h).
//
//   mqtool stat QUEUE [--format text|json]
//
// Fields: messages pending and consumed; bytes of the file, live (framed
// pending messages), reclaimable (framed consumed messages) and damaged;
// first and last sequence numbers (0 when there are none); format version
// (0 = the original format, without header); the index's state (current,
// behind by N bytes, missing, stale, unreadable); the pid holding the
// writer lock (0 when none).
//
// Exit: 0 done, 2 usage error, 3 the log could not be read.
#include <cstdio>
#include <string>

#include "common.h"
#include "mq/inspect.h"

namespace mqtool {
namespace {

std::string IndexText(const mq::IndexInfo& i) {
  switch (i.state) {
    case mq::IndexInfo::State::kCurrent: return "current";
    case mq::IndexInfo::State::kBehind: return "behind by " + std::to_string(i.behind_bytes) + " bytes";
    case mq::IndexInfo::State::kMissing: return "missing";
    case mq::IndexInfo::State::kStale: return "stale: " + i.detail;
    case mq::IndexInfo::State::kUnreadable: return "unreadable: " + i.detail;
  }
  return "?";
}

class StatCommand final : public Command {
 public:
  StatCommand() : Command("stat", "data access", "print a queue's counts, sizes, format, index state and lock holder") {}

  int Run(const std::vector<std::string>& args) override {
    po::options_description opts = OptionsWithHelp();
    opts.add_options()("format", po::value<std::string>()->default_value("text")->value_name("FMT"), "text or json");
    po::variables_map vm;
    if (!ParseArgs(args, opts, {"queue"}, "stat QUEUE [--format text|json]",
                   "Prints a queue's numbers without locking or changing it.\n"
                   "Exit: 0 done, 2 usage error, 3 could not read the queue.", &vm))
      return kExitOk;
    const std::string path = Required(vm, "queue", "QUEUE (the queue file to describe)");
    const std::string format = vm["format"].as<std::string>();
    if (format != "text" && format != "json") throw UsageError("--format: '" + format + "' is not one of: text, json");

    mq::InspectOptions io;
    mq::LogSummary sum;
    ThrowIfError(mq::ScanLog(path, io, [](const mq::LogMessage&) { return true; }).MoveTo(&sum), path);
    mq::IndexInfo index;
    ThrowIfError(mq::InspectIndex(path, sum, io).MoveTo(&index), path);
    const pid_t holder = mq::QueueLockHolder(path);
    uint64_t damaged = 0;
    for (const auto& d : sum.damage) damaged += d.bytes;

    Output out;
    std::string text;
    auto u = [](uint64_t v) { return std::to_string(v); };
    if (format == "json") {
      text = JsonObject()
                 .String("queue", path)
                 .Number("format_version", sum.format_version)
                 .Number("pending", sum.pending)
                 .Number("consumed", sum.consumed)
                 .Number("file_bytes", sum.file_bytes)
                 .Number("live_bytes", sum.pending_bytes)
                 .Number("reclaimable_bytes", sum.consumed_bytes)
                 .Number("damaged_bytes", damaged)
                 .Number("damaged_regions", sum.damage.size())
                 .Number("first_seq", sum.first_seq)
                 .Number("last_seq", sum.last_seq)
                 .Number("first_pending_seq", sum.first_pending_seq)
                 .Object("index", JsonObject()
                                      .String("state", mq::IndexStateName(index.state))
                                      .Number("behind_bytes", index.behind_bytes)
                                      .Number("entries", index.entries)
                                      .String("extractor", index.extractor)
                                      .String("detail", index.detail))
                 .Number("lock_holder_pid", static_cast<uint64_t>(holder))
                 .str() +
             "\n";
    } else {
      auto row = [&](const char* k, const std::string& v) {
        char head[32];
        std::snprintf(head, sizeof(head), "%-19s ", k);
        text += head + v + "\n";
      };
      row("queue:", path);
      row("format version:", u(sum.format_version) + (sum.legacy ? " (the original format, without header)" : ""));
      row("messages pending:", u(sum.pending));
      row("messages consumed:", u(sum.consumed));
      row("bytes in file:", u(sum.file_bytes));
      row("bytes live:", u(sum.pending_bytes));
      row("bytes reclaimable:", u(sum.consumed_bytes));
      row("bytes damaged:", u(damaged) + (damaged ? " in " + Plural(sum.damage.size(), "region") + "; run mqtool check" : ""));
      row("first seq:", u(sum.first_seq));
      row("last seq:", u(sum.last_seq));
      row("first pending seq:", u(sum.first_pending_seq));
      row("index:", IndexText(index));
      row("lock holder:", holder != 0 ? "pid " + u(static_cast<uint64_t>(holder)) : "none");
    }
    out.Write(text);
    out.Flush();
    return kExitOk;
  }
};

}  // namespace
std::unique_ptr<Command> MakeStatCommand() { return std::make_unique<StatCommand>(); }
}  // namespace mqtool
