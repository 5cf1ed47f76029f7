// mqtool stat: placeholder until its unit lands (see docs/mqtool.md).
#include "command.h"

namespace mqtool {
namespace {
class StatCommand final : public Command {
 public:
  const char* name() const override { return "stat"; }
  const char* group() const override { return "admin"; }
  const char* summary() const override { return "(not built yet)"; }
  int Run(const std::vector<std::string>&) override { throw ToolError("stat: not built yet"); }
};
}  // namespace
std::unique_ptr<Command> MakeStatCommand() { return std::make_unique<StatCommand>(); }
}  // namespace mqtool
