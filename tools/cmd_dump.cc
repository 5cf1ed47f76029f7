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
#include <optional>

#include "common.h"
#include "mq/inspect.h"
#include "mq/key_extractor.h"

namespace mqtool {
namespace {

enum class Format { kText, kJsonl, kRaw };

Format ParseFormat(const std::string& s) {
  if (s == "text") return Format::kText;
  if (s == "jsonl") return Format::kJsonl;
  if (s == "raw") return Format::kRaw;
  throw UsageError("--format: '" + s + "' is not one of: text, jsonl, raw");
}

class DumpCommand final : public Command {
 public:
  const char* name() const override { return "dump"; }
  const char* group() const override { return "data access"; }
  const char* summary() const override { return "print a queue's messages (text, jsonl or raw); read-only"; }

  int Run(const std::vector<std::string>& args) override {
    po::options_description opts("options");
    AddHelp(&opts);
    opts.add_options()
        ("all", "consumed messages too (default: pending only)")
        ("from", po::value<std::string>()->value_name("SEQ"), "only messages with seq >= SEQ")
        ("until", po::value<std::string>()->value_name("SEQ"), "only messages with seq <= SEQ")
        ("key", po::value<std::string>()->value_name("K"), "only messages whose key is K (escapes as in text output)")
        ("key-extractor", po::value<std::string>()->value_name("SPEC"),
         "how keys are cut from payloads: first:N or until:C (default: the index's)")
        ("format", po::value<std::string>()->default_value("text")->value_name("FMT"), "text, jsonl or raw");
    po::variables_map vm;
    if (!ParseArgs(args, opts, {"queue"},
                   "dump QUEUE [--all] [--from SEQ] [--until SEQ] [--key K [--key-extractor SPEC]] "
                   "[--format text|jsonl|raw]",
                   "Prints a queue's messages in log order without locking or changing it.\n"
                   "Exit: 0 done (also when the reader stops reading), 1 damaged bytes were skipped\n"
                   "(each named on stderr), 2 usage error, 3 could not read the queue.", &vm))
      return kExitOk;
    const std::string path = Required(vm, "queue", "QUEUE (the queue file to dump)");
    const Format format = ParseFormat(vm["format"].as<std::string>());
    const bool all = vm.count("all") > 0;
    uint64_t from = vm.count("from") ? ParseSeq(vm["from"].as<std::string>(), "--from") : 1;
    uint64_t until = vm.count("until") ? ParseSeq(vm["until"].as<std::string>(), "--until") : UINT64_MAX;
    if (until < from)
      throw UsageError("--until " + std::to_string(until) + " is below --from " + std::to_string(from));
    std::optional<std::string> key;
    if (vm.count("key")) key = UnescapePayload(vm["key"].as<std::string>(), "--key");
    if (vm.count("key-extractor") && !key) throw UsageError("--key-extractor is only used with --key");
    mq::KeyExtractor extractor;
    if (key) extractor = ChooseExtractor(vm, path);

    std::setvbuf(stdout, nullptr, _IOFBF, 1 << 20);
    Output out;
    Progress progress("dump " + path, FileSizeOrZero(path));
    mq::LogSummary sum;
    std::string line;
    mq::Status s = mq::ScanLog(path, mq::InspectOptions{}, [&](const mq::LogRecord& r) {
      if (r.seq > until) return false;
      progress.Update(r.end);
      if (r.seq < from || (r.consumed && !all)) return true;
      if (key && extractor.Extract(r.payload) != *key) return true;
      line.clear();
      switch (format) {
        case Format::kRaw:
          return out.Write(r.payload) && out.Write("\n");
        case Format::kText:
          line = RecordText(r);
          break;
        case Format::kJsonl:
          line = RecordJson(r);
          break;
      }
      return out.Line(line);
    }).MoveTo(&sum);
    progress.Done();
    ThrowIfError(s, path);
    out.Flush();
    if (out.closed()) return kExitOk;
    return ReportDamage(path, sum) ? kExitNothing : kExitOk;
  }

 private:
  static mq::KeyExtractor ChooseExtractor(const po::variables_map& vm, const std::string& path) {
    std::string spec;
    if (vm.count("key-extractor")) {
      spec = vm["key-extractor"].as<std::string>();
    } else {
      // Only the extractor is wanted here, which the index records whatever
      // its state; an empty summary is enough for InspectIndex to read it.
      mq::IndexInfo info;
      ThrowIfError(mq::InspectIndex(path, mq::LogSummary{}, mq::InspectOptions{}).MoveTo(&info), path);
      spec = info.extractor;
      if (spec.empty() || spec == "none")
        throw UsageError(path + ": --key needs a key extractor and " +
                         (spec.empty() ? "there is no readable index to take one from"
                                       : "the index records none") +
                         "; give --key-extractor first:N or --key-extractor until:C");
    }
    auto parsed = mq::KeyExtractor::Parse(spec);
    if (!parsed.ok()) throw UsageError("--key-extractor: " + parsed.status().message());
    if (!parsed->enabled()) throw UsageError("--key-extractor none cannot match a key; give first:N or until:C");
    return parsed.value();
  }

  // Names each damaged region on stderr; returns true if any counts as damage.
  // A torn tail while a mailbox holds the queue may be a write in progress.
  static bool ReportDamage(const std::string& path, const mq::LogSummary& sum) {
    if (!sum.complete) return false;  // stopped at --until before reaching it
    bool damaged = false;
    pid_t holder = sum.damage.empty() ? 0 : mq::QueueLockHolder(path);
    for (const auto& d : sum.damage) {
      if (d.tail && holder != 0) {
        std::fprintf(stderr,
                     "mqtool: %s: offset %llu: the last %llu bytes do not form a complete message (%s); "
                     "pid %d holds the queue, so this is probably a write in progress. Run dump again to see it\n",
                     path.c_str(), static_cast<unsigned long long>(d.offset),
                     static_cast<unsigned long long>(d.bytes), d.reason.c_str(), static_cast<int>(holder));
        continue;
      }
      damaged = true;
      std::fprintf(stderr, "mqtool: %s: offset %llu: skipped %llu damaged bytes%s (%s). Run mqtool check %s\n",
                   path.c_str(), static_cast<unsigned long long>(d.offset),
                   static_cast<unsigned long long>(d.bytes), d.tail ? " at the end of the log" : "",
                   d.reason.c_str(), path.c_str());
    }
    return damaged;
  }
};

}  // namespace
std::unique_ptr<Command> MakeDumpCommand() { return std::make_unique<DumpCommand>(); }
}  // namespace mqtool
