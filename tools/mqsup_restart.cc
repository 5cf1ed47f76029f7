// mqsup restart CONFIG NAME: the supervisor stops the child (SIGTERM, then
// SIGKILL after its shutdown time) and starts it again.
#include <cstdio>

#include "mq/run.h"
#include "mqsup_commands.h"

namespace mqsup {

int Restart(const std::string& config, const std::string& name) {
  std::string control;
  if (!ControlOf(config, &control)) return mq::supervisor::kExitInvalid;
  auto body = mq::supervisor::AskSupervisor(control, "restart " + name, std::chrono::seconds(60));
  if (!body.ok()) return AskFailed(config, control, body.status());
  std::fwrite(body->data(), 1, body->size(), stdout);
  return mq::supervisor::kExitOk;
}

}  // namespace mqsup
