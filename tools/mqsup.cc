// mqsup: the supervisor of mq actors (docs/supervision.md). One file per
// subcommand (mqsup_*.cc); this one reads the command line.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "mq/run.h"
#include "mq/std_fds.h"
#include "mqsup_commands.h"

namespace {

using namespace mq::supervisor;

int Usage(std::FILE* out, int rc) {
  std::fprintf(out,
               "usage: mqsup check CONFIG          validate a configuration (TOML) without running it\n"
               "       mqsup run CONFIG            supervise in the foreground (logs to stderr; SIGTERM stops)\n"
               "       mqsup status CONFIG [--json] each child: pid, state, restarts, last exit, uptime\n"
               "       mqsup restart CONFIG NAME   stop the child and start it again\n"
               "       mqsup stop CONFIG           stop every child (reverse start order); the supervisor exits 0\n"
               "exit codes: 0 ok; 1 the configuration is invalid (FILE:LINE: FIELD: what); 2 usage error;\n"
               "  3 I/O error; 4 run refused to start (socket in use, queue locked, command would not start;\n"
               "  nothing is left running); 5 run gave up (more than `intensity` restarts in `period`, every\n"
               "  child stopped); 6 no supervisor answered at the control socket; 7 the supervisor refused\n"
               "  the request (unknown child)\n"
               "manual: docs/supervision.md\n");
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  // Closed fds 0-2 get /dev/null, so no file opened later takes their number.
  if (mq::Status s = mq::EnsureStandardFds(); !s.ok()) {
    std::fprintf(stderr, "mqsup: %s\n", s.message().c_str());
    return kExitIo;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const std::string cmd = argc >= 2 ? argv[1] : "";
  if (argc == 2 && (cmd == "help" || cmd == "--help")) return Usage(stdout, kExitOk);
  if (argc == 3 && cmd == "check") return mqsup::Check(argv[2]);
  if (argc == 3 && cmd == "run") return mqsup::Run(argv[2]);
  if (argc == 3 && cmd == "status") return mqsup::Status(argv[2], false);
  if (argc == 4 && cmd == "status" && std::strcmp(argv[3], "--json") == 0) return mqsup::Status(argv[2], true);
  if (argc == 4 && cmd == "restart") return mqsup::Restart(argv[2], argv[3]);
  if (argc == 3 && cmd == "stop") return mqsup::Stop(argv[2]);
  if (!cmd.empty() && cmd != "check" && cmd != "run" && cmd != "status" && cmd != "restart" && cmd != "stop")
    std::fprintf(stderr, "mqsup: unknown command '%s'; the commands are: check, run, status, restart, stop\n",
                 cmd.c_str());
  return Usage(stderr, kExitUsage);
}
