#include "record_format.h"

#include "command.h"
#include "escape.h"
#include "json.h"

namespace mqtool {

namespace {
const char* StateName(const mq::LogMessage& r) { return r.consumed ? "consumed" : "pending"; }
}  // namespace

RecordFormat ParseRecordFormat(const std::string& name, std::string_view choices) {
  if (name == "text") return RecordFormat::kText;
  if (name == "jsonl") return RecordFormat::kJsonl;
  if (name == "raw") return RecordFormat::kRaw;
  throw UsageError("--format: '" + name + "' is not one of: " + std::string(choices));
}

std::string RecordText(const mq::LogMessage& r) {
  return "seq=" + std::to_string(r.seq) + " offset=" + std::to_string(r.msg_offset) + " state=" + StateName(r) +
         " size=" + std::to_string(r.payload.size()) + " payload=" + EscapePayload(r.payload);
}

std::string RecordJson(const mq::LogMessage& r) {
  return JsonObject()
      .Number("seq", r.seq)
      .Number("offset", r.msg_offset)
      .String("state", StateName(r))
      .Number("size", r.payload.size())
      .Bytes("payload_b64", r.payload)
      .str();
}

bool WriteRecord(Output* out, const mq::LogMessage& r, RecordFormat format) {
  switch (format) {
    case RecordFormat::kText: return out->Line(RecordText(r));
    case RecordFormat::kJsonl: return out->Line(RecordJson(r));
    case RecordFormat::kRaw: break;
  }
  return out->Write(r.payload) && out->Write("\n");
}

}  // namespace mqtool
