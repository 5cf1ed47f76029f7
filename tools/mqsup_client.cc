// What mqsup status, restart and stop share: the control socket from the
// configuration, and the exit code of a request that failed.
#include <cstdio>

#include "mq/run.h"
#include "mqsup_commands.h"

namespace mqsup {

bool ControlOf(const std::string& config, std::string* control) {
  auto spec = mq::supervisor::LoadConfig(config);
  if (!spec.ok()) {
    std::fprintf(stderr, "mqsup: %s\n", spec.status().message().c_str());
    return false;
  }
  *control = spec->control;
  return true;
}

int AskFailed(const std::string& config, const std::string& control, const mq::Status& s) {
  std::fprintf(stderr, "mqsup: %s: %s\n", config.c_str(), s.message().c_str());
  if (s.code() == mq::Status::Code::kDenied) return mq::supervisor::kExitDenied;
  if (s.code() == mq::Status::Code::kNotFound || s.code() == mq::Status::Code::kIOError ||
      s.IsTimedOut()) {
    std::fprintf(stderr, "mqsup: %s: no supervisor answered at %s; is `mqsup run %s` running?\n", config.c_str(),
                 control.c_str(), config.c_str());
    return mq::supervisor::kExitNoAnswer;
  }
  return mq::supervisor::kExitIo;
}

}  // namespace mqsup
