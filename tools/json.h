// JSON output: string literals, and the one builder of the one-line JSON
// objects that dump, replay and recv (jsonl) and stat (json) print.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mqtool {

// A JSON string literal, quotes included: '"' and '\\' escaped, control
// characters as \n, \t, \r, \b, \f or \u00XX. Bytes >= 0x80 are copied as they
// are (callers pass UTF-8 text such as paths; payloads go through base64).
std::string JsonString(std::string_view s);

// Builds one JSON object on one line, fields in the order added:
//   JsonObject().Number("seq", 1).Bytes("payload_b64", p).str()
//   == {"seq":1,"payload_b64":"..."}
class JsonObject {
 public:
  JsonObject& Number(std::string_view name, uint64_t value);
  JsonObject& String(std::string_view name, std::string_view value);
  // `bytes` in standard base64 (payloads: any bytes at all).
  JsonObject& Bytes(std::string_view name, std::string_view bytes);
  // Another object as the value (nested).
  JsonObject& Object(std::string_view name, const JsonObject& value);
  std::string str() const { return text_ + "}"; }

 private:
  void Name(std::string_view name);
  std::string text_ = "{";
};

}  // namespace mqtool
