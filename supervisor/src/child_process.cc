// StopChild: SIGTERM, then SIGKILL after the child's shutdown time
// (child_process.h).
#include "child_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

#include "spawn.h"

namespace mq::supervisor {
namespace {

void Signal(int pidfd, int sig) { (void)::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0); }

// Waits up to `ms` (-1: no limit) for the process to exit; true if it did.
bool AwaitExit(int pidfd, int ms) {
  pollfd p{pidfd, POLLIN, 0};
  int rc;
  do rc = ::poll(&p, 1, ms);
  while (rc < 0 && errno == EINTR);
  return rc > 0;
}

}  // namespace

const char* ChildProcess::StateName() const {
  switch (state) {
    case State::kDown: return "down";
    case State::kStarting: return "starting";
    case State::kRunning: return "running";
    case State::kBackoff: return "backoff";
  }
  return "?";
}

ExitReason StopChild(ChildProcess* c) {
  if (c->pidfd < 0) return ExitReason{};
  if (c->spec.brutal_kill) {
    Signal(c->pidfd, SIGKILL);
  } else {
    Signal(c->pidfd, SIGTERM);
    const int64_t ms = c->spec.shutdown.count();
    if (!AwaitExit(c->pidfd, static_cast<int>(std::min<int64_t>(ms, 0x7fffffff)))) {
      std::fprintf(stderr, "mqsup: %s (pid %d) did not exit %lld ms after SIGTERM; sending SIGKILL\n",
                   c->spec.name.c_str(), c->pid, static_cast<long long>(ms));
      Signal(c->pidfd, SIGKILL);
    }
  }
  (void)AwaitExit(c->pidfd, -1);
  bool reaped = false;
  ExitReason r = ReapChild(c->pidfd, &reaped);
  ::close(c->pidfd);
  c->pidfd = -1;
  c->pid = 0;
  return r;
}

}  // namespace mq::supervisor
