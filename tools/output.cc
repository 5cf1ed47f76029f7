#include "output.h"

#include <cerrno>
#include <cstring>

#include "command.h"
#include "standard_fds.h"

namespace mqtool {

void Output::Failed(int err) {
  if (err == EPIPE) {
    closed_ = true;
    return;
  }
  throw ToolError(name_ + ": write failed: " + std::strerror(err) + "; the output is incomplete");
}

bool Output::Write(std::string_view bytes) {
  if (closed_) return false;
  if (f_ == stdout) FailIfStdoutClosed("nothing was written");
  if (bytes.empty()) return true;
  errno = 0;
  if (std::fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size()) {
    Failed(errno != 0 ? errno : EIO);
    std::clearerr(f_);
    return false;
  }
  return true;
}

bool Output::Line(std::string_view line) {
  return Write(line) && Write("\n");
}

bool Output::Flush() {
  if (closed_) return false;
  errno = 0;
  if (std::fflush(f_) != 0) {
    Failed(errno != 0 ? errno : EIO);
    std::clearerr(f_);
    return false;
  }
  return true;
}

}  // namespace mqtool
