// A nats-server with JetStream for the bridge's tests: its own free port on
// 127.0.0.1 and its own store directory; started, killed, restarted (same
// port, same store) and stopped by the test. Every wait has a deadline.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace mq::test {

class NatsServer {
 public:
  // The nats-server binary (PATH, then /usr/sbin), or "" when it is not
  // installed: tests then GTEST_SKIP with SkipReason().
  static std::string Binary();
  static std::string SkipReason() { return "nats-server is not installed (apt install nats-server): bridge test skipped"; }

  explicit NatsServer(std::string store_dir) : store_dir_(std::move(store_dir)) {}
  // More command-line arguments for the next Start (e.g. {"-c", file}, or
  // {"--user", u, "--pass", p}).
  void set_extra_args(std::vector<std::string> args) { extra_ = std::move(args); }
  ~NatsServer();  // Stop()
  // Starts it (a free port the first time, the same port after) and waits up
  // to 10 s until it accepts connections. False (with *why) if it did not.
  bool Start(std::string* why);
  void Kill();  // SIGKILL, reaped
  void Stop();  // SIGTERM, up to 10 s, then SIGKILL; reaped
  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string store_dir_;
  std::vector<std::string> extra_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Waits for `pid` up to `ms` milliseconds; its wait status, or -1 (still running).
int WaitPidFor(pid_t pid, int ms);

}  // namespace mq::test
