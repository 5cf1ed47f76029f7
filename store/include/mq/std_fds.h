// Standard descriptors for the project's programs.
//
// A program started with fd 0, 1 or 2 closed (`mqtool recv q >&-`) would
// hand that number to the next file it opens: a queue's lock file became
// fd 1 and received the payloads meant for standard output. Every binary the
// project ships calls EnsureStandardFds first thing in main.
#pragma once

#include "mq/status.h"

namespace mq {

// Which of fds 0, 1, 2 were closed when EnsureStandardFds ran.
struct StandardFds {
  bool stdin_closed = false;
  bool stdout_closed = false;
  bool stderr_closed = false;
};

// Makes fds 0, 1 and 2 valid: each one that is closed is opened on
// /dev/null (read-only for 0, write-only for 1 and 2), so no later open can
// take its number. Fills *was (if given) with which were closed, so that the
// caller can refuse to "write" to a standard output that was never there.
// Fails (kIOError) only if /dev/null cannot be opened.
[[nodiscard]] Status EnsureStandardFds(StandardFds* was = nullptr);

}  // namespace mq
