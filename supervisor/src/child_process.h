// One supervised child as the supervisor's loop sees it: its spec, its
// socket, the process (pid, pidfd) and what status reports (mq/run.h).
// Internal.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "mq/supervisor.h"

namespace mq::supervisor {

struct ChildProcess {
  enum class State {
    kDown,      // not running, not to be started (or not yet)
    kStarting,  // spawned, waiting for READY or its ready delay
    kRunning,
    kBackoff,   // to be started again when its restart is due
  };

  ChildProcess(ChildSpec s, BackoffPolicy policy, std::function<uint64_t()> random)
      : spec(std::move(s)), backoff(policy, std::move(random)) {}

  ChildSpec spec;
  int socket_fd = -1;  // bound by the supervisor, handed to every instance
  pid_t pid = 0;       // 0: no process
  int pidfd = -1;
  State state = State::kDown;
  TimePoint spawned_at{}, exited_at{}, ready_due{}, start_due{};
  bool exited_once = false;
  int64_t restart_latency_us = -1;  // from the last exit seen to the next spawn (backoff included)
  int64_t ready_after_us = -1;      // from the spawn to its READY (or its ready delay)
  uint64_t restarts = 0;            // over every run of the supervisor (from the history)
  std::string last_exit;            // "-" until the first exit
  Backoff backoff;

  const char* StateName() const;
};

// Stops a running child and reaps it: SIGTERM, then SIGKILL if it has not
// exited after spec.shutdown (brutal_kill: SIGKILL at once). Closes the
// pidfd, sets pid 0. Returns how it ended.
ExitReason StopChild(ChildProcess* c);

}  // namespace mq::supervisor
