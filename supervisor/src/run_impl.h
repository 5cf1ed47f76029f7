// The supervisor's state and loop (mq/run.h). run_prepare.cc: what is
// checked and bound before anything starts, and undone on the way out;
// run_loop.cc: the poll loop, exits and restarts; run_control.cc: READY and
// control requests. Internal.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "history.h"
#include "mq/mailbox.h"
#include "mq/run.h"
#include "notifier.h"

namespace mq::supervisor {

class Supervisor {
 public:
  Supervisor(const SupervisorSpec& spec, const RunOptions& options);
  ~Supervisor();
  int Run();

 private:
  // run_prepare.cc
  Status Prepare();        // control mailbox, history, queues, sockets; undone by Release on failure
  void Release();          // closes and removes what Prepare bound
  void StartReceiver();    // the control mailbox's receiver thread
  void StopReceiver();

  // run_loop.cc
  int Loop();
  // Starts what is due in start order; a child waiting for READY holds the
  // rest. False (and *error) if a child could not be spawned during the
  // initial start.
  bool Advance(Status* error);
  void SyncHistory();  // the exits recorded since the last call, durable
  void OnExit(size_t i, const ExitReason& reason);
  void Record(size_t i, pid_t pid, const ExitReason& reason, bool restart);
  // Stops child i if it runs (SIGTERM, then SIGKILL after its shutdown time),
  // logging "<what> NAME (pid N)<why>", and records its exit with `restart`.
  void StopAndRecord(size_t i, const std::string& what, const std::string& why, bool restart);
  void StopAll();  // reverse start order
  void ReapOrphans();
  int PollTimeoutMs();
  void MarkReady(size_t i);

  // run_control.cc
  void DrainControl();  // handles what the receiver thread queued
  void OnControl(const std::string& payload);
  std::string StatusBody(bool json);
  void Log(const std::string& line);

  const SupervisorSpec& spec_;
  RunOptions options_;
  std::vector<ChildProcess> children_;
  std::set<size_t> to_start_;  // children to (re)start, in start order
  bool initial_start_ = true;  // until every child has been started once
  std::unique_ptr<Mailbox> control_;
  std::unique_ptr<History> history_;
  std::unique_ptr<Notifier> notifier_;
  RestartIntensity intensity_;
  uint64_t next_down_ref_ = 1;
  int signal_fd_ = -1, wake_fd_ = -1;
  int exit_code_ = -1;  // set: the loop ends with it

  std::thread receiver_;
  std::mutex mu_;
  std::deque<std::string> inbox_;  // guarded by mu_: control payloads for the loop
};

}  // namespace mq::supervisor
