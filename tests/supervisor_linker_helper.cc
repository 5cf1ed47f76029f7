// A process that links itself to a peer (mq/monitor.h, Monitors::Link) for
// tests/supervisor_link_test.cc, then waits; SIGTERM ends it by default.
//
//   supervisor_linker_helper PEER_PID [PEER_NOTIFY_SOCKET SELF_NAME]
//
// It writes "1" (linked) or "0" (not) to its stdout. It is a program of its
// own, started by posix_spawn, because a child forked from the multithreaded
// test and then starting threads can deadlock on a lock another thread of
// the test held at the fork (seen under ASan: its allocator's lock).
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "mq/monitor.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) return 2;
  mq::supervisor::LinkOptions o;
  if (argc == 4) {
    o.peer_notify_socket = argv[2];
    o.self_name = argv[3];
  }
  std::unique_ptr<mq::supervisor::Monitors> m;
  const bool ok = mq::supervisor::Monitors::Start().MoveTo(&m).ok() &&
                  m->Link(static_cast<pid_t>(std::atol(argv[1])), o).ok();
  if (::write(1, ok ? "1" : "0", 1) != 1 || !ok) return 1;
  for (;;) ::pause();
}
