// mq::config::TomlReader: reads the fields of a TOML table (toml++), checking
// each one's type and range and remembering the first error as
// "FILE:LINE: FIELD: what is wrong". The configurations of mqsup
// (supervisor/src/config.cc) and mqbridge (bridge/src/config.cc) are read
// with it, so both name a bad field the same way. ParseToml parses the text
// (naming the line of a syntax error); ReadConfigFile reads the
// file itself, refusing one larger than 1 MiB. Internal: header-only, not
// installed. Include <toml++/toml.h> (with TOML_EXCEPTIONS 0) before it.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "mq/status.h"

namespace mq::config {

class TomlReader {
 public:
  TomlReader(const std::string& source, Status* err) : source_(source), err_(err) {}

  bool failed() const { return !err_->ok(); }

  // Records the first error; returns false (for `return Fail(...)`).
  bool Fail(uint32_t line, const std::string& field, const std::string& what) {
    if (err_->ok()) *err_ = Status::InvalidArgument(source_ + ":" + std::to_string(line) + ": " + field + ": " + what);
    return false;
  }
  bool Fail(const toml::node& n, const std::string& field, const std::string& what) {
    return Fail(n.source().begin.line, field, what);
  }

  // An error for every key of `t` not in `known`.
  void OnlyKnown(const toml::table& t, const std::string& prefix, std::initializer_list<std::string_view> known) {
    for (auto&& [k, v] : t) {
      bool ok = false;
      for (std::string_view n : known) ok = ok || k.str() == n;
      if (!ok) {
        std::string list;
        for (std::string_view n : known) list += (list.empty() ? "" : ", ") + std::string(n);
        Fail(k.source().begin.line, prefix + std::string(k.str()), "unknown field; the fields here are: " + list);
      }
    }
  }

  static const char* TypeName(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "an integer";
      case toml::node_type::floating_point: return "a float";
      case toml::node_type::boolean: return "a boolean";
      case toml::node_type::array: return "an array";
      case toml::node_type::table: return "a table";
      default: return "a date or time";
    }
  }

  // Each returns false when the key is absent (nothing recorded) or wrong
  // (the error recorded: check failed()).
  bool String(const toml::table& t, std::string_view key, const std::string& field, std::string* out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return false;
    if (!n->is_string()) return Fail(*n, field, std::string("is ") + TypeName(*n) + ", expected a string");
    *out = n->as_string()->get();
    return true;
  }
  // A string that must be there: "missing" at the table's line otherwise.
  bool Required(const toml::table& t, std::string_view key, const std::string& field, std::string* out) {
    if (String(t, key, field, out)) return true;
    if (!failed()) Fail(t.source().begin.line, field, "missing");
    return false;
  }
  bool Integer(const toml::table& t, std::string_view key, const std::string& field, int64_t lo, int64_t hi,
               int64_t* out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return false;
    if (!n->is_integer()) return Fail(*n, field, std::string("is ") + TypeName(*n) + ", expected an integer");
    const int64_t v = n->as_integer()->get();
    if (v < lo || v > hi)
      return Fail(*n, field, std::to_string(v) + " is not between " + std::to_string(lo) + " and " + std::to_string(hi));
    *out = v;
    return true;
  }
  bool Bool(const toml::table& t, std::string_view key, const std::string& field, bool* out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return false;
    if (!n->is_boolean()) return Fail(*n, field, std::string("is ") + TypeName(*n) + ", expected true or false");
    *out = n->as_boolean()->get();
    return true;
  }
  // An absolute path; a socket's path must also fit sun_path (107 bytes).
  bool AbsolutePath(const toml::table& t, std::string_view key, const std::string& field, std::string* out,
                    bool socket) {
    if (!String(t, key, field, out)) return false;
    if (out->empty() || (*out)[0] != '/')
      return Fail(*t.get(key), field, "'" + *out + "' is not an absolute path; write it from /");
    if (socket && out->size() > 107)
      return Fail(*t.get(key), field, "'" + *out + "' is longer than a socket path may be (107 bytes)");
    return true;
  }
  bool StringList(const toml::table& t, std::string_view key, const std::string& field, std::vector<std::string>* out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return false;
    const toml::array* a = n->as_array();
    if (a == nullptr) return Fail(*n, field, std::string("is ") + TypeName(*n) + ", expected an array of strings");
    for (size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      if (!e.is_string())
        return Fail(e, field + "[" + std::to_string(i) + "]", std::string("is ") + TypeName(e) + ", expected a string");
      out->push_back(e.as_string()->get());
    }
    return true;
  }

 private:
  const std::string& source_;
  Status* err_;
};

// `text` parsed as TOML; a syntax error names "SOURCE:LINE: TOML syntax".
inline Result<toml::table> ParseToml(std::string_view text, const std::string& source) {
  toml::parse_result parsed = toml::parse(text, source);
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    return Status::InvalidArgument(source + ":" + std::to_string(e.source().begin.line) +
                                   ": TOML syntax: " + std::string(e.description()));
  }
  return std::move(parsed).table();
}

// The text of the configuration file at `path` (`what`: "supervisor",
// "bridge"), for the errors.
inline Result<std::string> ReadConfigFile(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(path + ": cannot read the " + what + " configuration");
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1u << 20)) {
      ::close(fd);
      return Status::InvalidArgument(path + ": larger than 1 MiB; this is not a " + what + " configuration");
    }
  }
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) return Status::IOError(path + ": read: " + std::strerror(read_errno), read_errno);
  return text;
}

}  // namespace mq::config
