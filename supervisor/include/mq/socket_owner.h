// The supervisor's side of the socket hand-off (docs/supervision.md): bind
// a child's mailbox socket so that it can be handed to each instance of the
// child with MQ_SOCKET_FD and MQ_SOCKET.
#pragma once

#include <cstdint>
#include <string>

#include "mq/status.h"

namespace mq::supervisor {

// Binds an AF_UNIX datagram socket at `path` with mode `mode`, race-free:
// SO_PASSCRED is set before bind (a datagram sent the instant the path
// appears carries credentials), the socket's mode is set with fchmod before
// bind (Linux creates the file with that mode less the umask, so it is never
// more open than `mode`; chmod then adds back what the umask took), and bind
// never replaces a file another process created meanwhile (EADDRINUSE).
// Not bound elsewhere and renamed into place: getsockname would still name
// the old path, and the adopting mailbox checks that it names `path`. A
// stale socket file (nobody bound: connect gets ECONNREFUSED) at `path` is
// removed first. Returns the descriptor (close-on-exec; the caller clears
// that in the child). Errors: kIOError with EADDRINUSE if a live process is
// bound at `path`; kInvalidArgument if `path` is something other than a
// socket (left alone), not an absolute path of at most 107 bytes, or `mode`
// is above 0777; kIOError for system call failures, naming the path.
// Nothing is left behind on failure.
Result<int> BindOwnedSocket(const std::string& path, uint32_t mode);

}  // namespace mq::supervisor
