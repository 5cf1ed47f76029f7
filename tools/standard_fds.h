// fds 0, 1 and 2 at start-up: made valid first thing, and remembered as
// closed so that output meant for a closed stdout is refused, not lost.
#pragma once

#include <string_view>

namespace mqtool {

// Called first in main: makes fds 0, 1 and 2 valid (mq/std_fds.h) and
// remembers which were closed. Throws ToolError if /dev/null cannot be opened.
void SetUpStandardFds();
// True if the process started with fd 1 (or fd 0) closed. fd 1 then points at
// /dev/null, and writing "to standard output" would lose the data: an Output
// on stdout refuses its first write (exit 3), and recv refuses before it
// receives anything.
bool StdoutWasClosed();
bool StdinWasClosed();
// Throws ToolError "standard output is closed ...; <what_happens>" if
// StdoutWasClosed().
void FailIfStdoutClosed(std::string_view what_happens);

}  // namespace mqtool
