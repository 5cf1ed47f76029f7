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
#include "mq/toml_reader.h"
#include "mq/supervisor.h"

namespace mq::supervisor {
namespace {

// Reads one table's fields, remembering the first error.
class Reader : public config::TomlReader {
 public:
  using TomlReader::TomlReader;
  using TomlReader::AbsolutePath;

  // The socket, control and monitors paths must also fit sun_path.
  bool AbsolutePath(const toml::table& t, std::string_view key, const std::string& field, std::string* out) {
    return AbsolutePath(t, key, field, out, key == "socket" || key == "control" || key == "monitors");
  }

  bool DurationField(const toml::table& t, std::string_view key, const std::string& field, Duration* out) {
    std::string text;
    if (!String(t, key, field, &text)) return false;
    auto d = ParseDuration(text);
    if (!d.ok()) return Fail(*t.get(key), field, d.status().message());
    *out = *d;
    return true;
  }
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
      r.Fail(*b, "supervisor.backoff", "expected a table with first, cap, jitter and immediate");
      return;
    }
    r.OnlyKnown(*bt, "supervisor.backoff.", {"first", "cap", "jitter", "immediate"});
    r.DurationField(*bt, "first", "supervisor.backoff.first", &spec->backoff.first);
    r.DurationField(*bt, "cap", "supervisor.backoff.cap", &spec->backoff.cap);
    if (const toml::node* j = bt->get("jitter")) {
      std::optional<double> d = j->value<double>();  // an integer converts
      if (!d || *d < 0 || *d > 1) r.Fail(*j, "supervisor.backoff.jitter", "expected a number from 0 to 1");
      else spec->backoff.jitter = *d;
    }
    if (const toml::node* im = bt->get("immediate")) {
      std::optional<bool> flag = im->value_exact<bool>();
      if (!flag) r.Fail(*im, "supervisor.backoff.immediate", "expected true or false");
      else spec->backoff.immediate = *flag;
    }
    if (!r.failed() && spec->backoff.cap < spec->backoff.first)
      r.Fail(*b, "supervisor.backoff.cap", "is shorter than first; the cap must be at least the first delay");
  }
}

void ReadChild(Reader& r, const toml::table& t, size_t index, ChildSpec* c) {
  const std::string p = "child[" + std::to_string(index) + "].";
  r.OnlyKnown(t, p, {"name", "command", "env", "cwd", "restart", "shutdown", "socket", "queue", "socket_mode",
                     "monitors", "ready", "nofile", "ready_timeout"});
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
  int64_t nofile = 0;
  if (r.Integer(t, "nofile", p + "nofile", 1, int64_t{1} << 30, &nofile)) c->nofile = static_cast<uint64_t>(nofile);
  if (r.String(t, "ready", p + "ready", &text)) {
    if (text == "notify") {
      c->ready = ChildSpec::Ready::kNotify;
    } else {
      auto d = ParseDuration(text);
      if (!d.ok()) r.Fail(*t.get("ready"), p + "ready", "expected \"notify\" or a delay: " + d.status().message());
      else c->ready = ChildSpec::Ready::kDelay, c->ready_delay = *d;
    }
  }
  if (t.get("ready_timeout") != nullptr && r.DurationField(t, "ready_timeout", p + "ready_timeout", &c->ready_timeout) &&
      c->ready != ChildSpec::Ready::kNotify)
    r.Fail(*t.get("ready_timeout"), p + "ready_timeout", "needs ready = \"notify\" (it bounds the wait for READY)");
}

}  // namespace

Result<SupervisorSpec> ParseConfig(std::string_view text, const std::string& source) {
  toml::table top;
  MQ_RETURN_IF_ERROR(config::ParseToml(text, source).MoveTo(&top));
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
  std::string text;
  MQ_ASSIGN_OR_RETURN(text, config::ReadConfigFile(path, "supervisor"));
  return ParseConfig(text, path);
}

}  // namespace mq::supervisor
