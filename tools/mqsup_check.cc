// mqsup check CONFIG: validates a configuration without running anything.
#include <cstdio>

#include "mq/run.h"
#include "mqsup_commands.h"

namespace mqsup {
namespace {

const char* StrategyName(mq::supervisor::Strategy s) {
  switch (s) {
    case mq::supervisor::Strategy::kOneForOne: return "one_for_one";
    case mq::supervisor::Strategy::kOneForAll: return "one_for_all";
    case mq::supervisor::Strategy::kRestForOne: return "rest_for_one";
  }
  return "?";
}

}  // namespace

int Check(const std::string& path) {
  auto spec = mq::supervisor::LoadConfig(path);
  if (!spec.ok()) {
    std::fprintf(stderr, "mqsup: %s\n", spec.status().message().c_str());
    return mq::supervisor::kExitInvalid;
  }
  std::string names;
  for (const auto& c : spec->children) names += (names.empty() ? "" : ", ") + c.name;
  std::printf("%s: valid: strategy %s, intensity %u in %lld ms, %zu children%s%s\n", path.c_str(),
              StrategyName(spec->strategy), spec->intensity, static_cast<long long>(spec->period.count()),
              spec->children.size(), names.empty() ? "" : ": ", names.c_str());
  return mq::supervisor::kExitOk;
}

}  // namespace mqsup
