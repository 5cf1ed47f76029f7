// The control protocol between `mqsup status/restart/stop` and a running
// supervisor (mq/run.h, "Control requests"). Internal.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "mq/status.h"

namespace mq::supervisor {

// Abstract addresses answers may go to (without the leading NUL).
inline constexpr std::string_view kAnswerPrefix = "mqsup-answer/";

// The client's answer socket: AF_UNIX datagram, bound in the abstract
// namespace at "\0mqsup-answer/<pid>/<16 hex digits>" with SO_PASSCRED.
class AnswerSocket {
 public:
  static Result<std::unique_ptr<AnswerSocket>> Open();
  ~AnswerSocket();
  const std::string& name() const { return name_; }  // without the NUL
  // Waits up to `timeout` for the answer: a datagram "MQSUP <name>\n..."
  // that carries SCM_CREDENTIALS of root or of this process's effective uid.
  // Anything else is dropped (counted in dropped()). Returns what follows
  // the first line.
  Result<std::string> Read(std::chrono::milliseconds timeout);
  uint64_t dropped() const { return dropped_; }

 private:
  AnswerSocket(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_;
  std::string name_;
  uint64_t dropped_ = 0;
};

// A parsed "CTL <answer-address> <verb> [arg]".
struct ControlRequest {
  std::string answer_to;  // starts with kAnswerPrefix
  std::string verb, arg;
};
// false for anything else (the supervisor ignores it, and logs it).
bool ParseControlRequest(std::string_view payload, ControlRequest* out);

// Sends "MQSUP <to>\n<body>" to the abstract address `to`, without waiting
// (a client that stopped listening loses its answer).
Status SendAnswer(const std::string& to, const std::string& body);

}  // namespace mq::supervisor
