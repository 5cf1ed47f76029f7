// What N idle stores or mailboxes cost in this process (issue 23, "Idle
// cost"; docs/mailbox.md, "Descriptors and idle cost"): shared by the
// one-line tool mq_idle_cost and the runtime benchmark's runtime-idle rows.
#pragma once

#include <string>

namespace mq::bench {

enum class IdleKind {
  kStore,           // a bare store (sync=none: no flusher thread)
  kMailbox,         // a mailbox with threads of its own, a socket each
  kMailboxRuntime,  // a mailbox on one shared mq::Runtime (its threads counted once, in the total)
};

const char* IdleKindName(IdleKind k);

// Per store or mailbox, measured as the difference the N open ones make to
// this process (RSS, address space, descriptors, threads) and the files they
// left in DIR (allocated blocks, and apparent bytes), and the time to open one.
struct IdleCost {
  double open_us = 0, rss_kb = 0, vm_kb = 0, fds = 0, threads = 0, disk_kb = 0, apparent_kb = 0;
  // With IdleOptions::idle_seconds: the CPU (user + system, getrusage) the
  // whole process used while they sat idle that long, and the wall time.
  double idle_cpu_s = 0, idle_wall_s = 0;
};

struct IdleOptions {
  // sync=batch instead of sync=none: each store then has a flusher (a thread
  // of its own, or a turn on the runtime's sync thread).
  bool batch = false;
  // After measuring, leave them idle this long and measure the CPU used.
  double idle_seconds = 0;
};

// Opens n of kind `k` in `dir` (empty or missing; created), measures, and
// keeps them open until it returns. False with *error set if one fails.
bool MeasureIdle(IdleKind k, long n, const std::string& dir, IdleCost* out, std::string* error,
                 const IdleOptions& opt = {});

}  // namespace mq::bench
