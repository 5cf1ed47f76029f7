#include "selection.h"

#include "command.h"
#include "escape.h"
#include "numbers.h"
#include "status_error.h"

namespace mqtool {

namespace {

// --key-extractor's spec, or else the index's; must name a real extractor.
mq::KeyExtractor ChooseExtractor(const po::variables_map& vm, const std::string& path) {
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

}  // namespace

bool Selection::Selects(const mq::LogMessage& r) const {
  if (r.seq < from || r.seq > until || (r.consumed && !consumed)) return false;
  return !key || extractor.Extract(r.payload) == *key;
}

void AddSelectionOptions(po::options_description* options) {
  options->add_options()
      ("from", po::value<std::string>()->value_name("SEQ"), "only messages with seq >= SEQ")
      ("until", po::value<std::string>()->value_name("SEQ"), "only messages with seq <= SEQ")
      ("key", po::value<std::string>()->value_name("K"),
       "only messages whose key is K (escapes as in dump's text output)")
      ("key-extractor", po::value<std::string>()->value_name("SPEC"),
       "how keys are cut from payloads: first:N or until:C (default: the index's)");
}

Selection GetSelection(const po::variables_map& vm, const std::string& path, const char* consumed_switch) {
  Selection s;
  s.consumed = vm.count(consumed_switch) > 0;
  if (vm.count("from")) s.from = ParseSeq(vm["from"].as<std::string>(), "--from");
  if (vm.count("until")) s.until = ParseSeq(vm["until"].as<std::string>(), "--until");
  if (s.until < s.from)
    throw UsageError("--until " + std::to_string(s.until) + " is below --from " + std::to_string(s.from));
  if (vm.count("key")) s.key = UnescapePayload(vm["key"].as<std::string>(), "--key");
  if (vm.count("key-extractor") && !s.key) throw UsageError("--key-extractor is only used with --key");
  if (s.key) s.extractor = ChooseExtractor(vm, path);
  return s;
}

mq::Status ScanSelection(const std::string& path, const Selection& selection, Progress* progress,
                         const std::function<bool(const mq::LogMessage&)>& visit, mq::LogSummary* sum) {
  return mq::ScanLog(path, mq::InspectOptions{}, [&](const mq::LogMessage& r) {
    if (r.seq > selection.until) return false;
    progress->Update(r.end);
    return !selection.Selects(r) || visit(r);
  }).MoveTo(sum);
}

}  // namespace mqtool
