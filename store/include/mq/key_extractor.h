// KeyExtractor: how a message's key is cut from its payload, for the key
// index ("the oldest pending message with key K" is one index lookup).
//
//   none        no key index
//   first:N     the first N bytes (all of a shorter payload), 1 <= N <= 4096
//   until:C     the bytes before the first C (all of a payload without C);
//               C is one character, or \t, \n, \0, \\ or \xHH
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "mq/status.h"

namespace mq {

class KeyExtractor {
 public:
  enum class Kind { kNone, kFirstBytes, kUntilDelimiter };

  KeyExtractor() = default;
  static KeyExtractor None() { return KeyExtractor(); }
  static KeyExtractor FirstBytes(size_t n) { return KeyExtractor(Kind::kFirstBytes, n, 0); }
  static KeyExtractor UntilDelimiter(char c) { return KeyExtractor(Kind::kUntilDelimiter, 0, c); }

  // Parses the forms above; kInvalidArgument names what is wrong.
  static Result<KeyExtractor> Parse(std::string_view spec);
  // The spec form; Parse(ToString()) gives back the same extractor.
  std::string ToString() const;

  Kind kind() const { return kind_; }
  bool enabled() const { return kind_ != Kind::kNone; }
  // The key of a payload. Every payload has one when enabled().
  std::string_view Extract(std::string_view payload) const;

  bool operator==(const KeyExtractor& o) const {
    return kind_ == o.kind_ && n_ == o.n_ && delim_ == o.delim_;
  }

 private:
  KeyExtractor(Kind k, size_t n, char d) : kind_(k), n_(n), delim_(d) {}
  Kind kind_ = Kind::kNone;
  size_t n_ = 0;
  char delim_ = 0;
};

}  // namespace mq
