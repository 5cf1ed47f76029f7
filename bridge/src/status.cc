// The bridge's state file (docs/bridge.md, "Status"): written by the running
// bridge, read by `mqbridge status`. TOML, so that one parser reads it and
// toml++ renders it as JSON for --json.
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <sstream>

#include "mq/bridge.h"

namespace mq::bridge {

std::string StatusPath(const BridgeConfig& config) { return config.state + "/status.toml"; }

namespace {
toml::table ToTable(const BridgeStatus& st) {
  toml::array routes;
  for (const RouteStatus& r : st.routes)
    routes.push_back(toml::table{{"kind", r.kind},
                                 {"name", r.name},
                                 {"in_flight", static_cast<int64_t>(r.in_flight)},
                                 {"published", static_cast<int64_t>(r.published)},
                                 {"acked", static_cast<int64_t>(r.acked)},
                                 {"redelivered", static_cast<int64_t>(r.redelivered)},
                                 {"deduplicated", static_cast<int64_t>(r.deduplicated)},
                                 {"last_error", r.last_error}});
  return toml::table{{"pid", st.pid},
                     {"updated_unix_ms", st.updated_unix_ms},
                     {"connected", st.connected},
                     {"route", std::move(routes)}};
}
}  // namespace

Status WriteStatus(const BridgeConfig& config, const BridgeStatus& status) {
  std::ostringstream text;
  text << "# mqbridge's state file: read it with `mqbridge status CONFIG`\n" << ToTable(status) << "\n";
  const std::string body = text.str();
  const std::string dir = config.state;
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::FromErrno(dir + ": cannot open the bridge's state directory");
  (void)::unlinkat(dfd, "status.toml.new", 0);  // a write cut short by a crash
  const int fd = ::openat(dfd, "status.toml.new", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int e = errno;
    ::close(dfd);
    return Status::IOError(dir + "/status.toml.new: cannot create the state file", e);
  }
  size_t done = 0;
  Status s;
  while (done < body.size() && s.ok()) {
    const ssize_t n = ::write(fd, body.data() + done, body.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) s = Status::IOError(dir + "/status.toml.new: write", n < 0 ? errno : EIO);
    else done += static_cast<size_t>(n);
  }
  ::close(fd);
  // Advisory figures: not synced (a power loss may leave an older file, or
  // none; never a torn one, since the rename is atomic).
  if (s.ok() && ::renameat(dfd, "status.toml.new", dfd, "status.toml") != 0)
    s = Status::FromErrno(dir + "/status.toml.new: rename over status.toml");
  if (!s.ok()) (void)::unlinkat(dfd, "status.toml.new", 0);
  ::close(dfd);
  return s;
}

Result<BridgeStatus> ReadStatus(const BridgeConfig& config) {
  const std::string path = StatusPath(config);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return Status::NotFound(path + ": no state file: no bridge has run with the state directory " + config.state);
  if (fd < 0) return Status::FromErrno(path + ": cannot open the state file");
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  toml::parse_result parsed = toml::parse(text, path);
  if (!parsed)
    return Status::Corruption(path + ":" + std::to_string(parsed.error().source().begin.line) + ": " +
                              std::string(parsed.error().description()) + "; the bridge rewrites it within a second");
  const toml::table& t = parsed.table();
  BridgeStatus st;
  st.pid = t["pid"].value_or<int64_t>(0);
  st.updated_unix_ms = t["updated_unix_ms"].value_or<int64_t>(0);
  st.connected = t["connected"].value_or(false);
  if (const toml::array* a = t["route"].as_array()) {
    for (const toml::node& n : *a) {
      const toml::table* r = n.as_table();
      if (r == nullptr) return Status::Corruption(path + ": a route is not a table");
      RouteStatus rs;
      rs.kind = (*r)["kind"].value_or(std::string());
      rs.name = (*r)["name"].value_or(std::string());
      rs.in_flight = static_cast<uint64_t>((*r)["in_flight"].value_or<int64_t>(0));
      rs.published = static_cast<uint64_t>((*r)["published"].value_or<int64_t>(0));
      rs.acked = static_cast<uint64_t>((*r)["acked"].value_or<int64_t>(0));
      rs.redelivered = static_cast<uint64_t>((*r)["redelivered"].value_or<int64_t>(0));
      rs.deduplicated = static_cast<uint64_t>((*r)["deduplicated"].value_or<int64_t>(0));
      rs.last_error = (*r)["last_error"].value_or(std::string());
      st.routes.push_back(std::move(rs));
    }
  }
  return st;
}

std::string FormatStatus(const BridgeStatus& status, bool json, int64_t now_unix_ms) {
  const bool alive = status.pid > 0 && (::kill(static_cast<pid_t>(status.pid), 0) == 0 || errno == EPERM);
  const int64_t age_ms = now_unix_ms - status.updated_unix_ms;
  if (json) {
    toml::table t = ToTable(status);
    t.insert_or_assign("running", alive);
    t.insert_or_assign("age_ms", age_ms);
    std::ostringstream o;
    o << toml::json_formatter{t} << "\n";
    return o.str();
  }
  std::ostringstream o;
  o << "bridge pid " << status.pid << (alive ? " running" : " not running") << ", "
    << (status.connected ? "connected to NATS" : "not connected to NATS") << ", figures from " << static_cast<double>(age_ms) / 1000.0
    << " s ago\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-4s %-32s %10s %12s %12s %12s %12s  %s\n", "kind", "route", "in_flight",
                "published", "acked", "redelivered", "deduplicated", "last error");
  o << line;
  for (const RouteStatus& r : status.routes) {
    std::snprintf(line, sizeof line, "%-4s %-32s %10llu %12llu %12llu %12llu %12llu  %s\n", r.kind.c_str(),
                  r.name.c_str(), static_cast<unsigned long long>(r.in_flight),
                  static_cast<unsigned long long>(r.published), static_cast<unsigned long long>(r.acked),
                  static_cast<unsigned long long>(r.redelivered), static_cast<unsigned long long>(r.deduplicated),
                  r.last_error.empty() ? "-" : r.last_error.c_str());
    o << line;
  }
  return o.str();
}

}  // namespace mq::bridge
