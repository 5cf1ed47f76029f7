#include "mq/status.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace mq {
namespace {

std::string Limit(rlim_t v) { return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v); }

}  // namespace

Status Status::IOError(std::string what, int err) {
  if (err != 0) {
    what += ": ";
    what += std::strerror(err);
  }
  // Out of descriptors: say which limit, and what it is now
  // (docs/mailbox.md, "Descriptors").
  if (err == EMFILE) {
    struct rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0)
      what += " (this process reached its RLIMIT_NOFILE of " + Limit(rl.rlim_cur) + " descriptors, hard limit " +
              Limit(rl.rlim_max) + "; a store holds 7 descriptors and a mailbox 8 or more: raise it with `ulimit -n` or "
              "mqsup's `nofile =`)";
  } else if (err == ENFILE) {
    what += " (the system's table of open files is full: see /proc/sys/fs/file-max and /proc/sys/fs/file-nr)";
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
