// mqsup run CONFIG: the supervisor in the foreground (mq/run.h).
#include <cstdio>

#include "mq/run.h"
#include "mqsup_commands.h"

namespace mqsup {

int Run(const std::string& path) {
  auto spec = mq::supervisor::LoadConfig(path);
  if (!spec.ok()) {
    std::fprintf(stderr, "mqsup: %s\n", spec.status().message().c_str());
    return mq::supervisor::kExitInvalid;
  }
  std::fprintf(stderr, "mqsup: %s: supervising %zu children, control socket %s\n", path.c_str(),
               spec->children.size(), spec->control.c_str());
  return mq::supervisor::Run(*spec);
}

}  // namespace mqsup
