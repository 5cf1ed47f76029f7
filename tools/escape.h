// The one escape grammar of mqtool: dump's text output, --key, --match and
// send --escaped all use it (docs/mqtool.md, "Output forms of a message").
#pragma once

#include <string>
#include <string_view>

namespace mqtool {

// A payload as one printable line: bytes 0x20..0x7e stay as they are except
// '\\'; \n, \r, \t and '\\' become \n, \r, \t and \\; every other byte becomes
// \xHH (lowercase hex). The result never contains a newline, and
// UnescapePayload(EscapePayload(p)) == p.
std::string EscapePayload(std::string_view payload);
// The inverse of EscapePayload (also accepts \0 and \"). Throws UsageError
// naming `what` (e.g. "--key", "--match", "payload") and the position of a
// malformed escape.
std::string UnescapePayload(std::string_view text, std::string_view what = "payload");

}  // namespace mqtool
