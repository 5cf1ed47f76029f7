// The supervisor's TOML configuration: every field checked, every error
// naming the file, the line and the field (mq/supervisor.h, ParseConfig).
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "command_path.h"
#include "mq/supervisor.h"

namespace mq::supervisor {
namespace {

// Reads one table's fields, remembering the first error.
class Reader {
 public:
  Reader(const std::string& source, Status* err) : source_(source), err_(err) {}

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

  bool String(const toml::table& t, std::string_view key, const std::string& field, std::string* out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return false;
    if (!n->is_string()) return Fail(*n, field, std::string("is ") + TypeName(*n) + ", expected a string");
    *out = n->as_string()->get();
    return true;
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

  bool DurationField(const toml::table& t, std::string_view key, const std::string& field, Duration* out) {
    std::string text;
    if (!String(t, key, field, &text)) return false;
    auto d = ParseDuration(text);
    if (!d.ok()) return Fail(*t.get(key), field, d.status().message());
    *out = *d;
    return true;
  }

  bool AbsolutePath(const toml::table& t, std::string_view key, const std::string& field, std::string* out) {
    if (!String(t, key, field, out)) return false;
    if (out->empty() || (*out)[0] != '/')
      return Fail(*t.get(key), field, "'" + *out + "' is not an absolute path; write it from /");
    if (out->size() > 107 && (key == "socket" || key == "control" || key == "monitors"))
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

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

void ReadSupervisor(Reader& r, const toml::table& t, SupervisorSpec* spec) {
  r.OnlyKnown(t, "supervisor.", {"strategy", "intensity", "period", "backoff", "control", "log"});
  std::string text;
  if (r.String(t, "strategy", "supervisor.strategy", &text)) {
    auto s = ParseStrategy(text);
    if (!s.ok()) r.Fail(*t.get("strategy"), "supervisor.strategy", s.status().message());
    else spec->strategy = *s;
  }
  int64_t v = 0;
  if (r.Integer(t, "intensity", "supervisor.intensity", 0, 1000000, &v)) spec->intensity = static_cast<uint32_t>(v);
  r.DurationField(t, "period", "supervisor.period", &spec->period);
  if (!r.AbsolutePath(t, "control", "supervisor.control", &spec->control) && !r.failed())
    r.Fail(t.source().begin.line, "supervisor.control", "missing; give the path of the supervisor's control socket");
  r.AbsolutePath(t, "log", "supervisor.log", &spec->log);
  if (const toml::node* b = t.get("backoff")) {
    const toml::table* bt = b->as_table();
    if (bt == nullptr) {
      r.Fail(*b, "supervisor.backoff", "expected a table with first, cap and jitter");
      return;
    }
    r.OnlyKnown(*bt, "supervisor.backoff.", {"first", "cap", "jitter"});
    r.DurationField(*bt, "first", "supervisor.backoff.first", &spec->backoff.first);
    r.DurationField(*bt, "cap", "supervisor.backoff.cap", &spec->backoff.cap);
    if (const toml::node* j = bt->get("jitter")) {
      std::optional<double> d = j->value<double>();  // an integer converts
      if (!d || *d < 0 || *d > 1) r.Fail(*j, "supervisor.backoff.jitter", "expected a number from 0 to 1");
      else spec->backoff.jitter = *d;
    }
    if (!r.failed() && spec->backoff.cap < spec->backoff.first)
      r.Fail(*b, "supervisor.backoff.cap", "is shorter than first; the cap must be at least the first delay");
  }
}

void ReadChild(Reader& r, const toml::table& t, size_t index, ChildSpec* c) {
  const std::string p = "child[" + std::to_string(index) + "].";
  r.OnlyKnown(t, p, {"name", "command", "env", "cwd", "restart", "shutdown", "socket", "queue", "socket_mode",
                     "monitors", "ready"});
  const uint32_t line = t.source().begin.line;
  if (!r.String(t, "name", p + "name", &c->name) && !r.failed()) r.Fail(line, p + "name", "missing");
  if (!r.failed() && !ValidName(c->name))
    r.Fail(*t.get("name"), p + "name", "'" + c->name + "' is not a name of 1 to 64 letters, digits, '_', '-' or '.'");
  if (!r.StringList(t, "command", p + "command", &c->command) && !r.failed())
    r.Fail(line, p + "command", "missing; give the argv as an array of strings");
  if (!r.failed() && c->command.empty()) r.Fail(*t.get("command"), p + "command", "is empty");
  if (!r.failed() && !FindExecutable(c->command[0]))
    r.Fail(*t.get("command"), p + "command", "'" + c->command[0] + "' is not an executable file (or not on PATH)");
  if (const toml::node* e = t.get("env")) {
    const toml::table* et = e->as_table();
    if (et == nullptr) r.Fail(*e, p + "env", "expected a table of NAME = \"value\"");
    else
      for (auto&& [k, v] : *et) {
        if (!v.is_string()) {
          r.Fail(v, p + "env." + std::string(k.str()), "expected a string");
          break;
        }
        c->env.emplace_back(std::string(k.str()), v.as_string()->get());
      }
  }
  r.AbsolutePath(t, "cwd", p + "cwd", &c->cwd);
  std::string text;
  if (r.String(t, "restart", p + "restart", &text)) {
    auto rt = ParseRestartType(text);
    if (!rt.ok()) r.Fail(*t.get("restart"), p + "restart", rt.status().message());
    else c->restart = *rt;
  }
  if (const toml::node* s = t.get("shutdown")) {
    int64_t ms = 0;
    if (s->is_string() && s->as_string()->get() == "brutal_kill") c->brutal_kill = true;
    else if (s->is_string()) r.DurationField(t, "shutdown", p + "shutdown", &c->shutdown);
    else if (r.Integer(t, "shutdown", p + "shutdown", 0, 3600 * 1000, &ms)) c->shutdown = Duration(ms);
  }
  r.AbsolutePath(t, "socket", p + "socket", &c->socket);
  r.AbsolutePath(t, "queue", p + "queue", &c->queue);
  if (!r.failed() && !c->queue.empty() && c->socket.empty())
    r.Fail(*t.get("queue"), p + "queue", "is given without socket; the queue is handed over with a socket");
  if (const toml::node* m = t.get("socket_mode")) {
    int64_t mode = 0;
    if (r.Integer(t, "socket_mode", p + "socket_mode", 0, 0777, &mode)) c->socket_mode = static_cast<uint32_t>(mode);
    if (!r.failed() && c->socket.empty()) r.Fail(*m, p + "socket_mode", "is given without socket");
  }
  std::vector<std::string> monitors;
  if (r.StringList(t, "monitors", p + "monitors", &monitors)) {
    for (size_t i = 0; i < monitors.size() && !r.failed(); ++i)
      if (monitors[i].empty() || monitors[i][0] != '/')
        r.Fail(*t.get("monitors"), p + "monitors[" + std::to_string(i) + "]",
               "'" + monitors[i] + "' is not an absolute socket path");
    c->monitors = std::move(monitors);
  }
  if (r.String(t, "ready", p + "ready", &text)) {
    if (text == "notify") {
      c->ready = ChildSpec::Ready::kNotify;
    } else {
      auto d = ParseDuration(text);
      if (!d.ok()) r.Fail(*t.get("ready"), p + "ready", "expected \"notify\" or a delay: " + d.status().message());
      else c->ready = ChildSpec::Ready::kDelay, c->ready_delay = *d;
    }
  }
}

}  // namespace

Result<SupervisorSpec> ParseConfig(std::string_view text, const std::string& source) {
  toml::parse_result parsed = toml::parse(text, source);
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    return Status::InvalidArgument(source + ":" + std::to_string(e.source().begin.line) +
                                   ": TOML syntax: " + std::string(e.description()));
  }
  const toml::table& top = parsed.table();
  Status err;
  Reader r(source, &err);
  SupervisorSpec spec;
  r.OnlyKnown(top, "", {"supervisor", "child"});
  const toml::node* sup = top.get("supervisor");
  if (sup == nullptr) r.Fail(1, "supervisor", "missing; the [supervisor] table gives at least control");
  else if (!sup->is_table()) r.Fail(*sup, "supervisor", "expected a table ([supervisor])");
  else ReadSupervisor(r, *sup->as_table(), &spec);
  if (const toml::node* ch = top.get("child"); ch != nullptr && !r.failed()) {
    const toml::array* a = ch->as_array();
    if (a == nullptr || !a->is_array_of_tables()) {
      r.Fail(*ch, "child", "expected [[child]] tables");
    } else {
      std::set<std::string> names, sockets;
      if (!spec.control.empty()) sockets.insert(spec.control);
      for (size_t i = 0; i < a->size() && !r.failed(); ++i) {
        const toml::table& t = *a->get(i)->as_table();
        ChildSpec c;
        ReadChild(r, t, i, &c);
        if (r.failed()) break;
        const std::string p = "child[" + std::to_string(i) + "].";
        if (!names.insert(c.name).second) r.Fail(*t.get("name"), p + "name", "'" + c.name + "' names another child too");
        else if (!c.socket.empty() && !sockets.insert(c.socket).second)
          r.Fail(*t.get("socket"), p + "socket", "'" + c.socket + "' is the control socket or another child's socket");
        spec.children.push_back(std::move(c));
      }
    }
  }
  if (!err.ok()) return err;
  if (spec.log.empty()) spec.log = spec.control + ".log";
  return spec;
}

Result<SupervisorSpec> LoadConfig(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(path + ": cannot read the supervisor configuration");
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1u << 20)) {
      ::close(fd);
      return Status::InvalidArgument(path + ": larger than 1 MiB; this is not a supervisor configuration");
    }
  }
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) return Status::IOError(path + ": read: " + std::strerror(read_errno), read_errno);
  return ParseConfig(text, path);
}

}  // namespace mq::supervisor
