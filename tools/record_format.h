// The forms in which dump and replay --to - print a queue's messages
// (docs/mqtool.md, "Output forms of a message").
#pragma once

#include <string>
#include <string_view>

#include "mq/inspect.h"
#include "output.h"

namespace mqtool {

enum class RecordFormat {
  kText,   // seq=N offset=N state=pending|consumed size=N payload=ESCAPED
  kJsonl,  // {"seq":N,"offset":N,"state":"pending","size":N,"payload_b64":"..."}
  kRaw,    // the payload's bytes
};

// "text", "jsonl" or "raw"; anything else is a UsageError naming --format
// and listing the forms in the order of `choices` (as the command's help does).
RecordFormat ParseRecordFormat(const std::string& name, std::string_view choices);

// One record in the text or jsonl form (no newline).
std::string RecordText(const mq::LogMessage& r);
std::string RecordJson(const mq::LogMessage& r);

// Writes `r` in `format` and a newline; false once the reader has gone away.
bool WriteRecord(Output* out, const mq::LogMessage& r, RecordFormat format);

}  // namespace mqtool
