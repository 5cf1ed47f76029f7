// What an idle store (or mailbox) costs (issue 23, "Idle cost"): opens N of
// them in one process and prints, per store, the RSS, the address space, the
// descriptors, the threads, the disk (allocated blocks of every file) and
// the time to open. No benchmark library: one line of figures per run.
// (bench/run --only runtime measures the same in its runtime-idle rows.)
//
//   mq_idle_cost [--mailbox | --runtime] [--batch] [--idle SECONDS] N DIR
//
// DIR must be empty or missing (it is created). --mailbox opens mailboxes
// with a socket each (DIR/sN) instead of bare stores; --runtime opens them
// on one shared mq::Runtime. --batch opens them with sync=batch (default
// sync=none). --idle leaves them idle SECONDS after opening and prints the
// CPU the process used meanwhile (getrusage: user + system), as a share of
// one core and per store a second. Stores and mailboxes without a runtime
// have threads of their own (a flusher each under --batch): keep N small.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "idle_measure.h"

int main(int argc, char** argv) {
  using mq::bench::IdleKind;
  IdleKind kind = IdleKind::kStore;
  mq::bench::IdleOptions opt;
  int a = 1;
  for (; a < argc && argv[a][0] == '-' && argv[a][1] == '-'; ++a) {
    if (std::strcmp(argv[a], "--mailbox") == 0) {
      kind = IdleKind::kMailbox;
    } else if (std::strcmp(argv[a], "--runtime") == 0) {
      kind = IdleKind::kMailboxRuntime;
    } else if (std::strcmp(argv[a], "--batch") == 0) {
      opt.batch = true;
    } else if (std::strcmp(argv[a], "--idle") == 0 && a + 1 < argc) {
      opt.idle_seconds = std::atof(argv[++a]);
      if (opt.idle_seconds <= 0) {
        std::fprintf(stderr, "%s: --idle takes a positive number of seconds, not %s\n", argv[0], argv[a]);
        return 2;
      }
    } else {
      break;
    }
  }
  if (argc - a != 2) {
    std::fprintf(stderr, "usage: %s [--mailbox | --runtime] [--batch] [--idle SECONDS] N DIR\n", argv[0]);
    return 2;
  }
  const long n = std::atol(argv[a]);
  if (n <= 0) {
    std::fprintf(stderr, "%s: N must be a positive count, not %s\n", argv[0], argv[a]);
    return 2;
  }
  mq::bench::IdleCost c;
  std::string error;
  if (!mq::bench::MeasureIdle(kind, n, argv[a + 1], &c, &error, opt)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const char* what = kind == IdleKind::kStore ? "store" : "mailbox";
  std::printf("%s x%ld: open %.0f us, RSS %.1f KB, address space %.1f KB, %.2f fds, %.2f threads, "
              "disk %.1f KB allocated (%.1f KB apparent) per %s\n",
              mq::bench::IdleKindName(kind), n, c.open_us, c.rss_kb, c.vm_kb, c.fds, c.threads, c.disk_kb,
              c.apparent_kb, what);
  if (opt.idle_seconds > 0)
    std::printf("%s x%ld, sync=%s: idle %.2f s, process CPU %.3f s, %.2f%% of a core, %.2f us a second per %s\n",
                mq::bench::IdleKindName(kind), n, opt.batch ? "batch" : "none", c.idle_wall_s, c.idle_cpu_s,
                100 * c.idle_cpu_s / c.idle_wall_s, 1e6 * c.idle_cpu_s / c.idle_wall_s / static_cast<double>(n), what);
  return 0;
}
