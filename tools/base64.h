// Standard base64 (RFC 4648), for payloads in JSON output.
#pragma once

#include <string>
#include <string_view>

namespace mqtool {

// Standard base64 (RFC 4648, with '=' padding, no line breaks).
std::string Base64Encode(std::string_view bytes);
// Decodes standard base64 (padding required, no whitespace). Returns false on
// any malformed input and leaves *out unspecified.
bool Base64Decode(std::string_view text, std::string* out);

}  // namespace mqtool
