// A supervisor under test: `mqsup run` on a configuration in a temporary
// directory, its children the small helper (supervisor_child_helper.cc)
// that logs its starts and stops to an order file, a watcher mailbox that
// every child's DOWN messages go to, and the status read through the
// control socket (tests/mqsup_*_test.cc).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "mailbox_testing.h"

namespace mq::test {

std::string MqsupPath();
std::string SupChildPath();

struct StatusRow {
  std::string name, state, last_exit;
  pid_t pid = 0;
  uint64_t restarts = 0;
};

class MqsupRun {
 public:
  MqsupRun();
  ~MqsupRun();  // SIGTERM to a supervisor still running, and waits

  const TempDir& dir() const { return dir_; }
  std::string config() const { return dir_.File("sup.toml"); }
  std::string control() const { return dir_.File("c.sock"); }
  std::string watch() const { return dir_.File("sock"); }

  // A [[child]] table running the helper with `args`, its ORDER_FILE, and
  // the watcher mailbox as its monitor; `extra` is appended (TOML lines).
  std::string Child(const std::string& name, const std::vector<std::string>& args, const std::string& extra = "") const;
  // Writes the configuration: [supervisor] with control, a 1 ms backoff
  // (unless !test_backoff: then the default backoff) and `supervisor_extra`,
  // then the children.
  void Configure(const std::string& supervisor_extra, const std::vector<std::string>& children,
                 bool test_backoff = true) const;

  // Starts `mqsup run` (stderr to dir/mqsup.err).
  pid_t Start();
  pid_t pid() const { return pid_; }
  // Waits for it to exit (up to 60 s); its exit code, -1 for a signal.
  int Wait();
  std::string Stderr() const;

  // status-json through the control socket; empty if no answer.
  std::vector<StatusRow> Status() const;
  // Until `n` rows are in state running (and the answer came), up to 20 s.
  bool WaitRunning(size_t n) const;
  StatusRow Row(const std::string& name) const;

  // The next DOWN message in the watcher mailbox (10 s).
  std::string NextDown();
  // The order file's lines: "start NAME PID" and "term NAME".
  std::vector<std::string> Order() const;
  // The order file's lines without the pids ("start a", "term b").
  std::vector<std::string> Events() const;

 private:
  TempDir dir_;
  std::unique_ptr<Mailbox> watch_;
  pid_t pid_ = -1;
};

}  // namespace mq::test
