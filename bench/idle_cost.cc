// What an idle store (or mailbox) costs (issue 23, "Idle cost"): opens N of
// them in one process and prints, per store, the RSS, the address space, the
// descriptors, the threads, the disk (allocated blocks of every file) and
// the time to open. No benchmark library: one line of figures per run.
// (bench/run --only runtime measures the same in its runtime-idle rows.)
//
//   mq_idle_cost [--mailbox | --runtime] N DIR
//
// DIR must be empty or missing (it is created). --mailbox opens mailboxes
// with a socket each (DIR/sN) instead of bare stores; --runtime opens them
// on one shared mq::Runtime.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "idle_measure.h"

int main(int argc, char** argv) {
  using mq::bench::IdleKind;
  IdleKind kind = IdleKind::kStore;
  int a = 1;
  if (a < argc && std::strcmp(argv[a], "--mailbox") == 0) {
    kind = IdleKind::kMailbox;
    ++a;
  } else if (a < argc && std::strcmp(argv[a], "--runtime") == 0) {
    kind = IdleKind::kMailboxRuntime;
    ++a;
  }
  if (argc - a != 2) {
    std::fprintf(stderr, "usage: %s [--mailbox | --runtime] N DIR\n", argv[0]);
    return 2;
  }
  const long n = std::atol(argv[a]);
  if (n <= 0) {
    std::fprintf(stderr, "%s: N must be a positive count, not %s\n", argv[0], argv[a]);
    return 2;
  }
  mq::bench::IdleCost c;
  std::string error;
  if (!mq::bench::MeasureIdle(kind, n, argv[a + 1], &c, &error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const char* what = kind == IdleKind::kStore ? "store" : "mailbox";
  std::printf("%s x%ld: open %.0f us, RSS %.1f KB, address space %.1f KB, %.2f fds, %.2f threads, "
              "disk %.1f KB allocated (%.1f KB apparent) per %s\n",
              mq::bench::IdleKindName(kind), n, c.open_us, c.rss_kb, c.vm_kb, c.fds, c.threads, c.disk_kb,
              c.apparent_kb, what);
  return 0;
}
