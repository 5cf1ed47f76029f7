#include "mq/pattern.h"

namespace mq {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Undoes the escapes \\ \t \n \0 \xHH. On error, *where is the byte offset
// (within `s`) of the bad escape.
bool Unescape(std::string_view s, std::string* out, size_t* where, std::string* why) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out->push_back(s[i]);
      continue;
    }
    *where = i;
    if (i + 1 >= s.size()) {
      *why = "a lone backslash at the end (write \\\\ for a backslash)";
      return false;
    }
    char c = s[++i];
    switch (c) {
      case '\\': out->push_back('\\'); break;
      case 't': out->push_back('\t'); break;
      case 'n': out->push_back('\n'); break;
      case '0': out->push_back('\0'); break;
      case 'x': {
        int hi = i + 1 < s.size() ? HexDigit(s[i + 1]) : -1;
        int lo = i + 2 < s.size() ? HexDigit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
          *why = "\\x must be followed by two hex digits";
          return false;
        }
        out->push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default:
        *why = std::string("unknown escape \\") + (c >= 0x20 && c < 0x7f ? std::string(1, c) : "?") +
               " (known: \\\\ \\t \\n \\0 \\xHH)";
        return false;
    }
  }
  return true;
}

std::string Escape(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '\\') out += "\\\\";
    else if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c == '\0') out += "\\0";
    else if (u < 0x20 || u >= 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The expression as it can be shown in an error message (escaped, bounded).
std::string Shown(std::string_view expr) {
  std::string e = Escape(expr.substr(0, 80));
  if (expr.size() > 80) e += "...";
  return e;
}

}  // namespace

Pattern Pattern::Key(std::string key) {
  Pattern p;
  p.kind_ = Kind::kKey;
  p.text_ = std::move(key);
  return p;
}

Pattern Pattern::Prefix(std::string prefix) {
  Pattern p;
  p.kind_ = Kind::kPrefix;
  p.text_ = std::move(prefix);
  return p;
}

Pattern Pattern::Predicate(Fn fn) {
  Pattern p;
  p.kind_ = Kind::kPredicate;
  p.fn_ = std::make_shared<const Fn>(std::move(fn));
  return p;
}

bool Pattern::Matches(std::string_view payload) const {
  switch (kind_) {
    case Kind::kAny: return true;
    case Kind::kKey: return false;  // needs the queue's key extractor
    case Kind::kPrefix: return payload.starts_with(text_);
    case Kind::kPredicate: return fn_ != nullptr && *fn_ && (*fn_)(payload);
  }
  return false;
}

std::string Pattern::ToString() const {
  switch (kind_) {
    case Kind::kAny: return "any";
    case Kind::kKey: return "key:" + Escape(text_);
    case Kind::kPrefix: return "prefix:" + Escape(text_);
    case Kind::kPredicate: return "predicate";
  }
  return "?";
}

Result<Pattern> ParsePattern(std::string_view expr) {
  auto bad = [&](size_t at, const std::string& why) {
    return Status::InvalidArgument("pattern '" + Shown(expr) + "', at byte " + std::to_string(at) + ": " + why +
                                   ". A pattern is any, key:K or prefix:P");
  };
  if (expr == "any") return Pattern::Any();
  size_t colon = expr.find(':');
  if (colon == std::string_view::npos) return bad(0, "no kind: expected any, key: or prefix:");
  std::string_view kind = expr.substr(0, colon);
  std::string text;
  size_t where = 0;
  std::string why;
  if (!Unescape(expr.substr(colon + 1), &text, &where, &why)) return bad(colon + 1 + where, why);
  if (kind == "key") return Pattern::Key(std::move(text));
  if (kind == "prefix") return Pattern::Prefix(std::move(text));
  return bad(0, "unknown kind '" + Escape(kind.substr(0, 40)) + "'");
}

}  // namespace mq
