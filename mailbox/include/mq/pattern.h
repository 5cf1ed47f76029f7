// Pattern: what a selective receive accepts (docs/mailbox.md, "Selective
// receive").
//
//   Pattern::Any()           every message
//   Pattern::Key(k)          messages whose key (the queue's key extractor
//                            applied to the payload) is exactly k; served by
//                            the key index in O(log n), whatever the backlog
//   Pattern::Prefix(p)       payloads that start with p (a predicate)
//   Pattern::Predicate(f)    payloads for which f returns true; walks the
//                            pending messages oldest first. f runs with the
//                            store's lock held: it must not call back into
//                            the mailbox or its store. An empty f makes
//                            Receive/Take return kInvalidArgument.
//
// ParsePattern reads the shell form used by `mqtool recv --match`:
//   any | key:K | prefix:P
// where K and P may contain the escapes \\ \t \n \0 and \xHH.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mq/status.h"

namespace mq {

class Pattern {
 public:
  enum class Kind { kAny, kKey, kPrefix, kPredicate };
  using Fn = std::function<bool(std::string_view payload)>;

  Pattern() = default;  // Any
  static Pattern Any() { return Pattern(); }
  static Pattern Key(std::string key);
  static Pattern Prefix(std::string prefix);
  static Pattern Predicate(Fn fn);

  Kind kind() const { return kind_; }
  // The key of kKey, the prefix of kPrefix; empty otherwise.
  const std::string& text() const { return text_; }
  // The callable of kPredicate (nullptr otherwise, or if none was given).
  const Fn* predicate() const { return fn_ != nullptr && *fn_ ? fn_.get() : nullptr; }
  // Whether `payload` matches. For kKey it needs the queue's key of the
  // payload, so the mailbox never calls it for kKey.
  bool Matches(std::string_view payload) const;
  // The shell form (`any`, `key:...`, `prefix:...`, escaped), or
  // "predicate" for a callable, which has no shell form.
  std::string ToString() const;

 private:
  Kind kind_ = Kind::kAny;
  std::string text_;
  std::shared_ptr<const Fn> fn_;
};

// Parses `any`, `key:K` or `prefix:P`. kInvalidArgument names the offending
// input and the byte where parsing stopped.
Result<Pattern> ParsePattern(std::string_view expr);

}  // namespace mq
