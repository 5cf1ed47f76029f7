// mqsup stop CONFIG: the supervisor stops its children in reverse start
// order, answers, and exits 0.
#include <cstdio>

#include "mq/run.h"
#include "mqsup_commands.h"

namespace mqsup {

int Stop(const std::string& config) {
  std::string control;
  if (!ControlOf(config, &control)) return mq::supervisor::kExitInvalid;
  auto body = mq::supervisor::AskSupervisor(control, "stop", std::chrono::seconds(60));
  if (!body.ok()) return AskFailed(config, control, body.status());
  std::fwrite(body->data(), 1, body->size(), stdout);
  return mq::supervisor::kExitOk;
}

}  // namespace mqsup
