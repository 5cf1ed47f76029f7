// Starting one child process (mq/run.h, "Starting"): clone(CLONE_VM |
// CLONE_VFORK | CLONE_PIDFD; a copy of memory instead of CLONE_VM under TSan),
// its socket as descriptor 3 and the MQ_* variables. Internal.
#pragma once

#include <sys/types.h>

#include <string>

#include "mq/status.h"
#include "mq/supervisor.h"

namespace mq::supervisor {

struct Spawned {
  pid_t pid = 0;
  int pidfd = -1;  // close-on-exec; the caller owns it
};

// Starts `child`: argv child.command (command[0] looked up on PATH if it has
// no '/'), the supervisor's environment less any MQ_SOCKET_FD, MQ_SOCKET,
// MQ_QUEUE, MQ_NAME, MQ_SUPERVISOR, plus child.env, then MQ_NAME and
// MQ_SUPERVISOR=control and, with socket_fd >= 0, the socket as descriptor 3
// with MQ_SOCKET_FD=3, MQ_SOCKET and MQ_QUEUE (if set). In the child: all
// signals unblocked and default, a process group of its own,
// PR_SET_PDEATHSIG SIGKILL, cwd, RLIMIT_NOFILE if child.nofile (kIOError
// naming the limit if it cannot be set). Returns once the child has exec'd; an exec
// that fails is kIOError naming the command and errno (the child is reaped).
Result<Spawned> SpawnChild(const ChildSpec& child, int socket_fd, const std::string& control);

// The exit of a child whose pidfd is readable, reaped: waitid(P_PIDFD).
// *reaped false if it has not exited.
ExitReason ReapChild(int pidfd, bool* reaped);

}  // namespace mq::supervisor
