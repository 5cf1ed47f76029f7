// mq::supervisor::Run: the supervisor itself (`mqsup run`), and the client
// of its control mailbox (`mqsup status`, `restart`, `stop`).
// docs/supervision.md is the long form; this is the manual.
//
// Starting. Run(spec) first checks everything that can conflict with
// another process, and binds what it owns, before anything runs:
//   - the control mailbox (spec.control, queue <control>.q) opens: nobody
//     else is bound at the path, nobody else holds its queue;
//   - the history (spec.log, an mq store) opens, and tells the restart
//     counts and last exits of earlier runs;
//   - every child's `queue` is not locked by another process, and its
//     `socket` is bound (BindOwnedSocket, mode socket_mode) unless a live
//     process is bound there.
// Any of these failing: the error names the path and the culprit, the
// sockets bound so far are closed and removed, and Run returns kExitRefused.
// Then the children start in order, each with clone(CLONE_VM | CLONE_VFORK |
// CLONE_PIDFD) (no copy of the supervisor's page tables): its
// socket (if any) as descriptor 3, MQ_SOCKET_FD=3, MQ_SOCKET, MQ_QUEUE and
// MQ_NAME, and MQ_SUPERVISOR=<control> (where it sends READY), in its own
// process group, with PR_SET_PDEATHSIG=SIGKILL (a supervisor that dies takes
// its children with it, so a new one can bind their sockets again). A child
// with `ready = "notify"` holds the next start until it sends
// "READY <name> <pid>" to the control socket; one with a delay, for that
// long; one silent past its `ready_timeout` is stopped and its exit
// handled as any other. A child that cannot be started (exec fails) stops every child
// started so far (reverse order), removes the sockets and returns
// kExitRefused. When every child is up, a supervisor that is itself
// supervised (MQ_SUPERVISOR and MQ_NAME set) sends its own READY.
//
// Running. One poll over the children's pidfds, a signalfd (SIGTERM,
// SIGINT, SIGHUP, SIGCHLD) and an eventfd fed by the control mailbox's
// receiver thread; timers (backoff, ready delays, shutdown escalation) are
// its timeout. No busy loop. The supervisor is a subreaper
// (PR_SET_CHILD_SUBREAPER): orphans of its children are reaped as they end.
// When a child exits:
//   1. the exit is appended to the history ("EXIT name=.. pid=.. reason=..")
//      before anything else, written to the OS (a kill of the supervisor
//      keeps it) and fsync'd at the end of that turn of the loop, once the
//      restart has started (docs/supervision.md, "An exit");
//   2. each of the child's `monitors` is sent "DOWN ref=.. pid=.. name=..
//      reason=.." by confirmed send (from a thread of its own, in order);
//   3. ShouldRestart(restart type, reason): if not, the child stays down;
//   4. RestartIntensity: one restart too many and the supervisor gives up:
//      every child is stopped (reverse start order) and Run returns
//      kExitGaveUp;
//   5. ChildrenToRestart(strategy): the others are stopped (reverse order),
//      then, after the failed child's Backoff delay (Backoff::AfterExit:
//      none for the first restart after a crash, or after a run longer than
//      `period`; first, 2 x first, ... for a child that crashes again
//      within `period`), all are started again in start order (each
//      waiting for its readiness as at start).
// Stopping a child: SIGTERM, then SIGKILL after its `shutdown`
// (`brutal_kill`: SIGKILL at once).
//
// Ending. SIGTERM, SIGINT or `mqsup stop`: the children are stopped in
// reverse start order, the sockets the supervisor bound are removed, Run
// returns kExitOk. SIGHUP is logged and ignored (no reload).
//
// Control requests (mailbox at spec.control; the mailbox admits only this
// process's uid and root): "CTL <answer-address> <verb> [arg]" with verb
// status, status-json, restart NAME or stop. The answer goes by datagram to
// the abstract address "\0mqsup-answer/..." named in the request (no other
// address is answered), as "MQSUP <address>\n" then "ok" or "error <what>"
// and the body. AskSupervisor is the client; it takes an answer only with
// SCM_CREDENTIALS of root or its own uid.
//
// Logs: one line per event on stderr, "mqsup: ...".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "mq/status.h"
#include "mq/supervisor.h"

namespace mq::supervisor {

// The exit codes of `mqsup` (also printed by `mqsup --help`).
constexpr int kExitOk = 0;        // stopped on request (SIGTERM, SIGINT, mqsup stop); or a request succeeded
constexpr int kExitInvalid = 1;   // the configuration is invalid (FILE:LINE: FIELD: what)
constexpr int kExitUsage = 2;     // usage error
constexpr int kExitIo = 3;        // an I/O error of mqsup itself
constexpr int kExitRefused = 4;   // run refused to start (a socket in use, a queue locked, a command that
                                  // would not start); nothing is left running or bound
constexpr int kExitGaveUp = 5;    // run gave up: more than `intensity` restarts within `period`; every
                                  // child was stopped
constexpr int kExitNoAnswer = 6;  // status/restart/stop: no supervisor answered at the control socket
constexpr int kExitDenied = 7;    // status/restart/stop: the supervisor refused the request (unknown child)

struct RunOptions {
  // The clock of every decision (intensity, backoff, uptimes).
  std::function<TimePoint()> now = [] { return std::chrono::steady_clock::now(); };
  // The backoff's jitter source; default getrandom.
  std::function<uint64_t()> random;
};

// Runs the supervisor in the foreground until it is stopped or gives up;
// returns one of the exit codes above. Errors are logged to stderr.
int Run(const SupervisorSpec& spec, const RunOptions& options = {});

// Sends `request` ("status", "status-json", "restart NAME", "stop") to the
// supervisor whose control socket is `control`, by confirmed send, and
// waits up to `timeout` for its answer. Returns the answer's body (after
// its "ok" line). Errors: kNotFound or kIOError (nothing bound at
// `control`: no supervisor runs), kTimedOut (no answer), kDenied (the
// supervisor refused: the message says why; or the socket file's owner is
// not trusted).
Result<std::string> AskSupervisor(const std::string& control, const std::string& request,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace mq::supervisor
