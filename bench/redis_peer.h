// Redis Streams as a peer (issue 21): a redis-server of the benchmark's own on
// a Unix socket in a scratch directory, with the AOF on, and the hiredis
// clients the peer benchmarks run against it (bench/peers_bench.cc).
//
// Every function returns an empty string on success, else what went wrong;
// RedisMissing() says, before anything starts, why Redis cannot be measured
// here (hiredis absent at build time, redis-server not on the PATH).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mq::bench {

// "" if Redis can be measured; else the note to skip with.
std::string RedisMissing();

// `redis-server --version`'s "v=" field, and the hiredis built against
// ("not found" when missing).
std::string RedisVersion();
std::string HiredisVersion();

// One redis-server, started by Start and killed (SIGKILL: its files are
// scratch) by the destructor.
class RedisServer {
 public:
  // Starts redis-server in `dir` (which it owns until destroyed): Unix socket
  // dir/redis.sock, no TCP port, no RDB snapshots, appendonly yes with
  // appendfsync `fsync` ("always", "everysec" or "no"); waits until it
  // answers PING.
  static std::string Start(const std::string& dir, const std::string& fsync, std::unique_ptr<RedisServer>* out);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  const std::string& socket_path() const { return socket_; }

 private:
  RedisServer() = default;
  pid_t pid_ = -1;
  std::string socket_;
};

// A client that XADDs `payload` to stream "s" for `seconds`, keeping `depth`
// commands in flight (hiredis's pipelining: commands are appended to its
// output buffer, written when a reply must be read and none is buffered).
// Each latency runs from the command's append to its reply (ns, in send
// order). *elapsed_ns: from the first command to the last reply.
std::string RedisXaddFor(const std::string& socket, const std::string& payload, size_t depth, double seconds,
                         std::vector<int64_t>* latencies_ns, int64_t* elapsed_ns);

// Fills stream "s" with n entries of `payload` (pipelined, not timed) and
// creates consumer group "g" at its start.
std::string RedisFillStream(const std::string& socket, const std::string& payload, uint64_t n);

// Drains stream "s" through group "g": XREADGROUP COUNT `count` then XACK of
// the ids read, the XACK sent in one write with the next XREADGROUP, until n
// entries of payload_size bytes were read. *elapsed_ns: the drain's time.
std::string RedisDrainGroup(const std::string& socket, uint64_t n, size_t payload_size, size_t count,
                            int64_t* elapsed_ns);

}  // namespace mq::bench
