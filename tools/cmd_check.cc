// mqtool check: placeholder until its unit lands (see docs/mqtool.md).
#include "command.h"

namespace mqtool {
namespace {
class CheckCommand final : public Command {
 public:
  const char* name() const override { return "check"; }
  const char* group() const override { return "admin"; }
  const char* summary() const override { return "(not built yet)"; }
  int Run(const std::vector<std::string>&) override { throw ToolError("check: not built yet"); }
};
}  // namespace
std::unique_ptr<Command> MakeCheckCommand() { return std::make_unique<CheckCommand>(); }
}  // namespace mqtool
