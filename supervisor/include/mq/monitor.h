// mq::supervisor::Monitors: Erlang-style monitors of OS processes
// (docs/supervision.md, "DOWN and EXIT messages").
//
//   std::unique_ptr<Monitors> m;
//   Monitors::Start(&m);
//   auto ref = m->Monitor(pid, "/run/me/watch.sock");   // DOWN goes there
//
// When the process ends, the mailbox at the notify socket receives, by
// confirmed send, "DOWN ref=<ref> pid=<pid> name=<name or -> reason=<reason>"
// with the reasons of ExitReason::ToString. The pid is held as a pidfd from
// the moment Monitor returns, so a reused pid can never be mistaken for it.
// A pid already gone gets "reason=noproc" at once.
//
// Where the status comes from: the process's parent gets it with
// waitid(P_PIDFD, WNOWAIT) (the child is not reaped); any other process
// with the PIDFD_GET_INFO ioctl and PIDFD_INFO_EXIT (Linux 6.15+), once the
// parent has reaped it. On older kernels, or when nobody reaps, the reason
// is "unknown".
//
// One watcher thread per Monitors polls the pidfds (and an eventfd that
// wakes it for changes); it never busy-loops. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "mq/status.h"
#include "mq/supervisor.h"

namespace mq::supervisor {

// "DOWN ref=.. pid=.. name=.. reason=.." ("name=-" when `name` is empty).
std::string DownMessage(uint64_t ref, pid_t pid, const std::string& name, const ExitReason& reason);

// How the process behind `pidfd` ended, once it has (see above). *known is
// false (and the reason unknown) when no status is available yet: not our
// child and not reaped, or a kernel without PIDFD_INFO_EXIT.
ExitReason ReasonOf(int pidfd, bool* known);

class Monitors {
 public:
  static Result<std::unique_ptr<Monitors>> Start();
  ~Monitors();  // stops the watcher; pending monitors never fire
  Monitors(const Monitors&) = delete;
  Monitors& operator=(const Monitors&) = delete;

  // Watches `pid`; returns the reference (from 1). kInvalidArgument for a
  // pid <= 0 or an empty socket path.
  Result<uint64_t> Monitor(pid_t pid, const std::string& notify_socket, const std::string& name = "");
  // The monitor sends nothing after this returns OK. kNotFound if `ref` is
  // unknown or already fired.
  Status Demonitor(uint64_t ref);

  // DOWN messages that could not be delivered (no mailbox at the path, or
  // no confirmation within 5 s).
  uint64_t undelivered() const;

  struct Impl;

 private:
  explicit Monitors(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mq::supervisor
