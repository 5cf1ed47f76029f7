// mqtool: dump, check, recover, compact and replay queues; send and receive
// from a shell. `mqtool help` lists the commands; docs/mqtool.md is the manual.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "command.h"
#include "common.h"

#ifndef MQ_VERSION
#error "MQ_VERSION must be the project's version (tools/CMakeLists.txt sets it from PROJECT_VERSION)"
#endif

namespace {

std::vector<std::unique_ptr<mqtool::Command>> AllCommands() {
  std::vector<std::unique_ptr<mqtool::Command>> v;
  v.push_back(mqtool::MakeSendCommand());
  v.push_back(mqtool::MakeRecvCommand());
  v.push_back(mqtool::MakeDumpCommand());
  v.push_back(mqtool::MakeStatCommand());
  v.push_back(mqtool::MakeReplayCommand());
  v.push_back(mqtool::MakeCheckCommand());
  v.push_back(mqtool::MakeRecoverCommand());
  v.push_back(mqtool::MakeCompactCommand());
  return v;
}

void PrintHelp(std::FILE* out, const std::vector<std::unique_ptr<mqtool::Command>>& cmds) {
  std::fprintf(out, "usage: mqtool COMMAND [ARGS...]   (mqtool COMMAND --help for its options)\n"
                   "       mqtool --version\n");
  for (const char* group : {"actor", "data access", "admin"}) {
    std::fprintf(out, "\n%s commands:\n", group);
    for (const auto& c : cmds)
      if (std::string(c->group()) == group) std::fprintf(out, "  %-9s %s\n", c->name(), c->summary());
  }
  std::fprintf(out,
               "\nexit codes: 0 success, 1 nothing found / damage found, 2 usage error, 3 other error\n"
               "(a reader that stops reading, as in `mqtool dump Q | head`, ends the command quietly: exit 0)\n"
               "manual: docs/mqtool.md\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything opens a file: a closed fd 0, 1 or 2 would otherwise be
  // taken by the queue's lock file, and "standard output" would go into it.
  try {
    mqtool::SetUpStandardFds();
  } catch (const mqtool::ToolError& e) {
    std::fprintf(stderr, "mqtool: %s\n", e.what());
    return mqtool::kExitError;
  }
  // A closed pipe (mqtool dump | head) ends the output quietly: writes fail
  // with EPIPE, Output (common.h) notices, and the command stops with exit 0
  // instead of the process dying mid-line.
  std::signal(SIGPIPE, SIG_IGN);
  auto cmds = AllCommands();
  if (argc < 2) {
    PrintHelp(stderr, cmds);
    return mqtool::kExitUsage;
  }
  std::string name = argv[1];
  if (name == "--version" || name == "version") {
    if (mqtool::StdoutWasClosed()) {
      std::fprintf(stderr, "mqtool: standard output is closed (fd 1 was not open when mqtool started)\n");
      return mqtool::kExitError;
    }
    std::printf("mqtool %s\n", MQ_VERSION);
    return std::fflush(stdout) == 0 ? mqtool::kExitOk : mqtool::kExitError;
  }
  if (name == "help" || name == "--help" || name == "-h") {
    if (argc >= 3) {
      for (auto& c : cmds)
        if (argv[2] == std::string(c->name())) return c->Run({"--help"});
    }
    PrintHelp(stdout, cmds);
    return mqtool::kExitOk;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (auto& c : cmds) {
    if (name != c->name()) continue;
    try {
      return c->Run(args);
    } catch (const mqtool::UsageError& e) {
      std::fprintf(stderr, "mqtool %s: %s\n(see mqtool %s --help)\n", c->name(), e.what(), c->name());
      return mqtool::kExitUsage;
    } catch (const mqtool::ToolError& e) {
      std::fprintf(stderr, "mqtool: %s\n", e.what());
      return mqtool::kExitError;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mqtool: %s\n", e.what());
      return mqtool::kExitError;
    }
  }
  std::fprintf(stderr, "mqtool: '%s' is not a command\n", name.c_str());
  PrintHelp(stderr, cmds);
  return mqtool::kExitUsage;
}
