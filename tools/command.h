// mqtool's subcommand interface: one unit (cmd_<name>.cc) per subcommand,
// each built on Boost.Program_options and registered in main.cc.
//
// Exit codes (docs/mqtool.md, "Exit codes"):
//   0  success
//   1  the command ran and found nothing or found damage (as each command says)
//   2  usage error
//   3  any other error; a message `mqtool: <file>: <reason>` is on stderr
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace mqtool {

constexpr int kExitOk = 0;
constexpr int kExitNothing = 1;
constexpr int kExitUsage = 2;
constexpr int kExitError = 3;

// Thrown for a malformed command line; main prints it with the usage hint and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Thrown for any other failure; main prints "mqtool: <what>" and exits 3.
struct ToolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Command {
 public:
  // name: "dump"; group: "actor", "data access" or "admin", how `mqtool help`
  // groups commands; summary: one line for `mqtool help`.
  Command(const char* name, const char* group, const char* summary)
      : name_(name), group_(group), summary_(summary) {}
  virtual ~Command() = default;
  const char* name() const { return name_; }
  const char* group() const { return group_; }
  const char* summary() const { return summary_; }
  // Runs with the arguments after the command name (handles --help itself)
  // and returns an exit code. Throws UsageError or ToolError.
  virtual int Run(const std::vector<std::string>& args) = 0;

 private:
  const char* name_;
  const char* group_;
  const char* summary_;
};

std::unique_ptr<Command> MakeSendCommand();
std::unique_ptr<Command> MakeRecvCommand();
std::unique_ptr<Command> MakeDumpCommand();
std::unique_ptr<Command> MakeStatCommand();
std::unique_ptr<Command> MakeCheckCommand();
std::unique_ptr<Command> MakeRecoverCommand();
std::unique_ptr<Command> MakeCompactCommand();
std::unique_ptr<Command> MakeReplayCommand();

}  // namespace mqtool
