// Status and Result: the error convention of every mq library.
//
// Library functions never throw for expected failures (bad input, I/O errors,
// corruption, a busy queue); they return a [[nodiscard]] Status, or a
// Result<T> that holds either a value or a non-OK Status. Exceptions appear
// only at the CLI boundary (tools/). An OK Status holds no allocation. (A
// LevelDB-style Status, one pointer that is null when OK, was measured and
// was no faster on the append and ingest paths: docs/design.md, "Status and
// Result".)
//
// How a public function gives back what it produces (one rule, which every
// public header of store/, mailbox/ and supervisor/ follows, the I/O seam in
// env.h included: docs/design.md, "Status and Result"):
//   - A function that produces a value returns Result<T>: a parser, an Open
//     (Result<std::unique_ptr<Store>>), an append (Result<uint64_t>, the seq),
//     a compaction (Result<CompactionResult>), an Env's OpenDirectory,
//     OpenFile, Stat, LockFile and File::Size.
//   - A function that fills a buffer the caller owns and reuses from call to
//     call on a hot path takes a pointer to it: Store::Get, FirstPending,
//     ConsumeFirst, FirstByKey, FindFirst and Mailbox::Receive, Take fill a
//     Message* (its payload string keeps its capacity, where a Result<Message>
//     would allocate a payload per call); File::Read fills a char buffer;
//     ConfirmedSender::Collect and Flush append to a vector. A pointer that is
//     read as well as written (InheritSocketFromEnvironment's options) is an
//     in-out parameter, not a result.
//   - A function that produces nothing returns Status.
// The caller's side: MQ_RETURN_IF_ERROR(expr) returns a non-OK Status;
// MQ_ASSIGN_OR_RETURN(lhs, expr) returns a non-OK Result's status or moves
// its value into lhs (a declaration such as `auto store` or an existing
// variable); std::move(r).MoveTo(&x) moves a Result's value into a variable
// that already exists (a member, a test fixture's pointer) and returns its
// Status.
//
// Codes and when to use them:
//   kNotFound        the thing asked for does not exist (a path, a sequence number).
//   kInvalidArgument the caller passed something malformed (an option, a pattern).
//   kCorruption      bytes on disk fail a checksum or the record grammar.
//   kIOError         the operating system refused an operation; sys_errno() says why.
//   kBusy            another process holds the queue's writer lock.
//   kUnsupported     the file was written by a newer format version.
//   kNotALog         the file is not an mq message log at all.
//   kTimedOut        a wait ran out of time.
//   kTooLarge        a message is larger than the configured maximum.
//   kDenied          a sender or caller is not admitted.
//   kClosed          the store or mailbox was closed (or is closing): nothing more
//                    can be done with this handle; open it again.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mq {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,
    kInvalidArgument,
    kCorruption,
    kIOError,
    kBusy,
    kUnsupported,
    kNotALog,
    kTimedOut,
    kTooLarge,
    kDenied,
    kClosed,
  };

  Status() = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status Unsupported(std::string msg) { return Status(Code::kUnsupported, std::move(msg)); }
  static Status NotALog(std::string msg) { return Status(Code::kNotALog, std::move(msg)); }
  static Status TimedOut(std::string msg) { return Status(Code::kTimedOut, std::move(msg)); }
  static Status TooLarge(std::string msg) { return Status(Code::kTooLarge, std::move(msg)); }
  static Status Denied(std::string msg) { return Status(Code::kDenied, std::move(msg)); }
  static Status Closed(std::string msg) { return Status(Code::kClosed, std::move(msg)); }
  // An I/O error from the OS: `what` names the file and operation; errno is kept.
  static Status IOError(std::string what, int err);
  // "what: <strerror(err)>; hint" — for errors with an obvious remedy.
  static Status IOError(std::string what, int err, std::string_view hint);
  // IOError from the current errno.
  static Status FromErrno(std::string what) { return IOError(std::move(what), errno); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  int sys_errno() const { return errno_; }
  const std::string& message() const { return msg_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsTimedOut() const { return code_ == Code::kTimedOut; }
  bool IsClosed() const { return code_ == Code::kClosed; }

  // "Corruption: <message>" style, for logs and tests.
  std::string ToString() const;
  static const char* CodeName(Code c);

  // Prefixes context ("opening /x/q: ") to a non-OK status; OK stays OK.
  Status WithContext(std::string_view context) const;

 private:
  Status(Code c, std::string msg, int err = 0) : code_(c), errno_(err), msg_(std::move(msg)) {}
  Code code_ = Code::kOk;
  int errno_ = 0;
  std::string msg_;
};

// A value or an error, never both.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                    // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}             // NOLINT: must not be OK
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  // Moves the value into *out if there is one; returns status() either way
  // (*out is left alone on an error).
  Status MoveTo(T* out) && {
    if (!ok()) return std::get<Status>(std::move(v_));
    *out = std::get<T>(std::move(v_));
    return Status();
  }

 private:
  std::variant<T, Status> v_;
};

#define MQ_STATUS_CONCAT_(a, b) a##b
#define MQ_STATUS_CONCAT(a, b) MQ_STATUS_CONCAT_(a, b)
#define MQ_RETURN_IF_ERROR(expr) MQ_RETURN_IF_ERROR_AS(MQ_STATUS_CONCAT(mq_status_, __COUNTER__), expr)
#define MQ_RETURN_IF_ERROR_AS(var, expr) \
  do {                                   \
    ::mq::Status var = (expr);           \
    if (!var.ok()) return var;           \
  } while (0)

// `lhs` is a declaration (`auto store`, `uint64_t seq`) or an lvalue; `expr`
// a Result<T>. On error the enclosing function returns its Status (or a
// Result<U> made from it).
#define MQ_ASSIGN_OR_RETURN(lhs, expr) \
  MQ_ASSIGN_OR_RETURN_AS(MQ_STATUS_CONCAT(mq_result_, __COUNTER__), lhs, expr)
#define MQ_ASSIGN_OR_RETURN_AS(var, lhs, expr)         \
  auto var = (expr);                                   \
  if (!var.ok()) return var.status();                  \
  lhs = std::move(var).value()

}  // namespace mq
