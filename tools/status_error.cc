#include "status_error.h"

namespace mqtool {

ToolError StatusError(const mq::Status& s, const std::string& file, std::string_view what_to_do) {
  std::string msg = s.message();
  if (msg.empty()) msg = mq::Status::CodeName(s.code());
  if (!file.empty() && msg.rfind(file, 0) != 0) msg = file + ": " + msg;
  if (!what_to_do.empty()) {
    if (!msg.empty() && msg.back() != '.' && msg.back() != '?' && msg.back() != '!') msg += '.';
    msg += ' ';
    msg += what_to_do;
  }
  return ToolError(msg);
}

void ThrowIfError(const mq::Status& s, const std::string& file, std::string_view what_to_do) {
  if (!s.ok()) throw StatusError(s, file, what_to_do);
}

}  // namespace mqtool
