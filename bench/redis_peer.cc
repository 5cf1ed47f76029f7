#include "redis_peer.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <thread>

#if MQ_BENCH_HAVE_HIREDIS
#include <hiredis.h>
#endif

namespace mq::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t Ns(Clock::duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); }

// redis-server on the PATH (or $MQ_REDIS_SERVER), or "".
std::string FindServer() {
  if (const char* e = std::getenv("MQ_REDIS_SERVER"); e != nullptr && *e != '\0')
    return ::access(e, X_OK) == 0 ? e : "";
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/bin:/bin";
  size_t at = 0;
  while (at <= p.size()) {
    size_t end = p.find(':', at);
    if (end == std::string::npos) end = p.size();
    const std::string cand = p.substr(at, end - at) + "/redis-server";
    if (end > at && ::access(cand.c_str(), X_OK) == 0) return cand;
    at = end + 1;
  }
  return "";
}

#if MQ_BENCH_HAVE_HIREDIS
struct Conn {
  redisContext* c = nullptr;
  ~Conn() {
    if (c != nullptr) redisFree(c);
  }
};

std::string Connect(const std::string& socket, Conn* conn) {
  conn->c = redisConnectUnix(socket.c_str());
  if (conn->c == nullptr) return "redisConnectUnix " + socket + ": out of memory";
  if (conn->c->err != 0) return "redisConnectUnix " + socket + ": " + conn->c->errstr;
  return "";
}

// Reads one reply; an error reply or a broken connection is an error.
std::string Reply(Conn* conn, const char* what, redisReply** out) {
  void* r = nullptr;
  if (redisGetReply(conn->c, &r) != REDIS_OK || r == nullptr)
    return std::string(what) + ": " + (conn->c->err != 0 ? conn->c->errstr : "no reply");
  *out = static_cast<redisReply*>(r);
  if ((*out)->type == REDIS_REPLY_ERROR) {
    std::string e = std::string(what) + ": " + std::string((*out)->str, (*out)->len);
    freeReplyObject(*out);
    *out = nullptr;
    return e;
  }
  return "";
}

#endif

}  // namespace

std::string RedisMissing() {
#if !MQ_BENCH_HAVE_HIREDIS
  return "hiredis was not found when the benchmarks were built (apt-get install libhiredis-dev, then rebuild)";
#else
  if (FindServer().empty()) return "redis-server is not on the PATH (apt-get install redis-server)";
  return "";
#endif
}

std::string RedisVersion() {
  const std::string server = FindServer();
  if (server.empty()) return "not found";
  std::string out;
  if (FILE* f = ::popen((server + " --version 2>/dev/null").c_str(), "r"); f != nullptr) {
    char buf[256];
    while (std::fgets(buf, sizeof(buf), f) != nullptr) out += buf;
    ::pclose(f);
  }
  const size_t at = out.find("v=");
  if (at == std::string::npos) return "unknown";
  return out.substr(at + 2, out.find(' ', at) - at - 2);
}

std::string HiredisVersion() {
#if MQ_BENCH_HAVE_HIREDIS
  return std::to_string(HIREDIS_MAJOR) + "." + std::to_string(HIREDIS_MINOR) + "." + std::to_string(HIREDIS_PATCH);
#else
  return "not found";
#endif
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
}

std::string RedisServer::Start(const std::string& dir, const std::string& fsync, std::unique_ptr<RedisServer>* out) {
  if (std::string m = RedisMissing(); !m.empty()) return m;
  const std::string server = FindServer();
  std::unique_ptr<RedisServer> s(new RedisServer());
  s->socket_ = dir + "/redis.sock";
  std::vector<std::string> args = {server,          "--port",        "0",
                                   "--unixsocket",  s->socket_,      "--unixsocketperm",
                                   "700",           "--dir",         dir,
                                   "--save",        "",              "--appendonly",
                                   "yes",           "--appendfsync", fsync,
                                   "--daemonize",   "no",            "--logfile",
                                   dir + "/redis.log", "--protected-mode", "no"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return std::string("fork: ") + std::strerror(errno);
  if (pid == 0) {
    ::execv(server.c_str(), argv.data());
    ::_exit(127);
  }
  s->pid_ = pid;
#if MQ_BENCH_HAVE_HIREDIS
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  for (;;) {
    int st;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      s->pid_ = -1;
      return "redis-server exited at start (see " + dir + "/redis.log)";
    }
    Conn c;
    if (Connect(s->socket_, &c).empty()) {
      redisReply* r = static_cast<redisReply*>(redisCommand(c.c, "PING"));
      const bool up = r != nullptr && r->type == REDIS_REPLY_STATUS;
      if (r != nullptr) freeReplyObject(r);
      if (up) break;
    }
    if (Clock::now() > deadline) return "redis-server did not answer PING within 20 s on " + s->socket_;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
#endif
  *out = std::move(s);
  return "";
}

#if MQ_BENCH_HAVE_HIREDIS
std::string RedisXaddFor(const std::string& socket, const std::string& payload, size_t depth, double seconds,
                         std::vector<int64_t>* latencies_ns, int64_t* elapsed_ns) {
  Conn conn;
  if (std::string e = Connect(socket, &conn); !e.empty()) return e;
  std::deque<Clock::time_point> sent;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  auto now = t0;
  while (now < end || !sent.empty()) {
    while (now < end && sent.size() < depth) {
      if (redisAppendCommand(conn.c, "XADD s * p %b", payload.data(), payload.size()) != REDIS_OK)
        return "redisAppendCommand: out of memory";
      sent.push_back(Clock::now());
    }
    redisReply* r = nullptr;
    if (std::string e = Reply(&conn, "XADD", &r); !e.empty()) return e;
    freeReplyObject(r);
    now = Clock::now();
    latencies_ns->push_back(Ns(now - sent.front()));
    sent.pop_front();
  }
  *elapsed_ns = Ns(now - t0);
  return "";
}

std::string RedisFillStream(const std::string& socket, const std::string& payload, uint64_t n) {
  Conn conn;
  if (std::string e = Connect(socket, &conn); !e.empty()) return e;
  constexpr uint64_t kPipe = 1000;
  for (uint64_t done = 0; done < n;) {
    const uint64_t k = std::min(kPipe, n - done);
    for (uint64_t i = 0; i < k; ++i)
      (void)redisAppendCommand(conn.c, "XADD s * p %b", payload.data(), payload.size());
    for (uint64_t i = 0; i < k; ++i) {
      redisReply* r = nullptr;
      if (std::string e = Reply(&conn, "XADD (fill)", &r); !e.empty()) return e;
      freeReplyObject(r);
    }
    done += k;
  }
  (void)redisAppendCommand(conn.c, "XGROUP CREATE s g 0");
  redisReply* r = nullptr;
  if (std::string e = Reply(&conn, "XGROUP CREATE", &r); !e.empty()) return e;
  freeReplyObject(r);
  return "";
}

std::string RedisDrainGroup(const std::string& socket, uint64_t n, size_t payload_size, size_t count,
                            int64_t* elapsed_ns) {
  Conn conn;
  if (std::string e = Connect(socket, &conn); !e.empty()) return e;
  const std::string cnt = std::to_string(count);
  std::vector<std::string> ids;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  uint64_t got = 0;
  const auto t0 = Clock::now();
  (void)redisAppendCommand(conn.c, "XREADGROUP GROUP g c COUNT %s STREAMS s >", cnt.c_str());
  while (got < n) {
    redisReply* r = nullptr;
    if (std::string e = Reply(&conn, "XREADGROUP", &r); !e.empty()) return e;
    // [[stream, [[id, [field, value]], ...]]]
    ids.clear();
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2) {
      const redisReply* entries = r->element[0]->element[1];
      for (size_t i = 0; i < entries->elements; ++i) {
        const redisReply* e = entries->element[i];
        if (e->elements != 2 || e->element[1]->elements != 2 || e->element[1]->element[1]->len != payload_size) {
          freeReplyObject(r);
          return "XREADGROUP: an entry of the wrong shape or size";
        }
        ids.emplace_back(e->element[0]->str, e->element[0]->len);
      }
    }
    freeReplyObject(r);
    if (ids.empty()) return "XREADGROUP: the stream ran dry after " + std::to_string(got) + " entries";
    got += ids.size();
    argv = {"XACK", "s", "g"};
    lens = {4, 1, 1};
    for (const std::string& id : ids) {
      argv.push_back(id.c_str());
      lens.push_back(id.size());
    }
    (void)redisAppendCommandArgv(conn.c, static_cast<int>(argv.size()), argv.data(), lens.data());
    if (got < n) (void)redisAppendCommand(conn.c, "XREADGROUP GROUP g c COUNT %s STREAMS s >", cnt.c_str());
    if (std::string e = Reply(&conn, "XACK", &r); !e.empty()) return e;
    const bool all = r->type == REDIS_REPLY_INTEGER && static_cast<size_t>(r->integer) == ids.size();
    freeReplyObject(r);
    if (!all) return "XACK acknowledged fewer entries than were read";
  }
  *elapsed_ns = Ns(Clock::now() - t0);
  return "";
}
#else
std::string RedisXaddFor(const std::string&, const std::string&, size_t, double, std::vector<int64_t>*, int64_t*) {
  return RedisMissing();
}
std::string RedisFillStream(const std::string&, const std::string&, uint64_t) { return RedisMissing(); }
std::string RedisDrainGroup(const std::string&, uint64_t, size_t, size_t, int64_t*) { return RedisMissing(); }
#endif

}  // namespace mq::bench
