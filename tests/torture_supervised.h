// What the two supervised kill tortures share (tests/torture_supervised_test.cc,
// where the test process restarts the actor itself, and
// tests/torture_mqsup_test.cc, where `mqsup run` does): the actor's ready
// FIFO, the stream of plain sendto datagrams "t<ID>", the END datagram, and
// the tally of the actors' delivery file (tests/torture_supervised_actor.cc
// writes it).
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace mq::test::torture {

using Clock = std::chrono::steady_clock;

inline int KillsPerRun() {
  const char* e = std::getenv("MQ_TORTURE_KILLS");
  const int n = e != nullptr ? std::atoi(e) : 0;
  return n > 0 ? n : 100;
}

// Reads one "PID[ ...]\n" from the ready FIFO (opened O_RDWR, so it never
// sees end-of-file) within `limit`; 0 if none came. The whole line (without
// its newline) goes to *line if given.
inline pid_t ReadReadyPid(int fifo, std::chrono::milliseconds limit, std::string* whole = nullptr) {
  std::string line;
  const auto deadline = Clock::now() + limit;
  while (true) {
    char c;
    const ssize_t n = ::read(fifo, &c, 1);
    if (n == 1) {
      if (c == '\n') {
        if (whole != nullptr) *whole = line;
        return static_cast<pid_t>(std::atoi(line.c_str()));
      }
      line.push_back(c);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return 0;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    pollfd p{fifo, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left));
  }
}

inline sockaddr_un Address(const std::string& path) {
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::strncpy(to.sun_path, path.c_str(), sizeof(to.sun_path) - 1);
  return to;
}

// Streams "t0", "t1", ... to the socket with blocking sendto until `stop`;
// a send that times out (the actor is down and the queue is full) is
// retried with the same ID. Returns how many were sent.
inline uint64_t StreamPlainSendto(const std::string& path, const std::atomic<bool>& stop) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  timeval tv{0, 50 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const sockaddr_un to = Address(path);
  uint64_t id = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    const std::string p = "t" + std::to_string(id);
    if (::sendto(fd, p.data(), p.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) ==
        static_cast<ssize_t>(p.size())) {
      ++id;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      ADD_FAILURE() << "sendto: " << std::strerror(errno);
      break;
    }
  }
  ::close(fd);
  return id;
}

// END after the last ID: the last actor delivers everything before it and
// exits 0.
inline void SendEnd(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const sockaddr_un to = Address(path);
  EXPECT_EQ(::sendto(fd, "END", 3, 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to)), 3) << std::strerror(errno);
  ::close(fd);
}

struct Tally {
  std::vector<uint32_t> count;  // deliveries per ID
  uint64_t delivered = 0, duplicates = 0, lost = 0, torn = 0, unknown = 0, starts = 0;
  bool ended = false;
};

// Reads the delivery file. A line cut by a kill has no newline: the next
// "#start" follows it on the same line; it is counted as torn.
inline Tally Count(const std::string& delivered, uint64_t sent) {
  Tally t;
  t.count.assign(sent, 0);
  std::ifstream in(delivered);
  std::string line;
  while (std::getline(in, line)) {
    const size_t start = line.find("#start ");
    if (start != std::string::npos) {
      if (start > 0) ++t.torn;
      ++t.starts;
      continue;
    }
    if (line == "#end") {
      t.ended = true;
      continue;
    }
    char* end = nullptr;
    const unsigned long long id = line.size() > 1 && line[0] == 't' ? std::strtoull(line.c_str() + 1, &end, 10) : 0;
    if (end == nullptr || *end != '\0' || id >= sent) {
      ++t.unknown;
      continue;
    }
    ++t.delivered;
    if (t.count[id]++ > 0) ++t.duplicates;
  }
  for (uint32_t c : t.count)
    if (c == 0) ++t.lost;
  return t;
}

inline double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The q-quantile of sorted `v` (0 when empty).
inline double Quantile(const std::vector<double>& v, double q) {
  return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// The lost IDs, when few enough to print.
inline std::string LostIds(const Tally& t) {
  std::string ids;
  if (t.lost == 0 || t.lost > 20) return ids;
  for (size_t i = 0; i < t.count.size(); ++i)
    if (t.count[i] == 0) ids += " t" + std::to_string(i);
  return ids;
}

// What both tortures claim of a run of `kills` kills under a stream of `sent`
// plain sendto datagrams: every kill was followed by a restart, END came, no
// unknown ID, one start a kill plus the first, and the loss bound of `mode`
// ("ack": none; auto-consume: at most one a kill).
inline void ExpectTheLossBoundHolds(const Tally& t, const std::string& mode, int kills, uint64_t sent,
                                    size_t restarts) {
  EXPECT_EQ(restarts, static_cast<size_t>(kills));
  EXPECT_TRUE(t.ended) << "END was not delivered";
  EXPECT_EQ(t.unknown, 0u) << "deliveries of IDs never sent, or corrupt lines";
  EXPECT_EQ(t.starts, static_cast<uint64_t>(kills) + 1);
  EXPECT_GT(sent, static_cast<uint64_t>(kills)) << "the stream did not flow";
  if (mode == "ack") {
    EXPECT_EQ(t.lost, 0u) << "take + ack lost messages sent with plain sendto";
  } else {
    EXPECT_LE(t.lost, static_cast<uint64_t>(kills)) << "auto-consume lost more than one message per kill";
  }
}

}  // namespace mq::test::torture
