#include "mq/key_extractor.h"

#include <cstdio>
#include <cstdlib>

namespace mq {
namespace {

constexpr size_t kMaxFirstBytes = 4096;

bool ParseChar(std::string_view s, char* out) {
  if (s.size() == 1) {
    *out = s[0];
    return true;
  }
  if (s == "\\t") return *out = '\t', true;
  if (s == "\\n") return *out = '\n', true;
  if (s == "\\0") return *out = '\0', true;
  if (s == "\\\\") return *out = '\\', true;
  if (s.size() == 4 && s[0] == '\\' && s[1] == 'x') {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[2]), lo = hex(s[3]);
    if (hi < 0 || lo < 0) return false;
    *out = static_cast<char>(hi * 16 + lo);
    return true;
  }
  return false;
}

}  // namespace

Result<KeyExtractor> KeyExtractor::Parse(std::string_view spec) {
  if (spec == "none" || spec.empty()) return KeyExtractor::None();
  if (spec.starts_with("first:")) {
    std::string_view num = spec.substr(6);
    if (num.empty() || num.size() > 6 || num.find_first_not_of("0123456789") != std::string_view::npos)
      return Status::InvalidArgument("key extractor '" + std::string(spec) +
                                     "': N in first:N must be a whole number from 1 to 4096");
    size_t n = std::strtoul(std::string(num).c_str(), nullptr, 10);
    if (n < 1 || n > kMaxFirstBytes)
      return Status::InvalidArgument("key extractor '" + std::string(spec) +
                                     "': N in first:N must be a whole number from 1 to 4096");
    return KeyExtractor::FirstBytes(n);
  }
  if (spec.starts_with("until:")) {
    char c;
    if (!ParseChar(spec.substr(6), &c))
      return Status::InvalidArgument("key extractor '" + std::string(spec) +
                                     "': C in until:C must be one character, \\t, \\n, \\0, \\\\ or \\xHH");
    return KeyExtractor::UntilDelimiter(c);
  }
  return Status::InvalidArgument("key extractor '" + std::string(spec) +
                                 "' is not one of: none, first:N, until:C");
}

std::string KeyExtractor::ToString() const {
  switch (kind_) {
    case Kind::kNone: return "none";
    case Kind::kFirstBytes: return "first:" + std::to_string(n_);
    case Kind::kUntilDelimiter: {
      unsigned char c = static_cast<unsigned char>(delim_);
      if (c == '\\') return "until:\\\\";
      if (c > 32 && c < 127) return std::string("until:") + static_cast<char>(c);
      char buf[16];
      std::snprintf(buf, sizeof(buf), "until:\\x%02x", c);
      return buf;
    }
  }
  return "none";
}

std::string_view KeyExtractor::Extract(std::string_view payload) const {
  switch (kind_) {
    case Kind::kNone: return {};
    case Kind::kFirstBytes: return payload.substr(0, n_);
    case Kind::kUntilDelimiter: {
      size_t pos = payload.find(delim_);
      return pos == std::string_view::npos ? payload : payload.substr(0, pos);
    }
  }
  return {};
}

}  // namespace mq
