// mqtool replay: placeholder until its unit lands (see docs/mqtool.md).
#include "command.h"

namespace mqtool {
namespace {
class ReplayCommand final : public Command {
 public:
  const char* name() const override { return "replay"; }
  const char* group() const override { return "admin"; }
  const char* summary() const override { return "(not built yet)"; }
  int Run(const std::vector<std::string>&) override { throw ToolError("replay: not built yet"); }
};
}  // namespace
std::unique_ptr<Command> MakeReplayCommand() { return std::make_unique<ReplayCommand>(); }
}  // namespace mqtool
