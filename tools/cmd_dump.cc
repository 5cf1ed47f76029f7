// mqtool dump: prints a queue's messages, in log order, without locking or
// writing anything (mq/inspect.h), so it is safe beside a running mailbox.
//
//   mqtool dump QUEUE [--all] [--from SEQ] [--until SEQ] [--key K]
//                     [--key-extractor SPEC] [--format text|jsonl|raw]
//
//   --all            consumed messages too (default: pending only)
//   --from, --until  only sequence numbers in [from, until]
//   --key K          only messages whose key is K (K may use the escapes of
//                    text output: \\ \n \t \xHH); the key extractor is
//                    --key-extractor, or else the one the index records
//   --format         text (default): seq=N offset=N state=S size=N payload=ESCAPED
//                    jsonl: {"seq":N,"offset":N,"state":"pending","size":N,"payload_b64":"..."}
//                    raw: each payload followed by a newline
//
// Exit: 0 done (also when the reader of a pipe stops reading), 1 damaged
// bytes were skipped (each named on stderr; every intact message was still
// printed), 2 usage error, 3 the log could not be read.
#include <cstdio>

#include "common.h"

namespace mqtool {
namespace {

class DumpCommand final : public Command {
 public:
  DumpCommand() : Command("dump", "data access", "print a queue's messages (text, jsonl or raw); read-only") {}

  int Run(const std::vector<std::string>& args) override {
    po::options_description opts = OptionsWithHelp();
    opts.add_options()("all", "consumed messages too (default: pending only)");
    AddSelectionOptions(&opts);
    opts.add_options()
        ("format", po::value<std::string>()->default_value("text")->value_name("FMT"), "text, jsonl or raw");
    po::variables_map vm;
    if (!ParseArgs(args, opts, {"queue"},
                   std::string("dump QUEUE [--all] ") + kSelectionUsage + " [--format text|jsonl|raw]",
                   "Prints a queue's messages in log order without locking or changing it.\n"
                   "Exit: 0 done (also when the reader stops reading), 1 damaged bytes were skipped\n"
                   "(each named on stderr), 2 usage error, 3 could not read the queue.", &vm))
      return kExitOk;
    const std::string path = Required(vm, "queue", "QUEUE (the queue file to dump)");
    const RecordFormat format = ParseRecordFormat(vm["format"].as<std::string>(), "text, jsonl, raw");
    const Selection selection = GetSelection(vm, path, "all");

    std::setvbuf(stdout, nullptr, _IOFBF, 1 << 20);
    Output out;
    Progress progress("dump " + path, FileSizeOrZero(path));
    mq::LogSummary sum;
    mq::Status s = ScanSelection(path, selection, &progress,
                                 [&](const mq::LogMessage& r) { return WriteRecord(&out, r, format); }, &sum);
    progress.Done();
    ThrowIfError(s, path);
    out.Flush();
    if (out.closed()) return kExitOk;
    return ReportSkippedDamage(path, sum, "Run dump again to see it") ? kExitNothing : kExitOk;
  }
};

}  // namespace
std::unique_ptr<Command> MakeDumpCommand() { return std::make_unique<DumpCommand>(); }
}  // namespace mqtool
