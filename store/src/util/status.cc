#include "mq/status.h"

#include <cstring>

namespace mq {

Status Status::IOError(std::string what, int err) {
  if (err != 0) {
    what += ": ";
    what += std::strerror(err);
  }
  return Status(Code::kIOError, std::move(what), err);
}

Status Status::IOError(std::string what, int err, std::string_view hint) {
  Status s = IOError(std::move(what), err);
  s.msg_ += "; ";
  s.msg_ += hint;
  return s;
}

const char* Status::CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IOError";
    case Code::kBusy: return "Busy";
    case Code::kUnsupported: return "Unsupported";
    case Code::kNotALog: return "NotALog";
    case Code::kTimedOut: return "TimedOut";
    case Code::kTooLarge: return "TooLarge";
    case Code::kDenied: return "Denied";
    case Code::kClosed: return "Closed";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = CodeName(code_);
  s += ": ";
  s += msg_;
  return s;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += msg_;
  return Status(code_, std::move(m), errno_);
}

}  // namespace mq
