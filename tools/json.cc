#include "json.h"

#include "base64.h"

namespace mqtool {

namespace {
constexpr char kHex[] = "0123456789abcdef";
}  // namespace

std::string JsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

void JsonObject::Name(std::string_view name) {
  if (text_.size() > 1) text_ += ',';
  text_ += JsonString(name);
  text_ += ':';
}

JsonObject& JsonObject::Number(std::string_view name, uint64_t value) {
  Name(name);
  text_ += std::to_string(value);
  return *this;
}

JsonObject& JsonObject::String(std::string_view name, std::string_view value) {
  Name(name);
  text_ += JsonString(value);
  return *this;
}

JsonObject& JsonObject::Bytes(std::string_view name, std::string_view bytes) {
  Name(name);
  text_ += '"';
  text_ += Base64Encode(bytes);  // base64 needs no JSON escapes
  text_ += '"';
  return *this;
}

JsonObject& JsonObject::Object(std::string_view name, const JsonObject& value) {
  Name(name);
  text_ += value.str();
  return *this;
}

}  // namespace mqtool
