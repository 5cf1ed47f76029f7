// mqbridge's TOML configuration (docs/bridge.md, "Configuration"): every
// field checked, every error naming the file, the line and the field; the
// same parser and style as the supervisor's (supervisor/src/config.cc).
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "mq/bridge.h"
#include "mq/toml_reader.h"

namespace mq::bridge {
namespace {

using Reader = config::TomlReader;

// A NATS subject token: letters, digits, '_' and '-' (no '.', '*', '>').
bool ValidToken(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

void Token(Reader& r, const toml::table& t, std::string_view key, const std::string& field, std::string* out) {
  if (r.Required(t, key, field, out) && !ValidToken(*out))
    r.Fail(*t.get(key), field,
           "'" + *out + "' is not a name: use 1 to 64 letters, digits, '_' or '-' (it becomes a NATS subject token)");
}

template <typename F>
void EachTable(Reader& r, const toml::table& top, std::string_view key, F&& f) {
  const toml::node* n = top.get(key);
  if (n == nullptr || r.failed()) return;
  const toml::array* a = n->as_array();
  if (a == nullptr || !a->is_array_of_tables())
    return void(r.Fail(*n, std::string(key), "expected [[" + std::string(key) + "]] tables"));
  for (size_t i = 0; i < a->size() && !r.failed(); ++i)
    f(*a->get(i)->as_table(), std::string(key) + "[" + std::to_string(i) + "].");
}

// [bridge.tls]: TLS is required once the table is there, or a URL is tls://.
void ParseTls(Reader& r, const toml::table& bridge, BridgeConfig* c) {
  for (const auto& u : c->urls) c->tls.required = c->tls.required || u.rfind("tls://", 0) == 0;
  const toml::node* n = bridge.get("tls");
  if (n == nullptr || r.failed()) return;
  const toml::table* t = n->as_table();
  if (t == nullptr) return void(r.Fail(*n, "bridge.tls", "expected a [bridge.tls] table (ca, cert, key, server_name)"));
  c->tls.required = true;
  r.OnlyKnown(*t, "bridge.tls.", {"ca", "cert", "key", "server_name"});
  r.AbsolutePath(*t, "ca", "bridge.tls.ca", &c->tls.ca, false);
  r.AbsolutePath(*t, "cert", "bridge.tls.cert", &c->tls.cert, false);
  r.AbsolutePath(*t, "key", "bridge.tls.key", &c->tls.key, false);
  if (r.String(*t, "server_name", "bridge.tls.server_name", &c->tls.server_name) && c->tls.server_name.empty())
    r.Fail(*t->get("server_name"), "bridge.tls.server_name", "is empty; leave it out to check the URL's host");
  if (r.failed()) return;
  if (c->tls.cert.empty() != c->tls.key.empty())
    r.Fail(*t->get(c->tls.cert.empty() ? "key" : "cert"), c->tls.cert.empty() ? "bridge.tls.key" : "bridge.tls.cert",
           "a client certificate needs both cert and key");
}

}  // namespace

Result<BridgeConfig> ParseConfig(std::string_view text, const std::string& source) {
  toml::table top;
  MQ_RETURN_IF_ERROR(config::ParseToml(text, source).MoveTo(&top));
  Status err;
  Reader r(source, &err);
  BridgeConfig c;
  r.OnlyKnown(top, "", {"bridge", "remote", "local"});
  const toml::node* b = top.get("bridge");
  if (b == nullptr || !b->is_table()) {
    r.Fail(b ? b->source().begin.line : 1, "bridge", "missing; the [bridge] table gives at least node, urls and state");
  } else {
    const toml::table& t = *b->as_table();
    r.OnlyKnown(t, "bridge.", {"node", "urls", "stream", "replicas", "create_stream", "creds", "nkey_seed", "state",
                               "window", "duplicate_window_ms", "publish_timeout_ms", "ack_wait_ms", "max_message_size",
                               "record_compact_above", "inbound_window", "confirm", "tls"});
    Token(r, t, "node", "bridge.node", &c.node);
    if (const toml::node* u = t.get("urls"); u != nullptr && !r.failed()) {
      const toml::array* a = u->as_array();
      if (a == nullptr || a->empty()) r.Fail(*u, "bridge.urls", "expected a non-empty array of nats:// URLs");
      for (size_t i = 0; a != nullptr && i < a->size() && !r.failed(); ++i) {
        const toml::node& e = *a->get(i);
        if (!e.is_string() || (e.as_string()->get().rfind("nats://", 0) != 0 &&
                                  e.as_string()->get().rfind("tls://", 0) != 0))
          r.Fail(e, "bridge.urls[" + std::to_string(i) + "]", "expected a nats:// or tls:// URL");
        else c.urls.push_back(e.as_string()->get());
      }
    } else if (!r.failed()) {
      r.Fail(t.source().begin.line, "bridge.urls", "missing; give the NATS server URLs, e.g. [\"nats://127.0.0.1:4222\"]");
    }
    if (t.get("stream") != nullptr) Token(r, t, "stream", "bridge.stream", &c.stream);
    int64_t v = 0;
    if (r.Integer(t, "replicas", "bridge.replicas", 1, 5, &v)) c.replicas = static_cast<int>(v);
    r.Bool(t, "create_stream", "bridge.create_stream", &c.create_stream);
    r.AbsolutePath(t, "creds", "bridge.creds", &c.creds, false);
    r.AbsolutePath(t, "nkey_seed", "bridge.nkey_seed", &c.nkey_seed, false);
    if (!c.creds.empty() && !c.nkey_seed.empty())
      r.Fail(*t.get("nkey_seed"), "bridge.nkey_seed",
             "give either creds or nkey_seed, not both (a creds file holds its own nkey seed)");
    ParseTls(r, t, &c);
    if (!r.AbsolutePath(t, "state", "bridge.state", &c.state, false) && !r.failed())
      r.Fail(t.source().begin.line, "bridge.state", "missing; give the bridge's state directory");
    if (r.Integer(t, "window", "bridge.window", 1, 65536, &v)) c.window = static_cast<uint32_t>(v);
    if (r.Integer(t, "duplicate_window_ms", "bridge.duplicate_window_ms", 100, 86400000, &v))
      c.duplicate_window = std::chrono::milliseconds(v);
    if (r.Integer(t, "publish_timeout_ms", "bridge.publish_timeout_ms", 100, 600000, &v))
      c.publish_timeout = std::chrono::milliseconds(v);
    if (r.Integer(t, "ack_wait_ms", "bridge.ack_wait_ms", 1000, 3600000, &v)) c.ack_wait = std::chrono::milliseconds(v);
    if (r.Integer(t, "max_message_size", "bridge.max_message_size", 1, 64 << 20, &v))
      c.max_message_size = static_cast<uint64_t>(v);
    if (r.Integer(t, "record_compact_above", "bridge.record_compact_above", 64, int64_t{1} << 30, &v))
      c.record_compact_above = static_cast<uint64_t>(v);
    if (r.Integer(t, "inbound_window", "bridge.inbound_window", 1, 16, &v)) c.inbound_window = static_cast<uint32_t>(v);
    std::string confirm;
    if (r.String(t, "confirm", "bridge.confirm", &confirm)) {
      if (confirm == "upstream") c.confirm_upstream = true;
      else if (confirm != "local")
        r.Fail(*t.get("confirm"), "bridge.confirm", "'" + confirm + "': expected \"local\" or \"upstream\"");
    }
  }
  std::set<std::string> sockets, routes, locals;
  EachTable(r, top, "remote", [&](const toml::table& t, const std::string& p) {
    r.OnlyKnown(t, p, {"node", "actor", "socket"});
    RemoteActor ra;
    Token(r, t, "node", p + "node", &ra.node);
    Token(r, t, "actor", p + "actor", &ra.actor);
    if (!r.AbsolutePath(t, "socket", p + "socket", &ra.socket, true) && !r.failed()) r.Fail(t.source().begin.line, p + "socket", "missing");
    if (r.failed()) return;
    if (ra.node == c.node) r.Fail(*t.get("node"), p + "node", "'" + ra.node + "' is this bridge's own node; import local actors with [[local]]");
    else if (!routes.insert(ra.node + "." + ra.actor).second) r.Fail(*t.get("actor"), p + "actor", "mq." + ra.node + "." + ra.actor + " is exposed twice");
    else if (!sockets.insert(ra.socket).second) r.Fail(*t.get("socket"), p + "socket", "'" + ra.socket + "' is used twice");
    else c.remotes.push_back(ra);
  });
  EachTable(r, top, "local", [&](const toml::table& t, const std::string& p) {
    r.OnlyKnown(t, p, {"actor", "socket"});
    LocalActor la;
    Token(r, t, "actor", p + "actor", &la.actor);
    if (!r.AbsolutePath(t, "socket", p + "socket", &la.socket, true) && !r.failed()) r.Fail(t.source().begin.line, p + "socket", "missing");
    if (r.failed()) return;
    if (!locals.insert(la.actor).second) r.Fail(*t.get("actor"), p + "actor", "'" + la.actor + "' is imported twice");
    else if (sockets.count(la.socket)) r.Fail(*t.get("socket"), p + "socket", "'" + la.socket + "' is also a proxy socket");
    else c.locals.push_back(la);
  });
  if (!err.ok()) return err;
  return c;
}

Result<BridgeConfig> LoadConfig(const std::string& path) {
  std::string text;
  MQ_ASSIGN_OR_RETURN(text, config::ReadConfigFile(path, "bridge"));
  return ParseConfig(text, path);
}

}  // namespace mq::bridge
