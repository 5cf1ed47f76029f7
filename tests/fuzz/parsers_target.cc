// Fuzz targets: the key extractor spec (mq::KeyExtractor::Parse) and the
// --match pattern (mq::ParsePattern).
//
// The whole input is parsed; then, if it holds a newline, the part before the
// first newline is parsed as a spec and the part after it is the payload the
// result is applied to. Properties:
//   - a spec that parses prints back (ToString) to a spec that parses to the
//     same thing, and prints the same again;
//   - a key is a prefix of its payload, as long as the extractor says
//     (first:N: min(N, size); until:C: up to the first C, or all);
//   - a pattern matches a payload exactly as its kind says;
//   - a refused spec is kInvalidArgument with a message, and a refused pattern
//     names a byte inside the input.
#include <cstdlib>
#include <string_view>

#include "fuzz_targets.h"
#include "mq/key_extractor.h"
#include "mq/pattern.h"

namespace mq::fuzz {
namespace {

void CheckExtractor(std::string_view spec, std::string_view payload) {
  Result<mq::KeyExtractor> r = mq::KeyExtractor::Parse(spec);
  if (!r.ok()) {
    FUZZ_CHECK(r.status().code() == Status::Code::kInvalidArgument, "refused spec: " + r.status().ToString());
    FUZZ_CHECK(!r.status().message().empty(), "refused spec without a message");
    return;
  }
  const mq::KeyExtractor& k = r.value();
  const std::string printed = k.ToString();
  Result<mq::KeyExtractor> again = mq::KeyExtractor::Parse(printed);
  FUZZ_CHECK(again.ok(), "ToString gave a spec Parse refuses: " + printed);
  FUZZ_CHECK(again.value() == k, "Parse(ToString()) is another extractor: " + printed);
  FUZZ_CHECK(again.value().ToString() == printed, "ToString is not stable: " + printed);

  const std::string_view key = k.Extract(payload);
  FUZZ_CHECK(payload.substr(0, key.size()) == key, "the key is not a prefix of the payload");
  switch (k.kind()) {
    case mq::KeyExtractor::Kind::kNone:
      FUZZ_CHECK(key.empty() && !k.enabled(), "none extracted a key");
      break;
    case mq::KeyExtractor::Kind::kFirstBytes: {
      const size_t n = std::strtoul(printed.c_str() + 6, nullptr, 10);
      FUZZ_CHECK(n >= 1 && n <= 4096, "first:N out of its range: " + printed);
      FUZZ_CHECK(key.size() == std::min(n, payload.size()), "first:N cut the wrong length");
      break;
    }
    case mq::KeyExtractor::Kind::kUntilDelimiter: {
      // The delimiter is the first payload byte past the key, if any.
      if (key.size() < payload.size()) {
        const char c = payload[key.size()];
        FUZZ_CHECK(key.find(c) == std::string_view::npos, "until:C: the key holds its delimiter");
        FUZZ_CHECK(k == mq::KeyExtractor::UntilDelimiter(c), "until:C stopped at another byte");
      }
      break;
    }
  }
}

// As mailbox/src/pattern.cc shows an expression in an error message.
std::string Escape(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '\\') out += "\\\\";
    else if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c == '\0') out += "\\0";
    else if (u < 0x20 || u >= 0x7f) out += std::string("\\x") + kHex[u >> 4] + kHex[u & 15];
    else out.push_back(c);
  }
  return out;
}

void CheckPattern(std::string_view expr, std::string_view payload) {
  Result<mq::Pattern> r = mq::ParsePattern(expr);
  if (!r.ok()) {
    const Status& s = r.status();
    FUZZ_CHECK(s.code() == Status::Code::kInvalidArgument, "refused pattern: " + s.ToString());
    // "pattern '<the input, escaped, at most 80 bytes>', at byte N: why"
    std::string shown = Escape(expr.substr(0, 80));
    if (expr.size() > 80) shown += "...";
    const std::string head = "pattern '" + shown + "', at byte ";
    FUZZ_CHECK(s.message().starts_with(head), "refused pattern without the input and its byte: " + s.message());
    const size_t byte = std::strtoul(s.message().c_str() + head.size(), nullptr, 10);
    FUZZ_CHECK(byte < expr.size() || (expr.empty() && byte == 0),
               "refused pattern names a byte outside the input: " + s.message());
    return;
  }
  const mq::Pattern& p = r.value();
  FUZZ_CHECK(p.kind() != mq::Pattern::Kind::kPredicate, "ParsePattern made a predicate");
  const std::string printed = p.ToString();
  Result<mq::Pattern> again = mq::ParsePattern(printed);
  FUZZ_CHECK(again.ok(), "ToString gave a pattern ParsePattern refuses: " + printed);
  FUZZ_CHECK(again.value().kind() == p.kind() && again.value().text() == p.text(),
             "ParsePattern(ToString()) is another pattern: " + printed);
  FUZZ_CHECK(again.value().ToString() == printed, "ToString is not stable: " + printed);
  switch (p.kind()) {
    case mq::Pattern::Kind::kAny:
      FUZZ_CHECK(p.Matches(payload) && p.text().empty(), "any");
      break;
    case mq::Pattern::Kind::kKey:
      FUZZ_CHECK(!p.Matches(payload), "a key pattern matched without the queue's key extractor");
      break;
    case mq::Pattern::Kind::kPrefix:
      FUZZ_CHECK(p.Matches(payload) == payload.starts_with(p.text()), "prefix:P matched wrongly");
      break;
    case mq::Pattern::Kind::kPredicate:
      break;
  }
}

std::pair<std::string_view, std::string_view> Split(std::string_view in) {
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return {in, in};
  return {in.substr(0, nl), in.substr(nl + 1)};
}

}  // namespace

int KeyExtractor(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  CheckExtractor(in, in);
  auto [spec, payload] = Split(in);
  CheckExtractor(spec, payload);
  return 0;
}

int Pattern(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  CheckPattern(in, in);
  auto [expr, payload] = Split(in);
  CheckPattern(expr, payload);
  return 0;
}

}  // namespace mq::fuzz
