// mq::supervisor: the decisions of an OTP-style supervisor for mq actors
// (docs/supervision.md).
//
// A supervisor starts its children in order and, when one exits, decides
// three things, each a small pure function below so that it can be tested
// without processes or clocks:
//
//  1. Whether the child is restarted at all: its RestartType and how it
//     exited (ShouldRestart).
//  2. Which children are stopped and started again with it: the supervisor's
//     Strategy (ChildrenToRestart), stopped in reverse start order and
//     started again in start order.
//  3. Whether the supervisor itself gives up: more than `intensity` restarts
//     within `period` (RestartIntensity), after which it stops every child
//     and exits non-zero, so that its own supervisor (or systemd) escalates.
//
// When: the first restart after a crash is immediate, as in OTP (which
// never delays one). Only a child that exits again within `period` of its
// start (a repeated crash, in the window the intensity counts) waits a
// Backoff delay: capped exponential with jitter, from `first` doubling up to
// `cap`. A child that ran longer than `period` is restarted at once again.
// `immediate = false` delays every restart, the first too (by `first`).
//
// Errors: functions that parse return mq::Result; nothing throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mq/status.h"

namespace mq::supervisor {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

// ---- How a process ended ----

struct ExitReason {
  enum class Kind {
    kExit,     // exited with `code`
    kSignal,   // killed by signal `code`
    kNoProc,   // was already gone when watched
    kUnknown,  // no status available
  };
  Kind kind = Kind::kUnknown;
  int code = 0;

  static ExitReason Exit(int code) { return {Kind::kExit, code}; }
  static ExitReason Signal(int sig) { return {Kind::kSignal, sig}; }
  bool normal() const { return kind == Kind::kExit && code == 0; }
  // As in DOWN and EXIT messages: "exit:N", "signal:KILL", "noproc",
  // "unknown". A signal without a name is "signal:N".
  std::string ToString() const;
};

// ---- Restart types (OTP's permanent, transient, temporary) ----

enum class RestartType {
  kPermanent,  // always restarted, whatever the exit
  kTransient,  // restarted only after an abnormal exit (not exit:0)
  kTemporary,  // never restarted
};

// True if a child of `type` that ended with `reason` is to be restarted.
// A child the supervisor stopped itself (shutdown, or as part of a strategy)
// is not subject to this: the strategy restarts it or not.
bool ShouldRestart(RestartType type, const ExitReason& reason);

// ---- Strategies ----

enum class Strategy {
  kOneForOne,   // only the child that exited
  kOneForAll,   // every child
  kRestForOne,  // the child that exited and every child started after it
};

// The indices (in start order) of the children restarted when child
// `failed` of `count` exits under `strategy`. The supervisor stops the
// others among them in reverse order of this list, then starts all of them
// in its order. Empty if failed >= count.
std::vector<size_t> ChildrenToRestart(Strategy strategy, size_t failed, size_t count);

// ---- Restart intensity (OTP's MaxR in MaxT) ----

// Counts restarts in a sliding window. Record(now) notes one restart and
// returns false when that makes more than `intensity` within `period`: the
// supervisor then gives up. intensity 0 means that the first restart is
// already too many.
class RestartIntensity {
 public:
  RestartIntensity(uint32_t intensity, Duration period) : intensity_(intensity), period_(period) {}
  [[nodiscard]] bool Record(TimePoint now);
  size_t in_window() const { return times_.size(); }

 private:
  uint32_t intensity_;
  Duration period_;
  std::vector<TimePoint> times_;  // restarts within the window, oldest first
};

// ---- Backoff before a restart ----

struct BackoffPolicy {
  Duration first{100};   // the first delay: before the second restart (or the first, if !immediate)
  Duration cap{10000};   // no delay is longer
  // The share of each delay that is random: delay d becomes a value in
  // [d * (1 - jitter), d]. 0: no jitter; at most 1.
  double jitter = 0.5;
  // true (the default): the first restart after a crash is not delayed, as
  // in OTP; the delays above apply to the repeated ones. false: every
  // restart waits, the first one `first`.
  bool immediate = true;
};

// The delays of consecutive restarts of one child: 0 (when immediate), then
// first, 2 x first, ... up to cap, each jittered (0 stays 0). `random`
// returns a uniformly distributed uint64_t (inject a fixed sequence in
// tests). Reset() starts over (the next delay is 0 again, or `first`).
class Backoff {
 public:
  Backoff(BackoffPolicy policy, std::function<uint64_t()> random)
      : policy_(policy), random_(std::move(random)) {}
  Duration Next();
  // The delay before restarting a child that ran for `ran` before it exited,
  // as the supervisor asks: a run longer than `period` (the intensity's
  // window) is no repeated crash, so the sequence starts over (Reset) and
  // the restart is immediate again; otherwise Next().
  Duration AfterExit(Duration ran, Duration period);
  void Reset() { attempt_ = 0; }
  uint32_t attempt() const { return attempt_; }

 private:
  BackoffPolicy policy_;
  std::function<uint64_t()> random_;
  uint32_t attempt_ = 0;
};

// ---- Durations in configuration ----

// "250ms", "10s", "2m", "1h" (a decimal integer and one unit, nothing else)
// -> milliseconds. kInvalidArgument naming the text and the units otherwise,
// or if it overflows.
Result<Duration> ParseDuration(std::string_view text);

Result<Strategy> ParseStrategy(std::string_view text);        // one_for_one, one_for_all, rest_for_one
Result<RestartType> ParseRestartType(std::string_view text);  // permanent, transient, temporary

// ---- The configuration (TOML; docs/supervision.md, "Configuration") ----

// [[child]]: one supervised process.
struct ChildSpec {
  std::string name;                  // unique; letters, digits, '_', '-', '.'
  std::vector<std::string> command;  // argv; command[0] is executable (a path, or found on PATH)
  std::vector<std::pair<std::string, std::string>> env;  // added to the supervisor's environment
  std::string cwd;                   // absolute; empty: the supervisor's
  RestartType restart = RestartType::kPermanent;
  // shutdown: SIGTERM, then SIGKILL after `shutdown`; brutal_kill: SIGKILL at once.
  Duration shutdown{5000};
  bool brutal_kill = false;
  // The mailbox socket the supervisor binds and hands over (MQ_SOCKET_FD,
  // MQ_SOCKET, MQ_QUEUE, MQ_NAME); empty: none.
  std::string socket, queue;
  uint32_t socket_mode = 0600;
  std::vector<std::string> monitors;  // socket paths sent a DOWN message when this child exits
  // When the next child may start: at once, when this one sends READY to
  // the control socket (`ready = "notify"`), or after a delay (`ready = "200ms"`).
  enum class Ready { kAtOnce, kNotify, kDelay };
  Ready ready = Ready::kAtOnce;
  Duration ready_delay{0};
  // RLIMIT_NOFILE set for the child before exec (`nofile = N`): the soft
  // limit, and the hard one too if N is above it (which needs privilege, else
  // the start fails naming the limit). 0: inherited as it is.
  uint64_t nofile = 0;
  // With `ready = "notify"`: how long to wait for READY (`ready_timeout =
  // "10s"`); a child silent that long is stopped as at shutdown and its exit
  // handled as any other (its restart type decides, counted against the
  // intensity). 0: wait for ever.
  Duration ready_timeout{0};
};

// [supervisor] and the children, in start order.
struct SupervisorSpec {
  Strategy strategy = Strategy::kOneForOne;
  uint32_t intensity = 3;   // restarts allowed within `period`
  Duration period{5000};
  BackoffPolicy backoff;    // [supervisor.backoff] first, cap, jitter
  std::string control;      // the control mailbox's socket path (required)
  std::string log;          // the durable restart history (an mq queue); default <control>.log
  std::vector<ChildSpec> children;
};

// Parses and checks a configuration. `source` names it in errors. Every
// error is kInvalidArgument "SOURCE:LINE: FIELD: what is wrong; what to do",
// for the first problem found: TOML syntax, an unknown field, a wrong type,
// a bad value, a missing required field, a duplicate child name or socket,
// a relative path, a command that is not executable.
Result<SupervisorSpec> ParseConfig(std::string_view text, const std::string& source);
// ParseConfig of the file at `path` (kIOError naming it if it cannot be read).
Result<SupervisorSpec> LoadConfig(const std::string& path);

}  // namespace mq::supervisor
