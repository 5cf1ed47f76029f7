#include "escape.h"

#include <array>

#include "command.h"

namespace mqtool {

namespace {
constexpr char kHex[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Bytes that EscapePayload leaves as they are: printable ASCII except '\\'.
constexpr auto kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c <= 0x7e; ++c) t[static_cast<size_t>(c)] = c != '\\';
  return t;
}();
}  // namespace

std::string EscapePayload(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + payload.size() / 8);
  size_t i = 0;
  while (i < payload.size()) {
    // Copy a run of bytes that stay as they are in one append.
    size_t run = i;
    while (run < payload.size() && kPlain[static_cast<unsigned char>(payload[run])]) ++run;
    out.append(payload.data() + i, run - i);
    if (run == payload.size()) break;
    auto c = static_cast<unsigned char>(payload[run]);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const char esc[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
        out.append(esc, 4);
      }
    }
    i = run + 1;
  }
  return out;
}

std::string UnescapePayload(std::string_view text, std::string_view what) {
  const std::string w(what);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (i + 1 >= text.size())
      throw UsageError(w + " ends with a lone '\\' at byte " + std::to_string(i) + "; write \\\\ for a backslash");
    char e = text[++i];
    switch (e) {
      case '\\': out += '\\'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '0': out += '\0'; break;
      case '"': out += '"'; break;
      case 'x': {
        int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
        int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
        if (hi < 0 || lo < 0)
          throw UsageError(w + " has a malformed \\x escape at byte " + std::to_string(i - 1) +
                           "; write \\xHH with two hex digits");
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default:
        throw UsageError(w + " has an unknown escape \\" + e + " at byte " +
                         std::to_string(i - 1) + "; known: \\\\ \\n \\r \\t \\0 \\\" \\xHH");
    }
  }
  return out;
}

}  // namespace mqtool
