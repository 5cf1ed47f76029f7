#include "standard_fds.h"

#include "command.h"
#include "mq/std_fds.h"

namespace mqtool {

namespace {
mq::StandardFds g_std_fds;
}  // namespace

void SetUpStandardFds() {
  mq::Status s = mq::EnsureStandardFds(&g_std_fds);
  if (!s.ok()) throw ToolError(s.message());
}

bool StdoutWasClosed() { return g_std_fds.stdout_closed; }
bool StdinWasClosed() { return g_std_fds.stdin_closed; }

void FailIfStdoutClosed(std::string_view what_happens) {
  if (!StdoutWasClosed()) return;
  throw ToolError("standard output is closed (fd 1 was not open when mqtool started, as with >&-); " +
                  std::string(what_happens) + ". Redirect it to a file, or to /dev/null to discard it");
}

}  // namespace mqtool
