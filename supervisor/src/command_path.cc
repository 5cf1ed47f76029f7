#include "command_path.h"

#include <unistd.h>

#include <cstdlib>

namespace mq::supervisor {

std::optional<std::string> FindExecutable(const std::string& cmd) {
  if (cmd.find('/') != std::string::npos) {
    if (::access(cmd.c_str(), X_OK) == 0) return cmd;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  const std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = dirs.substr(start, end - start);
    std::string full = (dir.empty() ? "." : dir) + "/" + cmd;
    if (::access(full.c_str(), X_OK) == 0) return full;
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace mq::supervisor
