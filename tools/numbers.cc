#include "numbers.h"

#include "command.h"

namespace mqtool {

std::string Plural(uint64_t n, std::string_view noun) {
  std::string s = std::to_string(n) + " " + std::string(noun);
  if (n != 1) s += 's';
  return s;
}

uint64_t ParseUnsigned(std::string_view text, std::string_view option, uint64_t max) {
  auto bad = [&] {
    return UsageError(std::string(option) + ": '" + std::string(text) + "' is not a number from 0 to " +
                      std::to_string(max));
  };
  if (text.empty() || text.size() > 20) throw bad();
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') throw bad();
    auto d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) throw bad();
    v = v * 10 + d;
  }
  if (v > max) throw bad();
  return v;
}

std::chrono::milliseconds ParseSeconds(const std::string& text, const char* option) {
  const size_t dot = text.find('.');
  const uint64_t whole = ParseUnsigned(text.substr(0, dot), option, 86400u * 365);
  uint64_t ms = whole * 1000;
  if (dot != std::string::npos) {
    std::string frac = text.substr(dot + 1);
    if (frac.empty() || frac.size() > 3 || frac.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError(std::string(option) + ": '" + text + "' is not a number of seconds (e.g. 5 or 0.25)");
    while (frac.size() < 3) frac += '0';
    ms += std::stoul(frac);
  }
  return std::chrono::milliseconds(ms);
}

uint64_t ParseSeq(std::string_view text, std::string_view option) {
  try {
    uint64_t v = ParseUnsigned(text, option);
    if (v != 0) return v;
  } catch (const UsageError&) {
  }
  throw UsageError(std::string(option) + ": '" + std::string(text) +
                   "' is not a sequence number (expected 1 to 18446744073709551615)");
}

}  // namespace mqtool
