// The socket hand-off (docs/supervision.md, "The socket hand-off"): checks
// a descriptor passed by a supervisor before the mailbox adopts it.
#pragma once

#include <string>

#include "mq/status.h"

namespace mq::socket_handoff {

// OK if `fd` is open, an AF_UNIX SOCK_DGRAM socket, bound to exactly `path`
// (a file path) and not connected to a peer. Otherwise kInvalidArgument
// saying which of these fails, naming the descriptor and the path. Changes
// nothing.
Status CheckInherited(int fd, const std::string& path);

// After CheckInherited: marks `fd` close-on-exec and sets the options the
// mailbox needs (SO_PASSCRED, buffer sizes; see BindSocket). A supervisor
// should set SO_PASSCRED before it binds: a datagram sent before is refused
// for want of credentials.
Status Prepare(int fd, const std::string& path, int receive_buffer_bytes);

}  // namespace mq::socket_handoff
