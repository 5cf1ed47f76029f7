// mq::supervisor::Monitors: Erlang-style monitors of OS processes
// (docs/supervision.md, "DOWN and EXIT messages").
//
//   MQ_ASSIGN_OR_RETURN(std::unique_ptr<Monitors> m, Monitors::Start());
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
// Links (Erlang's link/1, two-way): Link(pid, options) ties this process
// and `pid` together. When `pid` ends, this process gets, if it traps exits
// (options.trap_exit), "EXIT ref=<ref> pid=<pid> name=<name> reason=<reason>"
// at options.notify_socket (its own mailbox), and otherwise SIGTERM. When
// this process ends, however it ends (kill -9 included), `pid` gets the same
// way "EXIT ref=<ref> pid=<this pid> name=<self_name> reason=<how this one
// ended>" at options.peer_notify_socket if one is given (it traps exits), or
// SIGTERM. Unlike Erlang, exit:0 is not exempt: every end is signalled.
// The second direction is kept by a small keeper process that Start forks
// before it starts the watcher thread: it holds pidfds of this process and
// of the linked ones, closes every other descriptor, and outlives this
// process just long enough to notify (supervisor/src/link_keeper.h).
// Destroying the Monitors unlinks all. The keeper runs library code after
// the fork, which glibc's malloc allows in the child of a multithreaded
// process; an allocator that does not (AddressSanitizer's, before LLVM 17)
// can deadlock the keeper when another thread allocates during the fork. So
// start the Monitors while the process has one thread, before mailboxes and
// other threads, where you can.
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
// The same fields after "EXIT " (links whose process traps exits).
std::string ExitMessage(uint64_t ref, pid_t pid, const std::string& name, const ExitReason& reason);

struct LinkOptions {
  bool trap_exit = false;           // this process traps exits: EXIT messages, not SIGTERM
  std::string notify_socket;        // this process's mailbox for EXIT (needed with trap_exit)
  std::string name;                 // the linked process's name in this process's EXIT
  std::string peer_notify_socket;   // the linked process traps exits: its mailbox; empty: SIGTERM
  std::string self_name;            // this process's name in the linked process's EXIT
};

// How the process behind `pidfd` ended, once it has (see above). *known is
// false (and the reason unknown) when no status is available yet: not our
// child and not reaped, or a kernel without PIDFD_INFO_EXIT.
ExitReason ReasonOf(int pidfd, bool* known);

class Monitors {
 public:
  // Forks the link keeper, then starts the watcher thread.
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

  // Links this process and `pid` (see above); returns the reference.
  // kNotFound if `pid` is already gone (noproc); kInvalidArgument for a pid
  // <= 0, or trap_exit without notify_socket.
  Result<uint64_t> Link(pid_t pid, const LinkOptions& options);
  // Nothing is sent either way for `ref` after this returns OK. kNotFound if
  // `ref` is not a link or has fired.
  Status Unlink(uint64_t ref);

  // DOWN (and EXIT) messages that could not be delivered (no mailbox at the path, or
  // no confirmation within 5 s).
  uint64_t undelivered() const;

  struct Impl;

 private:
  explicit Monitors(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mq::supervisor
