// The other direction of a link (mq/monitor.h, Monitors::Link): when this
// process ends, however it ends (kill -9 included), each linked process is
// sent SIGTERM or, if it traps exits, an EXIT message. Something must
// outlive this process to do that: a keeper process, forked when the
// Monitors starts (before its thread), that holds a pidfd of this process and of each linked one. This
// process tells it of links and unlinks over a socketpair; when this process
// exits (the socket reaches end of file without a "quit"), the keeper waits
// for it to be reaped (for its status, PIDFD_INFO_EXIT), notifies every
// linked process, and exits. Internal.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "mq/status.h"

namespace mq::supervisor {

class LinkKeeper {
 public:
  // Forks the keeper. Call from any thread; the keeper uses only its own
  // state (glibc's fork keeps malloc usable in the child).
  static Result<LinkKeeper*> Start();
  ~LinkKeeper();  // tells the keeper to quit without notifying, and reaps it

  // The linked process `peer_pidfd` (duplicated to the keeper) is to get
  // SIGTERM when this process ends, or, with a non-empty `peer_notify`, an
  // EXIT message "EXIT ref=<ref> pid=<this pid> name=<name> reason=<how
  // this process ended>" at that mailbox.
  Status Add(uint64_t ref, int peer_pidfd, const std::string& peer_notify, const std::string& name);
  Status Remove(uint64_t ref);
  pid_t pid() const { return pid_; }

 private:
  LinkKeeper(int sock, pid_t pid) : sock_(sock), pid_(pid) {}
  int sock_;
  pid_t pid_;
};

}  // namespace mq::supervisor
