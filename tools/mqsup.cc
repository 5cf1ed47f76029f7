// mqsup: the supervisor of mq actors (docs/supervision.md). This build has
// `mqsup check CONFIG`, which validates a configuration without running it.
//
// Exit codes: 0 valid, 1 the configuration has an error (printed as
// FILE:LINE: FIELD: what), 2 usage error, 3 an I/O error (/dev/null could not
// be opened for a closed standard descriptor).
#include <cstdio>
#include <cstring>
#include <string>

#include "mq/std_fds.h"
#include "mq/supervisor.h"

namespace {

constexpr int kExitOk = 0, kExitInvalid = 1, kExitUsage = 2, kExitIo = 3;

const char* StrategyName(mq::supervisor::Strategy s) {
  switch (s) {
    case mq::supervisor::Strategy::kOneForOne: return "one_for_one";
    case mq::supervisor::Strategy::kOneForAll: return "one_for_all";
    case mq::supervisor::Strategy::kRestForOne: return "rest_for_one";
  }
  return "?";
}

int Usage(std::FILE* out, int rc) {
  std::fprintf(out,
               "usage: mqsup check CONFIG   validate a supervisor configuration (TOML) without running it\n"
               "exit codes: 0 valid, 1 an error in the configuration (FILE:LINE: FIELD: what), 2 usage error\n"
               "manual: docs/supervision.md\n");
  return rc;
}

int Check(const std::string& path) {
  auto spec = mq::supervisor::LoadConfig(path);
  if (!spec.ok()) {
    std::fprintf(stderr, "mqsup: %s\n", spec.status().message().c_str());
    return kExitInvalid;
  }
  std::string names;
  for (const auto& c : spec->children) names += (names.empty() ? "" : ", ") + c.name;
  std::printf("%s: valid: strategy %s, intensity %u in %lld ms, %zu children%s%s\n", path.c_str(),
              StrategyName(spec->strategy), spec->intensity, static_cast<long long>(spec->period.count()),
              spec->children.size(), names.empty() ? "" : ": ", names.c_str());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // Closed fds 0-2 get /dev/null, so no file opened later takes their number.
  if (mq::Status s = mq::EnsureStandardFds(); !s.ok()) {
    std::fprintf(stderr, "mqsup: %s\n", s.message().c_str());
    return kExitIo;
  }
  if (argc == 2 && (std::strcmp(argv[1], "help") == 0 || std::strcmp(argv[1], "--help") == 0))
    return Usage(stdout, kExitOk);
  if (argc == 3 && std::strcmp(argv[1], "check") == 0) return Check(argv[2]);
  if (argc >= 2 && std::strcmp(argv[1], "check") != 0)
    std::fprintf(stderr, "mqsup: unknown command '%s'; this mqsup has: check\n", argv[1]);
  return Usage(stderr, kExitUsage);
}
