// mqsup status CONFIG [--json]: each child's pid, state, restarts, last exit
// and uptime, from the running supervisor (--json: one JSON object a line,
// with restart_latency_us and ready_after_us too).
#include <cstdio>

#include "mq/run.h"
#include "mqsup_commands.h"

namespace mqsup {

int Status(const std::string& config, bool json) {
  std::string control;
  if (!ControlOf(config, &control)) return mq::supervisor::kExitInvalid;
  auto body = mq::supervisor::AskSupervisor(control, json ? "status-json" : "status");
  if (!body.ok()) return AskFailed(config, control, body.status());
  std::fwrite(body->data(), 1, body->size(), stdout);
  return mq::supervisor::kExitOk;
}

}  // namespace mqsup
